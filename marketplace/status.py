"""Where each process stands: its position in every log it follows, and how far behind it is.

`marketplace status` prints these rows for every process in the registry. Reading them never
needs the process to run, and never fails as a whole: a store that does not answer, or an
event that cannot be decoded, becomes that row's error. After them come the failures the
dead letters hold open: each stopped projection with where and why, and the parked counts.
Last, what `up` recorded of each process it supervises (marketplace.restarts): running,
restarting or failing, how often it was restarted, and its last error.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from infra.local.processes import alive
from infra.postgres_pool import postgres_pool
from infra.settings import Settings
from infra.stores import stores
from marketplace.projectors import opened
from marketplace.restarts import STATE_FILE, load
from projections.completeness import Completable
from projections.failures import State
from projections.log import ContextLog, Undecodable
from projections.runtime import Projection, Worker
from projections.stores.postgres.deadletters import DeadLetter, PostgresDeadLetters
from workers.logs import context_logs

BOOK_CONNECT_TIMEOUT_SECONDS = 10
UNREAD = "-"
"""The log column of a process whose positions could not be read."""


@dataclass(frozen=True)
class Lag:
    """How far one process's view or book is behind one log (or why that is unknown)."""

    projection: str
    log: str
    head: int
    position: int
    seconds: float
    error: str = ""
    target: int | None = None
    """The position this log must still reach before the view is complete (None: reached,
    or a process without a completeness target; projections.completeness)."""
    complete: bool | None = None
    """Whether the projection's view is complete (None: a worker's book, which has no reads)."""

    @property
    def events(self) -> int:
        """Events in the log not yet in the view."""
        return max(self.head - self.position, 0)


def unread(name: str, error: BaseException) -> Lag:
    """A row saying that name's positions could not be read at all, and why."""
    return Lag(name, UNREAD, 0, 0, 0.0, f"{type(error).__name__}: {error}")


def lag_of(worker: Worker[Any], now: datetime | None = None) -> list[Lag]:
    """Each log's head, the view's position in it, the age of the next unprojected event, and
    whether the view is complete (with the target each log has left)."""
    view = worker.view
    if not isinstance(view, Completable):
        return lag_rows(worker.projection.name, view.positions(), worker.logs, now)
    state = view.completeness()
    rows = lag_rows(worker.projection.name, state.positions, worker.logs, now)
    return [replace(row, target=state.target.get(row.log), complete=state.complete) for row in rows]


def lag_rows(
    name: str, positions: dict[str, int], logs: Sequence[ContextLog], now: datetime | None = None
) -> list[Lag]:
    """lag_of for these positions in these logs, under the name given.

    The age comes from the next event to project; if that event cannot be read (say, it
    cannot be decoded), the row still shows the positions, with the error.
    """
    now = now or datetime.now(UTC)
    rows = []
    for context_log in logs:
        position = positions.get(context_log.log_name, 0)
        head = context_log.head()
        seconds, error = 0.0, ""
        if head > position:
            try:
                following = context_log.read(position, 1)
            except Exception as failure:
                error = f"next event unreadable: {type(failure).__name__}: {failure}"
            else:
                if following and isinstance(following[0].event, Undecodable):
                    error = f"next event unreadable: {following[0].event.error}"
                elif following:
                    age = now - following[0].event.timestamp
                    seconds = max(age.total_seconds(), 0.0)
        rows.append(Lag(name, context_log.log_name, head, position, seconds, error))
    return rows


def projector_lag(name: str) -> Callable[[Settings], list[Lag]]:
    """How `status` reads a projector's positions: from its view, as the projector would."""

    def read(settings: Settings) -> list[Lag]:
        with opened(name, settings, failures=False) as worker:
            return lag_of(worker)

    return read


def book_lag(
    projection: type[Projection[Any]], positions: Callable[[ConnectionPool], dict[str, int]]
) -> Callable[[Settings], list[Lag]]:
    """How `status` reads a worker's positions, kept in PostgreSQL beside its book or outbox.

    A worker that never ran has no table yet: it stands at 0 in every log.
    """

    def read(settings: Settings) -> list[Lag]:
        where = stores(settings)
        with postgres_pool(
            where.postgres_url,
            max_size=1,
            timeout=BOOK_CONNECT_TIMEOUT_SECONDS,
            connect_timeout=settings.postgres.connect_timeout_seconds,
            autocommit=False,
        ) as pool:
            try:
                known = positions(pool)
            except psycopg.errors.UndefinedTable:
                known = {}
        logs = context_logs(projection, settings, where)
        try:
            return lag_rows(projection.name, known, logs)
        finally:
            for context_log in logs:
                context_log.close()

    return read


def _cells(row: Lag) -> tuple[str, ...]:
    if row.log == UNREAD:
        return (row.projection, row.log, "-", "-", "-", "-", "-")
    figures = (row.head, row.position, row.events)
    return (row.projection, row.log, *map(str, figures), f"{row.seconds:.1f}", _complete(row))


def _complete(row: Lag) -> str:
    """yes, no (with the target the log must still reach), or - for a worker's book."""
    if row.complete is None:
        return "-"
    if row.complete:
        return "yes"
    return "no" if row.target is None else f"no (target {row.target})"


def lag_table(rows: Sequence[Lag]) -> str:
    """The rows as an aligned text table with a header; a row's error follows it.

    complete says whether the view answers reads, or is incomplete (rebuilding from empty:
    its reads answer 503 until each log reaches its target).
    """
    header = ("projection", "log", "head", "position", "behind", "seconds behind", "complete")
    cells = [header] + [_cells(r) for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = []
    for index, row in enumerate(cells):
        left = [row[i].ljust(widths[i]) for i in range(2)]
        right = [row[i].rjust(widths[i]) for i in range(2, len(header) - 1)]
        right.append(row[-1].ljust(widths[-1]))
        lines.append("  ".join(left + right).rstrip())
        if index and rows[index - 1].error:
            lines.append(f"  ! {rows[index - 1].error}")
    return "\n".join(lines)


def supervised_table(data_dir: Path) -> str:
    """What `up` on this data directory last recorded of each process, as a text table.

    Says so when no `up` ever ran there, and when the one that wrote the record is gone.
    """
    state = load(data_dir / STATE_FILE)
    if state is None:
        return f"no `marketplace up` has run on {data_dir}"
    if alive(state.pid):
        title = f"`marketplace up` (pid {state.pid}) on {data_dir}:"
    else:
        title = f"`marketplace up` is not running on {data_dir}; last seen {state.updated}:"
    header = ("process", "state", "pid", "restarts", "last error")
    cells = [header] + [
        (row.name, row.state, str(row.pid or "-"), str(row.restarts), row.last_error or "-")
        for row in state.components
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header) - 1)]
    lines = [title]
    for row in cells:
        fixed = [row[0].ljust(widths[0]), row[1].ljust(widths[1])]
        fixed += [row[i].rjust(widths[i]) for i in (2, 3)]
        lines.append("  ".join([*fixed, row[4]]).rstrip())
    return "\n".join(lines)


@dataclass(frozen=True)
class Failures:
    """What the dead letters hold open: each stop, and each projection's parked events.

    error says why they could not be read (the rows are then empty).
    """

    stopped: list[DeadLetter]
    parked: dict[str, int]
    error: str = ""


def failures(settings: Settings) -> Failures:
    """The open failures in the dead letters; an error instead of raising if unreadable."""
    where = stores(settings)
    try:
        with postgres_pool(
            where.postgres_url,
            max_size=1,
            timeout=BOOK_CONNECT_TIMEOUT_SECONDS,
            connect_timeout=settings.postgres.connect_timeout_seconds,
        ) as pool:
            letters = PostgresDeadLetters(pool).letters(states=(State.STOPPED, State.PARKED))
    except psycopg.errors.UndefinedTable:
        return Failures([], {})
    except Exception as error:
        return Failures([], {}, f"{type(error).__name__}: {error}")
    parked = Counter(letter.projection for letter in letters if letter.state == State.PARKED)
    stopped = [letter for letter in letters if letter.state == State.STOPPED]
    return Failures(stopped, dict(sorted(parked.items())))


def failures_text(found: Failures) -> str:
    """The stops (where, why, how often) and the parked counts, or "" if there is none."""
    lines = []
    if found.error:
        lines.append(f"dead letters unreadable: {found.error}")
    for letter in found.stopped:
        where = f"{letter.log} {letter.position}" if letter.log else "start"
        lines.append(
            f"{letter.projection} STOPPED at {where} ({letter.kind}, {letter.attempts} attempts "
            f"since {letter.first_seen:%Y-%m-%d %H:%M:%S}): dead letter {letter.id}"
        )
        lines.append(f"  ! {letter.error}")
    for projection, count in found.parked.items():
        lines.append(f"{projection}: {count} events parked (marketplace deadletters list)")
    return "\n".join(lines)
