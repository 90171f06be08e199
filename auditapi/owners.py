"""Whose data an audit read showed: the customers who own the streams of the events it
answered (their customer stream, their carts, their orders with the payments in them, and
their orders' fulfilments), so that who looked at one customer's data can be asked."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from uuid import UUID

from auditapi.reader import WHOLE_STREAM, EventReader

OWNER_FIELDS = {
    "Order": "customer_id",
    "Fulfilment": "customer_id",
    "Cart": "shopper_id",
}
"""The aggregates a customer owns, and the field of their first event that names them."""


def owners(reader: EventReader, documents: Iterable[dict[str, Any]]) -> frozenset[str]:
    """The customer ids owning the streams of documents (events as the API shows them); a
    stream whose first event is not among them is asked for it."""
    found: set[str] = set()
    resolved: set[str] = set()
    unresolved: set[str] = set()
    for document in documents:
        owner = owner_in(document)
        if owner is not None:
            found.add(owner)
            resolved.add(document["stream_id"])
        elif document["type"].partition(".")[0] in OWNER_FIELDS:
            unresolved.add(document["stream_id"])
    for stream_id in sorted(unresolved - resolved):
        found.update(stream_owners(reader, UUID(stream_id)))
    return frozenset(found)


def stream_owners(reader: EventReader, stream_id: UUID) -> frozenset[str]:
    """The customer owning one stream, from its first event (none if no customer owns it)."""
    first = reader.stream(stream_id, WHOLE_STREAM, 1)
    owner = owner_in(reader.decoder.document(first[0])) if first else None
    return frozenset() if owner is None else frozenset({owner})


def owner_in(document: dict[str, Any]) -> str | None:
    """The customer an event names as its stream's owner, if it does."""
    aggregate = document["type"].partition(".")[0]
    if aggregate == "Customer":
        return str(document["stream_id"])
    field = OWNER_FIELDS.get(aggregate)
    owner = document["payload"].get(field) if field is not None else None
    return str(owner) if owner else None
