"""Subcommands that run the platform's processes (added to by each process)."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any) -> None:
    """Add the process subcommands to the parser."""
    _ = (sub, argparse)
