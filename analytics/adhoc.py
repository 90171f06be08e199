"""An analyst's own projection, named FILE.py:Class, loaded from their file."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from analytics.projection import AnalyticProjection


class UnknownProjection(LookupError):
    """No built-in projection has the name, or FILE.py:Class names no analytic projection."""


def load(spec: str) -> AnalyticProjection:
    """The projection FILE.py:Class names, made with no arguments; UnknownProjection if none."""
    file, _, name = spec.rpartition(":")
    path = Path(file)
    if not file.endswith(".py") or not name.isidentifier():
        raise UnknownProjection(f"{spec!r} is not FILE.py:Class")
    if not path.is_file():
        raise UnknownProjection(f"{spec!r}: there is no file {path}")
    module_name = f"analytics_adhoc_{path.stem}"
    found = importlib.util.spec_from_file_location(module_name, path)
    if found is None or found.loader is None:
        raise UnknownProjection(f"{spec!r}: {path} cannot be loaded as Python")
    module = importlib.util.module_from_spec(found)
    sys.modules[module_name] = module
    try:
        found.loader.exec_module(module)
    except Exception as error:
        raise UnknownProjection(f"{spec!r}: loading {path} failed: {error!r}") from error
    cls = getattr(module, name, None)
    if not (isinstance(cls, type) and issubclass(cls, AnalyticProjection)):
        raise UnknownProjection(f"{spec!r}: {path} has no AnalyticProjection named {name}")
    for needed in ("name", "contexts", "tables"):
        if not hasattr(cls, needed):
            raise UnknownProjection(f"{spec!r}: {name} sets no {needed}")
    return cls()
