"""`marketplace rebuild NAME`: a new version of a read model, built beside the live one.

1. Under a lock (one rebuild of a view at a time), drop versions a crashed rebuild left,
   and create version N+1 (projections.versions), empty. While the store is unavailable
   (down, restarting, answering 503) these steps are retried for a bounded time.
2. Project the whole log into it with the Worker, batch by batch, its positions kept with
   its data, showing progress.
3. Move the writers' pointer to N+1: the live projector's next batch on N writes nothing and
   the projector carries on in N+1 from N+1's own positions (idle, it moves when it next
   verifies its positions); N stops changing.
4. Move the readers' pointer to N+1, which each store does atomically and only if N+1 has
   reached N's positions, so no reader sees the view go back. If N+1 is behind (events came
   between the catch-up and the writers' move), the live projector is bringing it up: wait
   for it, for a bounded time, then catch up here (see hand_over).
5. After the store's grace period (none for Redis and PostgreSQL, whose reads pick their
   version atomically; the longest search for OpenSearch), drop the old version(s).

If anything fails between 3 and 4, the writers are moved back to N (which stopped at a batch
boundary, so the projector resumes it from its own positions) and the error is raised; the
next rebuild drops what this one left.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import ExitStack, suppress
from dataclasses import dataclass
from typing import Any, TextIO, TypeVar

import structlog
from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_random_exponential

from infra.schema_lock import LockHeld, holding
from infra.settings import Settings
from infra.stores import stores
from marketplace.progress import ProgressBar
from marketplace.projectors import largest_batch, projector
from projections.runtime import Worker
from projections.stores.postgres.deadletters import dead_letters_at
from projections.versions import ViewVersions
from workers.logs import context_logs

log = structlog.get_logger()

HANDOVER_SECONDS = 5.0
"""How long the readers' switch waits for the live projector to bring the new version up to
the old one's positions (it moves to the new version within a batch, or a verify interval
when idle) before the rebuild catches the new version up itself."""
HANDOVER_POLL_SECONDS = 0.02
SWITCH_ATTEMPTS = 3
"""Catch-ups the readers' switch may take (one suffices: the old version no longer moves)."""
STORE_RETRY_SECONDS = 120.0
"""How long the rebuild retries finding and creating versions while the store is unavailable."""
T = TypeVar("T")


class RebuildRunning(Exception):
    """Another rebuild of the same view holds its lock."""


class SwitchRefused(Exception):
    """The new version did not reach the old one's positions in SWITCH_ATTEMPTS catch-ups."""


class StoreUnavailable(Exception):
    """The view's store stayed unavailable for as long as the rebuild retries a step."""


@dataclass(frozen=True)
class Rebuilt:
    """What a rebuild did: the versions before and after, the events it projected, the time.

    seconds runs from the start to the readers' switch (the grace period and the drop after
    it are not counted); events are those the rebuild projected itself.
    """

    name: str
    readers: int
    writers: int
    version: int
    events: int
    seconds: float
    dropped: tuple[int, ...]

    @property
    def rate(self) -> float:
        """Events projected per second."""
        return self.events / self.seconds if self.seconds else 0.0

    def summary(self) -> str:
        """One line for a person."""
        dropped = ", ".join(f"v{version}" for version in self.dropped) or "nothing"
        return (
            f"rebuilt {self.name}: v{self.readers} -> v{self.version}, {self.events} events "
            f"in {self.seconds:.2f} s ({self.rate:.0f} events/s); dropped {dropped}"
        )


def rebuild(
    name: str,
    settings: Settings,
    *,
    batch_size: int = 1000,
    max_batch_size: int | None = None,
    progress: TextIO | None = None,
    grace_seconds: float | None = None,
    retry_seconds: float = STORE_RETRY_SECONDS,
) -> Rebuilt:
    """Build a new version of the named view, switch readers and writers to it, drop the old.

    Batches start at batch_size events and grow to max_batch_size (None: the view's
    largest_batch) while the logs are read far behind their heads. progress, if given, gets
    a progress bar. grace_seconds overrides the store's own wait between the readers' switch
    and the drop. UnknownProjection for an unknown name; RebuildRunning if another rebuild of
    the view is running.
    """
    spec = projector(name)
    where = stores(settings)
    started = time.monotonic()
    with ExitStack() as resources:
        versions = spec.versions(settings, where)
        resources.callback(versions.close)
        try:
            resources.enter_context(holding(where.postgres_url, f"rebuild {versions.lock_name}"))
        except LockHeld:
            raise RebuildRunning(f"a rebuild of {name} is running") from None
        projection = spec.projection()
        logs = context_logs(projection, settings, where)
        for context_log in logs:
            resources.callback(context_log.close)
        retrying = StoreRetries(name, versions.transient_errors, retry_seconds)
        readers, writers, version = retrying("find its versions", lambda: plan(versions, name))
        view = retrying(f"create v{version}", lambda: versions.build(version))
        largest = max_batch_size or largest_batch(view)
        timeout = settings.postgres.connect_timeout_seconds
        book = resources.enter_context(dead_letters_at(where.postgres_url, timeout))
        worker = Worker(
            projection, view, logs, batch_size=batch_size, max_batch_size=largest, failures=book
        )
        bar = CatchUps(worker, f"rebuild {name} v{version}", progress)
        log.info("rebuild_started", projection=name, readers=readers, version=version)
        bar.catch_up()
        versions.move_writers(writers, version)
        try:
            hand_over(versions, bar, readers, version)
        except BaseException:
            with suppress(Exception):
                versions.move_writers(version, writers)
            raise
        bar.close()
        seconds = time.monotonic() - started
        log.info("rebuild_switched", projection=name, version=version, events=bar.events)
        time.sleep(versions.grace_seconds if grace_seconds is None else grace_seconds)
        dropped = tuple(sorted({readers, writers} - {version}))
        for old in dropped:
            versions.drop(old)
    log.info("rebuild_done", projection=name, version=version, dropped=dropped)
    return Rebuilt(name, readers, writers, version, bar.events, seconds, dropped)


def plan(versions: ViewVersions, name: str) -> tuple[int, int, int]:
    """The readers' and writers' versions and the one to build, leftovers of a crash dropped."""
    readers, writers = versions.readers(), versions.writers()
    existing = versions.existing()
    for leftover in sorted(existing - {readers, writers}):
        log.info("rebuild_dropping_leftover", projection=name, version=leftover)
        versions.drop(leftover)
    return readers, writers, max(existing | {readers, writers}) + 1


class StoreRetries:
    """Runs a rebuild step again while its store is unavailable, with backoff, for a while."""

    def __init__(
        self, name: str, transient: tuple[type[BaseException], ...], seconds: float
    ) -> None:
        self.name = name
        self.transient = transient
        self.seconds = seconds

    def __call__(self, what: str, step: Callable[[], T]) -> T:
        """step(), retried on a transient error; StoreUnavailable once seconds have passed."""

        def note(state: Any) -> None:
            error = state.outcome.exception() if state.outcome else None
            log.warning(
                "rebuild_store_unavailable", projection=self.name, step=what, error=repr(error)
            )

        retrying = Retrying(
            retry=retry_if_exception_type(self.transient),
            wait=wait_random_exponential(multiplier=0.1, max=5.0),
            stop=stop_after_delay(self.seconds),
            before_sleep=note,
            reraise=True,
        )
        try:
            return retrying(step)
        except self.transient as error:
            reason = " ".join(str(error).split())[:300] or type(error).__name__
            raise StoreUnavailable(
                f"could not {what} of {self.name}: the store stayed unavailable for "
                f"{self.seconds:g} s ({reason})"
            ) from error


def hand_over(versions: ViewVersions, bar: CatchUps, readers: int, version: int) -> None:
    """Move the readers to version once it has reached the readers' version's positions.

    The old version stopped moving when the writers left it. If it got events the new one
    has not (they came between the catch-up and the writers' move), a live projector wrote
    them, and now writes the new version: wait for it rather than race it batch for batch,
    and catch up here only if it does not get there in HANDOVER_SECONDS.
    """
    waiting_since = time.monotonic()
    catch_ups = 0
    while not versions.move_readers(readers, version):
        if time.monotonic() - waiting_since < HANDOVER_SECONDS:
            time.sleep(HANDOVER_POLL_SECONDS)
            continue
        if catch_ups == SWITCH_ATTEMPTS:
            raise SwitchRefused(f"v{version} did not reach v{readers}'s positions")
        bar.catch_up()
        catch_ups += 1
        waiting_since = time.monotonic()


class CatchUps:
    """A worker's catch-ups, counted together and drawn on one progress bar (if a stream)."""

    def __init__(self, worker: Worker[Any], label: str, stream: TextIO | None) -> None:
        self.worker = worker
        self.events = 0
        self.bar = None if stream is None else ProgressBar(label, self._heads(), stream)

    def catch_up(self) -> None:
        """Catch up to the logs' heads as they are now."""
        before = self.events
        total = self._heads() if self.bar is not None else 0

        def progress(events: int, positions: dict[str, int]) -> None:
            self.events = before + events
            if self.bar is not None:
                self.bar.update(sum(positions.values()), total)

        self.events = before + self.worker.catch_up(progress)

    def close(self) -> None:
        """Draw the bar's last state."""
        if self.bar is not None:
            self.bar.update(sum(self.worker.positions().values()))
            self.bar.close()

    def _heads(self) -> int:
        return sum(context_log.head() for context_log in self.worker.logs)
