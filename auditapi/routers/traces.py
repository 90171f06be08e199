"""A flow traced across every context: the events of one correlation id and their causes."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request

from auditapi.deps import Auditor, Deps, record
from auditapi.params import ANSWERS, NOT_FOUND, not_found
from auditapi.queries import causation_tree, documents
from auditapi.schemas import Trace

router = APIRouter(tags=["traces"], responses=ANSWERS)
MAX_TRACE = 10_000
CorrelationId = Annotated[str, Path(pattern=r"^[A-Za-z0-9._:-]{1,128}$")]


@router.get("/v1/audit/traces/{correlation_id}", response_model=Trace, responses={404: NOT_FOUND})
def trace(
    correlation_id: CorrelationId,
    request: Request,
    caller: Auditor,
    deps: Deps,
    limit: Annotated[int, Query(ge=1, le=MAX_TRACE)] = 1000,
) -> dict[str, Any]:
    """Every event of one correlation id across all contexts, in time order, with the
    causation tree they form; `complete` is false if the flow has more than limit events."""
    record(request, deps, caller, "trace", correlation_id)
    found = deps.reader.correlated(correlation_id, limit + 1)
    if not found:
        raise not_found(f"events with correlation id {correlation_id!r}")
    events = documents(deps.reader, found[:limit])
    events.sort(key=lambda e: (e["timestamp"] or "", e["log"], e["position"]))
    return {
        "correlation_id": correlation_id,
        "events": events,
        "tree": causation_tree(events),
        "complete": len(found) <= limit,
    }
