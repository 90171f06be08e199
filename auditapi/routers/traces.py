"""A flow traced across every context: the events of one correlation id and their causes."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from auditapi.deps import Call
from auditapi.params import ANSWERS, NOT_FOUND, Limit, not_found, refuse
from auditapi.queries import causation_tree, documents, trace_point
from auditapi.reader import TracePoint
from auditapi.schemas import Trace

router = APIRouter(tags=["traces"], responses=ANSWERS)
CorrelationId = Annotated[str, Path(pattern=r"^[A-Za-z0-9._:-]{1,128}$")]
Cursor = Annotated[
    str | None,
    Query(
        pattern=r"^[A-Za-z0-9_-]{1,400}$",
        description="The previous page's `next_after`: answer the events after it.",
    ),
]


@router.get("/v1/audit/traces/{correlation_id}", response_model=Trace, responses={404: NOT_FOUND})
def trace(
    correlation_id: CorrelationId,
    call: Call,
    after: Cursor = None,
    limit: Limit = 1000,
) -> dict[str, Any]:
    """The events of one correlation id across all contexts, in time order, a page at a time,
    with the causation tree they form (an event whose cause is on an earlier page is a root
    here); `next_after` is the cursor of the next page, null on the last."""
    try:
        point = TracePoint.decode(after) if after is not None else None
    except ValueError as error:
        raise refuse(str(error)) from None
    read = call.record("trace", correlation_id, after=after)
    found = call.deps.reader.correlated(correlation_id, limit, point)
    if not found and point is None:
        raise not_found(f"events with correlation id {correlation_id!r}")
    events = documents(call.deps.reader, found)
    call.showed(read, events)
    next_after = trace_point(events[-1]) if len(found) == limit else None
    return {
        "correlation_id": correlation_id,
        "events": events,
        "tree": causation_tree(events),
        "next_after": next_after and next_after.encode(),
        "complete": next_after is None,
    }
