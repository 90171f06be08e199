"""GET /v1/search through the HTTP API, on the PostgreSQL view and on the OpenSearch view.

The settings pick the backend as in production (OpenSearch when a URL is set); the curated
catalogue is written through the command side and projected by the projector's own view.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from commands.services import Commands
from domain.money import Money
from infra.eventstore import eventsourcing_env
from infra.settings import Settings
from marketplace import catalog_search
from projections.catalog_search.projection import CatalogSearchProjection
from projections.catalog_search.search import MAX_WINDOW
from projections.log import ContextLog
from projections.runtime import Worker
from readapi.deps import ReadApiDeps
from tests.conftest import free_port
from tests.projections.catalog_fixture import HARBOR, NORTHWIND, Catalogue
from tests.readapi.conftest import http_client, open_reader, read_settings

pytestmark = pytest.mark.postgres

PROBLEM = "application/problem+json"


@dataclass
class Searcher:
    """The query API over one search backend, the catalogue it was fed, and its projector."""

    backend: str
    deps: ReadApiDeps
    shop: Catalogue
    worker: Worker[Any]
    client: httpx.AsyncClient

    def project(self) -> int:
        return self.worker.catch_up()

    async def get(self, headers: dict[str, str] | None = None, **params: Any) -> httpx.Response:
        return await self.client.get("/v1/search", params=params, headers=headers or {})

    async def keys(self, **params: Any) -> list[str]:
        response = await self.get(**params)
        assert response.status_code == 200, response.text
        return self.shop.keys(uuid.UUID(hit["id"]) for hit in response.json()["hits"])


def backend_settings(
    backend: str, request: pytest.FixtureRequest, postgres_url: str, redis_url: str
) -> Settings:
    if backend == "opensearch":
        return read_settings(
            postgres_url,
            redis_url,
            opensearch={
                "url": request.getfixturevalue("opensearch_server"),
                "index_prefix": f"t{uuid.uuid4().hex[:10]}-",
            },
        )
    return read_settings(postgres_url, redis_url)


@pytest.fixture(params=["postgres", "opensearch"])
async def searcher(
    request: pytest.FixtureRequest, postgres_url: str, redis_server: str, commands: Commands
) -> AsyncIterator[Searcher]:
    """The query API on one backend, with the catalogue projected into its search view."""
    settings = backend_settings(request.param, request, postgres_url, redis_server)
    env = eventsourcing_env(Settings(), postgres_url)
    shop = Catalogue(commands, env).build()
    view = catalog_search.projector_view(settings, postgres_url)
    logs = [ContextLog(env, name) for name in CatalogSearchProjection.contexts]
    worker = Worker(CatalogSearchProjection(), view, logs)
    worker.catch_up()
    try:
        async with open_reader(settings, commands) as reader:
            yield Searcher(request.param, reader.deps, shop, worker, reader.client)
    finally:
        if isinstance(view, catalog_search.OpenSearchCatalogSearchView):
            view.drop()
        catalog_search.close_view(view)
        for context_log in logs:
            context_log.close()


async def test_the_configured_backend_answers(searcher: Searcher) -> None:
    inner = searcher.deps.catalog_search.view.view  # type: ignore[attr-defined]
    expected = {
        "postgres": "PostgresCatalogSearchView",
        "opensearch": "OpenSearchCatalogSearchView",
    }
    assert type(inner).__name__ == expected[searcher.backend]


async def test_a_typo_still_finds_the_product(searcher: Searcher) -> None:
    assert await searcher.keys(q="kettle") == ["kettle"]
    assert await searcher.keys(q="kettel") == ["kettle"]
    assert await searcher.keys(q="walnt") == ["board"]
    assert await searcher.keys(q="Brass lamb") == ["lamp"]
    assert await searcher.keys(q="xylophone") == []


async def test_a_hit_carries_price_seller_and_stock(searcher: Searcher) -> None:
    response = await searcher.get(q="kettle")

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["total"] == 1
    assert (body["page"], body["page_size"]) == (1, 20)
    [hit] = body["hits"]
    assert hit["id"] == str(searcher.shop.products["kettle"])
    assert hit["title"] == "Copper Kettle"
    assert hit["category"] == "kitchen"
    assert hit["price"] == {"amount_minor": 4500, "currency": "EUR"}
    assert hit["seller"] == {"id": str(searcher.shop.sellers[NORTHWIND]), "name": NORTHWIND}
    assert hit["units_available"] == 5
    assert hit["listed_at"].endswith("+00:00")
    [image] = hit["images"]
    assert (image["status"], image["variants"]) == ("failed", {})


async def test_filters_narrow_and_facets_count_the_whole_match_set(searcher: Searcher) -> None:
    shop = searcher.shop
    assert await searcher.keys(category="kitchen", in_stock="true", sort="price_asc") == [
        "apron",
        "teapot",
        "kettle",
        "knife",
    ]
    priced = await searcher.get(min_price=1000, max_price=5000, page_size=1)
    assert priced.json()["total"] == 6
    assert len(priced.json()["hits"]) == 1
    harbor = await searcher.get(seller_id=str(shop.sellers[HARBOR]))
    assert harbor.json()["total"] == 5
    assert (await searcher.get(category="toys")).json()["total"] == 0

    facets = (await searcher.get(page_size=1)).json()["facets"]
    assert facets["categories"] == [
        {"key": "kitchen", "count": 5},
        {"key": "garden", "count": 4},
        {"key": "office", "count": 3},
    ]
    assert {b["key"]: b["count"] for b in facets["sellers"]} == {
        str(shop.sellers[NORTHWIND]): 7,
        str(shop.sellers[HARBOR]): 5,
    }
    assert [b["count"] for b in facets["prices"]] == [1, 5, 3, 1, 2]


async def test_pages_split_the_ordered_matches_without_overlap(searcher: Searcher) -> None:
    everything = await searcher.keys(sort="price_asc", page_size=100)
    pages = [await searcher.keys(sort="price_asc", page_size=5, page=n) for n in (1, 2, 3, 4)]

    assert len(everything) == 12
    assert pages[0] + pages[1] + pages[2] == everything
    assert [len(page) for page in pages] == [5, 5, 2, 0]
    assert everything[:2] == ["trowel", "apron"]


@pytest.mark.parametrize(
    ("params", "slug"),
    [
        ({"page_size": 0}, "validation"),
        ({"page_size": 101}, "validation"),
        ({"page": 0}, "validation"),
        ({"page": MAX_WINDOW + 1}, "validation"),
        ({"min_price": -1}, "validation"),
        ({"sort": "cheapest"}, "validation"),
        ({"seller_id": "not-a-uuid"}, "validation"),
        ({"in_stock": "maybe"}, "validation"),
        ({"category": ""}, "validation"),
        ({"q": "x" * 201}, "validation"),
        ({"q": " ".join(f"w{i}" for i in range(11))}, "invalid-search"),
    ],
)
async def test_out_of_bounds_queries_are_422_problems(
    reader_deps: ReadApiDeps, params: dict[str, Any], slug: str
) -> None:
    async with http_client(reader_deps) as client:
        response = await client.get("/v1/search", params=params)

    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["type"] == f"urn:marketplace:problem:{slug}"


async def test_the_last_page_inside_the_window_is_allowed(searcher: Searcher) -> None:
    response = await searcher.get(page=MAX_WINDOW // 20)

    assert response.status_code == 200, response.text
    assert response.json()["hits"] == []
    assert response.json()["total"] == 12


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({"page": MAX_WINDOW // 20 + 1}, id="past-the-window"),
        pytest.param({"page": MAX_WINDOW, "page_size": 100}, id="last-page-of-the-spec"),
        pytest.param({"min_price": 500, "max_price": 100}, id="empty-price-range"),
    ],
)
async def test_pages_past_the_window_and_empty_price_ranges_find_nothing(
    searcher: Searcher, params: dict[str, Any]
) -> None:
    response = await searcher.get(**params)

    assert response.status_code == 200, response.text
    assert response.json()["hits"] == []


async def test_answers_are_cacheable_and_revalidate_with_304(searcher: Searcher) -> None:
    first = await searcher.get(q="kettle")
    etag = first.headers["etag"]
    again = await searcher.get({"If-None-Match": etag}, q="kettle")
    other = await searcher.get({"If-None-Match": etag}, q="lamp")

    assert first.headers["cache-control"] == "public, max-age=30"
    assert first.headers["vary"] == "X-Min-Position"
    assert etag.startswith('"') and not etag.startswith("W/")
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    assert other.status_code == 200
    assert other.headers["etag"] != etag

    shop = searcher.shop
    shop.commands.catalog.reprice_product(
        shop.products["kettle"], Money(4200, "EUR"), shop.ctx(NORTHWIND), None
    )
    searcher.project()
    changed = await searcher.get({"If-None-Match": etag}, q="kettle")

    assert changed.status_code == 200
    assert changed.headers["etag"] != etag
    assert changed.json()["hits"][0]["price"]["amount_minor"] == 4200


async def test_a_listing_is_found_once_the_view_reaches_its_position(searcher: Searcher) -> None:
    shop = searcher.shop
    product = uuid.uuid4()
    outcome = shop.commands.catalog.list_product(
        product,
        shop.sellers[HARBOR],
        "Velvet Ottoman",
        "Deep blue footstool",
        "office",
        {},
        Money(15000, "EUR"),
        shop.ctx(HARBOR),
    )
    wanted = {"X-Min-Position": f"{outcome.log}:{outcome.position}"}

    stale = await searcher.get({**wanted, "X-Max-Wait-Ms": "0"}, q="ottoman")
    assert stale.status_code == 200
    assert stale.headers["x-consistency"] == "stale"
    assert stale.headers["cache-control"] == "no-store"
    assert stale.json()["hits"] == []

    projector = threading.Thread(target=searcher.project)
    request = asyncio.create_task(searcher.get(wanted, q="ottoman"))
    projector.start()
    fresh = await asyncio.wait_for(request, 10.0)
    projector.join(10.0)

    assert fresh.status_code == 200, fresh.text
    assert fresh.headers["x-consistency"] == "fresh"
    assert fresh.headers["cache-control"] == "public, max-age=30"
    assert [hit["id"] for hit in fresh.json()["hits"]] == [str(product)]

    unknown = await searcher.get({"X-Min-Position": "carts:1"}, q="ottoman")
    assert unknown.status_code == 422
    assert unknown.json()["type"] == "urn:marketplace:problem:unknown-log"


@pytest.fixture
async def reader_deps(
    postgres_url: str, redis_server: str, commands: Commands
) -> AsyncIterator[ReadApiDeps]:
    """A query API's dependencies on the PostgreSQL backend, with nothing projected."""
    async with open_reader(read_settings(postgres_url, redis_server), commands) as reader:
        yield reader.deps


@pytest.mark.parametrize("backend", ["postgres", "opensearch"])
async def test_a_search_store_that_does_not_answer_is_a_503(
    backend: str, request: pytest.FixtureRequest, redis_server: str, commands: Commands
) -> None:
    closed = free_port()
    overrides: dict[str, Any] = {"deadlines": {"read_store_timeout_seconds": 0.5}}
    if backend == "opensearch":
        overrides["opensearch"] = {"url": f"http://127.0.0.1:{closed}"}
        postgres = request.getfixturevalue("postgres_url")
    else:
        postgres = f"postgresql://postgres@127.0.0.1:{closed}/postgres"
    settings = read_settings(postgres, redis_server, **overrides)
    deps = open_deps(settings)
    try:
        async with http_client(deps) as client:
            response = await client.get("/v1/search", params={"q": "kettle"})
    finally:
        deps.catalog_search.view.close()
        deps.orders.view.close()
        deps.product_detail.view.client.close()

    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["retry-after"] == "2"


def open_deps(settings: Settings) -> ReadApiDeps:
    from marketplace.bootstrap import build_read_deps

    return build_read_deps(settings)
