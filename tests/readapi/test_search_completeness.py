"""A search view's first live build, on PostgreSQL and on OpenSearch: 503 until complete.

The projector's view is created empty and the query API reads it from the start. Driven two
events a batch (the catalog log ahead of the inventory log), every search answers 503
view-incomplete until the view has reached the logs' heads as they were when it was found
empty; from then on, exactly what the complete view answers. Never an empty or partial page,
never a product short of its stock.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from commands.services import Commands
from infra.eventstore import eventsourcing_env
from infra.settings import Settings
from marketplace import catalog_search
from projections.catalog_search.projection import CatalogSearchProjection
from projections.log import ContextLog
from projections.runtime import Worker
from tests.projections.catalog_fixture import Catalogue
from tests.readapi.conftest import open_reader
from tests.readapi.test_search import backend_settings
from tests.support.boundaries import PausingView, at_each_boundary

pytestmark = pytest.mark.postgres

INCOMPLETE = "urn:marketplace:problem:view-incomplete"
QUERIES: list[dict[str, Any]] = [
    {},
    {"in_stock": "true"},
    {"q": "kettel"},
    {"sort": "price_asc", "page_size": 5, "page": 2},
]


def assert_incomplete(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "2"
    assert response.json()["type"] == INCOMPLETE


@pytest.mark.parametrize("backend", ["postgres", "opensearch"])
async def test_a_new_search_view_answers_503_until_complete_then_whole(
    backend: str,
    request: pytest.FixtureRequest,
    postgres_url: str,
    redis_server: str,
    commands: Commands,
) -> None:
    settings = backend_settings(backend, request, postgres_url, redis_server)
    env = eventsourcing_env(Settings(), postgres_url)
    shop = Catalogue(commands, env).build()
    view = catalog_search.projector_view(settings, postgres_url)
    logs = [ContextLog(env, name) for name in CatalogSearchProjection.contexts]
    pausing = PausingView(view)
    worker = Worker(CatalogSearchProjection(), pausing, logs, batch_size=2)
    answers: list[list[httpx.Response]] = []
    try:
        async with open_reader(settings, commands) as reader:

            async def search() -> list[httpx.Response]:
                return [await reader.client.get("/v1/search", params=q) for q in QUERIES]

            for response in await search():
                assert_incomplete(response)

            async def look() -> None:
                answers.append(await search())

            batches = await at_each_boundary(worker, pausing, look)
            whole = await search()
            ready = (await reader.client.get("/health/ready")).json()
    finally:
        if isinstance(view, catalog_search.OpenSearchCatalogSearchView):
            view.drop()
        catalog_search.close_view(view)
        for context_log in logs:
            context_log.close()

    assert [response.status_code for response in whole] == [200] * len(QUERIES)
    assert whole[0].json()["total"] == len(shop.products)
    assert ready["completeness"]["catalog-search"] == {"complete": True}
    assert batches == len(answers) > 4
    complete_from = next(n for n, seen in enumerate(answers) if seen[0].status_code == 200)
    assert complete_from > 2
    for seen in answers[:complete_from]:
        for response in seen:
            assert_incomplete(response)
    for seen in answers[complete_from:]:
        assert [r.content for r in seen] == [r.content for r in whole]
    assert uuid.UUID(whole[0].json()["hits"][0]["id"]) in shop.products.values()
