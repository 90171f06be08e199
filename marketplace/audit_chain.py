"""Tamper evidence bound to the configured stores: each log's chain, its signed checkpoints
in the blob store, the checkpoint loop and the verification (with progress and metrics)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime

import structlog

from commands.carts import CartsApplication
from commands.catalog import CatalogApplication
from commands.customers import CustomersApplication
from commands.inventory import InventoryApplication
from commands.orders import OrdersApplication
from commands.services import SINGLE_LOG
from infra.audit.checkpoints import (
    CheckpointBook,
    ForgedCheckpoint,
    SignedCheckpoint,
    signing_key,
    verify_key,
)
from infra.audit.logs import chain_head, verify_log
from infra.audit.metrics import AUDIT_METRICS
from infra.audit.verify import Break, Verdict
from infra.blobs import blob_store
from infra.settings import Settings
from infra.stores import stores
from projections.log import ContextLog
from workers.logs import reader_env

log = structlog.get_logger()

CONTEXTS = tuple(
    application.name
    for application in (
        CatalogApplication,
        InventoryApplication,
        CartsApplication,
        CustomersApplication,
        OrdersApplication,
    )
)
Progress = Callable[[str, int, int], None]
"""Called with a log, the position reached and the log's head, as a verification runs."""


def chained_logs(settings: Settings) -> tuple[str, ...]:
    """The logs: one per context, or the single shared log."""
    return CONTEXTS if settings.events.split_logs else (SINGLE_LOG,)


@contextmanager
def opened_logs(settings: Settings) -> Iterator[dict[str, ContextLog]]:
    """A reader of each log, on small pools, closed afterwards."""
    env = reader_env(settings, stores(settings))
    with ExitStack() as resources:
        logs = {}
        for name in chained_logs(settings):
            logs[name] = ContextLog(env, name)
            resources.callback(logs[name].close)
        yield logs


def checkpoint_book(settings: Settings) -> CheckpointBook:
    """The logs' checkpoints in the configured blob store, signed with the configured key
    (production refuses the development key: DevelopmentKey)."""
    key = signing_key(settings)
    return CheckpointBook(blob_store(settings), key, None, settings.audit.checkpoint_history)


def checking_book(settings: Settings) -> CheckpointBook:
    """The logs' checkpoints, to check only: the verify key if set, else the signing key's."""
    return CheckpointBook(blob_store(settings), None, verify_key(settings))


def take_checkpoints(settings: Settings, now: datetime | None = None) -> list[SignedCheckpoint]:
    """Sign and store each log's head where it moved since its last checkpoint."""
    book = checkpoint_book(settings)
    taken_at = now or datetime.now(UTC)
    written = []
    with opened_logs(settings) as logs:
        for name, context_log in logs.items():
            checkpoint = book.write(name, chain_head(context_log.recorder), taken_at)
            if checkpoint is not None:
                written.append(checkpoint)
    return written


def verify_logs(settings: Settings, progress: Progress | None = None) -> list[Verdict]:
    """Recompute every log's chain against its checkpoints; each verdict is also published
    as metrics (infra.audit.metrics)."""
    book = checking_book(settings)
    verdicts = []
    with opened_logs(settings) as logs:
        for name, context_log in logs.items():
            verdict = _verify_one(name, context_log, book, progress)
            AUDIT_METRICS.record(verdict)
            verdicts.append(verdict)
    return verdicts


def _verify_one(
    name: str, context_log: ContextLog, book: CheckpointBook, progress: Progress | None
) -> Verdict:
    try:
        checkpoints = book.checkpoints(name)
    except ForgedCheckpoint as forged:
        return Verdict(name, 0, 0, Break.CHECKPOINT_FORGED, forged.position, str(forged))
    head = chain_head(context_log.recorder).position
    reached = (lambda position: progress(name, position, head)) if progress else None
    return verify_log(name, context_log.recorder, checkpoints, reached, book.public)


def checkpoint_forever(settings: Settings, stop: threading.Event) -> None:
    """Take checkpoints every AuditSettings.checkpoint_seconds until stop is set; a failed
    round is logged and the next one tried."""
    while not stop.is_set():
        try:
            for checkpoint in take_checkpoints(settings):
                log.info("audit.checkpoint", log=checkpoint.log, position=checkpoint.position)
        except Exception:
            log.exception("audit.checkpoint_failed")
        stop.wait(settings.audit.checkpoint_seconds)
