"""Jinja2 for the pages: autoescaped, no build step. The public pages' templates sit beside
this module; the privacy center's, the admin console's and the staff sign-in's in their
packages, under a folder of their name (``center/…``, ``console/…``, ``staff/…``) so no
two can collide."""

from __future__ import annotations

from pathlib import Path

from fastapi.templating import Jinja2Templates

from safehold import __version__, wording

_PACKAGE = Path(__file__).parent.parent
TEMPLATES = Jinja2Templates(
    directory=[_PACKAGE / "web" / "templates", _PACKAGE / "center" / "templates",
               _PACKAGE / "console" / "templates", _PACKAGE / "staff" / "templates"]
)  # fmt: skip
wording.install(TEMPLATES.env)  # counts, periods, days and ids in words, as in the export
TEMPLATES.env.globals["safehold_version"] = __version__  # the staff footer names it
STATIC_DIR = Path(__file__).parent / "static"
