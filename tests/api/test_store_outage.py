"""A command while PostgreSQL is down gets a prompt 503 problem, and works again after."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from uuid import uuid4

import httpx
import pytest

from infra.local.postgres import LocalPostgres
from marketplace.bootstrap import build_write_deps
from tests.api.conftest import BASE_URL, api_settings, seller_body
from tests.conftest import free_port
from writeapi.app import create_app

pytestmark = pytest.mark.postgres


async def post_until_answered(
    client: httpx.AsyncClient, headers: dict[str, str], within: float = 60.0
) -> httpx.Response:
    """Register, retrying after each 503's Retry-After as a client would, for a bounded time.

    Once PostgreSQL is back, the connection pools refill on their own reconnect backoff,
    so the first attempts may still be answered 503.
    """
    deadline = time.monotonic() + within
    while True:
        response = await client.post("/v1/sellers", json=seller_body(), headers=headers)
        if response.status_code != 503 or time.monotonic() > deadline:
            return response
        await asyncio.sleep(float(response.headers["retry-after"]))


async def test_event_store_down_is_503_with_retry_after(services_dir: Path) -> None:
    server = LocalPostgres(services_dir / f"outage-{uuid4().hex[:6]}", free_port(), durable=False)
    server.start()
    deps = build_write_deps(api_settings(server.url))
    app = create_app(deps)
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
            seller = uuid4()
            headers = {"Authorization": f"Bearer {deps.tokens.issue(seller, 'seller')}"}
            server.stop()
            started = time.monotonic()
            down = await client.post("/v1/sellers", json=seller_body(), headers=headers)
            waited = time.monotonic() - started

            assert down.status_code == 503, down.text
            assert down.headers["content-type"].startswith("application/problem+json")
            assert down.json()["type"] == "urn:marketplace:problem:store-unavailable"
            assert down.headers["retry-after"] == "2"
            assert waited < 60, "a dead store must not hold a request for minutes"
            ready = await client.get("/health/ready")
            assert ready.status_code == 503
            assert ready.json()["type"] == "urn:marketplace:problem:store-unavailable"
            assert (await client.get("/health/live")).status_code == 200

            server.start()
            up = await post_until_answered(client, headers)
            assert up.status_code == 201, up.text
    finally:
        deps.commands.close()
        server.stop()
