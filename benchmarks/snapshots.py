"""Loading a hot stock item: 100,000 events, with and without snapshots, in one run.

Run `python -m benchmarks.snapshots [--events 100000] [--every 500] [--loads 5]`.
It starts its own durable PostgreSQL in a temporary folder, bulk-writes one stock item's
stream (a flash sale: units received, then orders reserved and sold or released, one event
each) straight to the event store, then appends the last events through the write path,
which takes the snapshot due at version --events (the stream holds --events + 1 events,
from version 0). It then times cold loads (a new application each, nothing cached): from
the whole stream (snapshots off, the baseline) and from the latest snapshot. Figures, not
assertions; the exit status is 1 only if the two loads disagree.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from statistics import median
from uuid import UUID, uuid4

from benchmarks import fixtures
from benchmarks.servers import free_port
from commands.inventory import InventoryApplication
from domain.base import Context
from domain.inventory import StockItem
from infra.eventstore import eventsourcing_env
from infra.local.postgres import LocalPostgres
from infra.settings import EventStoreSettings, PostgresSettings, Settings

CHUNK = 5_000
TAIL = 2
"""Events appended through the write path at the end (a reservation and its sale)."""


def acting(actor: UUID, role: str, at: datetime) -> Context:
    """A context acting at the given moment."""
    return Context(at, str(actor), role, "bench", "bench", "bench")


def bulk_stream(app: InventoryApplication, product: UUID, seller: UUID, events: int) -> int:
    """Write a stock item's stream of that many events straight to the event store (no write
    path, so no snapshots): receipts, then orders reserved and sold, every third released."""
    at = datetime.now(UTC)
    system, due = acting(seller, "system", at), at + timedelta(days=1)
    item = StockItem.open(product, seller, system)
    item.receive(events, acting(seller, "seller", at))
    written = 0
    while written + len(item.pending_events) < events:
        order = uuid4()
        item.reserve(order, 1, due, system)
        if len(item.pending_events) + written >= events:
            break
        if item.version % 3:
            item.commit(order, system)
        else:
            item.release(order, "order expired", system)
        if len(item.pending_events) >= CHUNK:
            written += len(app.events.put(item.collect_events()))
    written += len(app.events.put(item.collect_events()))
    return written


def finish_through_the_write_path(app: InventoryApplication, product: UUID, seller: UUID) -> None:
    """Append the last TAIL events as commands do (the snapshot due is left to the pass: the
    replay it needs is long)."""
    order, at = uuid4(), datetime.now(UTC)
    app.reserve(product, order, 1, at + timedelta(days=1), acting(seller, "system", at))
    app.commit(product, order, acting(seller, "system", at))


def cold_loads(env: dict[str, str], product: UUID, loads: int) -> tuple[list[float], StockItem]:
    """Seconds for each of loads cold loads (a new application each), and the last item."""
    seconds, item = [], None
    for _ in range(loads):
        app = InventoryApplication(env)
        try:
            started = time.perf_counter()
            item = app.stock_of(product)
            seconds.append(time.perf_counter() - started)
        finally:
            app.close()
    assert item is not None
    return seconds, item


def env_for(url: str, every: int) -> dict[str, str]:
    """The event store's environment with snapshots every so many events (0: off)."""
    settings = Settings(
        postgres=PostgresSettings(url=url), events=EventStoreSettings(snapshot_every=every)
    )
    return eventsourcing_env(settings, url)


def run(url: str, events: int, every: int, loads: int, say: Callable[[str], None]) -> bool:
    """Write the stream, time both kinds of load, print the figures; whether they agree."""
    product, seller = uuid4(), uuid4()
    with_snapshots = env_for(url, every)
    app = InventoryApplication(with_snapshots)
    try:
        started = time.perf_counter()
        bulk_stream(app, product, seller, events + 1 - TAIL)
        say(f"bulk-wrote {events + 1 - TAIL:,} events in {time.perf_counter() - started:.1f} s")
        started = time.perf_counter()
        finish_through_the_write_path(app, product, seller)
        took = time.perf_counter() - started
        say(f"write path: the last {TAIL} events (snapshot deferred), {took:.2f} s")
        started = time.perf_counter()
        taken = app.take_snapshots()
        say(f"snapshot pass: {taken} taken, {time.perf_counter() - started:.2f} s")
    finally:
        app.close()
    plain_s, plain = cold_loads(env_for(url, 0), product, loads)
    snap_s, snapped = cold_loads(with_snapshots, product, loads)
    say(f"stream: {plain.version + 1:,} events, snapshot every {every}")
    say(f"load, no snapshots (baseline): median {median(plain_s) * 1000:8.1f} ms ({loads} loads)")
    say(f"load, latest snapshot:         median {median(snap_s) * 1000:8.1f} ms ({loads} loads)")
    say(f"ratio baseline/snapshot: {median(plain_s) / median(snap_s):.1f}x")
    same = {k: v for k, v in vars(plain).items() if k != "_pending_events"} == {
        k: v for k, v in vars(snapped).items() if k != "_pending_events"
    }
    say(f"same state: {same}")
    return same


def main(argv: Sequence[str] | None = None) -> int:
    """Start PostgreSQL, run, stop; 1 if the loads disagree."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.snapshots", description=__doc__)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--every", type=int, default=500)
    parser.add_argument("--loads", type=int, default=5)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-snapshots-") as tmp:
        postgres = LocalPostgres(Path(tmp) / "postgres", free_port(), durable=True)
        try:
            url = fixtures.create_schema(postgres.start(), "bench")
            same = run(url, args.events, args.every, args.loads, print)
        finally:
            postgres.stop()
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
