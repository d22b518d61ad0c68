"""Control characters are refused in every text field of a request, before any handler runs.

A name with a line break, a NUL or an escape sequence is never what a person meant, breaks
e-mail headers, CSV exports and logs, and PostgreSQL cannot store a NUL at all. So every
string (values and keys) of a JSON or form body, and every query parameter, is checked:
C0 controls (U+0000 to U+001F), DEL (U+007F) and C1 controls (U+0080 to U+009F) are
refused with ``control_character_refused``. Fields that are multi-line by design (a
message's text and HTML templates, a policy's YAML source in the API and the console form)
may hold line breaks and tabs, and nothing else of those ranges. Multipart bodies (the
console's policy upload, a multi-line file) are not scanned.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import parse_qsl

from safehold import carddata

CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
CONTROL_BUT_LINES = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# (path, field at the top of the body): multi-line by design.
MULTI_LINE = frozenset(
    {
        ("/v1/messages", "text"),
        ("/v1/messages", "html"),
        ("/v1/policy/versions", "source"),
        ("/admin/policy", "source"),  # the console's policy form (its textarea)
        ("/admin/policy/publish", "source"),  # the same file, confirmed from the preview
    }
)
# Routes with an id in the path, and their multi-line field: a request's internal notes.
MULTI_LINE_ROUTES = ((re.compile(r"^/(?:v1|admin)/requests/[0-9a-fA-F-]{36}/notes$"), "text"),)


def multi_line(route: str, field: str) -> bool:
    """Whether ``field`` of a body sent to ``route`` may hold line breaks and tabs."""
    if (route, field) in MULTI_LINE:
        return True
    return any(f == field and pattern.match(route) for pattern, f in MULTI_LINE_ROUTES)


# In JSON text a control character inside a string is either an escape (\n \r \t \b \f or
# \u00XX in the C0, DEL or C1 range), or a raw DEL or a raw C1 (UTF-8 C2 80 to C2 9F); a raw
# C0 is not JSON at all. Only a body holding one of these is parsed and walked.
_MAY_HOLD = re.compile(rb"\\[nrtbf]|\\u00[0189][0-9a-fA-F]|\\u007[fF]|\x7f|\xc2[\x80-\x9f]")


@dataclass(frozen=True)
class Finding:
    """Where a control character was found: a field path, never the value."""

    location: str


def has_control(text: str, *, multi_line: bool = False) -> bool:
    return (CONTROL_BUT_LINES if multi_line else CONTROL).search(text) is not None


def _walk(value: object, path: str, route: str, top: bool) -> Iterator[Finding]:
    if isinstance(value, str):
        field = path.rsplit(".", 1)[-1]
        if has_control(value, multi_line=top and multi_line(route, field)):
            yield Finding(path)
    elif isinstance(value, dict):
        for key, item in value.items():
            if has_control(str(key)):
                yield Finding(path)  # the key itself is not repeated
            yield from _walk(item, f"{path}.{key}", route, top=path == "body")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _walk(item, f"{path}.{index}", route, top=False)


def _pairs(pairs: list[tuple[str, str]], path: str, route: str) -> Finding | None:
    for key, value in pairs:
        if has_control(key):
            return Finding(path)
        if has_control(value, multi_line=multi_line(route, key) and path == "body"):
            return Finding(f"{path}.{key}")
    return None


def scan_query(query_string: bytes) -> Finding | None:
    """The first query parameter holding a control character (``query.<name>``)."""
    if not query_string:
        return None
    pairs = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
    return _pairs(pairs, "query", "")


def scan(body: bytes, content_type: str, route: str) -> Finding | None:
    """The first field of a JSON or form body holding a control character, or None. A body
    that does not parse is left to the app (which refuses it)."""
    if not body:
        return None
    if "x-www-form-urlencoded" in content_type:
        text = body.decode("utf-8", errors="replace")
        return _pairs(parse_qsl(text, keep_blank_values=True), "body", route)
    if not carddata.is_json(content_type) or _MAY_HOLD.search(body) is None:
        return None
    try:
        parsed = json.loads(body.decode("utf-8").removeprefix("\ufeff"))
    except (ValueError, RecursionError):
        return None
    return next(_walk(parsed, "body", route, top=False), None)
