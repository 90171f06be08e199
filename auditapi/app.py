"""The audit API's app factory: a small read-only app of its own, beside the query API."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from eventsourcing.persistence import OperationalError
from fastapi import FastAPI
from psycopg import OperationalError as PostgresDown
from psycopg_pool import PoolTimeout
from starlette.requests import Request
from starlette.responses import Response

from auditapi.deps import AuditApiDeps
from auditapi.reader import WHOLE_STREAM
from auditapi.routers import access, logs, streams, traces, verify
from infra.apps import Closer, api_app
from infra.openapi import READY_RESPONSES
from infra.readiness import Probe, probe_all, readiness_response
from infra.web import RequestContextMiddleware, install_http_problems, unavailable_handler

RETRY_AFTER_SECONDS = 2
PROBE_SECONDS = 2.0
DESCRIPTION = """
Reads the event stores themselves, never the read views: every event of any aggregate, any
context's log, one flow across contexts with its causation tree, an aggregate's state at a
past version or time, and whole logs as newline-delimited JSON.

**Who.** Only the `auditor` and `admin` roles; every other role gets 403. Every read is
recorded (`GET /v1/audit/access` answers who read what).

**Events.** Payloads are plain JSON (ids with dashes, money as minor units and a currency);
the metadata names the actor, role, request, correlation and causation, and the event's id.

**Tamper evidence.** Each event carries its hash in its log's chain; `GET /v1/audit/verify`
recomputes every chain against the signed checkpoints of its head and names the first
position that breaks.

**Errors** are RFC 9457 `application/problem+json`: an unknown stream, log or flow is a 404;
a malformed id or time, a limit out of bounds or a reversed range is a 422. Large answers
are paged (`next_after`, `next_after_version`), never cut short silently.
"""


def create_app(deps: AuditApiDeps, *, owned: Sequence[Closer] = ()) -> FastAPI:
    """Build the audit API around its dependencies; its lifespan closes what it owns."""
    app = api_app(
        "Marketplace audit API",
        DESCRIPTION,
        ("streams", "logs", "traces", "access", "verify", "health"),
        (module.router for module in (streams, logs, traces, access, verify)),
        deps,
        owned,
    )
    install_http_problems(app)
    store_down = unavailable_handler(
        event="event_store_unavailable",
        title="Event store unavailable",
        detail="the event store does not answer; retry shortly",
        retry_after=RETRY_AFTER_SECONDS,
    )
    for error in (OperationalError, PostgresDown, PoolTimeout):
        app.add_exception_handler(error, store_down)

    @app.get("/health/ready", tags=["health"], responses=READY_RESPONSES)
    async def ready(request: Request) -> Response:
        """The event store and the access log answer; otherwise 503 with Retry-After."""
        probes = [
            Probe("events", "events", lambda: deps.reader.stream(UUID(int=0), WHOLE_STREAM, 1)),
            Probe(
                "access",
                "postgres",
                lambda: deps.access.reads(subject="", reader=None, after=0, limit=1),
            ),
        ]
        _, down = await probe_all(probes, PROBE_SECONDS)
        return readiness_response(request, down, {}, RETRY_AFTER_SECONDS)

    app.add_middleware(RequestContextMiddleware)
    return app
