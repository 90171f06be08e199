"""A context's log: paged and filtered, or exported whole as newline-delimited JSON."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Annotated, Any
from uuid import UUID

import orjson
from fastapi import APIRouter, Depends, Query
from starlette.responses import StreamingResponse

from auditapi.deps import AuditCall, Call
from auditapi.events import Recorded
from auditapi.params import ANSWERS, NOT_FOUND, After, Limit, Time, not_found, refuse, time_range
from auditapi.queries import documents
from auditapi.reader import EventReader, LogQuery
from auditapi.schemas import LogPage, Logs

router = APIRouter(tags=["logs"], responses=ANSWERS)
EXPORT_PAGE = 500
"""Events an export reads at a time: its memory is one page, whatever the range."""
NDJSON = "application/x-ndjson"
EventType = Annotated[
    str | None,
    Query(pattern=r"^[A-Z][A-Za-z]{0,63}\.[A-Z][A-Za-z]{0,63}$", description="e.g. `Order.Placed`"),
]
Actor = Annotated[str | None, Query(min_length=1, max_length=128)]
UntilPosition = Annotated[
    int | None, Query(ge=1, le=2**62, description="The last position wanted.")
]


def log_query(
    after: After = 0,
    until_position: UntilPosition = None,
    type: EventType = None,
    actor: Actor = None,
    since: Time = None,
    until: Time = None,
    stream_id: Annotated[UUID | None, Query()] = None,
) -> LogQuery:
    """The filters of a log read, refused if the ranges are reversed."""
    time_range(since, until)
    if until_position is not None and until_position <= after:
        raise refuse("until_position must be greater than after")
    return LogQuery(after, until_position, type, actor, since, until, stream_id)


Filters = Annotated[LogQuery, Depends(log_query)]


def known_log(reader: EventReader, name: str) -> str:
    """name, if the reader reads such a log; else 404."""
    if name not in reader.logs:
        raise not_found(f"log {name!r}; known: {', '.join(reader.logs)}")
    return name


@router.get("/v1/audit/logs", response_model=Logs)
def logs(call: Call) -> dict[str, Any]:
    """The logs there are: one per bounded context, or the one shared log."""
    call.record("logs", "*")
    return {"logs": list(call.deps.reader.logs)}


@router.get("/v1/audit/logs/{log}/events", response_model=LogPage, responses={404: NOT_FOUND})
def log_events(log: str, call: Call, filters: Filters, limit: Limit = 100) -> dict[str, Any]:
    """One log's events, paged by position, filtered by event type, actor, time range and
    stream."""
    reader = call.deps.reader
    known_log(reader, log)
    read = call.record("log", log, **vars(filters))
    page = reader.log(log, filters, limit)
    events = documents(reader, page)
    call.showed(read, events)
    return {
        "log": log,
        "events": events,
        "next_after": page[-1].position if len(page) == limit else None,
    }


@router.get(
    "/v1/audit/logs/{log}/export",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "One event per line, as in the events route, streamed",
            "content": {NDJSON: {"schema": {"type": "string"}}},
        },
        404: NOT_FOUND,
    },
)
def export(log: str, call: Call, filters: Filters) -> StreamingResponse:
    """The log's events matching the filters, as newline-delimited JSON, streamed a page at a
    time: constant memory for any range."""
    reader = call.deps.reader
    known_log(reader, log)
    read = call.record("export", log, **vars(filters))
    chunks = (
        exported(call, read, documents(reader, page)) for page in pages(reader, log, filters)
    )  # one chunk per page: a send (and a hop from the thread pool) per page, not per event
    return StreamingResponse(chunks, media_type=NDJSON)


def exported(call: AuditCall, read: int, events: list[dict[str, Any]]) -> bytes:
    """One page of an export as NDJSON, whose data it is recorded first."""
    call.showed(read, events)
    return b"".join(orjson.dumps(document) + b"\n" for document in events)


def pages(
    reader: EventReader, log: str, query: LogQuery, size: int = EXPORT_PAGE
) -> Iterator[list[Recorded]]:
    """Every event of the log matching query, a page at a time; only one page is held."""
    while True:
        found = reader.log(log, query, size)
        if found:
            yield found
        if len(found) < size:
            return
        query = replace(query, after=found[-1].position)
