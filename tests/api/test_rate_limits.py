"""Rate limits on the command API: cart and checkout budgets per caller and per IP, in Redis."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest
from prometheus_client import CollectorRegistry
from structlog.testing import capture_logs

from infra.apps import Serving
from infra.ratelimit.limiter import RateLimiter
from infra.ratelimit.metrics import RateLimitMetrics
from infra.settings import RateLimitSettings, RedisSettings, Settings
from marketplace.bootstrap import rate_limiter
from tests.api.conftest import BASE_URL, Api, World, seller_body
from tests.api.test_validation import assert_problem
from tests.conftest import free_port
from writeapi.app import RATE_LIMITED, create_app

pytestmark = pytest.mark.postgres
PROMPT_SECONDS = 3.0


@pytest.fixture
def api(shared_api: Api) -> Api:
    """One app for the module: every test makes aggregates of its own."""
    return shared_api


def limit_settings(redis_url: str, **limits: Any) -> Settings:
    """Settings with a key prefix of their own, generous budgets unless given."""
    budgets: dict[str, Any] = {
        "cart_per_principal": "100/minute",
        "cart_per_ip": "100/minute",
        "checkout_per_principal": "100/minute",
        "checkout_per_ip": "100/minute",
        **limits,
    }
    return Settings(
        environment="test",
        redis=RedisSettings(url=redis_url, prefix=f"rl{uuid.uuid4().hex[:10]}"),
        rate_limits=RateLimitSettings(**budgets),
    )


@dataclass
class Limited:
    """A command API on the shared deps, rate limited by its own limiter."""

    api: Api
    limiter: RateLimiter
    registry: CollectorRegistry
    client: Callable[[str], httpx.AsyncClient]

    def sample(self, name: str) -> float | None:
        return self.registry.get_sample_value(name)


@asynccontextmanager
async def limited(api: Api, settings: Settings) -> AsyncIterator[Limited]:
    """An app with a limiter built as `serve-write` builds it; clients per client IP."""
    registry = CollectorRegistry()
    limiter = rate_limiter(settings, RATE_LIMITED, RateLimitMetrics.on(registry))
    assert limiter is not None
    app = create_app(api.deps, Serving(rate_limiter=limiter))
    async with AsyncExitStack() as stack:

        def client(ip: str) -> httpx.AsyncClient:
            transport = httpx.ASGITransport(app=app, client=(ip, 40000))
            made = httpx.AsyncClient(transport=transport, base_url=BASE_URL)
            stack.push_async_callback(made.aclose)
            return made

        try:
            yield Limited(api, limiter, registry, client)
        finally:
            await limiter.aclose()


def fields(response: httpx.Response) -> dict[str, dict[str, int]]:
    """The RateLimit field's items: policy name to its parameters."""
    items: dict[str, dict[str, int]] = {}
    for item in response.headers["RateLimit"].split(","):
        name, *params = item.strip().split(";")
        items[name.strip('"')] = {k: int(v) for k, v in (p.split("=") for p in params)}
    return items


async def create_cart(client: httpx.AsyncClient, api: Api, shopper: UUID) -> httpx.Response:
    return await client.post("/v1/carts", headers=api.auth(shopper, "shopper"))


async def test_cart_changes_spend_the_callers_budget_with_ratelimit_fields(
    api: Api, redis_server: str
) -> None:
    settings = limit_settings(redis_server, cart_per_principal="3/minute")
    async with limited(api, settings) as lim:
        client = lim.client("10.1.0.1")
        shopper, other = uuid4(), uuid4()
        answers = [await create_cart(client, api, shopper) for _ in range(3)]
        assert [a.status_code for a in answers] == [201, 200, 200]
        assert answers[0].headers["RateLimit-Policy"] == (
            '"cart-user";q=3;w=60, "cart-ip";q=100;w=60'
        )
        assert [fields(a)["cart-user"]["r"] for a in answers] == [2, 1, 0]
        assert fields(answers[0])["cart-ip"]["r"] == 99
        assert all(0 <= fields(a)["cart-user"]["t"] <= 60 for a in answers)

        refused = await create_cart(client, api, shopper)
        problem = assert_problem(refused, 429)
        assert problem["type"] == "urn:marketplace:problem:rate-limited"
        assert problem["violated-policies"] == ["cart-user"]
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        assert fields(refused)["cart-user"]["r"] == 0
        assert refused.headers["RateLimit-Policy"].startswith('"cart-user";q=3;w=60')
        assert (
            lim.registry.get_sample_value("rate_limited_requests_total", {"policy": "cart-user"})
            == 1
        )

        # Another caller on the same IP has a budget of its own.
        assert (await create_cart(client, api, other)).status_code == 201


async def test_checkout_and_other_commands_have_budgets_of_their_own(
    api: Api, redis_server: str
) -> None:
    w = World.build(api)
    settings = limit_settings(
        redis_server,
        cart_per_principal="1/minute",
        checkout_per_principal="1/minute",
    )
    async with limited(api, settings) as lim:
        client = lim.client("10.1.0.2")
        assert (await create_cart(client, api, w.shopper_a)).status_code == 200
        assert (await create_cart(client, api, w.shopper_a)).status_code == 429

        def checkout(key: str) -> Any:
            headers = api.auth(w.shopper_a, "shopper", Idempotency_Key=key)
            body = {"address_id": str(w.address)}
            return client.post(f"/v1/carts/{w.cart}/checkout", json=body, headers=headers)

        placed = await checkout("first")
        assert placed.status_code == 202, placed.text
        assert fields(placed)["checkout-user"]["r"] == 0
        again = await checkout("second")
        assert assert_problem(again, 429)["violated-policies"] == ["checkout-user"]

        # Commands outside the budgets, and health, carry no limits.
        seller = await client.post(
            "/v1/sellers", json=seller_body(), headers=api.auth(uuid4(), "seller")
        )
        assert seller.status_code == 201, seller.text
        assert "RateLimit" not in seller.headers
        for _ in range(3):
            live = await client.get("/health/live")
            assert live.status_code == 200
            assert "RateLimit" not in live.headers


async def test_the_ip_budget_holds_across_callers_and_anonymous_requests(
    api: Api, redis_server: str
) -> None:
    settings = limit_settings(redis_server, cart_per_ip="3/minute")
    async with limited(api, settings) as lim:
        crowded, elsewhere = lim.client("10.1.0.3"), lim.client("10.1.0.4")
        for _ in range(3):
            assert (await create_cart(crowded, api, uuid4())).status_code == 201
        refused = await create_cart(crowded, api, uuid4())
        assert assert_problem(refused, 429)["violated-policies"] == ["cart-ip"]
        assert (await create_cart(elsewhere, api, uuid4())).status_code == 201

        # Without a valid token only the IP budget applies: bad tokens spend it too.
        anonymous = lim.client("10.1.0.5")
        bad = {"Authorization": "Bearer not-a-token"}
        answers = [await anonymous.post("/v1/carts", headers=bad) for _ in range(4)]
        assert [a.status_code for a in answers] == [401, 401, 401, 429]
        assert answers[0].headers["RateLimit-Policy"] == '"cart-ip";q=3;w=60'


async def test_two_app_instances_share_one_budget_through_redis(
    api: Api, redis_server: str
) -> None:
    settings = limit_settings(redis_server, cart_per_principal="4/minute")
    async with limited(api, settings) as first, limited(api, settings) as second:
        shopper = uuid4()
        clients = [first.client("10.1.0.6"), second.client("10.1.0.7")]
        remaining = []
        for n in range(4):
            answer = await create_cart(clients[n % 2], api, shopper)
            assert answer.status_code in (200, 201)
            remaining.append(fields(answer)["cart-user"]["r"])
        assert remaining == [3, 2, 1, 0]
        for client in clients:
            assert (await create_cart(client, api, shopper)).status_code == 429


async def test_a_dead_redis_falls_back_to_a_local_budget_promptly(api: Api) -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    settings = limit_settings(dead, cart_per_principal="2/minute", recheck_seconds=60)
    with capture_logs() as logs:
        async with limited(api, settings) as lim:
            client = lim.client("10.1.0.8")
            shopper = uuid4()
            statuses = []
            for _ in range(3):
                started = time.monotonic()
                statuses.append((await create_cart(client, api, shopper)).status_code)
                assert time.monotonic() - started < PROMPT_SECONDS
            assert statuses == [201, 200, 429]
            assert not lim.limiter.store_up
            assert lim.sample("rate_limit_store_up") == 0
            assert lim.sample("rate_limit_fallback_total") == 3
    down = [entry for entry in logs if entry["event"] == "rate_limit_store_down"]
    assert len(down) == 1
    assert down[0]["log_level"] == "warning"


def test_rate_limits_can_be_turned_off(redis_server: str) -> None:
    off = limit_settings(redis_server, enabled=False)
    assert rate_limiter(off, RATE_LIMITED) is None
