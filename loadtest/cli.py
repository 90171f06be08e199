"""`marketplace loadtest` and `marketplace seed-demo`, added to the root's command tree.

Locust itself is only imported by the load run's child process; matplotlib by the report.
"""

from __future__ import annotations

import importlib.util
import shlex
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Annotated

import typer

from infra.settings import Settings, load_settings
from loadtest.root import Root

EXTRA = ("locust", "matplotlib")
"""What `marketplace loadtest` needs beyond the runtime: the `loadtest` extra."""
EXTRA_HINT = "install the loadtest extra: pip install -e '.[loadtest]'"


def missing_extra() -> list[str]:
    """The packages of the `loadtest` extra that are not installed."""
    return [name for name in EXTRA if importlib.util.find_spec(name) is None]


def run_loadtest(root: Root, args: SimpleNamespace) -> int:
    """The load run the options describe, against the stack root describes; the exit code."""
    missing = missing_extra()
    if missing:
        print(f"marketplace loadtest: no {', '.join(missing)}; {EXTRA_HINT}", file=sys.stderr)
        return 2
    from loadtest.plan import LoadOptions
    from loadtest.run import default_folder, loadtest

    settings = load_settings()
    options = LoadOptions(
        write_url=(args.write_url or root.api_url(settings, settings.http.write_api_port)).rstrip(
            "/"
        ),
        read_url=(args.read_url or root.api_url(settings, settings.http.read_api_port)).rstrip("/"),
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
    port = settings.checkout.metrics_port
    return f"http://{settings.http.host}:{port}/metrics" if port else None


def above_zero(value: str) -> float:
    """value as a number above 0, or a usage error."""
    number = float(value)
    if number <= 0:
        raise typer.BadParameter(f"must be above 0, not {value}")
    return number


def positive(help: str | None = None) -> typer.models.OptionInfo:
    """An option that must be above 0."""
    return typer.Option(parser=above_zero, help=help)


def count(help: str | None = None) -> typer.models.OptionInfo:
    """An option that must be at least 1."""
    return typer.Option(min=1, help=help)


WriteUrl = Annotated[str | None, typer.Option(help="command API (default: settings)")]
ReadUrl = Annotated[str | None, typer.Option(help="query API (default: settings)")]
OutFolder = Annotated[Path | None, typer.Option(help="default: .marketplace/loadtest/<ts>")]
OneIp = Annotated[bool, typer.Option(help="no X-Forwarded-For: all users share one address")]
CheckoutMetrics = Annotated[
    str | None,
    typer.Option(
        help="the checkout worker's Prometheus URL (for the payment breaker; default "
        "from MARKETPLACE_CHECKOUT_METRICS_PORT, as `marketplace up` serves it)"
    ),
]
DemoUrl = Annotated[str | None, typer.Option(help="command API (default: from settings)")]


def tooling(root: Root) -> typer.Typer:
    """`seed-demo` and `loadtest` as a command tree whose commands work on root."""
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    _add_seed_demo(app, root)
    _add_loadtest(app, root)
    return app


def _add_seed_demo(app: typer.Typer, root: Root) -> None:
    """Add `seed-demo`, working on root, to app."""

    @app.command("seed-demo")
    def seed_demo(
        url: DemoUrl = None,
        sellers: Annotated[int, typer.Option(min=1)] = 36,
        products: Annotated[int, typer.Option(min=0)] = 3000,
        customers: Annotated[int, typer.Option(min=0)] = 120,
        seed: int = 42,
        concurrency: Annotated[int, typer.Option(min=1, help="requests in flight")] = 16,
    ) -> None:
        """Load a demo marketplace through the command API: sellers, products, stock, shoppers.

        Example: marketplace seed-demo --products 500
        """
        from loadtest.demo import seed_demo as load

        code = load(root, url, sellers, products, customers, seed, concurrency)
        raise typer.Exit(code)


def _add_loadtest(app: typer.Typer, root: Root) -> None:
    """Add `loadtest`, working on root, to app."""

    @app.command("loadtest")
    def loadtest(
        write_url: WriteUrl = None,
        read_url: ReadUrl = None,
        out: OutFolder = None,
        duration: Annotated[float, positive("seconds of load")] = 120.0,
        users: Annotated[int, count("users at the peak")] = 100,
        spawn_rate: Annotated[float | None, positive("users/s in ramp")] = None,
        ramp: Annotated[float | None, positive("seconds to peak")] = None,
        flash_at: Annotated[float | None, typer.Option(help="second the sale opens (1/2)")] = None,
        flash_users: Annotated[int | None, typer.Option(min=0, help="flash buyers")] = None,
        flash_products: Annotated[int, count()] = 3,
        flash_stock: Annotated[int, count("units per flash product")] = 10,
        flash_limit: Annotated[int, count("units per buyer")] = 1,
        products: Annotated[int, count("ordinary products to list")] = 60,
        think: Annotated[float, positive("mean pause, seconds")] = 1.0,
        seed: int = 42,
        one_ip: OneIp = False,
        bucket: Annotated[float | None, positive("chart bucket (s)")] = None,
        settle: Annotated[float, positive("seconds for orders to settle")] = 60.0,
        checkout_metrics: CheckoutMetrics = None,
    ) -> None:
        """Drive a running stack with a Black Friday mix (Locust) and write a report.

        Prepares sellers, products, a flash sale and shoppers through the command API, then
        drives both APIs with Locust, headless: mostly search and product views, some cart
        changes, a few checkouts, a ramp, and a flash sale mid-run. Writes report.md,
        summary.json and PNG charts; exits 1 if an invariant failed.

        Example: marketplace loadtest --users 50 --duration 60 --flash-at 20
        """
        raise typer.Exit(run_loadtest(root, SimpleNamespace(**locals())))
