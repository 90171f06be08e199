"""One catalog-search contract, run on the PostgreSQL view and on the OpenSearch view.

Events come from the command side on real PostgreSQL; Worker.catch_up() projects them into
a fresh view per test (own schema or index prefix); the assertions read through
CatalogSearch.search. Tests that only read share one event store holding the catalogue;
tests that change the catalogue get an event store of their own.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest

from commands.services import Commands
from domain.money import Money
from domain.product_images import VARIANTS
from infra.eventstore import eventsourcing_env, with_search_path
from infra.settings import Settings
from projections.catalog_search.opensearch_view import OpenSearchCatalogSearchView
from projections.catalog_search.search import (
    MAX_WINDOW,
    FacetBucket,
    InvalidSearch,
    SearchQuery,
    Sort,
)
from projections.runtime import PositionMoved
from tests.projections.catalog_fixture import (
    BY_KEY,
    HARBOR,
    IMAGE_SIZES,
    ITEMS,
    NORTHWIND,
    Catalogue,
    SearchView,
    buckets,
    image_keys,
    keys,
    opensearch_view,
    postgres_view,
    prices,
    project,
    stored,
)

pytestmark = pytest.mark.postgres

NewView = Callable[[], SearchView]


@pytest.fixture(params=["postgres", "opensearch"])
def new_view(request: pytest.FixtureRequest, postgres_server: str) -> Iterator[NewView]:
    """Makes fresh, empty views of one backend, each in its own schema or index prefix."""
    cleanups: list[Callable[[], None]] = []

    def make() -> SearchView:
        if request.param == "postgres":
            return postgres_view(postgres_server, cleanups)
        return opensearch_view(request.getfixturevalue("opensearch_server"), cleanups)

    yield make
    for cleanup in reversed(cleanups):
        cleanup()


@pytest.fixture(scope="module")
def shop(postgres_server: str) -> Iterator[Catalogue]:
    """The catalogue in an event store of its own, shared by the tests that only read it."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    env = eventsourcing_env(Settings(), with_search_path(postgres_server, schema))
    commands = Commands(env)
    yield Catalogue(commands, env).build()
    commands.close()
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def own_shop(postgres_url: str) -> Iterator[Catalogue]:
    """The catalogue in this test's own event store, for tests that change it."""
    env = eventsourcing_env(Settings(), postgres_url)
    commands = Commands(env)
    yield Catalogue(commands, env).build()
    commands.close()


@pytest.fixture
def view(new_view: NewView, shop: Catalogue) -> SearchView:
    """A fresh view caught up with the shared catalogue."""
    made = new_view()
    project(made, shop.env)
    return made


@pytest.fixture
def own_view(new_view: NewView, own_shop: Catalogue) -> SearchView:
    """A fresh view caught up with this test's own catalogue."""
    made = new_view()
    project(made, own_shop.env)
    return made


def test_a_query_with_a_typo_finds_the_product(view: SearchView, shop: Catalogue) -> None:
    assert keys(view, shop, text="kettle") == ["kettle"]
    assert keys(view, shop, text="kettel") == ["kettle"]
    assert keys(view, shop, text="walnt") == ["board"]
    assert keys(view, shop, text="Brass lamb") == ["lamp"]
    assert keys(view, shop, text="xylophone") == []


def test_text_matches_title_and_description_and_ranks_title_first(
    view: SearchView, shop: Catalogue
) -> None:
    assert keys(view, shop, text="brass") == ["lamp", "can"]
    assert keys(view, shop, text="stoneware") == ["teapot"]
    assert keys(view, shop, text="oak adjustable") == ["desk"]
    assert keys(view, shop, text="adjustable", sort=Sort.PRICE_ASC) == ["lamp", "desk"]


def test_filters_give_exact_counts(view: SearchView, shop: Catalogue) -> None:
    def total(**query: Any) -> int:
        return int(view.search(SearchQuery(**query)).total)

    assert total() == 12
    assert total(category="kitchen") == 5
    assert total(seller_id=shop.sellers[HARBOR]) == 5
    assert total(min_price_minor=1000, max_price_minor=5000) == 6
    assert total(in_stock=True) == 9
    assert keys(view, shop, category="kitchen", in_stock=True, sort=Sort.PRICE_ASC) == [
        "apron",
        "teapot",
        "kettle",
        "knife",
    ]
    assert total(category="toys") == 0


def test_facets_count_the_whole_match_set(view: SearchView, shop: Catalogue) -> None:
    facets = view.search(SearchQuery(limit=1)).facets
    north, harbor = str(shop.sellers[NORTHWIND]), str(shop.sellers[HARBOR])

    assert facets.categories == buckets(kitchen=5, garden=4, office=3)
    assert facets.sellers == (FacetBucket(north, 7), FacetBucket(harbor, 5))
    assert facets.prices == prices(1, 5, 3, 1, 2)

    stocked = view.search(SearchQuery(in_stock=True, limit=1)).facets
    assert stocked.categories == buckets(kitchen=4, garden=3, office=2)
    assert stocked.prices == prices(1, 4, 2, 1, 1)


def test_sorts_give_the_expected_order(view: SearchView, shop: Catalogue) -> None:
    by_price = [item.key for item in sorted(ITEMS, key=lambda item: item.price_minor)]
    newest = [item.key for item in reversed(ITEMS)]

    assert keys(view, shop, sort=Sort.PRICE_ASC) == by_price
    assert keys(view, shop, sort=Sort.PRICE_DESC) == list(reversed(by_price))
    assert keys(view, shop, sort=Sort.NEWEST) == newest
    assert keys(view, shop) == newest  # relevance without words: newest first


def test_pages_partition_the_results(view: SearchView, shop: Catalogue) -> None:
    pages = [view.search(SearchQuery(sort=Sort.PRICE_ASC, limit=5, offset=n)) for n in (0, 5, 10)]
    beyond = view.search(SearchQuery(limit=5, offset=20))

    assert [len(page.hits) for page in pages] == [5, 5, 2]
    assert {page.total for page in pages} == {12}
    ids = [hit.id for page in pages for hit in page.hits]
    assert shop.keys(ids) == keys(view, shop, sort=Sort.PRICE_ASC)
    assert (beyond.hits, beyond.total) == ((), 12)


def test_hits_carry_the_product_seller_and_stock(view: SearchView, shop: Catalogue) -> None:
    (hit,) = view.search(SearchQuery(text="teapot")).hits
    teapot = BY_KEY["teapot"]

    assert hit.id == shop.products["teapot"]
    assert (hit.title, hit.price_minor, hit.currency) == (teapot.title, teapot.price_minor, "EUR")
    assert (hit.category, hit.seller_id) == ("kitchen", shop.sellers[HARBOR])
    assert (hit.seller_name, hit.units_available) == (HARBOR, 3)
    assert hit.listed_at.tzinfo is not None


def test_hits_carry_the_images_as_product_detail_shows_them(
    view: SearchView, shop: Catalogue
) -> None:
    (teapot,) = view.search(SearchQuery(text="teapot")).hits
    (kettle,) = view.search(SearchQuery(text="kettle")).hits
    (lamp,) = view.search(SearchQuery(text="lamp")).hits

    def shown(variant: str) -> dict[str, Any]:
        urls = {fmt: f"/{key}" for fmt, key in image_keys(variant).items()}
        width, height = IMAGE_SIZES[variant]
        return {"width": width, "height": height, **urls}

    assert teapot.images == [
        {
            "id": str(shop.images["side"]),
            "status": "processing",
            "variants": {"thumbnail": shown("thumbnail")},
        },
        {
            "id": str(shop.images["front"]),
            "status": "ready",
            "variants": {name: shown(name) for name in VARIANTS},
        },
    ]
    assert kettle.images == [{"id": str(shop.images["broken"]), "status": "failed", "variants": {}}]
    assert lamp.images == []


@pytest.mark.parametrize(
    "bounds",
    [
        {"limit": 0},
        {"limit": 101},
        {"offset": -1},
        {"offset": MAX_WINDOW},
        {"offset": MAX_WINDOW - 10, "limit": 11},
        {"limit": True},
        {"min_price_minor": 500, "max_price_minor": 100},
        {"text": "x" * 201},
        {"text": " ".join(f"word{n}" for n in range(11))},
        {"sort": "cheapest"},
    ],
)
def test_out_of_range_queries_are_refused(bounds: dict[str, Any]) -> None:
    with pytest.raises(InvalidSearch):
        SearchQuery(**bounds)
    assert SearchQuery(limit=100, offset=MAX_WINDOW - 100).offset == MAX_WINDOW - 100


def test_changes_follow_delisting_repricing_stock_and_renames(
    own_view: SearchView, own_shop: Catalogue
) -> None:
    catalog = own_shop.commands.catalog
    catalog.delist_product(own_shop.products["kettle"], "recalled", own_shop.ctx(NORTHWIND), None)
    catalog.reprice_product(
        own_shop.products["trowel"], Money(99_000, "EUR"), own_shop.ctx(NORTHWIND), None
    )
    own_shop.reserve("knife", 2)
    harbor = own_shop.ctx(HARBOR)
    catalog.update_seller_profile(
        own_shop.sellers[HARBOR], "Harbor & Sons", "h@harbor.test", harbor, None
    )
    catalog.update_product(
        own_shop.products["can"], "Zinc Watering Can", "Galvanised can", "garden", {}, harbor, None
    )
    project(own_view, own_shop.env)

    assert keys(own_view, own_shop, text="kettle") == []
    assert own_view.search(SearchQuery()).total == 11
    assert keys(own_view, own_shop, sort=Sort.PRICE_DESC)[:2] == ["trowel", "desk"]
    assert "knife" not in keys(own_view, own_shop, in_stock=True)
    (knife,) = own_view.search(SearchQuery(text="chef")).hits
    assert knife.units_available == 0
    names = {
        hit.seller_name
        for hit in own_view.search(SearchQuery(seller_id=own_shop.sellers[HARBOR])).hits
    }
    assert names == {"Harbor & Sons"}
    assert keys(own_view, own_shop, text="zinc") == ["can"]
    assert keys(own_view, own_shop, text="brass") == ["lamp"]
    facets = own_view.search(SearchQuery(limit=1)).facets
    assert facets.categories == buckets(garden=4, kitchen=4, office=3)
    assert facets.prices == prices(0, 4, 3, 1, 3)


def test_released_units_come_back_in_stock(own_view: SearchView, own_shop: Catalogue) -> None:
    order = own_shop.reserve("planter", 1)
    project(own_view, own_shop.env)
    assert "planter" not in keys(own_view, own_shop, in_stock=True)

    ctx = own_shop.ctx(HARBOR)
    own_shop.commands.inventory.release(own_shop.products["planter"], order, "timeout", ctx)
    project(own_view, own_shop.env)
    assert "planter" in keys(own_view, own_shop, in_stock=True)


def test_a_replay_into_a_fresh_view_gives_identical_results(
    view: SearchView, new_view: NewView, shop: Catalogue
) -> None:
    replayed = new_view()
    project(replayed, shop.env, batch_size=4)

    assert replayed.positions() == view.positions()
    for query in QUERIES:
        assert replayed.search(query) == view.search(query)


def test_a_batch_over_a_moved_position_is_refused(view: SearchView, shop: Catalogue) -> None:
    at = view.positions()["catalog"]
    seller = shop.sellers[HARBOR]

    with pytest.raises(PositionMoved), view.unit_of_work() as unit:
        unit.name_seller(seller, "Someone Else", 99)
        unit.track("catalog", at - 1, at + 1)

    assert view.positions()["catalog"] == at
    hits = view.search(SearchQuery(seller_id=seller)).hits
    assert {hit.seller_name for hit in hits} == {HARBOR}


QUERIES = (
    SearchQuery(),
    SearchQuery(text="kettel"),
    SearchQuery(text="brass", sort=Sort.RELEVANCE),
    SearchQuery(in_stock=True, sort=Sort.PRICE_DESC, limit=4, offset=2),
    SearchQuery(category="garden", min_price_minor=1000),
)


@pytest.fixture
def caught_up_opensearch(
    opensearch_server: str, own_shop: Catalogue
) -> Iterator[OpenSearchCatalogSearchView]:
    """An OpenSearch view caught up with the curated catalogue."""
    cleanups: list[Callable[[], None]] = []
    view = opensearch_view(opensearch_server, cleanups)
    project(view, own_shop.env)
    yield view
    for cleanup in cleanups:
        cleanup()


def test_opensearch_replaying_the_same_batches_changes_nothing(
    caught_up_opensearch: OpenSearchCatalogSearchView, own_shop: Catalogue
) -> None:
    view = caught_up_opensearch
    before, positions = stored(view), view.positions()
    view.client.delete(index=view.index, id="tracking", refresh=True)

    replayed = project(view, own_shop.env, batch_size=5)

    assert replayed > 0
    assert view.positions() == positions
    assert stored(view) == before
    own_shop.reserve("desk", 1)
    project(view, own_shop.env)
    (desk,) = view.search(SearchQuery(text="oak")).hits
    assert desk.units_available == 1
