"""The command tree's root and what its commands share: options, settings, signals."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Annotated

import typer

from infra.settings import Settings, load_settings

app = typer.Typer(
    name="marketplace",
    help="An event-sourced CQRS marketplace: run it, inspect it, test it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

Port = Annotated[int | None, typer.Option(min=1, max=65535, help="default: from the settings")]
Workers = Annotated[
    int | None, typer.Option(min=1, max=64, help="worker processes (default: from the settings)")
]
MetricsPort = Annotated[
    int, typer.Option(min=0, max=65535, help="serve Prometheus metrics on this port (0: off)")
]
Json = Annotated[bool, typer.Option("--json", help="one JSON document, for machines")]


def command_group(name: str, help: str) -> typer.Typer:
    """A group of subcommands, `marketplace <name> ...`, added to the tree."""
    group = typer.Typer(help=help, no_args_is_help=True)
    app.add_typer(group, name=name)
    return group


def registry_batch_size(name: str) -> Callable[[], int]:
    """The batch size the registry gives the named process, read when a command runs.

    The registry imports every worker; the CLI imports it only when needed, so the API
    processes uvicorn spawns (which import this module) start light.
    """

    def default() -> int:
        from marketplace.registry import process

        return process(name).batch_size or 1

    return default


def batch_size_option(name: str, registry_default: int, help: str) -> typer.models.OptionInfo:
    """A --batch-size option defaulting to the named process's in the registry.

    registry_default is only shown in --help (a test pins it to the registry).
    """
    return typer.Option(
        min=1,
        default_factory=registry_batch_size(name),
        show_default=f"the registry's, {registry_default}",
        help=help,
    )


ProjectorBatchSize = Annotated[
    int, batch_size_option("product-detail", 1000, "events per view transaction")
]
LabelsBatchSize = Annotated[int, batch_size_option("labels", 50, "events per position commit")]
ImagesBatchSize = Annotated[int, batch_size_option("images", 20, "events per position commit")]
NotifyBatchSize = Annotated[int, batch_size_option("notify", 20, "mails sent per SMTP connection")]


def configured() -> Settings:
    """The settings from the environment, with logging set up as they say."""
    from infra.logging import configure_logging

    settings = load_settings()
    configure_logging(settings.log_level)
    return settings


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


def done(code: int) -> None:
    """End the command with this exit code."""
    raise typer.Exit(code)
