"""The sold-out fast path: once the projection shows no unit left, checkout refuses at once.

The projection may only refuse early; units are granted by the event store alone, so an
unreadable projection lets checkout go on and the reservation decides.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import pytest
import redis
from prometheus_client import CollectorRegistry
from starlette.responses import PlainTextResponse
from starlette.types import Receive, Scope, Send

from commands.base import Outcome
from commands.errors import SoldOut
from commands.services import Commands
from domain.cart import Cart, cart_id_for
from domain.errors import NotFound
from domain.order import order_id_for
from domain.order_lines import OrderStatus
from infra.apps import Serving
from infra.eventstore import eventsourcing_env
from infra.idempotency import IdempotencyStore
from infra.redis_pipeline import PipelinedRedis
from infra.settings import PostgresSettings, RedisSettings, Settings
from infra.shedding import LoadShedder, SheddingMetrics
from marketplace.bootstrap import log_tables, postgres_pool, token_codec
from marketplace.projectors import opened, redis_prefix
from projections.carts.projection import CartProjection
from projections.carts.redis_view import RedisCartView
from projections.product_detail.availability import ProjectedAvailability
from projections.product_detail.projection import ProductDetailProjection
from projections.product_detail.redis_view import RedisProductDetailView
from tests.checkout.shop import Gateway, Shop, acting, checkout_worker
from tests.conftest import free_port
from writeapi.app import create_app
from writeapi.deps import WriteApiDeps
from writeapi.sold_out_gate import GATE_METRICS, SoldOutGate

pytestmark = pytest.mark.postgres


def test_checkout_is_refused_at_once_when_the_projection_shows_none_left(
    shop: Shop, settings: Settings, gateway: Gateway, redis_server: str
) -> None:
    settings = settings.updated(redis={"url": redis_server, "prefix": f"t{uuid.uuid4().hex[:8]}"})
    prefix = redis_prefix(settings, ProductDetailProjection.name)
    view = RedisProductDetailView(redis.Redis.from_url(redis_server), prefix)
    fast = Commands(eventsourcing_env(settings), availability=ProjectedAvailability(view))
    product = shop.product(1)
    shop.register_shoppers(3)
    first, second, third = shop.shoppers
    shop.fill_carts(product, shop.shoppers)
    try:
        with checkout_worker(settings):
            bought = shop.check_out(first, "first")
            assert shop.wait_until_final([bought], 30)[bought].status is OrderStatus.CONFIRMED
        with opened(ProductDetailProjection.name, settings) as worker:
            worker.catch_up()
        assert view.product(product)["units_available"] == 0  # type: ignore[index]

        refused = order_id_for(second, "second")
        with pytest.raises(SoldOut):
            check_out(fast, shop, second, "second")
        with pytest.raises(NotFound):
            shop.order(refused)
        with pytest.raises(SoldOut):
            fast.refuse_if_sold_out(second, "second")
        fast.refuse_if_sold_out(first, "first")  # a retry of a placed order is not refused

        closed = f"redis://127.0.0.1:{free_port()}/0"
        blind = RedisProductDetailView(
            redis.Redis.from_url(closed, socket_connect_timeout=0.2), prefix
        )
        unsure = Commands(eventsourcing_env(settings), availability=ProjectedAvailability(blind))
        placed = check_out(unsure, shop, third, "third")
        with checkout_worker(settings):
            final = shop.wait_until_final([placed.aggregate_id], 30)
        assert final[placed.aggregate_id].status is OrderStatus.REJECTED
        unsure.close()
    finally:
        view.clear()
        fast.close()


def check_out(commands: Commands, shop: Shop, shopper: uuid.UUID, key: str) -> Outcome:
    """Check out the shopper's cart through the given command side."""
    deadline = datetime.now(UTC) + shop.expiry
    return commands.check_out(
        shopper, shop.address_ids[shopper], key, deadline, acting(shopper, "shopper")
    )


@dataclass
class Projected:
    """A shop whose fast command side sees the product-detail projection in Redis."""

    settings: Settings
    shop: Shop
    view: RedisProductDetailView
    fast: Commands

    def project(self) -> None:
        """Bring the projection up to the logs' heads."""
        with opened(ProductDetailProjection.name, self.settings) as worker:
            worker.catch_up()


@pytest.fixture
def projected(postgres_url: str, redis_server: str) -> Iterator[Projected]:
    redis_settings = RedisSettings(url=redis_server, prefix=f"t{uuid.uuid4().hex[:8]}")
    settings = Settings(postgres=PostgresSettings(url=postgres_url), redis=redis_settings)
    plain = Commands(eventsourcing_env(settings))
    shop = Shop(plain)
    shop.open()
    prefix = redis_prefix(settings, ProductDetailProjection.name)
    view = RedisProductDetailView(redis.Redis.from_url(redis_server), prefix)
    fast = Commands(eventsourcing_env(settings), availability=ProjectedAvailability(view))
    try:
        yield Projected(settings, shop, view, fast)
    finally:
        view.clear()
        fast.close()
        plain.close()


async def test_the_command_api_refuses_a_sold_out_checkout_before_its_cap(
    projected: Projected,
) -> None:
    settings, shop, view, fast = projected.settings, projected.shop, projected.view, projected.fast
    gone, stocked = shop.product(1), shop.product(5)
    shop.register_shoppers(3)
    refused, admitted, retried = shop.shoppers
    shop.fill_carts(gone, [refused, retried])
    shop.fill_carts(stocked, [admitted])
    shop.check_out(retried, "placed")  # placed before the product sold out, the cart emptied
    shop.fill_carts(gone, [retried])  # and filled again
    shop.commands.inventory.adjust_stock(gone, -1, "damaged", acting(shop.seller, "seller"))
    projected.project()
    assert view.product(gone)["units_available"] == 0  # type: ignore[index]

    pool = postgres_pool(settings, 2)
    idempotency = IdempotencyStore(pool, 24, log_tables(fast))
    idempotency.create_table()
    codec = token_codec(settings.auth)
    deps = WriteApiDeps(commands=fast, tokens=codec, idempotency=idempotency)
    shedder = LoadShedder(1, metrics=SheddingMetrics.on(CollectorRegistry()))
    app = create_app(deps, Serving(shedder=shedder))
    assert shedder.admit(reserved=True)  # the only slot is taken: what reaches the cap is shed

    async def check_out(shopper: uuid.UUID, key: str) -> httpx.Response:
        return await client.post(
            f"/v1/carts/{cart_id_for(shopper)}/checkout",
            json={"address_id": str(shop.address_ids[shopper])},
            headers={
                "Authorization": f"Bearer {codec.issue(shopper, 'shopper')}",
                "Idempotency-Key": key,
            },
        )

    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            answer = await check_out(refused, "late")
            assert answer.status_code == 409, answer.text
            assert answer.json()["type"] == "urn:marketplace:problem:sold-out"
            assert answer.json()["request_id"] == answer.headers["X-Request-ID"]
            assert (await check_out(admitted, "fine")).status_code == 503
            assert (await check_out(retried, "placed")).status_code == 503
            shedder.release()
            assert (await check_out(admitted, "fine")).status_code == 202
            again = await check_out(retried, "placed")
            assert again.status_code == 202, again.text
            assert again.json()["order_id"] == str(order_id_for(retried, "placed"))
        with pytest.raises(NotFound):
            shop.order(order_id_for(refused, "late"))
        with pool.connection() as conn:
            keys = [row[0] for row in conn.execute("SELECT key FROM idempotency_keys")]
        assert "late" not in keys
    finally:
        pool.close()


async def test_the_sold_out_gate_lets_a_burst_past_its_bound_go_on_at_once(
    projected: Projected,
) -> None:
    settings, shop, fast = projected.settings, projected.shop, projected.fast
    gone = shop.product(1)
    shop.register_shoppers(4)
    shop.fill_carts(gone, shop.shoppers)
    shop.commands.inventory.adjust_stock(gone, -1, "damaged", acting(shop.seller, "seller"))
    projected.project()
    codec = token_codec(settings.auth)

    async def beyond(scope: Scope, receive: Receive, send: Send) -> None:
        await PlainTextResponse("past the gate", status_code=418)(scope, receive, send)

    gate = SoldOutGate(beyond, commands=fast, tokens=codec, threads=1, max_waiting=1)

    async def check_out(shopper: uuid.UUID) -> int:
        answer = await client.post(
            f"/v1/carts/{cart_id_for(shopper)}/checkout",
            json={"address_id": str(shop.address_ids[shopper])},
            headers={
                "Authorization": f"Bearer {codec.issue(shopper, 'shopper')}",
                "Idempotency-Key": "burst",
            },
        )
        return answer.status_code

    transport = httpx.ASGITransport(app=gate)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        await gate.limiter.acquire()  # the gate's one thread is busy: its checks wait
        burst = asyncio.as_completed([check_out(s) for s in shop.shoppers], timeout=60)
        passed_on = [await next(burst), await next(burst)]  # beyond 1 checking, 1 waiting
        gate.limiter.release()
        checked = [await next(burst), await next(burst)]
    assert (passed_on, checked) == ([418, 418], [409, 409])


async def test_the_sold_out_gate_claims_from_the_projected_cart_that_if_match_names(
    projected: Projected, redis_server: str
) -> None:
    settings, shop, fast = projected.settings, projected.shop, projected.fast
    gone, last = shop.product(1), shop.product(1)
    shop.register_shoppers(4)
    moved_on, first, second, third = shop.shoppers
    shop.fill_carts(gone, [moved_on])
    shop.fill_carts(last, [first, second, third])
    shop.commands.inventory.adjust_stock(gone, -1, "damaged", acting(shop.seller, "seller"))
    projected.project()
    with opened(CartProjection.name, settings) as worker:
        worker.catch_up()
    seen = shop.commands.carts.load(cart_id_for(moved_on), Cart).version
    ctx = acting(moved_on, "shopper")
    now = shop.commands.carts.remove_item(cart_id_for(moved_on), gone, ctx, seen).version
    scripts = PipelinedRedis.from_url(redis_server)
    carts = RedisCartView(
        redis.Redis.from_url(redis_server), redis_prefix(settings, CartProjection.name), scripts
    )
    claims = ProjectedAvailability(projected.view, carts=carts, scripts=scripts)
    codec = token_codec(settings.auth)

    async def beyond(scope: Scope, receive: Receive, send: Send) -> None:
        await PlainTextResponse("past the gate", status_code=418)(scope, receive, send)

    gate = SoldOutGate(beyond, commands=fast, tokens=codec, claims=claims)

    async def check_out(shopper: uuid.UUID, version: int | None) -> int:
        headers = {"Authorization": f"Bearer {codec.issue(shopper, 'shopper')}"}
        headers["Idempotency-Key"] = "if-match"
        if version is not None:
            headers["If-Match"] = f'"{version}"'
        answer = await client.post(
            f"/v1/carts/{cart_id_for(shopper)}/checkout",
            json={"address_id": str(shop.address_ids[shopper])},
            headers=headers,
        )
        return answer.status_code

    def version(shopper: uuid.UUID) -> int:
        return shop.commands.carts.load(cart_id_for(shopper), Cart).version

    def counted() -> dict[tuple[str, str], float]:
        labels = [("view", "refused"), ("view", "admitted"), ("store", "admitted")]
        return {k: GATE_METRICS.checks.labels(*k)._value.get() for k in labels}

    before = counted()
    transport = httpx.ASGITransport(app=gate)
    try:
        await claims.warm()
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            assert await check_out(moved_on, seen) == 409  # the cart as the view shows it
            assert await check_out(moved_on, now) == 418  # not shown yet: read from the store
            assert await check_out(moved_on, None) == 418
            assert await check_out(first, version(first)) == 418  # claims the last unit
            assert await check_out(second, version(second)) == 409  # first holds it
            assert await check_out(first, version(first)) == 418  # a retry stays admitted
            claims.release(order_id_for(first, "if-match"), [last])
            assert await check_out(third, None) == 418  # the store path claims too
            assert await check_out(second, version(second)) == 409
        after = counted()
        assert {k: after[k] - before[k] for k in after} == {
            ("view", "refused"): 3,
            ("view", "admitted"): 2,
            ("store", "admitted"): 3,
        }
    finally:
        await scripts.aclose()
