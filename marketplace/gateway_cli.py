"""`marketplace gateway`: the sandbox card gateway as a process of its own."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from infra.settings import load_settings


def _rate(value: str) -> float:
    rate = float(value)
    if not 0 <= rate <= 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, not {rate}")
    return rate


def _gateway(args: argparse.Namespace) -> int:
    import uvicorn
    from pydantic import ValidationError

    from infra.logging import configure_logging
    from infra.payments.sandbox import Faults, create_sandbox_app

    settings = load_settings()
    configure_logging(settings.log_level)
    try:
        faults = Faults(
            error_rate=args.error_rate,
            lost_reply_rate=args.lost_reply_rate,
            decline_rate=args.decline_rate,
            timeout_rate=args.timeout_rate,
            hang_seconds=args.hang_seconds,
            latency_ms=args.latency_ms,
            stall=args.stall,
        )
    except ValidationError as error:
        print(f"marketplace gateway: {error}", file=sys.stderr)
        return 2
    uvicorn.run(
        create_sandbox_app(faults, seed=args.seed),
        host=settings.host,
        port=args.port or settings.gateway_port,
        workers=1,
        log_level="warning",
        access_log=False,
    )
    return 0


def register(sub: Any) -> None:
    """Add the `gateway` subcommand to the parser."""
    gateway = sub.add_parser(
        "gateway", help="run the sandbox card gateway (state in memory, optional faults)"
    )
    gateway.add_argument("--port", type=int, default=None, help="default: settings.gateway_port")
    gateway.add_argument("--error-rate", type=_rate, default=0.0, help="answer 503 first")
    gateway.add_argument(
        "--lost-reply-rate", type=_rate, default=0.0, help="do the work, then answer 500"
    )
    gateway.add_argument("--decline-rate", type=_rate, default=0.0, help="decline authorisations")
    gateway.add_argument(
        "--timeout-rate", type=_rate, default=0.0, help="hold hang-seconds, then do the work"
    )
    gateway.add_argument("--hang-seconds", type=float, default=5.0)
    gateway.add_argument("--latency-ms", type=int, default=0, help="added to every call")
    gateway.add_argument(
        "--stall", action="store_true", help="hold every call (until switched off), then 503"
    )
    gateway.add_argument("--seed", type=int, default=None, help="repeatable fault dice")
    gateway.set_defaults(handler=_gateway)
