"""The query API keeps answering while `marketplace rebuild` switches the view it reads.

The old version gets a marker planted in it (a product title, or extra units sold) that a
replay does not produce. While trade goes on, the live projector runs and a rebuild builds
and switches to the next version, clients hammer the query API: every answer must be a
200, each client must see the marker until the switch and never after it, and the answers
once the rebuild has returned must come from the new version.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta

import httpx
import psycopg
import pytest
import redis
from opensearchpy import OpenSearch

from infra.settings import Settings
from marketplace.bootstrap import build_read_deps
from marketplace.projectors import redis_prefix
from marketplace.rebuild import Rebuilt, rebuild
from projections.stores.opensearch.versions import index_name
from tests.projections.orders_fixture import START
from tests.projections.rebuild_fixture import (  # noqa: F401 - fixtures
    BY_ID,
    Market,
    Target,
    Trader,
    close_deps,
    live_projector,
    market,
    pointers,
    rebuild_settings,
    wait_until_read,
)
from tests.readapi.conftest import http_client

pytestmark = pytest.mark.postgres

STALE = "Stale copy"
EXTRA_UNITS = 100_000
CLIENTS = 3
AFTER_SECONDS = 0.3
"""How long the clients keep reading once the rebuild has returned."""
LIMIT_SECONDS = 40.0
MAX_REQUESTS = 20_000


@dataclass
class Seen:
    """One client's answers in order: status, and whether the marker was in the body."""

    answers: list[tuple[int, bool]] = field(default_factory=list)

    @property
    def markers(self) -> list[bool]:
        return [marked for _, marked in self.answers]


Probe = Callable[[httpx.AsyncClient], Awaitable[tuple[int, bool]]]


def plant(target: Target, settings: Settings, shop: Market, product: uuid.UUID) -> Probe:
    """Put a marker in the live version the way no projection would; the probe that sees it."""
    seller = shop.products[product]
    if target.name == "product-detail":
        with redis.Redis.from_url(str(settings.redis.url)) as client:
            key = f"{redis_prefix(settings, target.name)}:product:{product}"
            assert client.hset(key, "title", STALE) == 0

        async def detail(client: httpx.AsyncClient) -> tuple[int, bool]:
            answer = await client.get(f"/v1/products/{product}")
            return answer.status_code, answer.status_code == 200 and answer.json()["title"] == STALE

        return detail
    if target.name == "seller-sales":
        with psycopg.connect(str(settings.postgres.url), autocommit=True) as conn:
            conn.execute(
                "UPDATE seller_sales_hourly SET units = units + %s WHERE seller_id = %s",
                (EXTRA_UNITS, seller),
            )
        token = {"Authorization": f"Bearer {admin_token(settings)}"}
        params = {"from": START.isoformat(), "to": (START + timedelta(days=3)).isoformat()}

        async def sales(client: httpx.AsyncClient) -> tuple[int, bool]:
            answer = await client.get(f"/v1/sellers/{seller}/sales", params=params, headers=token)
            if answer.status_code != 200:
                return answer.status_code, False
            units = sum(total["units"] for total in answer.json()["totals"])
            return 200, units >= EXTRA_UNITS

        return sales
    if target.backend == "opensearch":
        client = OpenSearch(hosts=[str(settings.opensearch.url)], timeout=30)
        index = index_name(settings.opensearch.index_prefix, 1)
        client.update(index=index, id=str(product), body={"doc": {"title": STALE}}, refresh=True)
        client.close()
    else:
        with psycopg.connect(str(settings.postgres.url), autocommit=True) as conn:
            conn.execute(
                "UPDATE catalog_search_products SET title = %s WHERE id = %s", (STALE, product)
            )

    async def search(client: httpx.AsyncClient) -> tuple[int, bool]:
        answer = await client.get("/v1/search", params={"seller_id": str(seller), "page_size": 100})
        if answer.status_code != 200:
            return answer.status_code, False
        titles = {hit["id"]: hit["title"] for hit in answer.json()["hits"]}
        assert str(product) in titles, "the product vanished from the search"
        return 200, titles[str(product)] == STALE

    return search


def admin_token(settings: Settings) -> str:
    from marketplace.bootstrap import token_codec

    return token_codec(settings.auth).issue(uuid.uuid4(), "admin")


@pytest.fixture(
    params=[
        BY_ID["product-detail@redis"],
        BY_ID["catalog-search@postgres"],
        BY_ID["seller-sales@postgres"],
        BY_ID["catalog-search@opensearch"],
    ],
    ids=lambda target: target.id,
)
def target(request: pytest.FixtureRequest) -> Target:
    return request.param  # type: ignore[no-any-return]


async def hammer(client: httpx.AsyncClient, probe: Probe, seen: Seen, done: asyncio.Event) -> None:
    """Read until the rebuild is done and AFTER_SECONDS more, within the limits."""
    started, finished = time.monotonic(), None
    while len(seen.answers) < MAX_REQUESTS and time.monotonic() - started < LIMIT_SECONDS:
        seen.answers.append(await probe(client))
        if done.is_set():
            finished = finished or time.monotonic()
            if time.monotonic() - finished > AFTER_SECONDS:
                return
        await asyncio.sleep(0)


async def test_every_answer_is_a_200_and_the_switch_is_seen_once(
    target: Target,
    rebuild_settings: Settings,  # noqa: F811
    market: Market,  # noqa: F811
) -> None:
    settings = rebuild_settings
    opensearch = target.backend == "opensearch"
    market.trade(30 if opensearch else 250)
    marked, *others = list(market.products)
    live_batch, batch = (1000, 100) if opensearch else (50, 10)
    with live_projector(target.name, settings, live_batch):
        wait_until_read(target.name, settings)
        probe = plant(target, settings, market, marked)
        deps = build_read_deps(settings)
        try:
            async with http_client(deps) as client:
                assert await probe(client) == (200, True)
                done = asyncio.Event()
                seen = [Seen() for _ in range(CLIENTS)]
                readers = [asyncio.create_task(hammer(client, probe, one, done)) for one in seen]
                while not all(one.answers for one in seen):
                    await asyncio.sleep(0.001)
                with Trader(market, every=0.005, products=others):
                    rebuilt: Rebuilt = await asyncio.to_thread(
                        rebuild, target.name, settings, batch_size=batch
                    )

                done.set()
                await asyncio.gather(*readers)
                last = await probe(client)
        finally:
            close_deps(deps)
            await deps.product_detail.view.aclose()

    statuses = {status for one in seen for status, _ in one.answers}
    assert statuses == {200}
    for one in seen:
        flips = sum(1 for a, b in zip(one.markers, one.markers[1:], strict=False) if a != b)
        assert one.markers[0] is True
        assert flips == 1, "a client saw the old version after the new one"
        assert one.markers[-1] is False
    assert last == (200, False)
    assert rebuilt.version == pointers(target.name, settings)[0]
    assert sum(len(one.answers) for one in seen) > 50
