"""Commands that run one process of the registry each: projectors and workers."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer

from marketplace.cli.app import (
    ImagesBatchSize,
    LabelsBatchSize,
    MetricsPort,
    NotifyBatchSize,
    Port,
    ProjectorBatchSize,
    app,
    configured,
    done,
    stop_on_signals,
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
    and retries a store that is down. On a poison event it stops (exit code 1) or parks it, as
    the projection's policy says; see `marketplace deadletters`.

    Example: marketplace project carts --metrics-port 9101
    """
    from prometheus_client import start_http_server

    from marketplace.projectors import opened
    from workers.logs import log_names

    settings = configured()
    with stop_on_signals() as stop:
        if metrics_port:
            start_http_server(metrics_port, addr=settings.http.host)
        with opened(name, settings, batch_size) as worker, exit_when_stopped("project"):
            logs = log_names(worker.projection, settings)
            log_event("projector_started", projection=name, logs=logs)
            worker.run(stop)
    log_event("projector_stopped", projection=name)


@contextmanager
def exit_when_stopped(command: str) -> Iterator[None]:
    """End the command with exit code 1 and the reason on stderr if its worker stopped.

    The stop is in the dead letters already, where `marketplace status` shows it.
    """
    from projections.failures import ProjectionStopped

    try:
        yield
    except ProjectionStopped as error:
        print(f"marketplace {command}: {error}", file=sys.stderr)
        done(1)


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
    store_retry_seconds: Annotated[
        float,
        typer.Option(help="how long to retry creating the new version while the store is down"),
    ] = 120.0,
) -> None:
    """Build a new version of a read model beside the live one, switch to it, drop the old.

    Deploy the new projector first. Example: marketplace rebuild seller-sales
    """
    from marketplace.rebuild import RebuildRunning, StoreUnavailable
    from marketplace.rebuild import rebuild as rebuild_view

    settings = configured()
    try:
        with exit_when_stopped("rebuild"):
            result = rebuild_view(
                name,
                settings,
                batch_size=batch_size,
                progress=sys.stderr,
                grace_seconds=grace_seconds,
                retry_seconds=store_retry_seconds,
            )
    except (RebuildRunning, StoreUnavailable) as error:
        print(f"marketplace rebuild: {error}", file=sys.stderr)
        done(1)
    print(result.summary())


@app.command()
def checkout(metrics_port: MetricsPort = 0) -> None:
    """Run the checkout process manager, payment calls and order deadlines until stopped.

    Runs until SIGTERM or SIGINT.

    Example: marketplace checkout --metrics-port 9102
    """
    from workers.checkout.manager import run

    with exit_when_stopped("checkout"):
        done(run(configured(), metrics_port=metrics_port))


def run_worker(name: str, run: Callable[..., int], batch_size: int, metrics_port: int) -> None:
    """Run a worker's run(settings, stop, ...) until SIGTERM or SIGINT, and exit with its code."""
    settings = configured()
    with stop_on_signals() as stop, exit_when_stopped(name):
        done(run(settings, stop, batch_size=batch_size, metrics_port=metrics_port))


@app.command()
def labels(batch_size: LabelsBatchSize, metrics_port: MetricsPort = 0) -> None:
    """Render and attach the shipping label of each opened fulfilment until SIGTERM or SIGINT.

    Example: marketplace labels --batch-size 50
    """
    from workers import labels as worker

    run_worker("labels", worker.run, batch_size, metrics_port)


@app.command()
def images(batch_size: ImagesBatchSize, metrics_port: MetricsPort = 0) -> None:
    """Render each uploaded product image into its variants until SIGTERM or SIGINT.

    Example: marketplace images --batch-size 20
    """
    from workers.images import worker

    run_worker("images", worker.run, batch_size, metrics_port)


@app.command()
def notify(batch_size: NotifyBatchSize, metrics_port: MetricsPort = 0) -> None:
    """Fill the mail outbox from order events and send it over SMTP until SIGTERM or SIGINT.

    Example: marketplace notify --batch-size 20
    """
    from workers.notify import sender as worker

    run_worker("notify", worker.run, batch_size, metrics_port)


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
        host=settings.http.host,
        port=port or settings.payments.gateway_port,
        workers=1,
        log_level="warning",
        access_log=False,
    )
