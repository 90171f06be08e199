"""Where a replay stops: a time, or a position in each log; and a log read only that far.

A time T stops each log before its first event recorded after T: the replay holds a prefix
of every log, so one continued later from its checkpoint equals a straight replay.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from projections.log import ContextLog, Positioned


class BadUntil(ValueError):
    """--until is neither a time nor positions."""


@dataclass(frozen=True)
class Until:
    """Stop at time (aware, UTC) or at positions (log -> last position); neither: the heads."""

    time: datetime | None = None
    positions: Mapping[str, int] = field(default_factory=dict)
    any_log: int | None = None
    """A bare position, for a projection that follows one log."""

    def describe(self) -> str:
        """How it was given, for the checkpoint and messages."""
        if self.time is not None:
            return self.time.isoformat()
        if self.any_log is not None:
            return str(self.any_log)
        return ",".join(f"{log}={at}" for log, at in sorted(self.positions.items())) or "head"

    def position_in(self, log: str, logs: int) -> int | None:
        """The last position to read in log (None: no limit); BadUntil if it names none."""
        if self.any_log is not None:
            if logs != 1:
                raise BadUntil("a bare --until position needs a projection of one log; use LOG=N")
            return self.any_log
        if self.positions and log not in self.positions:
            raise BadUntil(f"--until names no position for the log {log!r}")
        return self.positions.get(log)


def parse_until(text: str | None) -> Until:
    """An ISO 8601 time with a zone (or Z), N, or LOG=N[,LOG=N]; BadUntil otherwise."""
    if text is None or not text.strip():
        return Until()
    text = text.strip()
    if text.isdigit():
        return Until(any_log=int(text))
    if "=" in text:
        return Until(positions=_positions(text))
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise BadUntil(
            f"--until {text!r} is not a time (2026-12-04T18:00:00+01:00), "
            "a position (1200) or positions (orders=1200,catalog=300)"
        ) from None
    if at.tzinfo is None:
        raise BadUntil(f"--until {text!r} needs a time zone, e.g. {text}Z or {text}+01:00")
    return Until(time=at.astimezone(UTC))


def _positions(text: str) -> dict[str, int]:
    positions: dict[str, int] = {}
    for part in text.split(","):
        log, _, at = part.partition("=")
        if not log.strip() or not at.strip().isdigit():
            raise BadUntil(f"--until {text!r}: each part is LOG=N, N a position")
        positions[log.strip()] = int(at)
    return positions


class BoundedLog(ContextLog):
    """A log read up to a last position or up to its last event recorded at or before a time."""

    def __init__(
        self, env: Mapping[str, str], log_name: str, last: int | None, until: datetime | None
    ) -> None:
        super().__init__(env, log_name)
        self.last = last
        self.until = until

    def read(self, after: int, limit: int) -> list[Positioned]:
        """Up to limit events after the position, none past the stopping point."""
        if self.last is not None and after >= self.last:
            return []
        events = super().read(after, limit)
        if self.last is not None:
            events = [item for item in events if item.position <= self.last]
        if self.until is None:
            return events
        for index, item in enumerate(events):
            if recorded(item.event) > self.until:
                return events[:index]
        return events

    def head(self) -> int:
        """The last position to read (the log's head, or less)."""
        head = super().head()
        return head if self.last is None else min(head, self.last)


def recorded(event: Any) -> datetime:
    """When the event was recorded; an undecodable one counts as before any time."""
    stamp = getattr(event, "timestamp", None)
    return stamp if isinstance(stamp, datetime) else datetime.min.replace(tzinfo=UTC)
