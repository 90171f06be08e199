"""The `marketplace` command line: one command tree, each process's defaults from the registry.

`app` holds the tree; `platform`, `processes`, `deadletters`, `analytics`, `audit`,
`audit_reads`, `personal` and `snapshots` add their commands to it, and `tooling` the load
test's when the loadtest extra is installed.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import typer
from typer.core import TyperGroup

from infra.settings import UnknownSettings
from marketplace.cli import (
    analytics,
    audit,
    audit_reads,
    deadletters,
    personal,
    platform,
    processes,
    snapshots,
)
from marketplace.cli.app import app

__all__ = [
    "analytics",
    "audit",
    "audit_reads",
    "command",
    "deadletters",
    "main",
    "personal",
    "platform",
    "processes",
    "snapshots",
]


def command() -> TyperGroup:
    """The command tree as a click group, with the load-test tooling's commands if installed."""
    from marketplace.cli.tooling import add_tooling

    group = typer.main.get_group(app)
    add_tooling(group)
    return group


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; the exit code (2 for a usage error or a
    MARKETPLACE_* variable that names no setting)."""
    try:
        command().main(args=list(sys.argv[1:] if argv is None else argv), prog_name="marketplace")
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else int(exit_.code is not None)
    except UnknownSettings as unknown:
        print(f"marketplace: {unknown}", file=sys.stderr)
        return 2
    return 0
