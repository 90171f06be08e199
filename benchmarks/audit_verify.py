"""Audit verification speed: `verify` against a raw decoded read of the same log.

Run `python -m benchmarks.audit_verify [--events 200000] [--rounds 2]`. One run starts its
own PostgreSQL, makes a catalog log of real events (fixtures through the command handlers,
then copied onto new streams through the platform's recorder, so every copy is chained),
then times in turns: a raw decoded read of the whole log (projections.log.ContextLog, the
reader every projector uses) and a verification of its chain against a checkpoint of its
head. It prints events/s of each and their ratio (goal: verify at least 0.5x the read).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from uuid import uuid4

import psycopg
from eventsourcing.persistence import StoredEvent

from benchmarks import fixtures
from benchmarks.servers import free_port
from infra.audit.logs import chain_head, verify_log
from infra.audit.verify import Checkpoint
from infra.local.postgres import LocalPostgres
from infra.stores import stores
from projections.log import ContextLog
from workers.logs import reader_env

LOG = "catalog"
BATCH = 1000


def grow(url: str, context_log: ContextLog, events: int) -> None:
    """Copy the log's events onto new streams until it holds about `events` events."""
    with psycopg.connect(url) as conn:
        seed = conn.execute(
            "SELECT originator_version, topic, state FROM catalog_events ORDER BY notification_id"
        ).fetchall()
    by_stream: list[StoredEvent] = []
    while (context_log.recorder.max_notification_id() or 0) < events:
        stream = uuid4()
        for version, topic, state in seed:
            if version == 0:
                stream = uuid4()
            by_stream.append(StoredEvent(stream, version, topic, bytes(state)))
            if len(by_stream) >= BATCH:
                context_log.recorder.insert_events(by_stream)
                by_stream = []
    if by_stream:
        context_log.recorder.insert_events(by_stream)


def timed_read(context_log: ContextLog) -> tuple[int, float]:
    """Events read and decoded, and seconds taken, for the whole log."""
    started, after, count = time.perf_counter(), 0, 0
    while page := context_log.read(after, BATCH):
        count += len(page)
        after = page[-1].position
    return count, time.perf_counter() - started


def timed_verify(context_log: ContextLog, checkpoint: Checkpoint) -> tuple[int, float]:
    """Events verified, and seconds taken, for the whole log (it must verify)."""
    started = time.perf_counter()
    verdict = verify_log(LOG, context_log.recorder, [checkpoint])
    seconds = time.perf_counter() - started
    if not verdict.ok:
        raise SystemExit(f"the log did not verify: {verdict}")
    return verdict.verified, seconds


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.audit_verify", description=__doc__)
    parser.add_argument("--events", type=int, default=200_000, help="events in the log")
    parser.add_argument("--rounds", type=int, default=2, help="read/verify turns")
    args = parser.parse_args(argv)
    if not 1000 <= args.events <= 5_000_000 or not 1 <= args.rounds <= 10:
        parser.error("--events must be 1000..5000000 and --rounds 1..10")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; 0 when the log verified each time."""
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-audit-verify-") as tmp:
        postgres = LocalPostgres(Path(tmp) / "postgres", free_port(), durable=False)
        server_url = postgres.start()
        try:
            url = fixtures.create_schema(server_url, "audit")
            fixtures.prepare(url, split_logs=True, shape=fixtures.Shape(4, 500, 1, 1))
            settings = fixtures.settings_for(url, split_logs=True)
            context_log = ContextLog(reader_env(settings, stores(settings)), LOG)
            try:
                grow(url, context_log, args.events)
                head = chain_head(context_log.recorder)
                report(context_log, Checkpoint(head.position, head.hash), args.rounds)
            finally:
                context_log.close()
        finally:
            postgres.stop()
    return 0


def report(context_log: ContextLog, checkpoint: Checkpoint, rounds: int) -> None:
    """Time the read and the verification in turns; print events/s and the ratio."""
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"Audit verify, {os.cpu_count()} CPUs (load average {load}), {checkpoint.position} events"
    )
    best_read = best_verify = 0.0
    for turn in range(1, rounds + 1):
        read, read_seconds = timed_read(context_log)
        verified, verify_seconds = timed_verify(context_log, checkpoint)
        best_read = max(best_read, read / read_seconds)
        best_verify = max(best_verify, verified / verify_seconds)
        print(
            f"  turn {turn}: raw decoded read {read / read_seconds:>9.0f} events/s "
            f"({read} in {read_seconds:.2f} s); verify {verified / verify_seconds:>9.0f} "
            f"events/s ({verified} in {verify_seconds:.2f} s)"
        )
    print(f"Best: read {best_read:.0f} events/s, verify {best_verify:.0f} events/s")
    print(f"Ratio verify / raw decoded read: {best_verify / best_read:.2f} (goal: at least 0.5)")


if __name__ == "__main__":
    sys.exit(main())
