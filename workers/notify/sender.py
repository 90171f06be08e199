"""`marketplace notify`: the notifications projection and the mail sender, in one process.

A projection worker (thread) follows the customers, catalog and orders logs and writes the
mail directory and the mail outbox in the same transaction as its position, so every mail an
event causes is in the outbox exactly once. The sender (main thread) claims one due, unsent
outbox row at a time (FOR UPDATE SKIP LOCKED, so several senders can run), sends it over
SMTP, sets sent_at and commits; then the next, up to a small batch per SMTP connection.

Retries: a server that cannot be reached, or a session that fails, leaves the row untouched
and is retried with capped, jittered backoff; a message the server refuses is retried on its
own, its next attempt pushed back with capped, jittered backoff. No mail is ever dropped.

Delivery guarantee: at least once. A crash (or a lost connection to PostgreSQL) after the
SMTP server's 250 reply and before our commit leaves the row unsent, so the restarted sender
sends that mail again: at most the one mail in flight per crash, since each row commits on
its own. The repeat carries the same `Message-ID: <message_id@marketplace>` (a uuid5 of the
causing event and the recipient), by which mail clients and servers recognise a duplicate.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import KW_ONLY, dataclass
from typing import Any, Protocol

import structlog
from prometheus_client import Counter, start_http_server
from tenacity import Retrying, retry_if_exception, stop_when_event_set, wait_random_exponential

from infra.mail import Mail, MailRejected, MailUnavailable, SmtpSender
from infra.settings import Settings
from infra.stores import stores
from projections.failures import is_transient
from projections.runtime import Worker
from projections.stores.postgres.deadletters import PostgresDeadLetters
from workers.logs import followed_logs, log_names, worker_pool
from workers.notify.outbox import (
    ClaimedMail,
    MailOutbox,
    PostgresNotificationView,
)
from workers.notify.projection import NotificationProjection

log = structlog.get_logger()

POOL_SIZE = 3
RETRY_BASE_SECONDS = 2.0
RETRY_CAP_SECONDS = 900.0
UNAVAILABLE_CAP_SECONDS = 30.0
MAILS_SENT = Counter("mail_sent_total", "Mails the SMTP server accepted")
MAIL_FAILURES = Counter("mail_failures_total", "Mail attempts that failed", ["kind"])


class Sender(Protocol):
    """Sends one mail on a connection kept between calls; close() ends the connection."""

    def send(self, mail: Mail) -> None: ...

    def close(self) -> None: ...


def retry_delay(failures: int, rng: Callable[[float, float], float] = random.uniform) -> float:
    """Seconds before a refused mail's next attempt: doubling from 2 s, capped, half jittered."""
    ceiling = min(RETRY_CAP_SECONDS, RETRY_BASE_SECONDS * 2 ** min(failures - 1, 20))
    return ceiling / 2 + rng(0, ceiling / 2)


@dataclass(eq=False)
class OutboxSender:
    """Sends the outbox's due mails, one transaction per mail."""

    outbox: MailOutbox
    sender: Sender
    _: KW_ONLY
    batch_size: int = 20
    idle_seconds: float = 0.2

    def send_due(self) -> int:
        """Send up to batch_size due mails on one SMTP connection; how many were attempted.

        MailUnavailable (and PostgreSQL being unavailable) propagate with the row untouched.
        """
        done = 0
        try:
            while done < self.batch_size:
                with self.outbox.claim() as claimed:
                    if claimed is None:
                        break
                    self._deliver(claimed)
                done += 1
        finally:
            self.sender.close()
        return done

    def run(self, stop: threading.Event) -> None:
        """Send until stop is set; unavailable stores are retried, other errors raise.

        A store error is transient as projections.failures classifies it (by SQLSTATE first).
        """
        transient: tuple[type[BaseException], ...] = (
            MailUnavailable,
            *self.outbox.transient_errors,
        )
        while not stop.is_set():
            try:
                done = self._retrying(transient, stop)
            except Exception as error:
                if stop.is_set() and is_transient(error, transient):
                    return
                raise
            if done == 0:
                stop.wait(self.idle_seconds)

    def _deliver(self, claimed: ClaimedMail) -> None:
        due = claimed.mail
        mail = Mail(
            str(due.message_id),
            due.to_address,
            due.to_name,
            due.subject,
            due.body,
            due.cause.correlation_id,
            due.cause.causation_id,
        )
        try:
            self.sender.send(mail)
        except MailRejected as error:
            delay = retry_delay(due.attempts + 1)
            reason = str(error).replace(due.to_address, "<recipient>")
            claimed.retry_in(delay, reason)
            MAIL_FAILURES.labels("rejected").inc()
            log.warning("mail_rejected", message_id=mail.message_id, error=reason, retry_in=delay)
            return
        claimed.mark_sent()
        MAILS_SENT.inc()

    def _retrying(self, transient: tuple[type[BaseException], ...], stop: threading.Event) -> int:
        def note(state: Any) -> None:
            MAIL_FAILURES.labels("unavailable").inc()
            log.warning(
                "mail_unavailable",
                attempt=state.attempt_number,
                error=repr(state.outcome.exception()) if state.outcome else None,
            )

        def pause(seconds: float) -> None:
            stop.wait(seconds)

        retrying = Retrying(
            retry=retry_if_exception(lambda error: is_transient(error, transient)),
            wait=wait_random_exponential(multiplier=0.2, max=UNAVAILABLE_CAP_SECONDS),
            stop=stop_when_event_set(stop),
            sleep=pause,
            before_sleep=note,
            reraise=True,
        )
        done: int = retrying(self.send_due)
        return done


@contextmanager
def opened(settings: Settings, batch_size: int = 20) -> Iterator[tuple[Worker[Any], OutboxSender]]:
    """The outbox projection worker and the sender on the configured stores; closed on exit."""
    where = stores(settings)
    with ExitStack() as resources:
        projection = NotificationProjection()
        logs = followed_logs(projection, settings, where, resources)
        pool = worker_pool(settings, where, resources, POOL_SIZE)
        view = PostgresNotificationView(pool)
        view.create()
        smtp = SmtpSender.from_settings(settings.mail)
        resources.callback(smtp.close)
        sender = OutboxSender(MailOutbox(pool), smtp, batch_size=batch_size)
        failures = PostgresDeadLetters(pool)
        failures.create()
        yield Worker(projection, view, logs, failures=failures), sender


def run(
    settings: Settings, stop: threading.Event, *, batch_size: int = 20, metrics_port: int = 0
) -> int:
    """Project and send until stop is set, then return 0; either side's failure raises."""
    if metrics_port:
        start_http_server(metrics_port, addr=settings.http.host)
    with opened(settings, batch_size) as (worker, sender):
        log.info(
            "notify_started",
            logs=log_names(worker.projection, settings),
            smtp=f"{settings.mail.host}:{settings.mail.port}",
        )
        run_together(worker, sender, stop)
    log.info("notify_stopped")
    return 0


def run_together(worker: Worker[Any], sender: OutboxSender, stop: threading.Event) -> None:
    """The worker in a thread, the sender here; when either ends, both stop; errors re-raise."""
    failures: list[BaseException] = []

    def project() -> None:
        try:
            worker.run(stop)
        except BaseException as error:
            failures.append(error)
        finally:
            stop.set()

    thread = threading.Thread(target=project, name="notifications-projection", daemon=True)
    thread.start()
    try:
        sender.run(stop)
    finally:
        stop.set()
        thread.join()
    if failures:
        raise failures[0]
