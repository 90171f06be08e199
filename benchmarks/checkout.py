"""Checkout throughput end to end (cart to confirmed order), next to the raw append rate.

Run `python -m benchmarks.checkout [--shoppers 500] [--threads 16] [--payment-workers 8]`.
One run starts its own durable PostgreSQL (fsync on) on loopback, the sandbox gateway
(`marketplace gateway`) and the checkout worker (`marketplace checkout`) as processes of
their own, prepares sellers, products and filled carts through commands.services.Commands,
then checks every cart out from a thread pool in this process (Commands.check_out directly:
the command API's HTTP cost is what benchmarks.write_path measures) and follows the logs
until every order is confirmed and its units sold. Times to confirmation come from the
events' own timestamps (the Context clock of the command that appended each). Then, with
the worker stopped, it appends new one-event aggregates from as many threads for a fixed
time: the raw append rate of the same PostgreSQL, the baseline of the ratios it prints.
Only invariants decide the exit status: 1 if one fails.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from benchmarks import fixtures
from benchmarks.checkout_measures import (
    Rate,
    cpu_busy,
    gateway_charges,
    raw_library,
    raw_ours,
    scrape,
    tree_cpu,
)
from benchmarks.checkout_outcome import LOGS, Follower, Settled, verify, wait_settled
from benchmarks.checkout_report import Figures, print_report
from benchmarks.checkout_shop import (
    Call,
    Plan,
    acting,
    build_shop,
    check_out_all,
    fill_cart,
    log,
    parallel,
    percentile,
)
from benchmarks.servers import clean_env, free_port, serving
from commands.services import Commands
from infra.eventstore import eventsourcing_env
from infra.local.postgres import LocalPostgres
from infra.settings import PaymentSettings, PostgresSettings, Settings

# benchmarks.flash_sale imports these from here
__all__ = ["Follower", "acting", "fill_cart", "log", "main", "parallel", "percentile"]

QUIET = {"MARKETPLACE_LOG_LEVEL": "WARNING", "MARKETPLACE_ENVIRONMENT": "development"}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line, checked."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.checkout", description=__doc__)
    parser.add_argument("--shoppers", type=int, default=500, help="carts checked out")
    parser.add_argument("--threads", type=int, default=16, help="check_out and append threads")
    parser.add_argument(
        "--payment-workers", type=int, default=8, help="MARKETPLACE_PAYMENT_WORKERS of the worker"
    )
    parser.add_argument("--products", type=int, default=20, help="products with ample stock")
    parser.add_argument(
        "--hot-share",
        type=float,
        default=0.25,
        help="share of carts with the hot product (0: none)",
    )
    parser.add_argument("--sellers", type=int, default=4)
    parser.add_argument("--raw-seconds", type=float, default=5.0, help="per raw-append baseline")
    parser.add_argument("--timeout", type=float, default=120.0, help="wait for confirmations")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--rate",
        type=float,
        default=None,
        help="steady arrivals: checkouts per second (default: all at once, a burst)",
    )
    parser.add_argument(
        "--seconds", type=float, default=None, help="with --rate: --shoppers = rate x seconds"
    )
    args = parser.parse_args(argv)
    if args.rate is not None and args.seconds is not None:
        args.shoppers = round(args.rate * args.seconds)
    if args.rate is not None and not 0 < args.rate <= 10_000:
        parser.error("--rate must be 0..10000 checkouts per second")
    if not 1 <= args.shoppers <= 100_000 or not 1 <= args.threads <= 128:
        parser.error("--shoppers must be 1..100000 and --threads 1..128")
    if not 1 <= args.payment_workers <= 128:
        parser.error("--payment-workers must be 1..128")
    if args.products < 3 or not 1 <= args.sellers <= args.products:
        parser.error("--products must be at least 3 and --sellers 1..--products")
    if not 0 <= args.hot_share <= 1 or not 1 <= args.raw_seconds <= 60:
        parser.error("--hot-share must be 0..1 and --raw-seconds 1..60")
    return args


@dataclass(frozen=True)
class Services:
    """The durable PostgreSQL, the run's schema and the sandbox gateway."""

    postgres: LocalPostgres
    server_url: str
    url: str
    gateway: str


@dataclass
class Window:
    """What the checkout run measured while the checkout worker ran."""

    calls: list[Call]
    first: datetime
    calls_done: datetime
    settled: Settled
    cpu: tuple[float, float]
    own_cpu: float
    postgres_cpu: float
    metrics: dict[str, float]


def start_services(stack: ExitStack, workdir: Path, started: float) -> Services:
    """Start PostgreSQL (fsync on) with the run's schema, and the sandbox gateway."""
    postgres = LocalPostgres(workdir / "postgres", free_port(), durable=True)
    stack.callback(postgres.stop)
    server_url = postgres.start()
    log(f"PostgreSQL (durable) on {server_url}", started)
    url = fixtures.create_schema(server_url, "checkout")
    gateway_port = free_port()
    gateway = stack.enter_context(
        serving(
            [sys.executable, "-m", "marketplace.cli", "gateway", "--port", str(gateway_port)],
            clean_env(QUIET),
            gateway_port,
            "/healthz",
            workdir / "gateway.log",
        )
    )
    return Services(postgres, server_url, url, gateway)


def worker_env(services: Services, payment_workers: int) -> dict[str, str]:
    """The checkout worker's environment: split logs on the run's schema, the gateway."""
    return clean_env(
        {
            **QUIET,
            "MARKETPLACE_EVENT_STORE": "postgres",
            "MARKETPLACE_SPLIT_LOGS": "true",
            "MARKETPLACE_POSTGRES_URL": services.url,
            "MARKETPLACE_PAYMENT_GATEWAY_URL": services.gateway,
            "MARKETPLACE_PAYMENT_WORKERS": str(payment_workers),
        }
    )


def worker_command(metrics_port: int) -> list[str]:
    """`marketplace checkout` serving its metrics on metrics_port."""
    return [
        sys.executable,
        "-m",
        "marketplace.cli",
        "checkout",
        "--metrics-port",
        str(metrics_port),
    ]


def run_checkout(
    commands: Commands,
    plan: Plan,
    follower: Follower,
    args: argparse.Namespace,
    services: Services,
    workdir: Path,
    started: float,
) -> Window:
    """Start the checkout worker, check every cart out and wait until the orders settle."""
    metrics_port = free_port()
    environment = worker_env(services, args.payment_workers)
    command = worker_command(metrics_port)
    postgres = services.postgres
    with serving(command, environment, metrics_port, "/metrics", workdir / "worker.log") as metrics:
        time.sleep(1.0)  # the worker creates its book and reads the (empty) order log
        before = scrape(metrics)
        cpu_before, own_before = cpu_busy(), time.process_time()
        pg_before = tree_cpu(postgres.pid())
        first = datetime.now(UTC)
        calls = check_out_all(commands, plan, args.threads, args.rate)
        calls_done = datetime.now(UTC)
        log(f"{len(calls)} check_out calls returned", started)
        orders = {c.order_id for c in calls if c.order_id}
        settled = wait_settled(follower, plan, orders, args.timeout, started)
        cpu_after, own_after = cpu_busy(), time.process_time()
        pg_after = tree_cpu(postgres.pid())
        after = scrape(metrics)
    return Window(
        calls,
        first,
        calls_done,
        settled,
        (cpu_after[0] - cpu_before[0], cpu_after[1] - cpu_before[1]),
        own_after - own_before,
        pg_after - pg_before,
        {k: after.get(k, 0.0) - before.get(k, 0.0) for k in after},
    )


def raw_rates(server_url: str, args: argparse.Namespace, started: float) -> list[Rate]:
    """The raw append baselines: ours from threads and from one, then the library's."""
    log(f"raw appends, {args.threads} threads, {args.raw_seconds:.0f} s each", started)
    return [
        *raw_ours(server_url, args.threads, args.raw_seconds),
        raw_library(server_url, args.threads, args.raw_seconds),
    ]


def figures_of(
    args: argparse.Namespace,
    plan: Plan,
    follower: Follower,
    window: Window,
    raw: list[Rate],
    checks: list[tuple[str, bool]],
) -> Figures:
    """Everything the report prints, from the run's parts."""
    return Figures(
        args=args,
        plan=plan,
        calls=window.calls,
        follower=follower,
        settled=window.settled,
        first=window.first,
        calls_done=window.calls_done,
        cpu=window.cpu,
        worker_cpu=window.metrics.get("process_cpu_seconds_total", 0.0),
        own_cpu=window.own_cpu,
        postgres_cpu=window.postgres_cpu,
        metrics=window.metrics,
        raw=raw,
        checks=checks,
        load=", ".join(f"{x:.1f}" for x in os.getloadavg()),
    )


def benchmark(args: argparse.Namespace, started: float) -> bool:
    """Run the benchmark in a temporary directory, print the report; True if every check holds."""
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="bench-checkout-") as tmp, ExitStack() as stack:
        workdir = Path(tmp)
        services = start_services(stack, workdir, started)
        settings = Settings(
            log_level="WARNING",
            postgres=PostgresSettings(url=services.url),
            payments=PaymentSettings(gateway_url=services.gateway),
        )
        env = eventsourcing_env(settings)
        commands = Commands(env)
        stack.callback(commands.close)
        plan = build_shop(commands, args, rng)
        lines = sum(len(c) for c in plan.carts.values())
        log(
            f"shop ready: {len(plan.carts)} carts, {lines} lines; gateway on {services.gateway}",
            started,
        )
        follower = Follower(env, LOGS)
        stack.callback(follower.close)
        window = run_checkout(commands, plan, follower, args, services, workdir, started)
        settled = window.settled
        log(f"checkout worker stopped; settled: {settled.done}", started)
        follower.poll()
        charges = gateway_charges(services.gateway)
        checks = verify(commands, plan, window.calls, settled, charges)
        checks.append((f"everything settled within --timeout {args.timeout:.0f} s", settled.done))
        raw = raw_rates(services.server_url, args, started)
        for rate in raw:
            checks.append((f"raw append errors ({rate.label}): {rate.errors}", rate.errors == 0))
        print_report(figures_of(args, plan, follower, window, raw, checks))
        passed = all(ok for _, ok in checks)
        print(f"Invariants {'hold' if passed else 'FAILED'}.")
    return passed


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; 0 when every invariant holds, 1 otherwise."""
    args = parse_args(argv)
    started = time.monotonic()
    passed = benchmark(args, started)
    print(f"Total time {time.monotonic() - started:.0f} s.")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
