"""`marketplace analytics replay`: a projection replayed to a point in time, into files."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from marketplace.cli.app import command_group, configured, done

analytics = command_group(
    "analytics",
    "Replay projections to a point in time into DuckDB, Parquet or CSV.",
)


@analytics.command("replay")
def replay(
    out: Annotated[Path, typer.Option(help="the folder of the replay: its DuckDB and exports")],
    name: Annotated[
        str | None, typer.Argument(help="built in: order-lines, gmv, cart-funnel, stock-movements")
    ] = None,
    projection: Annotated[
        str | None, typer.Option(help="your own projection instead, as FILE.py:Class")
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(
            help="stop at a time (ISO 8601 with a zone), a position N, or LOG=N,LOG=N "
            "(default: the logs' heads)"
        ),
    ] = None,
    fmt: Annotated[
        str, typer.Option("--format", help="duckdb, parquet (hive, by UTC day) or csv")
    ] = "duckdb",
) -> None:
    """Replay a projection over the event logs into --out; live views are never touched.

    The checkpoint lives in --out: replaying into it again to a later --until continues
    from there. Example: marketplace analytics replay order-lines --until 2026-12-04T18:00Z
    --out /tmp/lines --format parquet
    """
    from analytics.adhoc import UnknownProjection
    from analytics.export import FORMATS
    from analytics.replay import OutUnusable
    from analytics.store import CheckpointMismatch
    from analytics.until import BadUntil
    from marketplace.analytics import DevelopmentKey, run_replay
    from marketplace.progress import ProgressBar
    from projections.failures import ProjectionStopped

    if (name is None) == (projection is None):
        fail("name a built-in projection or give --projection FILE.py:Class (one of them)")
    if fmt not in FORMATS:
        fail(f"unknown --format {fmt!r}; one of {', '.join(FORMATS)}")
    spec = name or projection or ""
    bar = ProgressBar(f"replay {spec}", 0, sys.stderr)
    try:
        result = run_replay(spec, configured(), until, out, fmt, bar.update)
    except (UnknownProjection, BadUntil, OutUnusable, CheckpointMismatch, DevelopmentKey) as error:
        fail(str(error))
    except ProjectionStopped as error:
        print(f"marketplace analytics replay: {error}", file=sys.stderr)
        done(1)
    bar.close()
    print(result.summary())


def fail(message: str) -> NoReturn:
    """End with a usage error: the message on stderr, exit code 2."""
    print(f"marketplace analytics replay: {message}", file=sys.stderr)
    raise typer.Exit(2)
