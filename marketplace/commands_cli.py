"""Subcommands that run the platform's processes."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import uvicorn

from infra.metrics import share_between_workers
from infra.settings import load_settings


def _serve(factory: str, port: int, workers: int) -> int:
    if workers > 1:
        settings = load_settings()
        share_between_workers(settings.data_dir / "metrics" / f"{factory.rsplit(':')[-1]}-{port}")
    uvicorn.run(
        factory,
        factory=True,
        host=load_settings().host,
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
        loop="uvloop",
        http="httptools",
    )
    return 0


def _serve_write(args: argparse.Namespace) -> int:
    settings = load_settings()
    port, workers = args.port or settings.write_api_port, args.workers or settings.write_api_workers
    return _serve("marketplace.bootstrap:write_app", port, workers)


def _serve_read(args: argparse.Namespace) -> int:
    settings = load_settings()
    port, workers = args.port or settings.read_api_port, args.workers or settings.read_api_workers
    return _serve("marketplace.bootstrap:read_app", port, workers)


def _up(args: argparse.Namespace) -> int:
    from marketplace.stack import up

    return up(args.data_dir, args.write_port, args.workers, args.read_port)


def _project(args: argparse.Namespace) -> int:
    from infra.logging import configure_logging
    from marketplace.projectors import UnknownProjection, run

    settings = load_settings()
    configure_logging(settings.log_level)
    try:
        return run(args.name, settings, batch_size=args.batch_size, metrics_port=args.metrics_port)
    except UnknownProjection as error:
        print(f"marketplace project: {error}", file=sys.stderr)
        return 2


def _rebuild(args: argparse.Namespace) -> int:
    from infra.logging import configure_logging
    from marketplace.projectors import UnknownProjection
    from marketplace.rebuild import RebuildRunning, rebuild

    settings = load_settings()
    configure_logging(settings.log_level)
    try:
        done = rebuild(
            args.name,
            settings,
            batch_size=args.batch_size,
            progress=sys.stderr,
            grace_seconds=args.grace_seconds,
        )
    except UnknownProjection as error:
        print(f"marketplace rebuild: {error}", file=sys.stderr)
        return 2
    except RebuildRunning as error:
        print(f"marketplace rebuild: {error}", file=sys.stderr)
        return 1
    print(done.summary())
    return 0


def _checkout(args: argparse.Namespace) -> int:
    from infra.logging import configure_logging
    from marketplace.checkout import run

    settings = load_settings()
    configure_logging(settings.log_level)
    return run(settings, metrics_port=args.metrics_port)


def _status(args: argparse.Namespace) -> int:
    from marketplace.projectors import lag_table, status

    print(lag_table(status(load_settings())))
    return 0


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {number}")
    return number


def _register_projection_commands(sub: Any) -> None:
    project = sub.add_parser("project", help="run one projection as a worker until SIGTERM/SIGINT")
    project.add_argument("name", help="the projection, e.g. product-detail (see `status`)")
    project.add_argument(
        "--batch-size", type=_positive, default=1000, help="events per view transaction"
    )
    project.add_argument(
        "--metrics-port", type=int, default=0, help="serve Prometheus metrics (0: off)"
    )
    project.set_defaults(handler=_project)

    rebuild = sub.add_parser(
        "rebuild",
        help="build a new version of a read model beside the live one, switch to it, drop the old",
    )
    rebuild.add_argument("name", help="the projection, e.g. seller-sales (see `status`)")
    rebuild.add_argument(
        "--batch-size", type=_positive, default=1000, help="events per view transaction"
    )
    rebuild.add_argument(
        "--grace-seconds",
        type=float,
        default=None,
        help="wait between switching readers and dropping the old version (default: the store's)",
    )
    rebuild.set_defaults(handler=_rebuild)

    checkout = sub.add_parser(
        "checkout",
        help="run the checkout process manager, gateway calls and deadlines until SIGTERM/SIGINT",
    )
    checkout.add_argument(
        "--metrics-port", type=int, default=0, help="serve Prometheus metrics (0: off)"
    )
    checkout.set_defaults(handler=_checkout)

    status = sub.add_parser(
        "status", help="print each projection's position and lag behind its logs"
    )
    status.set_defaults(handler=_status)


def register(sub: Any) -> None:
    """Add the process subcommands to the parser."""
    serve = sub.add_parser("serve-write", help="run the command API (needs a configured store)")
    serve.add_argument("--port", type=int, default=None)
    serve.add_argument("--workers", type=int, default=None)
    serve.set_defaults(handler=_serve_write)

    serve_read = sub.add_parser("serve-read", help="run the query API (needs a configured store)")
    serve_read.add_argument("--port", type=int, default=None)
    serve_read.add_argument("--workers", type=int, default=None)
    serve_read.set_defaults(handler=_serve_read)

    up = sub.add_parser(
        "up", help="run the whole platform locally, starting embedded stores when none is set"
    )
    up.add_argument("--data-dir", type=Path, default=None, help="default: ./.marketplace")
    up.add_argument("--write-port", type=int, default=None, help="command API port")
    up.add_argument("--workers", type=int, default=None, help="command API worker processes")
    up.add_argument("--read-port", type=int, default=None, help="query API port")
    up.set_defaults(handler=_up)

    _register_projection_commands(sub)
