"""`marketplace loadtest` and `marketplace seed-demo`, registered by the root's CLI.

Locust itself is only imported by the load run's child process; matplotlib by the report.
"""

from __future__ import annotations

import argparse
import importlib.util
import shlex
import sys
from functools import partial
from pathlib import Path
from typing import Any

from infra.settings import Settings, load_settings
from loadtest.root import Root

EXTRA = ("locust", "matplotlib")
"""What `marketplace loadtest` needs beyond the runtime: the `loadtest` extra."""
EXTRA_HINT = "install the loadtest extra: pip install -e '.[loadtest]'"


def _positive_float(value: str) -> float:
    number = float(value)
    if number <= 0:
        raise argparse.ArgumentTypeError(f"must be above 0, not {value}")
    return number


def _count(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return number


def _non_negative(value: str) -> int:
    number = int(value)
    if number < 0:
        raise argparse.ArgumentTypeError(f"must be at least 0, not {value}")
    return number


def missing_extra() -> list[str]:
    """The packages of the `loadtest` extra that are not installed."""
    return [name for name in EXTRA if importlib.util.find_spec(name) is None]


def _loadtest(root: Root, args: argparse.Namespace) -> int:
    missing = missing_extra()
    if missing:
        print(f"marketplace loadtest: no {', '.join(missing)}; {EXTRA_HINT}", file=sys.stderr)
        return 2
    from loadtest.plan import LoadOptions
    from loadtest.run import default_folder, loadtest

    settings = load_settings()
    options = LoadOptions(
        write_url=(args.write_url or root.api_url(settings, settings.write_api_port)).rstrip("/"),
        read_url=(args.read_url or root.api_url(settings, settings.read_api_port)).rstrip("/"),
        duration=args.duration,
        users=args.users,
        spawn_rate=args.spawn_rate,
        ramp=args.ramp,
        flash_at=args.flash_at,
        flash_users=args.flash_users,
        flash_products=args.flash_products,
        flash_stock=args.flash_stock,
        flash_limit=args.flash_limit,
        products=args.products,
        think=args.think,
        seed=args.seed,
        one_ip=args.one_ip,
        bucket=args.bucket,
        settle=args.settle,
        checkout_metrics=args.checkout_metrics or checkout_metrics_url(settings),
    )
    if options.flash_start >= options.duration:
        print("marketplace loadtest: --flash-at must be within --duration", file=sys.stderr)
        return 2
    folder = args.out or default_folder(settings)
    command = shlex.join(["marketplace", *sys.argv[1:]])
    try:
        return loadtest(options, folder, settings, command, root)
    except KeyboardInterrupt:
        print("marketplace loadtest: interrupted", file=sys.stderr)
        return 130


def checkout_metrics_url(settings: Settings) -> str | None:
    """Where `marketplace up` has the checkout worker serve its metrics, if it does."""
    port = settings.checkout_metrics_port
    return f"http://{settings.host}:{port}/metrics" if port else None


def _seed_demo(root: Root, args: argparse.Namespace) -> int:
    from loadtest.demo import seed_demo

    return seed_demo(
        root,
        url=args.url,
        sellers=args.sellers,
        products=args.products,
        customers=args.customers,
        seed=args.seed,
        concurrency=args.concurrency,
    )


def register(sub: Any, root: Root) -> None:
    """Add `seed-demo` and `loadtest` to the parser; their handlers work on root."""
    seed = sub.add_parser("seed-demo", help="load a demo marketplace through the command API")
    seed.add_argument("--url", default=None, help="command API base URL (default: from settings)")
    seed.add_argument("--sellers", type=int, default=36)
    seed.add_argument("--products", type=int, default=3000)
    seed.add_argument("--customers", type=int, default=120)
    seed.add_argument("--seed", type=int, default=42)
    seed.add_argument("--concurrency", type=int, default=16, help="requests in flight")
    seed.set_defaults(handler=partial(_seed_demo, root))

    run = sub.add_parser(
        "loadtest",
        help="drive a running stack with a Black Friday mix (Locust) and write a report",
        description="Prepares sellers, products, a flash sale and shoppers through the command "
        "API, then drives both APIs with Locust, headless: mostly search and product views, "
        "some cart changes, a few checkouts, a ramp, and a flash sale mid-run. Writes "
        "report.md, summary.json and PNG charts; exits 1 if an invariant failed.",
    )
    run.add_argument("--write-url", default=None, help="command API (default: from settings)")
    run.add_argument("--read-url", default=None, help="query API (default: from settings)")
    run.add_argument("--out", type=Path, default=None, help="default: .marketplace/loadtest/<ts>")
    run.add_argument("--duration", type=_positive_float, default=120.0, help="seconds of load")
    run.add_argument("--users", type=_count, default=100, help="users at the peak")
    run.add_argument("--spawn-rate", type=_positive_float, default=None, help="users/s in ramp")
    run.add_argument("--ramp", type=_positive_float, default=None, help="seconds to peak")
    run.add_argument("--flash-at", type=float, default=None, help="second the sale opens (1/2)")
    run.add_argument("--flash-users", type=_non_negative, default=None, help="flash buyers")
    run.add_argument("--flash-products", type=_count, default=3)
    run.add_argument("--flash-stock", type=_count, default=10, help="units per flash product")
    run.add_argument("--flash-limit", type=_count, default=1, help="units per buyer")
    run.add_argument("--products", type=_count, default=60, help="ordinary products to list")
    run.add_argument("--think", type=_positive_float, default=1.0, help="mean pause, seconds")
    run.add_argument("--seed", type=int, default=42)
    run.add_argument(
        "--one-ip", action="store_true", help="no X-Forwarded-For: all users share one address"
    )
    run.add_argument(
        "--bucket", type=_positive_float, default=None, help="chart bucket, seconds (auto)"
    )
    run.add_argument(
        "--settle", type=_positive_float, default=60.0, help="seconds to wait for orders to settle"
    )
    run.add_argument(
        "--checkout-metrics",
        default=None,
        help="the checkout worker's Prometheus URL (for the payment breaker; default from "
        "MARKETPLACE_CHECKOUT_METRICS_PORT, as `marketplace up` serves it)",
    )
    run.set_defaults(handler=partial(_loadtest, root))
