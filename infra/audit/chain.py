"""The hash chain of one context log, store-neutral.

Each event's link is `sha256(previous hash ‖ position ‖ digest)`, where the digest is
`sha256` of the event's canonical bytes: its stream, version and type, each length-prefixed,
then its stored state (the JSON of its payload and metadata, exactly as stored). The first
event of a log links to GENESIS. The digest leaves the position out, so that a row found at
another position (rows reordered) can be recognised; the link puts it back in.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from uuid import UUID

GENESIS = bytes(32)
"""The previous hash of a log's first event."""
NO_POSITION = 0
"""The previous position of a log's first event (positions start at 1)."""


@dataclass(frozen=True)
class Link:
    """One event's place in its log's chain, as recorded beside it."""

    position: int
    previous: int
    """The position of the event before it in the log (NO_POSITION for the first)."""
    digest: bytes
    hash: bytes


def _prefixed(data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + data


def digest(stream: UUID | str, version: int, topic: str, state: bytes) -> bytes:
    """The sha256 of an event's canonical bytes (stream, version, type, payload and metadata)."""
    h = hashlib.sha256(_prefixed(str(stream).encode()))
    h.update(version.to_bytes(8, "big", signed=True))
    h.update(_prefixed(topic.encode()))
    h.update(state)
    return h.digest()


def link_hash(previous_hash: bytes, position: int, event_digest: bytes) -> bytes:
    """The chain hash of the event at position, after the event whose hash is previous_hash."""
    return hashlib.sha256(previous_hash + position.to_bytes(8, "big") + event_digest).digest()


@dataclass(frozen=True)
class Head:
    """The last link of a chain: its position and hash (GENESIS at NO_POSITION when empty)."""

    position: int = NO_POSITION
    hash: bytes = GENESIS


def extend(
    head: Head, positions: Sequence[int], events: Iterable[tuple[UUID | str, int, str, bytes]]
) -> list[Link]:
    """The links of events (stream, version, topic, state) appended at positions after head."""
    links = []
    previous, previous_hash = head.position, head.hash
    for position, (stream, version, topic, state) in zip(positions, events, strict=True):
        event_digest = digest(stream, version, topic, state)
        current = link_hash(previous_hash, position, event_digest)
        links.append(Link(position, previous, event_digest, current))
        previous, previous_hash = position, current
    return links
