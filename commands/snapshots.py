"""Snapshots of aggregates whose streams grow without bound, taken every N events.

A snapshot is never the source of truth: it is the state a replay of the stream up to its
version gives, taken from the store (not from the copy a command changed), so deleting
every snapshot changes nothing but how long a load takes. The library's repository loads
the latest snapshot and the events after it; UsableSnapshots hands it only snapshots that
today's code can read.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import structlog
from eventsourcing.domain import AggregateCreated, Snapshot
from eventsourcing.persistence import EventStore
from eventsourcing.utils import get_topic, resolve_topic

log = structlog.get_logger()

REQUEST_REPLAY_INTERVALS = 10
"""The write path takes a due snapshot only when the replay it costs (from the stream's
latest snapshot, or its start) spans at most this many intervals; a stream further behind
(one that grew long before snapshots were on) gets its snapshot from the snapshot pass
(ContextApplication.take_snapshots, `marketplace snapshots take`), off the request path."""
SNAPSHOT_EVERY = "SNAPSHOT_EVERY"
"""Environment key: snapshot a snapshotted aggregate at every version divisible by it (0: never)."""
LIBRARY_STATE = ("_created_on", "_modified_on")
"""The library's own aggregate attributes a snapshot keeps beside the aggregate's state."""


class StateSnapshot(Snapshot):
    """An aggregate's state at a version, as the plain values of its snapshot_state().

    It records the aggregate's class_version; on load an older one is brought up to date by
    the aggregate's upcast_vN_vN+1 methods (the library's convention), see usable().
    """

    @classmethod
    def take(cls, aggregate: Any) -> StateSnapshot:
        """The snapshot of the aggregate as it is now."""
        state = {name.lstrip("_"): getattr(aggregate, name) for name in LIBRARY_STATE}
        state.update(aggregate.snapshot_state())
        state["class_version"] = getattr(type(aggregate), "class_version", 1)
        return cls(
            originator_id=aggregate.id,
            originator_version=aggregate.version,
            timestamp=cls.create_timestamp(),
            topic=get_topic(type(aggregate)),
            state=state,
        )

    def mutate(self, _: Any) -> Any:
        """The aggregate this snapshot holds, upcast to its class's current version."""
        cls = resolve_topic(self.topic)
        state = dict(self.state)
        version = state.pop("class_version", 1)
        for step in range(version, getattr(cls, "class_version", 1)):
            getattr(cls, f"upcast_v{step}_v{step + 1}")(state)
        aggregate = object.__new__(cls)
        aggregate.__dict__.update(
            _id=self.originator_id, _version=self.originator_version, _pending_events=[]
        )
        for name in LIBRARY_STATE:
            setattr(aggregate, name, state.pop(name.lstrip("_")))
        aggregate.restore_state(state)
        return aggregate


def usable(snapshot: Any) -> bool:
    """Whether today's code can read the snapshot: its aggregate class exists, and its
    class_version is the current one or has upcasters all the way to it."""
    try:
        cls = resolve_topic(snapshot.topic)
    except Exception:
        return False
    version = snapshot.state.get("class_version", 1)
    current = getattr(cls, "class_version", 1)
    return version <= current and all(
        hasattr(cls, f"upcast_v{step}_v{step + 1}") for step in range(version, current)
    )


@dataclass(frozen=True)
class Restored:
    """A snapshot already read into its aggregate, as the repository takes it."""

    originator_id: UUID
    originator_version: int
    timestamp: datetime
    aggregate: Any

    def mutate(self, _: Any) -> Any:
        """The aggregate the snapshot holds."""
        return self.aggregate


def restored(snapshot: Any) -> Restored | None:
    """The snapshot read into its aggregate, or None if today's code cannot read it."""
    if not usable(snapshot):
        return None
    try:
        aggregate = snapshot.mutate(None)
    except Exception as error:
        log.warning(
            "snapshot_unreadable", aggregate_id=str(snapshot.originator_id), error=repr(error)
        )
        return None
    return Restored(
        snapshot.originator_id, snapshot.originator_version, snapshot.timestamp, aggregate
    )


class UsableSnapshots(EventStore[UUID]):
    """The snapshot store, handing out only snapshots that today's code reads (usable, and
    restored without error): a load past one replays the stream from its start instead, as
    it would with no snapshot at all."""

    def get(self, originator_id: UUID, *args: Any, **kwargs: Any) -> Iterator[Any]:
        """The snapshots asked for, each read into its aggregate, passing over the others."""
        try:
            found: Sequence[Any] = list(super().get(originator_id, *args, **kwargs))
        except Exception as error:
            log.warning("snapshot_unreadable", aggregate_id=str(originator_id), error=repr(error))
            return iter(())
        kept = [r for r in map(restored, found) if r is not None]
        if len(kept) < len(found):
            log.info("snapshot_passed_over", aggregate_id=str(originator_id))
        return iter(kept)


def due(events: Sequence[Any], every: int) -> int | None:
    """The last version among the appended events at which a snapshot is due, if any."""
    if every <= 0:
        return None
    versions = [e.originator_version for e in events]
    return max((v for v in versions if v > 0 and v % every == 0), default=None)


def short_replay(version: int, last_snapshot: int | None, every: int) -> bool:
    """Whether snapshotting at version replays few enough events for a request to pay."""
    replayed = version - (-1 if last_snapshot is None else last_snapshot)
    return replayed <= REQUEST_REPLAY_INTERVALS * every


def creation_topics(classes: Sequence[type]) -> list[str]:
    """The topics of the events that start a stream of each of classes."""
    return [
        get_topic(member)
        for cls in classes
        for member in (getattr(cls, name) for name in dir(cls))
        if isinstance(member, type)
        and issubclass(member, AggregateCreated)
        and member.__qualname__.startswith(f"{cls.__qualname__}.")
    ]
