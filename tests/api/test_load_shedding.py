"""Load shedding on the command API: a cap on requests in flight, with slots kept for checkout."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from uuid import uuid4

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from starlette.responses import Response

from infra.apps import Serving
from infra.ratelimit.limiter import RateLimiter
from infra.ratelimit.metrics import RateLimitMetrics
from infra.settings import RateLimitSettings, RedisSettings, Settings
from infra.shedding import LoadShedder, SheddingMetrics
from marketplace.bootstrap import rate_limiter
from tests.api.conftest import BASE_URL, Api, World
from tests.api.test_validation import assert_problem
from writeapi.app import RATE_LIMITED, create_app

pytestmark = pytest.mark.postgres
PROMPT_SECONDS = 3.0


@pytest.fixture
def api(shared_api: Api) -> Api:
    """One app for the module: every test makes aggregates of its own."""
    return shared_api


@dataclass
class Held:
    """A command API whose POST /v1/test/slow waits until released."""

    app: FastAPI
    shedder: LoadShedder
    registry: CollectorRegistry
    client: httpx.AsyncClient
    release: asyncio.Event

    async def hold(self, count: int) -> list[asyncio.Task[httpx.Response]]:
        """Start count slow requests and return once all of them are in flight."""
        before = self.shedder.in_flight
        tasks = [asyncio.create_task(self.client.post("/v1/test/slow")) for _ in range(count)]
        deadline = time.monotonic() + PROMPT_SECONDS
        while self.shedder.in_flight < before + count:
            assert time.monotonic() < deadline, "the slow requests never got in flight"
            await asyncio.sleep(0.01)
        return tasks

    def sample(self, name: str, **labels: str) -> float | None:
        return self.registry.get_sample_value(name, {"api": "command", **labels})


@asynccontextmanager
async def held_api(
    api: Api, shedder_cap: int, limiter: RateLimiter | None = None
) -> AsyncIterator[Held]:
    """The command API with a shedder of shedder_cap slots (20 % kept for checkout)."""
    registry = CollectorRegistry()
    shedder = LoadShedder(
        shedder_cap, reserved_share=0.2, api="command", metrics=SheddingMetrics.on(registry)
    )
    app = create_app(api.deps, Serving(limiter, shedder))
    release = asyncio.Event()

    async def slow() -> Response:
        await release.wait()
        return Response(b"{}", media_type="application/json")

    app.add_api_route("/v1/test/slow", slow, methods=["POST"])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
        try:
            yield Held(app, shedder, registry, client, release)
        finally:
            release.set()


async def test_past_the_general_share_requests_get_503_and_checkout_still_passes(
    api: Api,
) -> None:
    w = World.build(api)
    async with held_api(api, 5) as held:
        slow = await held.hold(4)
        assert held.sample("api_requests_in_flight") == 4

        started = time.monotonic()
        shed = await held.client.post("/v1/carts", headers=api.auth(w.shopper_b, "shopper"))
        assert time.monotonic() - started < PROMPT_SECONDS
        problem = assert_problem(shed, 503)
        assert problem["type"] == "urn:marketplace:problem:overloaded"
        assert shed.headers["Retry-After"] == "1"
        assert problem["request_id"] == shed.headers["X-Request-ID"]

        live = await held.client.get("/health/live")
        assert live.status_code == 200

        checkout = await held.client.post(
            f"/v1/carts/{w.cart}/checkout",
            json={"address_id": str(w.address)},
            headers=api.auth(w.shopper_a, "shopper", Idempotency_Key="reserved"),
        )
        assert checkout.status_code == 202, checkout.text

        held.release.set()
        assert [(await task).status_code for task in slow] == [200] * 4
        assert held.shedder.in_flight == 0
        assert held.sample("api_requests_in_flight") == 0
        assert held.sample("api_requests_shed_total", kind="general") == 1
        assert held.sample("api_requests_shed_total", kind="reserved") in (None, 0)


async def test_shedding_comes_before_rate_limits_so_shed_requests_spend_nothing(
    api: Api, redis_server: str
) -> None:
    settings = Settings(
        environment="test",
        redis=RedisSettings(url=redis_server, prefix=f"rl{uuid.uuid4().hex[:10]}"),
        rate_limits=RateLimitSettings(cart_per_principal="1/minute"),
    )
    limiter = rate_limiter(settings, RATE_LIMITED, RateLimitMetrics.on(CollectorRegistry()))
    assert limiter is not None
    shopper = uuid4()
    try:
        async with held_api(api, 2, limiter) as held:
            slow = await held.hold(1)
            shed = await held.client.post("/v1/carts", headers=api.auth(shopper, "shopper"))
            assert shed.status_code == 503
            assert "RateLimit" not in shed.headers
            held.release.set()
            await asyncio.gather(*slow)
            served = await held.client.post("/v1/carts", headers=api.auth(shopper, "shopper"))
            assert served.status_code == 201, served.text
            assert served.headers["RateLimit"].startswith('"cart-user";r=0;')
    finally:
        await limiter.aclose()


async def test_a_failing_request_gives_its_slot_back(api: Api) -> None:
    async with held_api(api, 2) as held:

        async def boom() -> Response:
            raise RuntimeError("boom")

        held.app.add_api_route("/v1/test/boom", boom, methods=["POST"])
        transport = httpx.ASGITransport(app=held.app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
            for _ in range(3):
                assert (await client.post("/v1/test/boom")).status_code == 500
        assert held.shedder.in_flight == 0
        assert held.sample("api_requests_in_flight") == 0


def test_the_reserved_share_is_only_for_reserved_requests() -> None:
    shedder = LoadShedder(10, reserved_share=0.2, metrics=SheddingMetrics.on(CollectorRegistry()))
    assert [shedder.admit(reserved=False) for _ in range(9)] == [True] * 8 + [False]
    assert [shedder.admit(reserved=True) for _ in range(3)] == [True, True, False]
    shedder.release()
    assert not shedder.admit(reserved=False)
    assert shedder.admit(reserved=True)
    without = LoadShedder(3, metrics=SheddingMetrics.on(CollectorRegistry()))
    assert [without.admit(reserved=False) for _ in range(4)] == [True, True, True, False]
