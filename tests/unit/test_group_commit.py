"""Group commit batches concurrent appends and isolates a conflicting caller."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import pytest
from eventsourcing.application import Application
from eventsourcing.persistence import RecordConflictError

from commands.group_commit import GroupCommitter
from domain.base import Context
from domain.cart import Cart

CTX = Context(datetime(2026, 11, 27, tzinfo=UTC), "admin", "admin", "r", "c", "c")


def cart_events(shopper: UUID) -> list[Any]:
    return list(Cart.create(shopper, CTX).collect_events())


def slow_first_save(
    app: Application[UUID], batches: list[int], callers: threading.Semaphore | None = None
) -> Callable[..., Any]:
    """A save that records batch sizes and holds the first batch until others queue up: until
    every caller counted in `callers` has called (on a loaded machine a fixed pause may end
    before another thread runs), or for 0.2 s."""
    first = threading.Event()

    def save(*events: Any) -> Any:
        batches.append(len(events))
        if not first.is_set():
            first.set()
            if callers is not None:
                for _ in range(CALLERS - 1):
                    assert callers.acquire(timeout=60)
            time.sleep(0.2)
        return app.save(*events)

    return save


CALLERS = 20


def test_concurrent_appends_share_transactions_and_all_succeed() -> None:
    app: Application[UUID] = Application(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    batches: list[int] = []
    called = threading.Semaphore(0)
    committer = GroupCommitter(slow_first_save(app, batches, called))

    def append(_: int) -> Any:
        events = cart_events(uuid4())
        called.release()
        return committer.append(events)

    with ThreadPoolExecutor(CALLERS) as pool:
        results = list(pool.map(append, range(40)))
    positions = [r[0].notification.id for r in results]
    assert sorted(positions) == list(range(1, 41))
    assert sum(batches) == 40
    assert max(batches) > 1, "no two appends were ever combined"


def test_a_conflict_fails_only_its_own_caller() -> None:
    app: Application[UUID] = Application(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    batches: list[int] = []
    committer = GroupCommitter(slow_first_save(app, batches))
    duplicate = uuid4()
    shoppers = [uuid4(), *[uuid4() for _ in range(10)], duplicate, duplicate]
    outcomes: list[str] = []

    def append(shopper: UUID) -> None:
        try:
            committer.append(cart_events(shopper))
            outcomes.append("ok")
        except RecordConflictError:
            outcomes.append("conflict")

    with ThreadPoolExecutor(13) as pool:
        list(pool.map(append, shoppers))
    assert outcomes.count("conflict") == 1
    assert outcomes.count("ok") == len(shoppers) - 1
    assert app.recorder.max_notification_id() == len(shoppers) - 1


def test_other_errors_reach_every_member_of_the_batch() -> None:
    def broken(*events: Any) -> Any:
        time.sleep(0.05)
        raise OSError("database down")

    committer = GroupCommitter(broken)
    with ThreadPoolExecutor(5) as pool:
        futures = [pool.submit(committer.append, cart_events(uuid4())) for _ in range(5)]
    for future in futures:
        with pytest.raises(OSError, match="database down"):
            future.result()
