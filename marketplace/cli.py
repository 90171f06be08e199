"""The `marketplace` command line: one command tree, each process's defaults from the registry."""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Annotated, Any
from uuid import UUID, uuid4

import typer
from typer.core import TyperGroup

from infra.auth import Role, TokenCodec
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


def registry_batch_size(name: str) -> Callable[[], int]:
    """The batch size the registry gives the named process, read when a command runs.

    The registry imports every worker; the CLI imports it only when needed, so the API
    processes uvicorn spawns (which import this module) start light.
    """

    def default() -> int:
        from marketplace.registry import process

        return process(name).batch_size or 1

    return default


ProjectorBatchSize = Annotated[
    int,
    typer.Option(
        min=1,
        default_factory=registry_batch_size("product-detail"),
        show_default="the registry's, 1000",
        help="events per view transaction",
    ),
]


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


@app.command()
def token(
    role: Annotated[Role, typer.Option(help="what the bearer may do")] = "shopper",
    sub: Annotated[
        UUID | None, typer.Option(help="the subject (seller, customer...) id; default: a new one")
    ] = None,
    ttl: Annotated[int | None, typer.Option(min=60, help="lifetime in seconds")] = None,
) -> None:
    """Print a development bearer token (signed with MARKETPLACE_JWT_SECRET).

    Roles: shopper (carts, checkout, own orders), seller (own products, stock, fulfilment),
    admin (everything), auditor (reserved for the audit API). The subject goes to stderr,
    the token alone to stdout.

    Example: TOKEN=$(marketplace token --role seller)
    """
    settings = load_settings()
    codec = TokenCodec(
        settings.jwt_secret.get_secret_value(),
        settings.jwt_issuer,
        settings.jwt_audience,
        settings.jwt_ttl_seconds,
    )
    subject = sub or uuid4()
    print(f"subject: {subject}", file=sys.stderr)
    print(codec.issue(subject, role, ttl_seconds=ttl))


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def test(ctx: typer.Context) -> None:
    """Run the linters, the architecture contracts, the type checks and every test.

    Extra arguments go to pytest. Example: marketplace test -x tests/unit
    """
    from marketplace.testing import run_test_suite

    done(run_test_suite(list(ctx.args)))


@app.command()
def up(
    data_dir: Annotated[Path | None, typer.Option(help="default: ./.marketplace")] = None,
    write_port: Annotated[int | None, typer.Option(help="command API port")] = None,
    workers: Annotated[int | None, typer.Option(help="command API worker processes")] = None,
    read_port: Annotated[int | None, typer.Option(help="query API port")] = None,
) -> None:
    """Run the whole platform locally, with embedded stores where none is configured.

    Starts embedded PostgreSQL and Valkey when no store is set, then every process of the
    registry, and prints the URLs once all are ready. Ctrl-C stops everything.

    Example: marketplace up --write-port 9000
    """
    from marketplace.stack import up as run_up

    done(run_up(data_dir, write_port, workers, read_port))


@app.command()
def status() -> None:
    """Print every process's position and lag behind each log it follows.

    Reads the stores only: nothing needs to run. A process whose position cannot be read gets
    a line with the error. Example: marketplace status
    """
    from marketplace.registry import status as positions
    from marketplace.status import lag_table

    print(lag_table(positions(load_settings())))


def serve(factory: str, port: int, workers: int) -> None:
    """Run an API app factory under uvicorn; metrics are summed over its worker processes."""
    import uvicorn

    from infra.metrics import share_between_workers

    settings = load_settings()
    if workers > 1:
        share_between_workers(settings.data_dir / "metrics" / f"{factory.rsplit(':')[-1]}-{port}")
    uvicorn.run(
        factory,
        factory=True,
        host=settings.host,
        port=port,
        workers=workers,
        log_level="warning",
        access_log=False,
        loop="uvloop",
        http="httptools",
    )


@app.command("serve-write")
def serve_write(port: Port = None, workers: Workers = None) -> None:
    """Run the command API alone, on the configured stores.

    Example: marketplace serve-write --port 8000 --workers 2
    """
    settings = load_settings()
    serve(
        "marketplace.bootstrap:write_app",
        port or settings.write_api_port,
        workers or settings.write_api_workers,
    )


@app.command("serve-read")
def serve_read(port: Port = None, workers: Workers = None) -> None:
    """Run the query API alone, on the configured stores (stateless: add processes to scale).

    Example: marketplace serve-read --port 8001 --workers 2
    """
    settings = load_settings()
    serve(
        "marketplace.bootstrap:read_app",
        port or settings.read_api_port,
        workers or settings.read_api_workers,
    )


def projection_name(name: str) -> str:
    """name, if a projection has it; else a usage error naming the known ones."""
    from marketplace.projectors import UnknownProjection, projector

    try:
        return projector(name).name
    except UnknownProjection as error:
        raise typer.BadParameter(str(error)) from None


ProjectionName = Annotated[
    str,
    typer.Argument(
        callback=projection_name, help="the read model, e.g. product-detail (see `status`)"
    ),
]


@app.command()
def project(
    name: ProjectionName,
    batch_size: ProjectorBatchSize,
    metrics_port: MetricsPort = 0,
) -> None:
    """Run one projection's worker until SIGTERM or SIGINT.

    It resumes from the position kept in its view, takes larger batches while far behind,
    and retries a store that is down. Example: marketplace project carts --metrics-port 9101
    """
    from prometheus_client import start_http_server

    from marketplace.projectors import log_names, opened

    settings = configured()
    with stop_on_signals() as stop:
        if metrics_port:
            start_http_server(metrics_port, addr=settings.host)
        with opened(name, settings, batch_size) as worker:
            logs = log_names(worker.projection, settings)
            log_event("projector_started", projection=name, logs=logs)
            worker.run(stop)
    log_event("projector_stopped", projection=name)


def log_event(event: str, **fields: Any) -> None:
    """One structured log line."""
    import structlog

    structlog.get_logger().info(event, **fields)


@app.command()
def rebuild(
    name: ProjectionName,
    batch_size: ProjectorBatchSize,
    grace_seconds: Annotated[
        float | None,
        typer.Option(help="wait between switching readers and dropping the old version"),
    ] = None,
) -> None:
    """Build a new version of a read model beside the live one, switch to it, drop the old.

    Deploy the new projector first. Example: marketplace rebuild seller-sales
    """
    from marketplace.rebuild import RebuildRunning
    from marketplace.rebuild import rebuild as rebuild_view

    settings = configured()
    try:
        result = rebuild_view(
            name, settings, batch_size=batch_size, progress=sys.stderr, grace_seconds=grace_seconds
        )
    except RebuildRunning as error:
        print(f"marketplace rebuild: {error}", file=sys.stderr)
        done(1)
    print(result.summary())


@app.command()
def checkout(metrics_port: MetricsPort = 0) -> None:
    """Run the checkout process manager, payment calls and order deadlines until stopped.

    Runs until SIGTERM or SIGINT.

    Example: marketplace checkout --metrics-port 9102
    """
    from marketplace.checkout import run

    done(run(configured(), metrics_port=metrics_port))


@app.command()
def labels(
    batch_size: Annotated[
        int,
        typer.Option(
            min=1,
            default_factory=registry_batch_size("labels"),
            show_default="the registry's, 50",
            help="events per position commit",
        ),
    ],
    metrics_port: MetricsPort = 0,
) -> None:
    """Render and attach the shipping label of each opened fulfilment until SIGTERM or SIGINT.

    Example: marketplace labels --batch-size 50
    """
    from marketplace import labels as worker

    settings = configured()
    with stop_on_signals() as stop:
        done(worker.run(settings, stop, batch_size=batch_size, metrics_port=metrics_port))


@app.command()
def notify(
    batch_size: Annotated[
        int,
        typer.Option(
            min=1,
            default_factory=registry_batch_size("notify"),
            show_default="the registry's, 20",
            help="mails sent per SMTP connection",
        ),
    ],
    metrics_port: MetricsPort = 0,
) -> None:
    """Fill the mail outbox from order events and send it over SMTP until SIGTERM or SIGINT.

    Example: marketplace notify --batch-size 20
    """
    from marketplace import notify as worker

    settings = configured()
    with stop_on_signals() as stop:
        done(worker.run(settings, stop, batch_size=batch_size, metrics_port=metrics_port))


@app.command()
def gateway(
    port: Port = None,
    error_rate: Annotated[float, typer.Option(min=0.0, max=1.0, help="answer 503 first")] = 0.0,
    lost_reply_rate: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="do the work, then answer 500")
    ] = 0.0,
    decline_rate: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="decline authorisations")
    ] = 0.0,
    timeout_rate: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="hold hang-seconds, then do the work")
    ] = 0.0,
    hang_seconds: Annotated[float, typer.Option(min=0.0)] = 5.0,
    latency_ms: Annotated[int, typer.Option(min=0, help="added to every call")] = 0,
    stall: Annotated[
        bool, typer.Option(help="hold every call (until switched off), then 503")
    ] = False,
    seed: Annotated[int | None, typer.Option(help="repeatable fault dice")] = None,
) -> None:
    """Run the sandbox card gateway (state in memory, optional faults).

    Example: marketplace gateway --port 8010 --error-rate 0.2 --seed 7
    """
    import uvicorn
    from pydantic import ValidationError

    from infra.payments.sandbox import Faults, create_sandbox_app

    settings = configured()
    try:
        faults = Faults(
            error_rate=error_rate,
            lost_reply_rate=lost_reply_rate,
            decline_rate=decline_rate,
            timeout_rate=timeout_rate,
            hang_seconds=hang_seconds,
            latency_ms=latency_ms,
            stall=stall,
        )
    except ValidationError as error:
        print(f"marketplace gateway: {error}", file=sys.stderr)
        done(2)
    uvicorn.run(
        create_sandbox_app(faults, seed=seed),
        host=settings.host,
        port=port or settings.gateway_port,
        workers=1,
        log_level="warning",
        access_log=False,
    )


def command() -> TyperGroup:
    """The command tree as a click group, with the load-test tooling's commands if installed."""
    from marketplace.tooling_cli import add_tooling

    group = typer.main.get_group(app)
    add_tooling(group)
    return group


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; the exit code (2 for a usage error)."""
    try:
        command().main(args=list(sys.argv[1:] if argv is None else argv), prog_name="marketplace")
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else int(exit_.code is not None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
