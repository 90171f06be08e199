"""The audit API's reads: export in events/s and a 1,000-event stream read's latency.

`python -m benchmarks.audit_read [--events 20000] [--reads 200]` starts its own PostgreSQL
and `marketplace serve-audit` on loopback, writes the events through the command side, then:

* exports the inventory log through the API (newline-delimited JSON, streamed) and, as the
  baseline in the same run, reads the same rows straight from their table with psycopg;
* reads one stream of 1,000 events (`limit=1000`) `--reads` times, one request at a time,
  and prints p50/p99; only 2xx answers count.

Figures only: nothing is asserted about them.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID, uuid4

import httpx
import psycopg

from benchmarks.fixtures import JWT_SECRET, create_schema, server_env, settings_for
from benchmarks.servers import clean_env, free_port, serving
from commands.services import Commands
from domain.base import Context
from domain.inventory import StockItem, stock_item_id
from domain.money import Money
from infra.auth import TokenCodec
from infra.eventstore import eventsourcing_env
from infra.local.postgres import LocalPostgres

STREAM_EVENTS = 1000
BATCH = 500


def marketplace_audit_command(port: int) -> list[str]:
    """`marketplace serve-audit` on port, one worker."""
    script = Path(sys.executable).parent / "marketplace"
    program = [str(script)] if script.exists() else [sys.executable, "-m", "marketplace.cli"]
    return [*program, "serve-audit", "--port", str(port), "--workers", "1"]


def write_history(commands: Commands, events: int) -> UUID:
    """One product's stock item with STREAM_EVENTS events, and others up to events in all,
    appended BATCH at a time; the long stream's id."""
    seller = uuid4()
    ctx = Context(datetime.now(UTC), str(seller), "seller", "bench", "bench", "bench")
    commands.catalog.register_seller(seller, "Bench", "bench@shop.test", ctx)
    long_stream: UUID | None = None
    written = 0
    while written < events:
        product = uuid4()
        commands.catalog.list_product(
            product, seller, "Lamp", "Oiled.", "home", {}, Money(4999, "EUR"), ctx
        )
        size = min(STREAM_EVENTS, events - written)
        commands.receive_stock(product, 1, ctx)
        item = commands.inventory.load(stock_item_id(product), StockItem)
        for done in range(1, size - 1):
            item.receive(1, ctx)
            if done % BATCH == 0:
                commands.inventory.save(item)
        commands.inventory.save(item)
        long_stream = long_stream or item.id
        written += size
    assert long_stream is not None
    return long_stream


def raw_read(url: str) -> tuple[int, float]:
    """The inventory table's rows, read in pages of 1,000: (rows, seconds)."""
    started, rows, after = time.perf_counter(), 0, 0
    with psycopg.connect(url) as conn:
        while True:
            page = conn.execute(
                "SELECT notification_id, originator_id, originator_version, topic, state "
                "FROM inventory_events WHERE notification_id > %s ORDER BY notification_id "
                "LIMIT 1000",
                (after,),
            ).fetchall()
            if not page:
                return rows, time.perf_counter() - started
            rows += len(page)
            after = page[-1][0]


def export(client: httpx.Client, headers: dict[str, str]) -> tuple[int, float]:
    """The inventory log exported through the API: (lines, seconds)."""
    started, lines = time.perf_counter(), 0
    with client.stream("GET", "/v1/audit/logs/inventory/export", headers=headers) as answer:
        answer.raise_for_status()
        for chunk in answer.iter_bytes():
            lines += chunk.count(b"\n")
    return lines, time.perf_counter() - started


def stream_reads(
    client: httpx.Client, headers: dict[str, str], stream: UUID, reads: int
) -> tuple[list[float], int]:
    """Latencies (ms) of the 2xx answers of reads sequential full reads, and the non-2xx count."""
    latencies, failed = [], 0
    path = f"/v1/audit/streams/{stream}?limit={STREAM_EVENTS}"
    for _ in range(reads):
        started = time.perf_counter()
        answer = client.get(path, headers=headers)
        elapsed = (time.perf_counter() - started) * 1000
        if 200 <= answer.status_code < 300 and len(answer.json()["events"]) == STREAM_EVENTS:
            latencies.append(elapsed)
        else:
            failed += 1
    return latencies, failed


def percentile(values: list[float], share: float) -> float:
    """The value below which share of values fall (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


def report(
    raw: tuple[int, float],
    exported: tuple[int, float],
    latencies: list[float],
    failed: int,
    reads: int,
) -> None:
    """Print the figures, with the export's ratio to the raw read of the same rows."""
    raw_rate, export_rate = raw[0] / raw[1], exported[0] / exported[1]
    p50 = statistics.median(latencies) if latencies else float("nan")
    print(f"load average {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"raw table read : {raw[0]} rows in {raw[1]:.2f} s = {raw_rate:,.0f} rows/s")
    print(
        f"API export     : {exported[0]} events in {exported[1]:.2f} s "
        f"= {export_rate:,.0f} events/s"
    )
    print(f"export / raw   : {export_rate / raw_rate:.2f}x")
    print(
        f"stream read of {STREAM_EVENTS} events: {len(latencies)} 2xx of {reads} ({failed} other)"
    )
    print(f"  p50 {p50:.1f} ms, p99 {percentile(latencies, 0.99):.1f} ms")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000, help="inventory events to write")
    parser.add_argument("--reads", type=int, default=200, help="reads of the 1,000-event stream")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-audit-") as tmp:
        postgres = LocalPostgres(Path(tmp) / "postgres", free_port())
        url = create_schema(postgres.start(), "audit")
        try:
            commands = Commands(eventsourcing_env(settings_for(url, split_logs=True), url))
            started = time.perf_counter()
            stream = write_history(commands, max(args.events, STREAM_EVENTS))
            commands.close()
            print(f"wrote the history in {time.perf_counter() - started:.0f} s")
            port = free_port()
            env = clean_env(
                server_env(url, split_logs=True) | {"MARKETPLACE_AUDIT_API_PORT": str(port)}
            )
            token = TokenCodec(JWT_SECRET, "marketplace", "marketplace-api").issue(
                uuid4(), "auditor"
            )
            headers = {"Authorization": f"Bearer {token}"}
            command = marketplace_audit_command(port)
            log = Path(tmp) / "audit.log"
            with (
                serving(command, env, port, "/health/ready", log) as base,
                httpx.Client(base_url=base, timeout=120) as client,
            ):
                rows, raw_seconds = raw_read(url)
                lines, export_seconds = export(client, headers)
                latencies, failed = stream_reads(client, headers, stream, args.reads)
            report((rows, raw_seconds), (lines, export_seconds), latencies, failed, args.reads)
        finally:
            postgres.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
