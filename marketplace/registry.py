"""The registry of processes: every long-running process of the platform, declared once.

`marketplace up` starts what it lists (in this order), `marketplace status` reads the
positions of each one that follows logs, the CLI takes its defaults from it, and the deploy
manifests (docker-compose.yml, infra/deploy/k8s) are checked against it by the tests. Adding
a process is one more entry here, plus its CLI command.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from psycopg_pool import ConnectionPool

from infra.settings import Settings
from marketplace.projectors import PROJECTORS, opened
from marketplace.status import Lag, book_lag, projector_lag, unread
from projections.runtime import Projection, Worker
from projections.stores.postgres.unit import PostgresView
from workers.checkout.book import PostgresCheckoutBook
from workers.checkout.book_projection import CheckoutBookProjection
from workers.images.worker import ImageProjection, ImageView
from workers.labels import LabelProjection, LabelView
from workers.notify.outbox import PostgresNotificationView
from workers.notify.projection import NotificationProjection


class Kind(StrEnum):
    """What a process is, which says how it is run and scaled."""

    API = "api"
    """Serves HTTP; stateless, scaled by adding processes."""
    PROJECTOR = "projector"
    """Follows logs into one read model; exactly one per view."""
    WORKER = "worker"
    """Follows logs and acts (commands, payments, blobs, mail); exactly one each."""
    SANDBOX = "sandbox"
    """Stands in for an outside service in development; absent where a real one is set."""


def _no_options(settings: Settings) -> list[str]:
    return []


def _always(settings: Settings) -> bool:
    return True


@dataclass(frozen=True)
class Process:
    """One long-running process: how to run it, how to tell it is ready, where it stands."""

    name: str
    kind: Kind
    summary: str
    command: tuple[str, ...]
    """The `marketplace` words that run it."""
    options: Callable[[Settings], list[str]] = _no_options
    """The options `up` passes it, from the settings."""
    port: Callable[[Settings], int] | None = None
    ready_path: str | None = None
    """Answers 2xx on port once the process is ready."""
    positions: Callable[[Settings], list[Lag]] | None = None
    """How `status` reads its position in each log it follows, without it running."""
    batch_size: int | None = None
    """Events (or mails) per batch by default; a catching-up projector takes larger ones."""
    wanted: Callable[[Settings], bool] = _always
    """Whether `up` runs it with these settings."""
    deployment: str = ""
    """Its name in docker-compose.yml and infra/deploy/k8s; the process name if empty."""
    projection: str = ""
    """The projection it runs, if it follows logs: its failures' name in the dead letters."""
    worker: Callable[[Settings], AbstractContextManager[Worker[Any]]] | None = None
    """Opens its projection's worker on its own (`marketplace deadletters retry`)."""
    workers: Callable[[Settings], int] | None = None
    """How many server processes an API runs by default."""

    def __post_init__(self) -> None:
        if not self.deployment:
            object.__setattr__(self, "deployment", self.name)

    def args(self, settings: Settings) -> list[str]:
        """The `marketplace` arguments that run it with these settings."""
        return [*self.command, *self.options(settings)]

    def ready_url(self, settings: Settings) -> str | None:
        """The URL that answers once it is ready, if it serves HTTP."""
        if self.port is None or self.ready_path is None:
            return None
        return f"{api_url(settings, self.port(settings))}{self.ready_path}"


def api_url(settings: Settings, port: int) -> str:
    """The base URL of a process listening on settings.http.host and port."""
    host = "127.0.0.1" if settings.http.host in ("0.0.0.0", "::", "") else settings.http.host
    return f"http://{host}:{port}"


def read_api_public_url(settings: Settings) -> str:
    """Where clients reach the query API: the configured public URL, else where it listens."""
    return settings.http.read_api_public_url or api_url(settings, settings.http.read_api_port)


PROJECTOR_BATCH_SIZE = 1000


def _api(
    name: str,
    summary: str,
    command: str,
    port: Callable[[Settings], int],
    workers: Callable[[Settings], int],
    deployment: str,
) -> Process:
    """An API: run on its port with its worker processes, both from the settings."""
    return Process(
        name,
        Kind.API,
        summary,
        (command,),
        lambda s: ["--port", str(port(s)), "--workers", str(workers(s))],
        port,
        "/health/ready",
        deployment=deployment,
        workers=workers,
    )


def _apis() -> list[Process]:
    return [
        _api(
            "command-api",
            "the command API: validates commands and appends events",
            "serve-write",
            lambda s: s.http.write_api_port,
            lambda s: s.http.write_api_workers,
            "writeapi",
        ),
        _api(
            "query-api",
            "the query API: answers from the read models",
            "serve-read",
            lambda s: s.http.read_api_port,
            lambda s: s.http.read_api_workers,
            "readapi",
        ),
        _api(
            "audit-api",
            "the audit API: reads the event stores for auditors, apart from shoppers' reads",
            "serve-audit",
            lambda s: s.http.audit_api_port,
            lambda s: s.http.audit_api_workers,
            "auditapi",
        ),
    ]


def _projector_worker(name: str) -> Callable[[Settings], AbstractContextManager[Worker[Any]]]:
    return lambda settings: opened(name, settings)


def _projectors() -> list[Process]:
    return [
        Process(
            name,
            Kind.PROJECTOR,
            f"projects the {name} read model",
            ("project", name),
            positions=projector_lag(name),
            batch_size=PROJECTOR_BATCH_SIZE,
            deployment=f"projector-{name}",
            projection=name,
            worker=_projector_worker(name),
        )
        for name in PROJECTORS
    ]


@contextmanager
def _checkout_worker(settings: Settings) -> Iterator[Worker[Any]]:
    from workers.checkout.manager import opened as checkout

    with checkout(settings) as (worker, _, _):
        yield worker


def _labels_worker(settings: Settings) -> AbstractContextManager[Worker[Any]]:
    from workers.labels import opened as labels

    return labels(settings)


def _images_worker(settings: Settings) -> AbstractContextManager[Worker[Any]]:
    from workers.images.worker import opened as images

    return images(settings)


@contextmanager
def _notify_worker(settings: Settings) -> Iterator[Worker[Any]]:
    from workers.notify.sender import opened as notify

    with notify(settings) as (worker, _):
        yield worker


def _metrics_port(port: Callable[[Settings], int | None]) -> Callable[[Settings], list[str]]:
    return lambda s: ["--metrics-port", str(port(s))] if port(s) else []


def _log_worker(
    name: str,
    summary: str,
    projection: type[Projection[Any]],
    book: Callable[[ConnectionPool], PostgresView],
    worker: Callable[[Settings], AbstractContextManager[Worker[Any]]],
    *,
    options: Callable[[Settings], list[str]] = _no_options,
    batch_size: int | None = None,
) -> Process:
    """A worker that follows logs through projection, its positions kept in PostgreSQL by the
    view book opens (its book, outbox or table of work done)."""
    return Process(
        name,
        Kind.WORKER,
        summary,
        (name,),
        options,
        positions=book_lag(projection, lambda pool: book(pool).positions()),
        batch_size=batch_size,
        projection=projection.name,
        worker=worker,
    )


def _workers() -> list[Process]:
    return [
        Process(
            "gateway",
            Kind.SANDBOX,
            "the sandbox card gateway, unless MARKETPLACE_PAYMENT_GATEWAY_URL is set",
            ("gateway",),
            lambda s: ["--port", str(s.payments.gateway_port)],
            lambda s: s.payments.gateway_port,
            "/healthz",
            wanted=lambda s: s.payments.gateway_url is None,
            deployment="payment-gateway",
        ),
        _log_worker(
            "checkout",
            "the checkout process manager, payment calls and order deadlines",
            CheckoutBookProjection,
            PostgresCheckoutBook,
            _checkout_worker,
            options=_metrics_port(lambda s: s.checkout.metrics_port),
        ),
        _log_worker(
            "labels",
            "renders a shipping label for each opened fulfilment",
            LabelProjection,
            lambda pool: LabelView(pool, LabelProjection.name),
            _labels_worker,
            batch_size=50,
        ),
        _log_worker(
            "images",
            "renders each uploaded product image into its variants",
            ImageProjection,
            lambda pool: ImageView(pool, ImageProjection.name),
            _images_worker,
            options=_metrics_port(lambda s: s.images.metrics_port),
            batch_size=20,
        ),
        _log_worker(
            "notify",
            "fills the mail outbox from order events and sends it over SMTP",
            NotificationProjection,
            PostgresNotificationView,
            _notify_worker,
            batch_size=20,
        ),
        Process(
            "audit-checkpoints",
            Kind.WORKER,
            "signs each log's chain head into the blob store, every audit checkpoint period",
            ("audit-checkpoints",),
        ),
    ]


PROCESSES: tuple[Process, ...] = (*_apis(), *_projectors(), *_workers())
"""Every long-running process, in the order `up` starts them (the gateway before checkout)."""


class UnknownProcess(LookupError):
    """No process has the given name."""


def process(name: str) -> Process:
    """The process of that name, or UnknownProcess naming the known ones."""
    for known in PROCESSES:
        if known.name == name:
            return known
    names = ", ".join(p.name for p in PROCESSES)
    raise UnknownProcess(f"unknown process {name!r}; known processes: {names}")


def follower(projection: str) -> Process:
    """The process that runs the named projection, or UnknownProcess."""
    for known in PROCESSES:
        if known.projection and known.projection == projection:
            return known
    raise UnknownProcess(f"no process runs the projection {projection!r}")


def status(settings: Settings) -> list[Lag]:
    """Every process's position and lag in each log it follows, read from the stores.

    A process whose positions cannot be read (a store down, an undecodable event) gets a row
    with the error instead; the others are still read.
    """
    rows: list[Lag] = []
    for known in PROCESSES:
        if known.positions is None:
            continue
        try:
            rows.extend(known.positions(settings))
        except Exception as error:
            rows.append(unread(known.name, error))
    return rows
