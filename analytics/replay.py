"""Replay an analytic projection over its logs into a side store, resumably, and export it.

The side store is out/analytics.duckdb: the projection's tables and each log's position,
committed together batch by batch (analytics.store) through the projections' own Worker.
Replaying again into the same out continues from there, to the new stopping point.
A first replay that fails leaves out as it found it (folders it made are removed); a
continued one stays at its last batch boundary, with its previous export in place.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from analytics.export import FORMATS, export
from analytics.projection import AnalyticProjection, AnalyticUnit
from analytics.store import ReplayStore
from analytics.until import BadUntil, BoundedLog, Until
from projections.runtime import Worker

STORE_FILE = "analytics.duckdb"
BATCH_SIZE = 1000
MAX_BATCH_SIZE = 20_000

Progress = Callable[[int, int], None]
"""Called with (events replayed so far, events expected in all) as the replay goes."""


class OutUnusable(Exception):
    """--out cannot be written, or holds something other than a replay."""


@dataclass(frozen=True)
class Replayed:
    """What a replay did: where it stopped in each log, how many events, how long."""

    name: str
    out: Path
    fmt: str
    events: int
    positions: dict[str, int]
    seconds: float

    def summary(self) -> str:
        """One line for a person."""
        rate = self.events / self.seconds if self.seconds else 0.0
        where = ", ".join(f"{log}@{at}" for log, at in sorted(self.positions.items()))
        return (
            f"replayed {self.name} into {self.out} ({self.fmt}): {self.events} events in "
            f"{self.seconds:.2f} s ({rate:.0f} events/s), at {where or 'the start'}"
        )


def replay(
    projection: AnalyticProjection,
    logs: Sequence[BoundedLog],
    until: Until,
    out: Path,
    fmt: str = "duckdb",
    progress: Progress | None = None,
) -> Replayed:
    """Replay projection over logs up to until into out, then export it as fmt."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")
    started = time.monotonic()
    undo = claim(out)
    try:
        store = ReplayStore(out / STORE_FILE, projection)
        try:
            store.prepare()
            check_continuation(store, logs, until)
            worker = Worker(
                projection, store, logs, batch_size=BATCH_SIZE, max_batch_size=MAX_BATCH_SIZE
            )
            events = run(worker, logs, progress)
            store.record_until(until)
            export(store.conn, projection.output_tables(), fmt, out)
            positions = store.positions()
        finally:
            store.close()
    except BaseException:
        if undo is not None:
            undo()
        raise
    return Replayed(projection.name, out, fmt, events, positions, time.monotonic() - started)


def claim(out: Path) -> Callable[[], None] | None:
    """Make out ready; how to undo that if the replay fails (None: a replay is continued).

    OutUnusable if out cannot be written or holds something else. The undo removes what was
    made: the folders created for out, or what was written into an out that was empty.
    """
    if out.exists() and not out.is_dir():
        raise OutUnusable(f"--out {out} is a file, not a folder")
    if out.is_dir() and any(out.iterdir()):
        if not (out / STORE_FILE).is_file():
            raise OutUnusable(f"--out {out} is not empty and holds no replay; choose another")
        return None
    made = next((p for p in reversed([out, *out.parents]) if not p.exists()), None)

    def undo() -> None:
        if made is not None:
            shutil.rmtree(made, ignore_errors=True)
            return
        for child in out.iterdir():
            if child.is_dir():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)

    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".probe"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        undo()
        raise OutUnusable(f"--out {out} cannot be written: {error.strerror or error}") from None
    return undo


def check_continuation(store: ReplayStore, logs: Sequence[BoundedLog], until: Until) -> None:
    """BadUntil if the store has already gone past where this replay is to stop."""
    positions = store.positions()
    for log in logs:
        at = positions.get(log.log_name, 0)
        if log.last is not None and at > log.last:
            raise BadUntil(
                f"{store.path.parent} is already at {log.log_name}={at}, past --until "
                f"{until.describe()}; replay into another --out"
            )
    before = store.until()
    if before is not None and positions and until.time is not None:
        earlier = before.time is None or before.time > until.time
        if earlier:
            raise BadUntil(
                f"{store.path.parent} was replayed to {before.describe()}, past --until "
                f"{until.describe()}; replay into another --out"
            )


def run(worker: Worker[AnalyticUnit], logs: Sequence[BoundedLog], progress: Progress | None) -> int:
    """Step the worker until no log has anything more up to its stopping point."""
    start = sum(worker.positions().values())
    expected = max(sum(log.head() for log in logs) - start, 0)
    events = 0
    while True:
        step = worker.step()
        if step == 0:
            break
        events += step
        if progress is not None:
            progress(events, max(expected, events))
    if progress is not None:
        progress(events, events)
    return events
