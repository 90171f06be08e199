"""Subcommands that run the platform's processes."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import uvicorn

from infra.settings import load_settings


def _serve_write(args: argparse.Namespace) -> int:
    settings = load_settings()
    uvicorn.run(
        "marketplace.bootstrap:write_app",
        factory=True,
        host=settings.host,
        port=args.port or settings.write_api_port,
        workers=args.workers or settings.write_api_workers,
        log_level="warning",
        access_log=False,
        loop="uvloop",
        http="httptools",
    )
    return 0


def _up(args: argparse.Namespace) -> int:
    from marketplace.stack import up

    return up(args.data_dir, args.write_port, args.workers)


def _seed_demo(args: argparse.Namespace) -> int:
    from marketplace.demo import seed_demo

    return seed_demo(
        url=args.url,
        sellers=args.sellers,
        products=args.products,
        customers=args.customers,
        seed=args.seed,
        concurrency=args.concurrency,
    )


def register(sub: Any) -> None:
    """Add the process subcommands to the parser."""
    serve = sub.add_parser("serve-write", help="run the command API (needs a configured store)")
    serve.add_argument("--port", type=int, default=None)
    serve.add_argument("--workers", type=int, default=None)
    serve.set_defaults(handler=_serve_write)

    up = sub.add_parser(
        "up", help="run the whole platform locally, starting embedded stores when none is set"
    )
    up.add_argument("--data-dir", type=Path, default=None, help="default: ./.marketplace")
    up.add_argument("--write-port", type=int, default=None, help="command API port")
    up.add_argument("--workers", type=int, default=None, help="command API worker processes")
    up.set_defaults(handler=_up)

    seed = sub.add_parser("seed-demo", help="load a demo marketplace through the command API")
    seed.add_argument("--url", default=None, help="command API base URL (default: from settings)")
    seed.add_argument("--sellers", type=int, default=36)
    seed.add_argument("--products", type=int, default=3000)
    seed.add_argument("--customers", type=int, default=120)
    seed.add_argument("--seed", type=int, default=42)
    seed.add_argument("--concurrency", type=int, default=16, help="requests in flight")
    seed.set_defaults(handler=_seed_demo)
