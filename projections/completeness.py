"""Whether a view is complete: never answer from a view that is rebuilding from empty.

A view follows several logs, projected one batch at a time each. Built from nothing, it holds
the first log's events before the second's: products without their stock, which would read
as sold out, or no products at all. So the worker that finds its view empty (no positions at
all: new, or every key lost) first records a completeness target with it: the head of every
log it follows at that moment, and a position of 0 in each. Each commit that brings a log to
its target clears that log's share of it, in the same atomic write as the data. A view is
complete once it has positions and no target is left: it then holds at least everything the
logs held when it was found empty, so at least what it showed before it was lost.

Reads of an incomplete view raise ViewIncomplete (the query API answers 503 with
Retry-After), and readers move only to a complete version (projections.versions). A view
with positions but no target was built before targets existed, or has reached its target:
complete either way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import structlog

from projections.log import ContextLog

log = structlog.get_logger()


class ViewIncomplete(Exception):
    """The view is rebuilding, or has not yet reached its completeness target: do not answer."""

    def __init__(self, view: str, detail: str = "") -> None:
        super().__init__(f"{view} is incomplete{': ' + detail if detail else ''}")
        self.view = view


@dataclass(frozen=True)
class Completeness:
    """A view's positions and what is left of its completeness target (per log)."""

    positions: dict[str, int]
    target: dict[str, int] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        """Whether the view has positions and no target left to reach."""
        return bool(self.positions) and not self.target

    def summary(self) -> dict[str, object]:
        """What readiness and status show: complete or not, and the target left."""
        if self.complete:
            return {"complete": True}
        return {"complete": False, "positions": self.positions, "target": self.target}


class Positioned(Protocol):
    """A view that reports its positions."""

    def positions(self) -> dict[str, int]:
        """The last projected position of each log."""
        ...


@runtime_checkable
class Completable(Protocol):
    """A view that records a completeness target when found empty (see the module)."""

    def start_empty(self, target: dict[str, int]) -> dict[str, int]:
        """If the view has no positions, record target (heads > 0) and 0 in every log.

        Atomic: a view found with positions is left alone. Returns the positions it has now.
        """
        ...

    def completeness(self) -> Completeness:
        """The view's positions and the target it has left, in the version it reads."""
        ...


def stored_positions(
    projection: str, view: Positioned, logs: Sequence[ContextLog]
) -> dict[str, int]:
    """The view's positions; a Completable view found empty records its target first."""
    positions = view.positions()
    if positions or not isinstance(view, Completable):
        return positions
    heads = {context_log.log_name: context_log.head() for context_log in logs}
    log.info("projection_view_empty", projection=projection, target=heads)
    return view.start_empty(heads)
