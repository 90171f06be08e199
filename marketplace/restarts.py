"""When `up` restarts a component that died, and what it publishes about each one.

Pure bookkeeping with an injected clock, so the policy is tested without processes. The
supervisor (marketplace.supervisor) owns the processes; this says when to try again, whether a
component counts as failing, and writes the state file that `marketplace status` reads.

The state is a small JSON file in the data directory, replaced atomically on every change:
`status` is a separate, short-lived command, and a file needs no port or server in `up`,
is never seen half-written, and still tells what happened after `up` itself has died.
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import IO, Any

STATE_FILE = "up-state.json"
"""The state file's name in the data directory."""
LOCK_FILE = "up.lock"
"""Held (flock) by the `up` running on the data directory; the kernel drops it when it dies."""
ERROR_CHARS = 400
"""A last error is cut to this length."""


class State(StrEnum):
    """Where a supervised component stands."""

    RUNNING = "running"
    RESTARTING = "restarting"
    """It died; it is started again once its backoff delay has passed."""
    FAILING = "failing"
    """It keeps dying: restarted at the capped delay until it stays up."""
    STOPPED = "stopped"


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff between restarts, and when a component counts as failing.

    A death is quick unless the component had stayed up steady_after seconds; the delay after
    the n-th quick death in a row is first * 2**(n-1), at most cap. failing_after quick deaths
    in a row make it failing; it is restarted at the cap until it stays up again.
    """

    first: float = 0.5
    cap: float = 30.0
    steady_after: float = 60.0
    failing_after: int = 5

    def delay(self, quick_deaths: int) -> float:
        """Seconds to wait before the next start, after this many quick deaths in a row."""
        return min(self.first * 2 ** max(quick_deaths - 1, 0), self.cap)


@dataclass
class Record:
    """One component's life under the supervisor; times are on the supervisor's clock."""

    name: str
    policy: Backoff = field(default_factory=Backoff)
    pid: int | None = None
    restarts: int = 0
    """Starts after the first one."""
    quick_deaths: int = 0
    last_error: str = ""
    started_at: float | None = None
    retry_at: float | None = None
    stopped: bool = False

    @property
    def state(self) -> State:
        """Running, restarting, failing (it keeps dying) or stopped."""
        if self.stopped:
            return State.STOPPED
        if self.quick_deaths >= self.policy.failing_after:
            return State.FAILING
        return State.RESTARTING if self.retry_at is not None else State.RUNNING

    def started(self, now: float, pid: int | None) -> None:
        """It was (re)started and runs as pid."""
        self.pid, self.started_at, self.retry_at = pid, now, None

    def died(self, now: float, error: str) -> float:
        """It exited or could not start, for this reason; the delay before the next start."""
        if self.started_at is not None and now - self.started_at >= self.policy.steady_after:
            self.quick_deaths = 0
        self.quick_deaths += 1
        self.last_error = error[:ERROR_CHARS]
        self.pid, self.started_at = None, None
        delay = self.policy.delay(self.quick_deaths)
        self.retry_at = now + delay
        return delay

    def due(self, now: float) -> bool:
        """Whether it is dead and its backoff delay has passed."""
        return self.retry_at is not None and now >= self.retry_at

    def steady(self, now: float) -> bool:
        """Forget quick deaths once it has stayed up long enough; whether its state changed."""
        if self.quick_deaths == 0 or self.started_at is None:
            return False
        if now - self.started_at < self.policy.steady_after:
            return False
        before = self.state
        self.quick_deaths = 0
        return self.state != before


@dataclass(frozen=True)
class Row:
    """One component as the state file records it."""

    name: str
    state: str
    pid: int | None
    restarts: int
    last_error: str
    retry_at: str | None
    """Wall-clock time (ISO 8601, UTC) of the next start, while it is down."""


@dataclass(frozen=True)
class UpState:
    """What the state file holds: the `up` process and its components."""

    pid: int
    updated: str
    components: list[Row]


def rows(records: list[Record], now: float, wall: datetime | None = None) -> list[Row]:
    """The records as rows, retry times turned into wall-clock times."""
    wall = wall or datetime.now(UTC)

    def when(at: float | None) -> str | None:
        if at is None:
            return None
        return datetime.fromtimestamp(wall.timestamp() + at - now, UTC).isoformat()

    return [
        Row(r.name, r.state.value, r.pid, r.restarts, r.last_error, when(r.retry_at))
        for r in records
    ]


def publish(path: Path, state: UpState) -> None:
    """Write the state file atomically: a reader sees the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=".up-state-", delete=False) as f:
        json.dump(asdict(state), f, indent=1)
    os.replace(f.name, path)


def load(path: Path) -> UpState | None:
    """The state file's content, or None if there is none (or it cannot be read)."""
    try:
        raw: dict[str, Any] = json.loads(path.read_text())
        return UpState(raw["pid"], raw["updated"], [Row(**row) for row in raw["components"]])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def hold_lock(path: Path) -> IO[bytes] | None:
    """Take the lock in path; the open file holds it until it is closed or this process dies.

    None if another process holds it.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = path.open("ab")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    return handle
