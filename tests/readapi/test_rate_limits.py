"""Browsing budgets on the query API, a rate-limit Redis that stops and comes back, and shedding."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from prometheus_client import CollectorRegistry
from starlette.responses import Response
from structlog.testing import capture_logs

from infra.apps import Serving
from infra.local.redis import LocalRedis
from infra.ratelimit.limiter import RateLimiter
from infra.ratelimit.metrics import RateLimitMetrics
from infra.settings import RateLimitSettings, RedisSettings, Settings
from infra.shedding import LoadShedder, SheddingMetrics
from marketplace.bootstrap import rate_limiter
from readapi.app import RATE_LIMITED, create_app
from tests.conftest import free_port
from tests.readapi.conftest import BASE_URL, Reader

pytestmark = pytest.mark.postgres
PROMPT_SECONDS = 3.0


def browse_settings(redis_url: str, **limits: Any) -> Settings:
    return Settings(
        environment="test",
        redis=RedisSettings(url=redis_url, prefix=f"rl{uuid.uuid4().hex[:10]}"),
        rate_limits=RateLimitSettings(**limits),
    )


@asynccontextmanager
async def browsing(
    reader: Reader, limiter: RateLimiter | None = None, shedder: LoadShedder | None = None
) -> AsyncIterator[tuple[Any, Any]]:
    """The query API on the reader's views with the guards given; clients per client IP."""
    app = create_app(reader.deps, Serving(limiter, shedder))
    clients: list[httpx.AsyncClient] = []

    def client(ip: str) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app, client=(ip, 40000))
        clients.append(httpx.AsyncClient(transport=transport, base_url=BASE_URL))
        return clients[-1]

    try:
        yield app, client
    finally:
        for made in clients:
            await made.aclose()
        if limiter is not None:
            await limiter.aclose()


def remaining(response: httpx.Response, policy: str) -> int:
    """The r parameter of one policy's item in the RateLimit field."""
    for item in response.headers["RateLimit"].split(","):
        name, *params = item.strip().split(";")
        if name == f'"{policy}"':
            return int(dict(p.split("=") for p in params)["r"])
    raise AssertionError(f"no {policy} in {response.headers['RateLimit']}")


async def test_browsing_spends_a_budget_per_caller_and_per_ip(
    reader: Reader, redis_server: str
) -> None:
    settings = browse_settings(
        redis_server,
        browse_per_principal="2/minute",
        browse_per_ip="4/minute",
    )
    limiter = rate_limiter(settings, RATE_LIMITED, RateLimitMetrics.on(CollectorRegistry()))
    _, product = reader.stocked_product()
    reader.project()
    async with browsing(reader, limiter) as (_, client):
        shopper = reader.auth(uuid.uuid4(), "shopper")
        signed_in, anonymous = client("10.2.0.1"), client("10.2.0.2")
        path = f"/v1/products/{product}"

        first = await signed_in.get(path, headers=shopper)
        assert first.status_code == 200
        assert first.headers["RateLimit-Policy"] == ('"browse-user";q=2;w=60, "browse-ip";q=4;w=60')
        assert (remaining(first, "browse-user"), remaining(first, "browse-ip")) == (1, 3)
        assert (await signed_in.get(path, headers=shopper)).status_code == 200
        refused = await signed_in.get(path, headers=shopper)
        assert refused.status_code == 429
        assert refused.json()["violated-policies"] == ["browse-user"]
        assert int(refused.headers["Retry-After"]) >= 1

        # Anonymous browsing spends the IP budget alone.
        answers = [await anonymous.get(path) for _ in range(5)]
        assert [a.status_code for a in answers] == [200, 200, 200, 200, 429]
        assert answers[0].headers["RateLimit-Policy"] == '"browse-ip";q=4;w=60'
        assert answers[-1].json()["violated-policies"] == ["browse-ip"]

        # Health and the API description are never limited.
        for _ in range(3):
            for unlimited in ("/health/live", "/health/ready", "/openapi.json"):
                answer = await anonymous.get(unlimited)
                assert answer.status_code == 200
                assert "RateLimit" not in answer.headers


async def test_a_stopped_redis_falls_back_to_local_budgets_then_recovers(
    reader: Reader, services_dir: Path
) -> None:
    server = LocalRedis(services_dir / f"ratelimit-{uuid.uuid4().hex[:8]}", free_port(), False)
    server.start()
    registry = CollectorRegistry()
    settings = browse_settings(
        server.url,
        browse_per_principal="",
        browse_per_ip="3/minute",
        recheck_seconds=0.2,
    )
    limiter = rate_limiter(settings, RATE_LIMITED, RateLimitMetrics.on(registry))
    assert limiter is not None
    reader.project()
    path = f"/v1/products/{uuid.uuid4()}"

    def sample(name: str) -> float | None:
        return registry.get_sample_value(name)

    try:
        async with browsing(reader, limiter) as (_, client):
            assert (await client("10.2.0.3").get(path)).status_code == 404
            assert sample("rate_limit_store_up") == 1

            server.stop()
            with capture_logs() as down_logs:
                local = client("10.2.0.4")
                statuses = []
                for _ in range(4):
                    started = time.monotonic()
                    statuses.append((await local.get(path)).status_code)
                    assert time.monotonic() - started < PROMPT_SECONDS
            assert statuses == [404, 404, 404, 429]
            assert sample("rate_limit_store_up") == 0
            assert sample("rate_limit_fallback_total") == 4
            events = [entry["event"] for entry in down_logs]
            assert events.count("rate_limit_store_down") == 1

            server.start()
            with capture_logs() as up_logs:
                deadline = time.monotonic() + 10
                while not limiter.store_up:
                    assert time.monotonic() < deadline, "the limiter never went back to Redis"
                    await client("10.2.0.5").get(path)
                    await asyncio.sleep(0.05)
            assert sample("rate_limit_store_up") == 1
            assert [e["event"] for e in up_logs].count("rate_limit_store_up") == 1

            fallback = sample("rate_limit_fallback_total")
            back = await client("10.2.0.6").get(path)
            assert remaining(back, "browse-ip") == 2
            assert sample("rate_limit_fallback_total") == fallback
            keys = redis.Redis.from_url(server.url).keys(f"{settings.redis.prefix}:ratelimit:*")
            assert any(b"10.2.0.6" in key for key in keys)
    finally:
        server.stop()


async def test_browsing_past_the_cap_is_shed_at_once(reader: Reader) -> None:
    registry = CollectorRegistry()
    shedder = LoadShedder(3, api="query", metrics=SheddingMetrics.on(registry))
    release = asyncio.Event()
    async with browsing(reader, shedder=shedder) as (app, client):

        async def slow() -> Response:
            await release.wait()
            return Response(b"{}", media_type="application/json")

        app.add_api_route("/v1/test/slow", slow)
        browser = client("10.2.0.7")
        held = [asyncio.create_task(browser.get("/v1/test/slow")) for _ in range(3)]
        try:
            deadline = time.monotonic() + PROMPT_SECONDS
            while shedder.in_flight < 3:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.01)
            started = time.monotonic()
            shed = await browser.get(f"/v1/products/{uuid.uuid4()}")
            assert time.monotonic() - started < PROMPT_SECONDS
            assert shed.status_code == 503
            assert shed.headers["content-type"].startswith("application/problem+json")
            assert shed.json()["type"] == "urn:marketplace:problem:overloaded"
            assert shed.headers["Retry-After"] == "1"
            assert (await browser.get("/health/live")).status_code == 200
            assert (
                registry.get_sample_value(
                    "api_requests_shed_total", {"api": "query", "kind": "general"}
                )
                == 1
            )
        finally:
            release.set()
            answers = await asyncio.gather(*held)
        assert [a.status_code for a in answers] == [200] * 3
        assert registry.get_sample_value("api_requests_in_flight", {"api": "query"}) == 0
