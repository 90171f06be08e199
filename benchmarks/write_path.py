"""Write-path throughput: the command API against a bare FastAPI + eventsourcing baseline.

Run `python -m benchmarks.write_path [--duration 10] [--connections 32]`. One run starts its
own durable PostgreSQL (fsync on) on loopback, prepares fixtures, then for each scenario
starts the server, warms it up, loads it with wrk, stops it and checks by SQL that every 2xx
answer wrote exactly one event. It prints a table and the ratios to the baseline measured
in the same run. Needs `wrk` on PATH (exit status 2 otherwise).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from benchmarks import fixtures, invariants
from benchmarks.invariants import NAIVE_REF, RunCheck, Table
from benchmarks.loadgen import LoadData, WrkResult, require_wrk, run_wrk
from benchmarks.servers import clean_env, free_port, marketplace_command, naive_command, serving
from benchmarks.write_lag import LagRun, measure_lag
from benchmarks.write_report import LABELS, print_report
from infra.local.postgres import LocalPostgres
from infra.local.redis import LocalRedis

SCENARIOS = ("naive", "cart", "stock", "mixed", "chain", "register", "lag")


@dataclass
class Target:
    """A server kind on its own schema, with the tables its requests write to."""

    command: Callable[[int, int], list[str]]
    env: dict[str, str]
    probe: str
    url: str
    tables: list[Table]
    data: Path
    next_index: int = 0


@dataclass
class Run:
    """One timed run and its check."""

    key: str
    workers: int
    result: WrkResult
    check: RunCheck


def log(message: str, started: float) -> None:
    """A progress line on stderr."""
    print(f"[{time.monotonic() - started:6.1f}s] {message}", file=sys.stderr, flush=True)


def naive_target(server_url: str, workdir: Path) -> Target:
    """The baseline app on schema "naive", its table created before any worker starts."""
    from benchmarks.naive_app import ItemsApplication, naive_env

    url = fixtures.create_schema(server_url, "naive")
    env = naive_env(server_url, "naive")
    ItemsApplication(env=env).close()
    table = Table("naive", "naive_items_events", NAIVE_REF, "n", initial_version=1)
    data = LoadData().write_lua(workdir / "naive.lua")
    return Target(naive_command, clean_env(env), "/", url, [table], data)


def our_target(
    server_url: str, schema: str, *, split_logs: bool, shape: fixtures.Shape, workdir: Path
) -> Target:
    """serve-write on its own schema, with fixtures made through Commands."""
    url = fixtures.create_schema(server_url, schema)
    data = fixtures.prepare(url, split_logs=split_logs, shape=shape)
    if split_logs:
        tables = [
            Table(schema, "carts_events", kinds="c"),
            Table(schema, "inventory_events", kinds="s"),
        ]
    else:
        tables = [Table(schema, "marketplace_events", kinds="cs")]
    # Every wrk connection comes from 127.0.0.1: a per-IP budget would answer most with 429.
    env = fixtures.server_env(url, split_logs=split_logs)
    env = clean_env({**env, "MARKETPLACE_RATE_LIMITS_ENABLED": "false"})
    lua = data.write_lua(workdir / f"{schema}.lua")
    return Target(marketplace_command, env, "/health/ready", url, tables, lua)


def register_target(
    server_url: str, schema: str, *, sealed: bool, customers: int, workdir: Path
) -> Target:
    """serve-write registering new customers, with personal-data encryption on or off."""
    url = fixtures.create_schema(server_url, schema)
    data = fixtures.prepare_registrations(url, customers)
    env = fixtures.server_env(url, split_logs=True, sealed=sealed)
    env = clean_env({**env, "MARKETPLACE_RATE_LIMITS_ENABLED": "false"})
    tables = [Table(schema, "customers_events", kinds="r")]
    lua = data.write_lua(workdir / f"{schema}.lua")
    return Target(marketplace_command, env, "/health/ready", url, tables, lua)


class Bench:
    """Runs scenarios one after another and keeps their results."""

    def __init__(self, args: argparse.Namespace, workdir: Path, started: float) -> None:
        self.args = args
        self.workdir = workdir
        self.started = started
        self.runs: list[Run] = []
        self._seq = 0

    def wrk(self, target: Target, base: str, mode: str, prefix: str, seconds: int) -> WrkResult:
        """One wrk run on target's data, continuing where the last one stopped."""
        result = run_wrk(
            base,
            data=target.data,
            mode=mode,
            prefix=prefix,
            start=target.next_index,
            duration=seconds,
            connections=self.args.connections,
            threads=self.args.threads,
            max_requests=self.args.max_requests,
            workdir=self.workdir,
        )
        target.next_index += result.requests + self.args.connections + self.args.threads
        return result

    def serve(self, target: Target, mode: str, workers: int) -> AbstractContextManager[str]:
        """Start the target's server and warm it up; its base URL until the block ends."""

        @contextmanager
        def served() -> Iterator[str]:
            self._seq += 1
            port = free_port()
            server_log = self.workdir / f"server-{self._seq}.log"
            command = target.command(port, workers)
            with serving(command, target.env, port, target.probe, server_log) as base:
                self.wrk(target, base, mode, f"w{self._seq}", self.args.warmup)
                yield base

        return served()

    def measure(self, key: str, target: Target, mode: str, workers: int) -> Run:
        """Start the server, warm it up, run wrk, stop the server, check the events."""
        with self.serve(target, mode, workers) as base:
            return self.timed(key, target, base, mode, workers)

    def timed(self, key: str, target: Target, base: str, mode: str, workers: int) -> Run:
        """One timed wrk run on a server that is up, and the check of its events."""
        self._seq += 1
        prefix = f"r{self._seq}"
        since = invariants.positions(target.url, target.tables)
        result = self.wrk(target, base, mode, prefix, self.args.duration)
        check = invariants.check_run(
            target.url, target.tables, since, prefix, result.ok_ids, self.args.connections
        )
        run = Run(key, workers, result, check)
        self.runs.append(run)
        log(
            f"{LABELS[key]}, {workers} worker(s): {result.rate:.0f} 2xx/s"
            f"{' (FAILED: over 1 % non-2xx)' if result.failed else ''}, "
            f"p99 {result.p99_ms:.1f} ms, non-2xx {result.non2xx}; check {check.describe()}",
            self.started,
        )
        if result.non2xx:
            log(f"  statuses {result.statuses}; first error: {result.first_error}", self.started)
        return run

    def side_by_side(self, pair: Sequence[tuple[str, Target]], mode: str) -> None:
        """Both targets served at once, at 1 then 2 workers, loaded in turns for --rounds
        rounds, the first swapping each round: a load swing between two servers run a
        minute apart no longer decides their ratio."""
        for workers in (1, 2):
            with ExitStack() as servers:
                bases = [servers.enter_context(self.serve(t, mode, workers)) for _, t in pair]
                for round_ in range(self.args.rounds):
                    for i in (0, 1) if round_ % 2 == 0 else (1, 0):
                        self.timed(pair[i][0], pair[i][1], bases[i], mode, workers)

    def rate(self, key: str, workers: int) -> float | None:
        """The measured 2xx rate of a scenario (the median of its rounds), if it ran and no
        run of it failed (over 1 % non-2xx)."""
        figures = [
            run.result.figure for run in self.runs if (run.key, run.workers) == (key, workers)
        ]
        if not figures or None in figures:
            return None
        return statistics.median(f for f in figures if f is not None)

    def ratio(self, top: str, bottom: str, workers: int) -> float | None:
        """top's rate over bottom's: the median of the ratios of their runs taken in pairs
        (rounds run side by side), or of their single runs; None if a run failed."""
        tops, bottoms = (
            [run.result.figure for run in self.runs if (run.key, run.workers) == (key, workers)]
            for key in (top, bottom)
        )
        if not tops or len(tops) != len(bottoms) or None in tops or None in bottoms:
            return None
        pairs = zip(tops, bottoms, strict=True)
        return statistics.median(a / b for a, b in pairs if a is not None and b)


def measure_registrations(bench: Bench, server_url: str, workdir: Path) -> list[Target]:
    """New customers registered with personal-data encryption on and off, alternating."""
    customers = bench.args.customers
    sealed = register_target(
        server_url, "reg_sealed", sealed=True, customers=customers, workdir=workdir
    )
    plain = register_target(
        server_url, "reg_plain", sealed=False, customers=customers, workdir=workdir
    )
    log("registration tokens ready on schemas reg_sealed and reg_plain", bench.started)
    bench.side_by_side([("register-sealed", sealed), ("register-plain", plain)], "register")
    return [sealed, plain]


def chain_runs(bench: Bench, server_url: str, shape: fixtures.Shape) -> list[Target]:
    """The mixed load with the audit chain and correlation index and without them
    (benchmarks.unchained), side by side."""
    from benchmarks.unchained import unchained_command

    chained, unchained = (
        our_target(server_url, schema, split_logs=True, shape=shape, workdir=bench.workdir)
        for schema in ("chained", "unchained")
    )
    unchained.command = unchained_command
    log("fixtures ready on schemas chained and unchained", bench.started)
    bench.side_by_side([("chained", chained), ("unchained", unchained)], "mixed")
    return [chained, unchained]


def lag_run(bench: Bench, server_url: str, shape: fixtures.Shape) -> LagRun:
    """The mixed load on serve-write (1 worker) with the carts and product-detail projectors
    following; on a schema and a Valkey of its own, after the ratio runs."""
    workdir = bench.workdir
    target = our_target(server_url, "lag", split_logs=True, shape=shape, workdir=workdir)
    valkey = LocalRedis(workdir / "valkey", free_port())
    redis_url = valkey.start()
    log(f"lag run: fixtures on schema lag, Valkey on {redis_url}", bench.started)

    def load(base: str, prefix: str) -> WrkResult:
        seconds = bench.args.warmup if prefix.endswith("warm") else bench.args.duration
        return bench.wrk(target, base, "mixed", prefix, seconds)

    try:
        return measure_lag(target.env, redis_url, workdir, load)
    finally:
        valkey.stop()


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.write_path", description=__doc__)
    parser.add_argument("--duration", type=int, default=10, help="seconds per timed run")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of warm-up per server")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--max-requests", type=int, default=200_000, help="cap per wrk run")
    parser.add_argument("--carts", type=int, default=2000)
    parser.add_argument("--products", type=int, default=40, help="products put in carts")
    parser.add_argument("--stock-products", type=int, default=400)
    parser.add_argument("--sellers", type=int, default=4)
    parser.add_argument(
        "--customers",
        type=int,
        help="new shoppers' tokens per register target (40,000 per round unless set)",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="register and chain: timed runs of each server, both up side by side, in turns",
    )
    parser.add_argument(
        "--scenarios", default=",".join(SCENARIOS), help=f"comma-separated: {','.join(SCENARIOS)}"
    )
    args = parser.parse_args(argv)
    if not 1 <= args.rounds <= 20:
        parser.error("--rounds must be 1..20")
    args.customers = args.customers or 40_000 * args.rounds
    if not 1 <= args.duration <= 120 or not 1 <= args.warmup <= 30:
        parser.error("--duration must be 1..120 and --warmup 1..30 seconds")
    if not args.threads <= args.connections <= 1000:
        parser.error("--connections must be from --threads to 1000")
    if args.products > args.stock_products or args.products > 50:
        parser.error("--products must be at most --stock-products and 50 (cart line cap)")
    args.scenarios = [s for s in args.scenarios.split(",") if s]
    if not set(args.scenarios) <= set(SCENARIOS):
        parser.error(f"--scenarios takes {','.join(SCENARIOS)}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; 0 when every invariant holds, 1 otherwise, 2 without wrk."""
    args = parse_args(argv)
    if require_wrk() is None:
        print("wrk is not on PATH: install it (Debian: apt-get install -y wrk).", file=sys.stderr)
        return 2
    started = time.monotonic()
    shape = fixtures.Shape(args.sellers, args.stock_products, args.products, args.carts)
    with tempfile.TemporaryDirectory(prefix="bench-write-path-") as tmp:
        workdir = Path(tmp)
        postgres = LocalPostgres(workdir / "postgres", free_port(), durable=True)
        server_url = postgres.start()
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        log(f"PostgreSQL (durable) on {server_url}; load average {load}", started)
        try:
            bench = Bench(args, workdir, started)
            targets: list[Target] = []
            if "naive" in args.scenarios:
                naive = naive_target(server_url, workdir)
                targets.append(naive)
                for workers in (1, 2):
                    bench.measure("naive", naive, "naive", workers)
            if {"cart", "stock"} & set(args.scenarios):
                ours = our_target(server_url, "cmd", split_logs=True, shape=shape, workdir=workdir)
                targets.append(ours)
                log("fixtures ready on schema cmd", started)
                for mode in ("cart", "stock"):
                    if mode in args.scenarios:
                        for workers in (1, 2):
                            bench.measure(mode, ours, mode, workers)
            if "mixed" in args.scenarios:
                split = our_target(
                    server_url, "mixed_split", split_logs=True, shape=shape, workdir=workdir
                )
                single = our_target(
                    server_url, "mixed_single", split_logs=False, shape=shape, workdir=workdir
                )
                targets += [split, single]
                log("fixtures ready on schemas mixed_split and mixed_single", started)
                for workers in (1, 2):
                    bench.measure("mixed-split", split, "mixed", workers)
                    bench.measure("mixed-single", single, "mixed", workers)
            if "register" in args.scenarios:
                targets += measure_registrations(bench, server_url, workdir)
            if "chain" in args.scenarios:
                targets += chain_runs(bench, server_url, shape)
            lag = lag_run(bench, server_url, shape) if "lag" in args.scenarios else None
            passed = print_report(bench, targets, args)
            if lag is not None:
                print("\n".join(lag.lines()))
                passed &= not lag.load.failed
        finally:
            postgres.stop()
    print(f"Total time {time.monotonic() - started:.0f} s.")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
