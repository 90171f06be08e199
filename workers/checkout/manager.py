"""The checkout worker: the process manager, the gateway calls and the deadline watch.

`marketplace checkout` runs three loops in one process:
- the process manager follows the order log; each batch's commands are issued and then
  its book entries and position commit together, so a crash repeats at most one batch
  of idempotent commands and skips none;
- the payment loop claims due gateway calls from the book and makes them on a thread
  pool, so a slow or dead gateway holds up neither the log nor any API request;
- the deadline loop expires orders whose payment deadline passed, found in the book.

All three tell the time by the database's clock (infra.clock), as the command API does when
it sets an order's deadline: this host's clock moves no deadline and steals no lease.
"""

from __future__ import annotations

import random
import signal
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from types import FrameType
from typing import Any, cast
from uuid import UUID

import structlog
from prometheus_client import Counter, start_http_server

from commands.checkout import (
    CheckoutProcess,
    PaymentJob,
    PaymentSettlement,
)
from commands.payments import PaymentGateway
from commands.services import Commands
from commands.stream_batch import BatchedWritePath
from commands.write_path import WritePathFactory
from domain.base import Cause
from domain.errors import NotFound, RuleViolated
from domain.order import Order
from infra.clock import DatabaseClock
from infra.eventstore import eventsourcing_env
from infra.settings import Settings
from infra.stores import stores
from projections.runtime import Worker
from projections.stores.postgres.deadletters import PostgresDeadLetters
from workers.checkout.book import DueExpiry, PostgresCheckoutBook
from workers.checkout.book_projection import CheckoutBookProjection, CheckoutBookUnit
from workers.logs import followed_logs, worker_pool

log = structlog.get_logger()

PAYMENT_CALLS = Counter(
    "checkout_payment_jobs_total", "Gateway calls the checkout worker finished", ["kind", "result"]
)
EXPIRED = Counter("checkout_orders_expired_total", "Orders expired past their deadline")

BATCH_SIZE = 100
"""Order events per process-manager batch: small, so book entries (and payments) follow fast."""
REACTION_THREADS = 16
"""Orders of one batch the process manager works on at once."""
FAN_OUT_THREADS = 32
"""Independent commands of those orders (a confirmed order's lines and sellers) run at once."""
RETRY_CAP_SECONDS = 5.0
"""Longest wait before a gateway call that found the gateway unavailable is tried again."""
EXPIRY_RETRY = timedelta(seconds=5)
PAYMENT_IDLE_SECONDS = 0.02
"""How long the payment loop waits before looking again when no call was due."""
POOL_TIMEOUT_SECONDS = 5.0
"""How long a loop waits for a connection; short, so a stop during an outage is prompt."""


class CheckoutManager(CheckoutBookProjection):
    """The process manager as a projection: issue a batch's commands, then book the batch.

    Its book entries are the checkout book projection's (its handlers are inherited).
    Orders are independent, so each order's events of a batch are reacted to on a thread
    of their own, in log order; concurrent appends then share commits (group commit).
    An order whose stock it reserves is queued for authorisation with the batch that
    placed it, a pass sooner than its StockReserved event would queue it (the book
    queues an order's authorisation once).
    """

    def __init__(self, process: CheckoutProcess, threads: int = REACTION_THREADS) -> None:
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="reactions")
        self._fan_out_pool = ThreadPoolExecutor(FAN_OUT_THREADS, thread_name_prefix="fan-out")
        self.process = replace(process, fan_out=self._fan_out)
        self._reserved: dict[UUID, Cause] = {}

    def prepare(self, events: Sequence[Any]) -> None:
        """Issue the commands of a batch's order events, one thread per order."""
        self._reserved.clear()
        by_order: dict[UUID, list[Any]] = defaultdict(list)
        for event in events:
            if isinstance(event, Order.Event):
                by_order[event.originator_id].append(event)
        list(self._pool.map(self._react_in_order, by_order.values()))

    def _react_in_order(self, events: list[Any]) -> None:
        """React to one order's events in turn, but not to an authorisation whose
        confirmation follows it (the payment thread appends both at once)."""
        for event, following in zip(events, [*events[1:], None], strict=True):
            confirmed = isinstance(following, Order.Confirmed)
            if isinstance(event, Order.PaymentAuthorised) and confirmed:
                continue
            reserved = self.process.react(event)
            if reserved is not None:
                self._reserved[event.originator_id] = reserved

    def open_order(self, event: Order.Placed, unit: CheckoutBookUnit) -> None:
        """Watch a placed order's deadline; queue its authorisation if this batch reserved it."""
        super().open_order(event, unit)
        reserved = self._reserved.pop(event.originator_id, None)
        if reserved is not None:
            unit.await_authorisation(event.originator_id, reserved)

    def _fan_out(self, calls: Iterable[Callable[[], object]]) -> None:
        """Run independent commands at once; raise the first one's error, after all ended."""
        futures = [self._fan_out_pool.submit(call) for call in calls]
        wait(futures)
        for future in futures:
            future.result()

    def close(self) -> None:
        """Stop the reaction threads."""
        self._pool.shutdown()
        self._fan_out_pool.shutdown()


def _take_free(free: threading.BoundedSemaphore, stop: threading.Event) -> int:
    """Wait for a free payment thread (or stop), then take every free one; how many taken."""
    while not free.acquire(timeout=0.2):
        if stop.is_set():
            return 0
    taken = 1
    while free.acquire(blocking=False):
        taken += 1
    return taken


def retry_at(now: datetime, attempts: int) -> datetime:
    """When to try a gateway call again: jittered exponential backoff, capped."""
    ceiling = min(RETRY_CAP_SECONDS, 0.25 * 2 ** min(attempts, 8))
    return now + timedelta(seconds=random.uniform(ceiling / 2, ceiling))


@dataclass(eq=False)
class PaymentLoop:
    """Claims due gateway calls and makes them on a pool of threads."""

    book: PostgresCheckoutBook
    settlement: PaymentSettlement
    workers: int
    lease: timedelta
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    def run(self, stop: threading.Event, idle_seconds: float = PAYMENT_IDLE_SECONDS) -> None:
        """Make due calls until stop is set, claiming more as soon as a thread is free."""
        free = threading.BoundedSemaphore(self.workers)
        with ThreadPoolExecutor(self.workers, thread_name_prefix="payments") as pool:
            while not stop.is_set():
                slots = _take_free(free, stop)
                if not slots:
                    continue
                try:
                    due = self.book.claim_payments(self.clock(), slots, self.lease)
                except Exception:
                    log.exception("payment_claim_failed")
                    due = []
                    stop.wait(1.0)
                for job in due:
                    pool.submit(self._settle_freeing, job, free)
                for _ in range(slots - len(due)):
                    free.release()
                if len(due) < slots:
                    stop.wait(idle_seconds)

    def _settle_freeing(self, due: PaymentJob, free: threading.BoundedSemaphore) -> None:
        try:
            self.settle(due)
        finally:
            free.release()

    def settle(self, due: PaymentJob) -> None:
        """Make one call; on an error the claim's lease runs out and the call is retried."""
        try:
            settled = self.settlement.settle(due)
            if settled.done:
                self.book.payment_done(due, settled.void_payment_id)
            else:
                self.book.payment_later(due, retry_at(self.clock(), due.attempts))
        except Exception:
            PAYMENT_CALLS.labels(due.kind, "error").inc()
            log.exception("payment_job_failed", order_id=str(due.order_id), kind=due.kind)
            return
        PAYMENT_CALLS.labels(due.kind, "done" if settled.done else "later").inc()


@dataclass(eq=False)
class DeadlineLoop:
    """Expires orders whose payment deadline passed (found in the book, never the log)."""

    book: PostgresCheckoutBook
    commands: Commands
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    def run(self, stop: threading.Event, every_seconds: float = 0.2) -> None:
        """Expire due orders until stop is set."""
        while not stop.is_set():
            try:
                self.expire_due()
            except Exception:
                log.exception("deadline_check_failed")
                stop.wait(1.0)
            stop.wait(every_seconds)

    def expire_due(self) -> int:
        """Expire every order now due; return how many were expired."""
        now = self.clock()
        expired = 0
        for due in self.book.claim_expired(now, 100, EXPIRY_RETRY):
            if self._expire(due):
                expired += 1
        return expired

    def _expire(self, due: DueExpiry) -> bool:
        """Expire one order, caused by the event that set its deadline."""
        try:
            self.commands.orders.expire(due.order_id, due.cause.context(self.clock(), "deadlines"))
        except (RuleViolated, NotFound) as error:
            log.info("expiry_moot", order_id=str(due.order_id), reason=str(error))
            return False
        EXPIRED.inc()
        return True


def gateway_client(settings: Settings) -> PaymentGateway:
    """The payment gateway client the settings describe."""
    from infra.payments.client import PaymentsClient

    client: PaymentGateway = PaymentsClient.from_settings(settings)
    return client


def run(
    settings: Settings, *, metrics_port: int = 0, write_path: WritePathFactory = BatchedWritePath
) -> int:
    """Run the checkout worker until SIGTERM or SIGINT, then return 0."""
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        if metrics_port:
            start_http_server(metrics_port, addr=settings.http.host)
        run_until(stop, settings, gateway_client(settings), write_path)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


@contextmanager
def opened(
    settings: Settings, write_path: WritePathFactory = BatchedWritePath
) -> Iterator[tuple[Worker[Any], Commands, DatabaseClock]]:
    """The process manager's worker (its book is the view), its commands and the database's
    clock they tell the time by; closed on exit."""
    where = stores(settings)
    with ExitStack() as resources:
        commands = Commands(
            eventsourcing_env(settings, where.postgres_url),
            split_logs=settings.events.split_logs,
            write_path=write_path,
        )
        resources.callback(commands.close)
        pool = worker_pool(
            settings, where, resources, settings.payments.workers + 4, timeout=POOL_TIMEOUT_SECONDS
        )
        book = PostgresCheckoutBook(pool)
        book.create()
        clock = DatabaseClock(pool)
        clock.sync()
        process = CheckoutProcess(
            commands.orders, commands.inventory, commands.catalog, clock=clock
        )
        manager = CheckoutManager(process)
        resources.callback(manager.close)
        logs = followed_logs(manager, settings, where, resources)
        failures = PostgresDeadLetters(pool)
        failures.create()
        worker = Worker(manager, book, logs, batch_size=BATCH_SIZE, failures=failures)
        yield worker, commands, clock


def run_until(
    stop: threading.Event,
    settings: Settings,
    gateway: PaymentGateway,
    write_path: WritePathFactory = BatchedWritePath,
) -> None:
    """Run the three loops until stop is set; re-raise if the process manager stops on an error."""
    with opened(settings, write_path) as (worker, commands, clock):
        book = cast(PostgresCheckoutBook, worker.view)
        lease = timedelta(
            seconds=settings.payments.timeout_seconds * settings.payments.attempts * 2 + 5
        )
        settlement = PaymentSettlement(commands.orders, gateway, clock=clock)
        payments = PaymentLoop(book, settlement, settings.payments.workers, lease, clock=clock)
        deadlines = DeadlineLoop(book, commands, clock=clock)
        threads = [
            threading.Thread(target=payments.run, args=(stop,), name="payments", daemon=True),
            threading.Thread(target=deadlines.run, args=(stop,), name="deadlines", daemon=True),
        ]
        for thread in threads:
            thread.start()
        log.info("checkout_started")
        try:
            worker.run(stop)
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=30)
    log.info("checkout_stopped")
