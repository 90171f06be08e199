"""Who read what: the audit reads themselves, as recorded (and this read is recorded too)."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query

from auditapi.deps import Call
from auditapi.events import plain
from auditapi.params import ANSWERS, Limit
from auditapi.schemas import AccessPage

router = APIRouter(tags=["access"], responses=ANSWERS)


@router.get("/v1/audit/access", response_model=AccessPage)
def access(
    call: Call,
    subject: Annotated[
        str | None,
        Query(min_length=1, max_length=128, description="What was read: a stream id, log or flow."),
    ] = None,
    reader: Annotated[UUID | None, Query(description="Who read it.")] = None,
    after: Annotated[int, Query(ge=0, le=2**62)] = 0,
    limit: Limit = 100,
) -> dict[str, Any]:
    """The recorded audit reads, oldest first: of one subject (who looked at this customer's
    data?), by one reader, or all."""
    call.record("access", subject or str(reader or "*"), reader=reader)
    reads = call.deps.access.reads(subject=subject, reader=reader, after=after, limit=limit)
    return {
        "reads": plain(reads),
        "next_after": reads[-1]["id"] if len(reads) == limit else None,
    }
