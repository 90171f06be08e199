"""Recompute a log's chain and hold it against the signed checkpoints of its head.

The rows come in position order, each an event and the link recorded for it (either may be
missing: a full outer join of the two). The first break ends the run, with its position and
kind; a clean run ends OK. Checkpoints catch what a self-consistent chain cannot show: a
chain rewritten from some position on, and newest events truncated.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import Enum
from uuid import UUID

from infra.audit.chain import GENESIS, NO_POSITION, Link, digest, link_hash


class Break(Enum):
    """How a log was tampered with, as the first broken position shows it."""

    PAYLOAD_CHANGED = "payload changed"
    ROW_DELETED = "row deleted"
    ROWS_REORDERED = "rows reordered"
    ROW_INSERTED = "row inserted"
    HEAD_TRUNCATED = "head truncated"
    CHAIN_REWRITTEN = "chain rewritten"
    CHECKPOINT_FORGED = "checkpoint forged"


@dataclass(frozen=True)
class Event:
    """A stored event's canonical fields."""

    stream: UUID | str
    version: int
    topic: str
    state: bytes


@dataclass(frozen=True)
class Row:
    """One position of the log: its event and its recorded link, either possibly missing."""

    position: int
    event: Event | None
    link: Link | None


@dataclass(frozen=True)
class Checkpoint:
    """A signed head of a log: the hash the chain had at position."""

    position: int
    hash: bytes


@dataclass(frozen=True)
class Verdict:
    """The result of verifying one log: OK (broken is None), or the first break."""

    log: str
    verified: int
    """How many events were checked."""
    head: int
    """The last position reached."""
    broken: Break | None = None
    position: int | None = None
    detail: str = ""
    rewritten: tuple[int, ...] = ()
    """Positions rewritten on purpose, each by a signed rewrite record (infra.audit.rewrites)."""
    reasons: tuple[str, ...] = ()
    """The reasons those records give."""

    @property
    def ok(self) -> bool:
        """Whether the log verified."""
        return self.broken is None


class _Broken(Exception):
    def __init__(self, kind: Break, position: int, detail: str) -> None:
        super().__init__(detail)
        self.kind, self.position, self.detail = kind, position, detail


FindDigest = Callable[[bytes], int | None]
"""The position whose recorded link has this digest, if any."""
Progress = Callable[[int], None]
"""Called with the position reached, now and then."""


class _Walk:
    """The chain as verified so far."""

    def __init__(self, checkpoints: Sequence[Checkpoint], find_digest: FindDigest) -> None:
        self.position, self.hash = NO_POSITION, GENESIS
        self.vouched = NO_POSITION
        """The last position a checkpoint matched."""
        self.checkpoints = sorted(checkpoints, key=lambda c: c.position)
        self.find_digest = find_digest
        self.count = 0
        self.deleted_from: int | None = None

    def step(self, row: Row) -> None:
        if row.event is None:
            if self.deleted_from is None:
                self.deleted_from = row.position
            return
        if self.deleted_from is not None:
            raise _Broken(Break.ROW_DELETED, self.deleted_from, "its chain link remains")
        if row.link is None:
            raise _Broken(Break.ROW_INSERTED, row.position, "it has no chain link")
        self._check(row.position, row.event, row.link)
        self.position, self.hash = row.position, row.link.hash
        self.count += 1
        self._pass_checkpoints()

    def _check(self, position: int, event: Event, link: Link) -> None:
        if link.previous >= position:
            raise _Broken(Break.ROWS_REORDERED, position, "its link belongs further on")
        found = digest(event.stream, event.version, event.topic, event.state)
        if found != link.digest:
            elsewhere = self.find_digest(found)
            if elsewhere is not None and elsewhere != position:
                raise _Broken(Break.ROWS_REORDERED, position, f"its event was at {elsewhere}")
            raise _Broken(Break.PAYLOAD_CHANGED, position, "its event differs from its digest")
        if link.previous > self.position:
            raise _Broken(Break.ROW_DELETED, link.previous, f"the link of {position} follows it")
        if link.previous < self.position:
            raise _Broken(Break.ROW_INSERTED, self.position, f"the link of {position} skips it")
        if link_hash(self.hash, position, found) != link.hash:
            raise _Broken(Break.CHAIN_REWRITTEN, position, "its hash does not follow")

    def _pass_checkpoints(self) -> None:
        while self.checkpoints and self.checkpoints[0].position <= self.position:
            checkpoint = self.checkpoints.pop(0)
            if checkpoint.position == self.position and checkpoint.hash == self.hash:
                self.vouched = checkpoint.position
                continue
            raise _Broken(
                Break.CHAIN_REWRITTEN,
                self.vouched + 1,
                f"the checkpoint at {checkpoint.position} does not match the chain",
            )

    def finish(self) -> None:
        if self.deleted_from is not None:
            raise _Broken(Break.HEAD_TRUNCATED, self.deleted_from, "its chain link remains")
        if self.checkpoints:
            last = self.checkpoints[-1].position
            raise _Broken(
                Break.HEAD_TRUNCATED,
                self.position + 1,
                f"the log ends at {self.position}, its checkpoint is at {last}",
            )


def verify(
    log: str,
    rows: Iterable[Row],
    checkpoints: Sequence[Checkpoint],
    find_digest: FindDigest,
    progress: Progress | None = None,
    every: int = 10_000,
) -> Verdict:
    """Walk rows in position order against checkpoints; the first break, or OK."""
    walk = _Walk(checkpoints, find_digest)
    try:
        for row in rows:
            walk.step(row)
            if progress is not None and walk.count % every == 0:
                progress(walk.position)
        walk.finish()
    except _Broken as broken:
        return Verdict(log, walk.count, walk.position, broken.kind, broken.position, broken.detail)
    if progress is not None:
        progress(walk.position)
    return Verdict(log, walk.count, walk.position)
