"""`marketplace rebuild catalog-search` on OpenSearch: a new index, the aliases switched.

Before aliases existed, the view was the index `<prefix>catalog-search-v1` alone: the live
projector adds the aliases to it, and the first rebuild builds v2 beside it.
"""

from __future__ import annotations

import pytest
from opensearchpy import OpenSearch

from infra.settings import Settings
from marketplace.catalog_search import reader_view
from marketplace.rebuild import rebuild
from projections.catalog_search.opensearch_view import OpenSearchCatalogSearchView
from projections.catalog_search.search import SearchQuery
from tests.projections.rebuild_fixture import (  # noqa: F401 - fixtures
    BY_ID,
    Market,
    Target,
    market,
    pointers,
    project,
    rebuild_settings,
    rebuild_twice_beside_a_live_projector,
)

pytestmark = pytest.mark.postgres


@pytest.fixture
def target() -> Target:
    return BY_ID["catalog-search@opensearch"]


def test_a_rebuild_equals_a_replay_and_the_live_projector_moves_to_it(
    target: Target,
    rebuild_settings: Settings,  # noqa: F811
    market: Market,  # noqa: F811
) -> None:
    rebuild_twice_beside_a_live_projector(
        target, rebuild_settings, market, trades=24, live_batch=1000
    )


def test_the_query_api_reads_the_index_made_before_aliases_existed(
    target: Target,
    rebuild_settings: Settings,  # noqa: F811
    market: Market,  # noqa: F811
) -> None:
    client = OpenSearch(hosts=[str(rebuild_settings.opensearch.url)], timeout=30)
    prefix = rebuild_settings.opensearch.index_prefix
    earlier = OpenSearchCatalogSearchView(client, prefix, version=1)
    earlier.create()  # the lone index, without aliases
    projected = project(target.name, rebuild_settings, earlier)
    view = reader_view(rebuild_settings, str(rebuild_settings.postgres.url))
    try:
        found = view.search(SearchQuery(limit=100))
        positions = view.positions()
    finally:
        view.close()
        client.close()

    assert projected > 0
    assert found.total == len(market.products)
    assert positions == earlier.positions()


def test_a_first_rebuild_before_any_live_view_builds_v1_and_points_both_aliases_at_it(
    target: Target,
    rebuild_settings: Settings,  # noqa: F811
    market: Market,  # noqa: F811
) -> None:
    market.trade(8)

    done = rebuild(target.name, rebuild_settings, grace_seconds=0)

    assert (done.readers, done.writers, done.version, done.dropped) == (0, 0, 1, (0,))
    assert pointers(target.name, rebuild_settings) == (1, 1, {1})
    assert target.dump(rebuild_settings, 1) == target.replay(rebuild_settings)
    view = reader_view(rebuild_settings, str(rebuild_settings.postgres.url))
    try:
        assert view.search(SearchQuery(limit=100)).total == len(market.products)
    finally:
        view.close()
