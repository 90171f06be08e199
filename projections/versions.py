"""Versions of one read model, side by side in its store, and the two pointers that pick them.

A view that can be rebuilt keeps each version apart (a Redis key prefix, a PostgreSQL
schema, an OpenSearch index), each with its own positions. Two pointers name versions:

- readers: the version the query API reads;
- writers: the version the live projector writes.

A rebuild builds version N+1 beside the live one, then moves the writers to it (the old
version stops changing: each store refuses a live batch whose version is no longer the
writers' one), catches it up to the logs' heads, and moves the readers to it only if it
has reached the old version's positions, so a reader never sees the view go back. Version 0
is the unversioned layout used before versions existed (where the store has one).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Protocol

from projections.runtime import View

READERS = "readers"
WRITERS = "writers"


class VersionConflict(Exception):
    """A pointer did not name the version the caller expected (someone else moved it)."""


class ViewVersions(Protocol):
    """The versions of one view in its store, and the atomic moves of its two pointers."""

    lock_name: str
    """Names this view in its store, for the lock that keeps rebuilds one at a time."""
    grace_seconds: float
    """How long after the readers move the old version must still answer (in-flight reads)."""
    transient_errors: tuple[type[BaseException], ...]
    """What the store raises while it is unreachable, busy or restarting: worth retrying."""

    def readers(self) -> int:
        """The version the query API reads."""
        ...

    def writers(self) -> int:
        """The version the live projector writes."""
        ...

    def existing(self) -> set[int]:
        """Every version with something stored."""
        ...

    def build(self, version: int) -> View[Any]:
        """An empty, created view pinned to version (anything left there is dropped first)."""
        ...

    def move_writers(self, old: int, new: int) -> None:
        """Point the writers at new, atomically, if they point at old (else VersionConflict)."""
        ...

    def move_readers(self, old: int, new: int) -> bool:
        """Point the readers at new if they point at old and new has reached old's positions.

        False (nothing changed) if new is behind; VersionConflict if readers are not at old.
        """
        ...

    def drop(self, version: int) -> None:
        """Delete everything version holds."""
        ...

    def close(self) -> None:
        """Release the store clients."""
        ...


class Pointers(ABC):
    """readers() and writers() of view versions whose store keeps each as a pointer (an
    alias, a row), which _pointer reads."""

    def readers(self) -> int:
        """The version the query API reads (0 before any rebuild)."""
        return self._pointer(READERS)

    def writers(self) -> int:
        """The version the live projector writes (0 before any rebuild)."""
        return self._pointer(WRITERS)

    @abstractmethod
    def _pointer(self, follows: str) -> int:
        """The version the readers' (READERS) or the writers' (WRITERS) pointer names."""


class CreatedView(View[Any], Protocol):
    """A view that creates what it needs in its store (tables, index)."""

    def create(self) -> None:
        """Create the view's tables or index, with its positions, in its version."""
        ...


def reached(new: dict[str, int], old: dict[str, int]) -> bool:
    """Whether positions new are at or past old in every log old has."""
    return all(new.get(log, 0) >= position for log, position in old.items())
