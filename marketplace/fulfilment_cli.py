"""Subcommands of the fulfilment side: the label worker and the mail notifier."""

from __future__ import annotations

import argparse
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from infra.logging import configure_logging
from infra.settings import load_settings


@contextmanager
def stop_on_signals() -> Iterator[threading.Event]:
    """An event set by SIGTERM or SIGINT while the block runs; the old handlers come back after."""
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _labels(args: argparse.Namespace) -> int:
    from marketplace import labels

    settings = load_settings()
    configure_logging(settings.log_level)
    with stop_on_signals() as stop:
        return labels.run(
            settings, stop, batch_size=args.batch_size, metrics_port=args.metrics_port
        )


def _notify(args: argparse.Namespace) -> int:
    from marketplace import notify

    settings = load_settings()
    configure_logging(settings.log_level)
    with stop_on_signals() as stop:
        return notify.run(
            settings, stop, batch_size=args.batch_size, metrics_port=args.metrics_port
        )


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {number}")
    return number


def register(sub: Any) -> None:
    """Add the `labels` and `notify` subcommands to the parser."""
    labels = sub.add_parser(
        "labels",
        help="render and attach shipping labels of opened fulfilments until SIGTERM/SIGINT",
    )
    labels.add_argument(
        "--batch-size", type=_positive, default=50, help="events per position commit"
    )
    labels.add_argument(
        "--metrics-port", type=int, default=0, help="serve Prometheus metrics (0: off)"
    )
    labels.set_defaults(handler=_labels)

    notify = sub.add_parser(
        "notify",
        help="fill the mail outbox from order events and send it over SMTP until SIGTERM/SIGINT",
    )
    notify.add_argument(
        "--batch-size", type=_positive, default=20, help="mails sent per SMTP connection"
    )
    notify.add_argument(
        "--metrics-port", type=int, default=0, help="serve Prometheus metrics (0: off)"
    )
    notify.set_defaults(handler=_notify)
