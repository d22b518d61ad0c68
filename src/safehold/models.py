"""Every feature's models, imported in one place so the metadata (and Alembic) sees them all.

Each feature package keeps its tables in ``<feature>/models.py``; they are found here by
walking the package, so adding a feature never means editing a central list.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil

import safehold
from safehold.db import Base


def _import_feature_models() -> list[str]:
    found = []
    for info in pkgutil.iter_modules(safehold.__path__):
        if info.ispkg:
            name = f"safehold.{info.name}.models"
            if importlib.util.find_spec(name) is not None:
                importlib.import_module(name)
                found.append(name)
    return found


FEATURE_MODELS = _import_feature_models()

__all__ = ["FEATURE_MODELS", "Base"]
