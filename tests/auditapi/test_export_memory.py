"""An export streams in constant memory: the route reads the log a page at a time and sends
each line as it goes, so exporting many events holds one page, never the whole range.

The reader here is a stand-in for the audit reader interface that makes its events on demand
(no store could hold them in a test run); what is measured is the route and its paging.
"""

from __future__ import annotations

import asyncio
import tracemalloc
from typing import Any
from uuid import UUID

import pytest
from fastapi import FastAPI

from auditapi.app import create_app
from auditapi.deps import AuditApiDeps
from auditapi.events import EventDecoder, Recorded, mapper
from auditapi.reader import LogQuery
from auditapi.routers.logs import EXPORT_PAGE
from domain.base import Context
from domain.money import Money
from domain.product import Product
from infra.auth import TokenCodec
from tests.support.audit import START

SECRET = "an-export-test-secret-0123456789abcdef"


class MadeOnDemand:
    """A log of events made as they are asked for, counting the pages asked for."""

    logs = ("catalog",)
    decoder = EventDecoder()

    def __init__(self, events: int) -> None:
        self.events = events
        self.limits: list[int] = []
        ctx = Context(START, "seller", "seller", "req", "corr", "cause")
        product = Product.list(
            UUID(int=1), UUID(int=2), "Lamp", "Oiled.", "home", {}, Money(4999, "EUR"), ctx
        )
        (listed,) = product.collect_events()
        self.stored = mapper().to_stored_event(listed)

    def log(self, name: str, query: LogQuery, limit: int) -> list[Recorded]:
        self.limits.append(limit)
        last = min(self.events, query.after + limit)
        return [
            Recorded(name, position, self.stored) for position in range(query.after + 1, last + 1)
        ]

    def chain_hashes(self, log: str, positions: Any) -> dict[int, str]:
        return {}

    def head(self, name: str) -> int:
        return self.events

    def stream(self, *args: Any, **kwargs: Any) -> list[Recorded]:
        return []

    def correlated(self, correlation_id: str, limit: int, after: Any = None) -> list[Recorded]:
        return []

    def close(self) -> None:
        pass


class NoAccessLog:
    def record(self, access: Any) -> int:
        return 0

    def add_subjects(self, access_id: int, subjects: Any) -> None:
        pass

    def reads(self, **kwargs: Any) -> list[dict[str, Any]]:
        return []


async def export_through(app: FastAPI, token: str) -> tuple[int, int, int]:
    """Run the export route as a server would; count lines and bytes as they are sent and
    drop them. Returns (status, lines, bytes)."""
    scope = {
        "type": "http",
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/v1/audit/logs/catalog/export",
        "raw_path": b"/v1/audit/logs/catalog/export",
        "query_string": b"",
        "root_path": "",
        "server": ("test", 80),
        "client": ("test", 1),
        "headers": [(b"host", b"test"), (b"authorization", f"Bearer {token}".encode())],
    }
    sent = {"status": 0, "lines": 0, "bytes": 0}

    requested = asyncio.Event()

    async def receive() -> dict[str, Any]:
        if requested.is_set():  # the client stays connected until the answer ends
            await asyncio.Event().wait()
        requested.set()
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            sent["status"] = message["status"]
        elif message["type"] == "http.response.body":
            body = message.get("body", b"")
            sent["lines"] += body.count(b"\n")
            sent["bytes"] += len(body)

    await app(scope, receive, send)
    return sent["status"], sent["lines"], sent["bytes"]


async def exported(events: int) -> tuple[list[int], int, int]:
    """Export a log of events through the route: the pages read, the bytes sent and the
    peak of memory allocated while it ran."""
    reader = MadeOnDemand(events)
    tokens = TokenCodec(SECRET, "marketplace", "marketplace-api")
    app = create_app(AuditApiDeps(reader, NoAccessLog(), tokens))
    token = tokens.issue(UUID(int=3), "auditor")
    tracemalloc.start()
    try:
        status, lines, sent = await export_through(app, token)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (status, lines) == (200, events)
    return reader.limits, sent, peak


@pytest.mark.slow
async def test_an_export_holds_one_page_whatever_the_range() -> None:
    small_pages, small_sent, small_peak = await exported(1_000)
    pages, sent, peak = await exported(5_000)
    assert small_pages == [EXPORT_PAGE] * 3
    assert pages == [EXPORT_PAGE] * 11
    assert sent > 4 * small_sent
    assert peak < 2 * small_peak, (small_peak, peak)
