"""The audit API's answers, as documented in its OpenAPI text."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class Metadata(BaseModel):
    """Who caused the event, in which request and flow, and the event's own id."""

    actor: str | None
    role: str | None
    request_id: str | None
    correlation_id: str | None
    causation_id: str | None
    event_id: str | None


class AuditEvent(BaseModel):
    """One event: where it is, what it is, its payload as plain JSON and its metadata."""

    log: str
    position: int
    stream_id: str
    version: int
    type: str = Field(description="The event class, `Aggregate.Event`.")
    timestamp: str | None
    payload: dict[str, Any] = Field(
        description="Ids with dashes, money as minor units and a currency, times in ISO 8601."
    )
    metadata: Metadata
    chain_hash: str | None = Field(description="The event's hash in its log's chain.")


class StreamPage(BaseModel):
    """A page of one aggregate's events, by version."""

    stream_id: str
    events: list[AuditEvent]
    next_after_version: int | None = Field(
        description="Ask again with after_version set to this for the next page; null at the end."
    )


class LogPage(BaseModel):
    """A page of one log's events, by position."""

    log: str
    events: list[AuditEvent]
    next_after: int | None = Field(
        description="Ask again with after set to this for the next page; null at the end."
    )


class Logs(BaseModel):
    """The logs the audit API reads."""

    logs: list[str]


class Trace(BaseModel):
    """Every event of one correlation id, in time order, and the causation tree they form."""

    correlation_id: str
    events: list[AuditEvent]
    tree: list[dict[str, Any]]
    next_after: str | None = Field(description="The cursor of the next page; null on the last.")
    complete: bool = Field(description="True on the flow's last page.")


class PastState(BaseModel):
    """An aggregate as it stood after one of its events."""

    stream_id: str
    aggregate: str
    version: int
    timestamp: str
    state: dict[str, Any]


class AccessPage(BaseModel):
    """Recorded audit reads, oldest first."""

    reads: list[dict[str, Any]]
    next_after: int | None


class LogVerdict(BaseModel):
    """One log's verification: OK, or the first position that breaks and how."""

    log: str
    ok: bool
    verified: int = Field(description="Events checked.")
    head: int = Field(description="The last position reached.")
    broken: str | None = Field(
        description="How it broke: payload changed, row deleted, rows reordered, row inserted, "
        "head truncated, chain rewritten or checkpoint forged; null when OK."
    )
    position: int | None = Field(description="The first position that breaks.")
    detail: str


class Verification(BaseModel):
    """Every log's chain recomputed against its signed checkpoints."""

    ok: bool
    logs: list[LogVerdict]
