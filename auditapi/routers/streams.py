"""One aggregate's stream: its events by version, its links, and its state at a past point."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query

from auditapi.deps import Call
from auditapi.params import ANSWERS, NOT_FOUND, Limit, Time, aware, not_found, refuse
from auditapi.queries import UnknownStream, documents, links, state_at
from auditapi.reader import WHOLE_STREAM, StreamQuery
from auditapi.schemas import PastState, StreamPage

router = APIRouter(tags=["streams"], responses=ANSWERS)
AfterVersion = Annotated[
    int, Query(ge=-1, le=2**62, description="Answer versions after this one (-1: from the first).")
]


@router.get(
    "/v1/audit/streams/{stream_id}",
    response_model=StreamPage,
    responses={404: NOT_FOUND},
)
def stream(
    stream_id: UUID, call: Call, after_version: AfterVersion = -1, limit: Limit = 100
) -> dict[str, Any]:
    """All events of one aggregate, in any context, paged by version."""
    read = call.record("stream", str(stream_id), after_version=after_version)
    reader = call.deps.reader
    page = reader.stream(stream_id, StreamQuery(after_version), limit)
    if not page and not reader.stream(stream_id, WHOLE_STREAM, 1):
        raise not_found(f"stream {stream_id}")
    events = documents(reader, page)
    call.showed(read, events) if events else call.showed_stream(read, stream_id)
    return {
        "stream_id": str(stream_id),
        "events": events,
        "next_after_version": page[-1].stored.originator_version if len(page) == limit else None,
    }


@router.get(
    "/v1/audit/streams/{stream_id}/links",
    responses={
        200: {
            "description": "The streams this one points at",
            "content": {"application/json": {"schema": {"type": "object"}}},
        },
        404: NOT_FOUND,
    },
)
def stream_links(stream_id: UUID, call: Call) -> dict[str, Any]:
    """The streams this one points at: a product's stock item, a stock item's product, an
    order's fulfilments, stock items and payments, a fulfilment's order."""
    read = call.record("links", str(stream_id))
    try:
        found = links(call.deps.reader, stream_id)
    except UnknownStream:
        raise not_found(f"stream {stream_id}") from None
    call.showed_stream(read, stream_id)
    return found


@router.get(
    "/v1/audit/streams/{stream_id}/state",
    response_model=PastState,
    responses={404: NOT_FOUND},
)
def past_state(
    stream_id: UUID,
    call: Call,
    version: Annotated[int | None, Query(ge=0, le=2**62)] = None,
    at: Time = None,
) -> dict[str, Any]:
    """The aggregate as of a version, or as of a time (after its last event at or before
    it), as JSON; exactly one of version and at."""
    if (version is None) == (at is None):
        raise refuse("give exactly one of version and at")
    aware("at", at)
    read = call.record("state", str(stream_id), version=version, at=at)
    try:
        found = state_at(call.deps.reader, stream_id, version=version, at=at)
    except UnknownStream:
        raise not_found(f"stream {stream_id}") from None
    call.showed_stream(read, stream_id)
    if found is None or (version is not None and found.version != version):
        raise not_found(f"state of {stream_id} at {version if at is None else at}")
    return {
        "stream_id": str(stream_id),
        "aggregate": found.aggregate,
        "version": found.version,
        "timestamp": found.timestamp.isoformat(),
        "state": found.state,
    }
