"""What an auditor asks of the logs, on any EventReader: a stream's links to other streams,
an aggregate's state at a past version or time, and the causation tree of one flow."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from auditapi.events import Recorded, plain
from auditapi.reader import EventReader, StreamQuery, TracePoint
from domain.fulfilment import fulfilment_id
from domain.inventory import stock_item_id

PAGE = 1000
"""Events read at a time when a whole stream is walked."""
PAYMENT_EVENTS = frozenset(
    {"Order.PaymentAuthorised", "Order.PaymentCaptured", "Order.PaymentVoided", "Order.Refunded"}
)


def documents(reader: EventReader, page: Sequence[Recorded]) -> list[dict[str, Any]]:
    """The page's events as the API shows them, each with its chain hash (one lookup per log)."""
    hashes: dict[tuple[str, int], str] = {}
    for log in {recorded.log for recorded in page}:
        positions = [recorded.position for recorded in page if recorded.log == log]
        found = reader.chain_hashes(log, positions)
        hashes.update(((log, position), digest) for position, digest in found.items())
    return [reader.decoder.document(r, hashes.get((r.log, r.position))) for r in page]


def trace_pages(
    reader: EventReader, correlation_id: str, size: int = PAGE
) -> Iterator[list[dict[str, Any]]]:
    """Every event of one flow as documents, in trace order, a page at a time."""
    after: TracePoint | None = None
    while True:
        page = documents(reader, reader.correlated(correlation_id, size, after))
        if page:
            yield page
        if len(page) < size:
            return
        after = trace_point(page[-1])


def trace_point(document: dict[str, Any]) -> TracePoint:
    """The place of an event (as a document) in its trace."""
    return TracePoint(
        datetime.fromisoformat(document["timestamp"]), document["log"], document["position"]
    )


class UnknownStream(LookupError):
    """No log holds an event of this aggregate."""


def whole_stream(
    reader: EventReader, stream_id: UUID, to_version: int | None = None
) -> Iterator[Recorded]:
    """Every event of one stream (up to to_version), read a page at a time."""
    after = -1
    while True:
        page = reader.stream(stream_id, StreamQuery(after, to_version), PAGE)
        yield from page
        if len(page) < PAGE:
            return
        after = page[-1].stored.originator_version


def links(reader: EventReader, stream_id: UUID) -> dict[str, Any]:
    """The streams this one points at, derived as the commands derive them: a product's stock
    item, a stock item's product, an order's fulfilments, stock items and payment events, a
    fulfilment's order; each id shown with the context whose log holds it."""
    events = documents(reader, list(whole_stream(reader, stream_id)))
    if not events:
        raise UnknownStream(str(stream_id))
    first = events[0]
    created = first["payload"]
    aggregate = first["type"].partition(".")[0]
    found: dict[str, Any] = {
        "stream_id": str(stream_id),
        "aggregate": aggregate,
        "log": first["log"],
    }
    if aggregate == "Product":
        found["stock_item"] = str(stock_item_id(stream_id))
        found["seller"] = created.get("seller_id")
    elif aggregate == "StockItem":
        found["product"] = created.get("product_id")
    elif aggregate == "Fulfilment":
        found["order"] = created.get("order_id")
    elif aggregate == "Order":
        found.update(_order_links(stream_id, created, events))
    return found


def _order_links(
    order_id: UUID, placed: dict[str, Any], events: list[dict[str, Any]]
) -> dict[str, Any]:
    lines = placed.get("lines") or []
    sellers = sorted({line["seller_id"] for line in lines})
    products = sorted({line["product_id"] for line in lines})
    return {
        "customer": placed.get("customer_id"),
        "fulfilments": [str(fulfilment_id(order_id, UUID(seller))) for seller in sellers],
        "stock_items": [str(stock_item_id(UUID(product))) for product in products],
        "payments": [
            {
                "type": event["type"],
                "version": event["version"],
                "position": event["position"],
                "payment_id": event["payload"].get("payment_id"),
                "amount_minor": event["payload"].get("amount_minor"),
                "currency": event["payload"].get("currency"),
            }
            for event in events
            if event["type"] in PAYMENT_EVENTS
        ],
    }


@dataclass(frozen=True)
class PastState:
    """An aggregate as it stood after one of its events."""

    aggregate: str
    version: int
    timestamp: datetime
    state: dict[str, Any]


def state_at(
    reader: EventReader, stream_id: UUID, *, version: int | None = None, at: datetime | None = None
) -> PastState | None:
    """The aggregate replayed from its first event up to version, or up to the last event at
    or before at; None if it did not exist yet. UnknownStream if it never existed."""
    to_domain = reader.decoder.mapper.to_domain_event
    aggregate: Any = None
    seen = False
    for recorded in whole_stream(reader, stream_id, version):
        seen = True
        event: Any = to_domain(recorded.stored)
        if at is not None and event.timestamp > at:
            break
        aggregate = event.mutate(aggregate)
    if not seen:
        raise UnknownStream(str(stream_id))
    if aggregate is None:
        return None
    state = {key.lstrip("_"): value for key, value in vars(aggregate).items()}
    for internal in ("id", "version", "created_on", "modified_on", "pending_events"):
        state.pop(internal, None)
    return PastState(
        type(aggregate).__name__, aggregate.version, aggregate.modified_on, plain(state)
    )


def causation_tree(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The events of one flow as a forest: each node an event id with the events it caused.
    A root is an event whose cause is not an event of the flow (the request that started it)."""
    by_id = {event["metadata"]["event_id"]: event for event in events}
    children: dict[str, list[str]] = {}
    roots: list[str] = []
    for event in events:
        own, cause = event["metadata"]["event_id"], event["metadata"]["causation_id"]
        if cause in by_id and cause != own:
            children.setdefault(cause, []).append(own)
        else:
            roots.append(own)

    def node(event_id: str) -> dict[str, Any]:
        event = by_id[event_id]
        return {
            "event_id": event_id,
            "type": event["type"],
            "stream_id": event["stream_id"],
            "caused_by": event["metadata"]["causation_id"],
            "caused": [node(child) for child in children.get(event_id, [])],
        }

    return [node(root) for root in roots]
