"""The leader/follower batcher: a leader runs one batch, then hands the lead on."""

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

from commands.batching import Batcher, Queued
from commands.group_commit import GroupCommitter
from domain.base import Context
from domain.cart import Cart

WAIT = 5.0


class HeldRuns:
    """A run function that records each batch with its thread, holding batches on request."""

    def __init__(self) -> None:
        self.batches: list[tuple[list[Any], int]] = []
        self.running = [threading.Event() for _ in range(10)]
        self.release = [threading.Event() for _ in range(10)]
        self.held: set[int] = set()

    def __call__(self, key: Any, batch: list[Queued]) -> None:
        n = len(self.batches)
        self.batches.append(([q.work for q in batch], threading.get_ident()))
        self.running[n].set()
        if n in self.held:
            assert self.release[n].wait(WAIT), f"batch {n} was never released"
        for queued in batch:
            queued.result = (queued.work, threading.get_ident())


def wait_until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, "condition never held"
        time.sleep(0.001)


def queued(batcher: Batcher, count: int) -> Callable[[], bool]:
    return lambda: batcher.waiting("k") == count


def test_a_leader_runs_one_batch_then_hands_the_lead_on() -> None:
    runs = HeldRuns()
    runs.held = {0, 1}
    batcher = Batcher(runs, max_batch=10)
    with ThreadPoolExecutor(5) as pool:
        first = pool.submit(batcher.submit, "k", 0)
        assert runs.running[0].wait(WAIT)
        later = [pool.submit(batcher.submit, "k", n) for n in range(1, 5)]
        wait_until(lambda: batcher.waiting("k") == 5)
        runs.release[0].set()
        work, thread = first.result(WAIT)  # answered while the next batch is still held
        assert runs.running[1].wait(WAIT)
        assert not any(f.done() for f in later)
        runs.release[1].set()
        answers = [f.result(WAIT) for f in later]
    assert (work, thread) == (0, runs.batches[0][1])
    assert [b for b, _ in runs.batches] == [[0], [1, 2, 3, 4]]
    assert runs.batches[1][1] != runs.batches[0][1], "the first leader ran the second batch"
    assert [w for w, _ in answers] == [1, 2, 3, 4]
    assert {t for _, t in answers} == {runs.batches[1][1]}


def test_each_batch_is_led_by_its_oldest_caller_and_holds_at_most_max_batch() -> None:
    runs = HeldRuns()
    runs.held = {0}
    batcher = Batcher(runs, max_batch=2)
    with ThreadPoolExecutor(6) as pool:
        futures = [pool.submit(batcher.submit, "k", 0)]
        assert runs.running[0].wait(WAIT)
        for n in range(1, 6):
            futures.append(pool.submit(batcher.submit, "k", n))
            wait_until(queued(batcher, n + 1))
        runs.release[0].set()
        answers = [f.result(WAIT) for f in futures]
    assert [b for b, _ in runs.batches] == [[0], [1, 2], [3, 4], [5]]
    leaders = [t for _, t in runs.batches]
    assert len(set(leaders)) == 4, "one caller led more than one batch"
    assert [t for _, t in answers] == [leaders[0], *[leaders[1]] * 2, *[leaders[2]] * 2, leaders[3]]
    assert batcher.waiting("k") == 0


def test_an_error_of_run_reaches_only_its_unanswered_items_and_the_lead_goes_on() -> None:
    calls: list[list[int]] = []
    blocked = threading.Event()
    go = threading.Event()

    def run(key: Any, batch: list[Queued]) -> None:
        calls.append([q.work for q in batch])
        if len(calls) == 1:
            blocked.set()
            go.wait(WAIT)
            return
        batch[0].result = "answered"
        if len(calls) == 2:
            raise OSError("store down")
        for queued in batch[1:]:
            queued.result = "later"

    batcher = Batcher(run, max_batch=2)
    with ThreadPoolExecutor(4) as pool:
        first = pool.submit(batcher.submit, "k", 0)
        assert blocked.wait(WAIT)
        later = []
        for n in range(1, 4):
            later.append(pool.submit(batcher.submit, "k", n))
            wait_until(queued(batcher, n + 1))
        go.set()
        assert first.result(WAIT) is None
        assert later[0].result(WAIT) == "answered"
        with pytest.raises(OSError, match="store down"):
            later[1].result(WAIT)
        assert later[2].result(WAIT) == "answered"
    assert calls == [[0], [1, 2], [3]]


def test_keys_never_wait_for_each_other() -> None:
    runs = HeldRuns()
    runs.held = {0}
    batcher = Batcher(runs, max_batch=10)
    with ThreadPoolExecutor(2) as pool:
        held = pool.submit(batcher.submit, "a", "a0")
        assert runs.running[0].wait(WAIT)
        assert batcher.submit("b", "b0")[0] == "b0"
        runs.release[0].set()
        assert held.result(WAIT)[0] == "a0"


def test_group_commit_hands_the_lead_on_after_one_transaction() -> None:
    app: Application[UUID] = Application(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    ctx = Context(datetime(2026, 11, 27, tzinfo=UTC), "admin", "admin", "r", "c", "c")
    saves: list[tuple[int, int]] = []
    first_saving, release_first = threading.Event(), threading.Event()
    second_saving, release_second = threading.Event(), threading.Event()

    def save(*events: Any) -> Any:
        saves.append((len(events), threading.get_ident()))
        if len(saves) == 1:
            first_saving.set()
            release_first.wait(WAIT)
        elif len(saves) == 2:
            second_saving.set()
            release_second.wait(WAIT)
        return app.save(*events)

    committer = GroupCommitter(save)

    def append() -> Any:
        return committer.append(list(Cart.create(uuid4(), ctx).collect_events()))

    with ThreadPoolExecutor(4) as pool:
        first = pool.submit(append)
        assert first_saving.wait(WAIT)
        later = [pool.submit(append) for _ in range(3)]
        wait_until(lambda: committer.waiting() == 4)
        release_first.set()
        assert first.result(WAIT)[0].notification.id == 1  # while the next group is held
        assert second_saving.wait(WAIT)
        release_second.set()
        positions = sorted(f.result(WAIT)[0].notification.id for f in later)
    assert positions == [2, 3, 4]
    assert [n for n, _ in saves] == [1, 3]
    assert saves[0][1] != saves[1][1], "the first leader saved the second group too"


def test_many_callers_on_few_keys_each_get_their_own_answer() -> None:
    seen: list[tuple[str, list[int]]] = []

    def run(key: Any, batch: list[Queued]) -> None:
        assert 1 <= len(batch) <= 8
        seen.append((key, [q.work for q in batch]))
        time.sleep(0.0005)
        for queued in batch:
            queued.result = (key, queued.work)

    batcher = Batcher(run, max_batch=8)
    calls = [(f"k{n % 3}", n) for n in range(3000)]
    with ThreadPoolExecutor(32) as pool:
        answers = list(pool.map(lambda call: batcher.submit(*call), calls, timeout=30))
    assert answers == calls
    assert sorted(w for _, batch in seen for w in batch) == list(range(3000))
    assert max(len(batch) for _, batch in seen) > 1, "no two calls were ever batched"
    assert all(batcher.waiting(key) == 0 for key in ("k0", "k1", "k2"))
