"""Analytics replay throughput: order-lines into DuckDB next to a raw decoded read of the logs.

python -m benchmarks.analytics_replay [--products 3000] [--orders 60000] [--rounds 8]
    [--carts 0]

Starts its own durable PostgreSQL in a temporary directory, appends the rebuild benchmark's
seeded catalogue (benchmarks.rebuild_workload) and its orders in bulk, five or six events
each (benchmarks.bulk_orders: the recorder's rows, copied), then in one run: reads the
catalog and orders logs raw (decoded events, pages of 1000), replays `order-lines` into a
fresh DuckDB folder (analytics.replay, as `marketplace analytics replay` does) and exports it
as Parquet. Prints the load average, events/s of each, the replay's ratio to the raw read
against the 0.5x goal, and the Parquet export's MB/s. A million events: `--orders 180000`.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from analytics.export import export
from analytics.order_lines import OrderLinesProjection
from analytics.replay import STORE_FILE, replay
from analytics.store import ReplayStore
from analytics.until import BoundedLog, Until
from benchmarks import fixtures
from benchmarks.bulk_orders import append_orders
from benchmarks.rebuild import raw_read
from benchmarks.rebuild_workload import Shop
from benchmarks.servers import free_port
from commands.services import Commands
from infra.eventstore import eventsourcing_env
from infra.local.postgres import LocalPostgres
from infra.logging import configure_logging
from infra.settings import Settings
from infra.stores import stores
from workers.logs import reader_env

GOAL = 0.5


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.analytics_replay")
    parser.add_argument("--products", type=int, default=3000)
    parser.add_argument("--orders", type=int, default=60_000)
    parser.add_argument("--rounds", type=int, default=8, help="rounds of stock moves")
    parser.add_argument("--carts", type=int, default=0)
    parser.add_argument("--seed", type=int, default=42)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; 0 when the replay read every event the raw read did."""
    args = parse_args(argv)
    configure_logging("WARNING")
    with tempfile.TemporaryDirectory(prefix="bench-analytics-") as tmp:
        postgres = LocalPostgres(Path(tmp) / "postgres", free_port(), durable=True)
        try:
            url = fixtures.create_schema(postgres.start(), "bench")
            settings = fixtures.settings_for(url, split_logs=True)
            # unsealed: bulk orders splice stored events, and a sealed field differs each time
            settings = settings.updated(events={"encrypt_personal_data": False})
            started = time.perf_counter()
            events = append_workload(settings, args)
            appended = time.perf_counter() - started
            print(f"workload appended: {events} events in {appended:.0f} s", file=sys.stderr)
            env = reader_env(settings, stores(settings))
            logs = [BoundedLog(env, name, None, None) for name in ("catalog", "orders")]
            raw = raw_read(logs, 1000, float("inf"))
            projection = OrderLinesProjection(b"benchmark-key")
            out = Path(tmp) / "replay"
            done = replay(projection, logs, Until(), out)
            megabytes, seconds = parquet_export(out, projection)
        finally:
            postgres.stop()
    rate = done.events / done.seconds
    load_now = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"Analytics replay, {os.cpu_count()} CPUs (load average now {load_now})")
    print(f"workload appended:         {events} events, {events / appended:,.0f} events/s")
    ratio = rate / raw.per_second
    verdict = "met" if ratio >= GOAL else "NOT met"
    print(f"raw decoded read:          {raw.events} events, {raw.per_second:,.0f} events/s")
    print(f"replay order-lines/DuckDB: {done.events} events, {rate:,.0f} events/s")
    print(f"  = {ratio:.2f}x the raw read (goal {GOAL}x: {verdict})")
    print(f"Parquet export: {megabytes:.1f} MB in {seconds:.2f} s = {megabytes / seconds:.1f} MB/s")
    return 0 if done.events == raw.events else 1


def append_workload(settings: Settings, args: argparse.Namespace) -> int:
    """The rebuild benchmark's catalogue (and carts) through the applications, then the
    orders in bulk (benchmarks.bulk_orders); how many events the logs hold."""
    commands = Commands(eventsourcing_env(settings))
    try:
        shop = Shop(commands, args.seed)
        lines = shop.catalogue(args.products, args.rounds)
        shop.carts(args.carts, args.rounds, lines)
        append_orders(commands.orders, lines, args.orders, args.seed, shop.start)
        return sum(app.recorder.max_notification_id() or 0 for app in commands.applications)
    finally:
        commands.close()


def parquet_export(out: Path, projection: OrderLinesProjection) -> tuple[float, float]:
    """Export the replay as Parquet; its size in MB and the seconds it took."""
    store = ReplayStore(out / STORE_FILE, projection)
    try:
        started = time.perf_counter()
        export(store.conn, projection.output_tables(), "parquet", out)
        seconds = time.perf_counter() - started
    finally:
        store.close()
    size = sum(path.stat().st_size for path in (out / "parquet").rglob("*.parquet"))
    return size / 1e6, seconds


if __name__ == "__main__":
    sys.exit(main())
