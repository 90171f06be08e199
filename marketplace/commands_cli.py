"""Subcommands that run the platform's processes."""

from __future__ import annotations

import argparse
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


def register(sub: Any) -> None:
    """Add the process subcommands to the parser."""
    serve = sub.add_parser("serve-write", help="run the command API (needs a configured store)")
    serve.add_argument("--port", type=int, default=None)
    serve.add_argument("--workers", type=int, default=None)
    serve.set_defaults(handler=_serve_write)
