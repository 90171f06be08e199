"""A small curated catalogue written through the command side, and the catalog-search helpers.

Twelve products in three categories from two sellers, with distinct words, prices (two on
bucket edges) and stock reached by every kind of stock event. Listing times are one minute
apart in table order, so "newest" is the table reversed.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
from opensearchpy import OpenSearch
from psycopg_pool import ConnectionPool

from commands.services import Commands
from domain.base import Context
from domain.money import Money
from domain.product_images import VARIANTS
from infra.eventstore import with_search_path
from projections.catalog_search.opensearch_view import OpenSearchCatalogSearchView
from projections.catalog_search.postgres_view import PostgresCatalogSearchView
from projections.catalog_search.projection import CatalogSearchProjection
from projections.catalog_search.search import FacetBucket, SearchQuery, SearchResult
from projections.log import ContextLog
from projections.runtime import Worker

START = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
NORTHWIND, HARBOR = "Northwind Goods", "Harbor Supply"


@dataclass(frozen=True)
class Item:
    """One product of the catalogue and the stock it ends with."""

    key: str
    title: str
    description: str
    category: str
    seller: str
    price_minor: int
    units: int


TABLE = """
kettle  | Copper Kettle        | Whistling stovetop kettle for tea        | kitchen | N |  4500 |  5
board   | Walnut Cutting Board | End grain board with oiled finish        | kitchen | N |  3200 |  0
teapot  | Ceramic Teapot       | Glazed stoneware pot for loose leaf      | kitchen | H |  2800 |  3
knife   | Chef Knife           | Forged steel blade with riveted handle   | kitchen | H |  8900 |  2
apron   | Linen Apron          | Cotton blend apron with deep pockets     | kitchen | N |  1000 |  7
trowel  | Garden Trowel        | Stainless hand trowel for planting bulbs | garden  | N |   900 | 10
shears  | Pruning Shears       | Bypass shears for roses and shrubs       | garden  | N |  5000 |  0
can     | Watering Can         | Galvanised can with brass rose           | garden  | H |  3900 |  4
planter | Cedar Planter        | Raised planter box in cedar wood         | garden  | H | 12900 |  1
lamp    | Brass Desk Lamp      | Adjustable arm lamp with fabric shade    | office  | N |  7500 |  6
desk    | Oak Standing Desk    | Electric height adjustable desk          | office  | H | 64900 |  2
pen     | Fountain Pen         | Steel nib pen with piston filler         | office  | N | 55000 |  0
"""
"""key | title | description | category | seller (N: Northwind, H: Harbor) | price | units"""


def _items() -> tuple[Item, ...]:
    items = []
    for line in TABLE.strip().splitlines():
        key, title, description, category, seller, price, units = (
            cell.strip() for cell in line.split("|")
        )
        owner = NORTHWIND if seller == "N" else HARBOR
        items.append(Item(key, title, description, category, owner, int(price), int(units)))
    return tuple(items)


ITEMS = _items()
BY_KEY = {item.key: item for item in ITEMS}


def as_actor(actor: uuid.UUID, at: datetime) -> Context:
    """A seller acting on its own aggregates at a given time."""
    return Context(at, str(actor), "seller", "req", "corr", "cause")


@dataclass
class Catalogue:
    """The ids given to the curated catalogue in one event store, and its environment."""

    commands: Commands
    env: dict[str, str]
    sellers: dict[str, uuid.UUID] = field(default_factory=dict)
    products: dict[str, uuid.UUID] = field(default_factory=dict)
    clock: datetime = START
    images: dict[str, uuid.UUID] = field(default_factory=dict)

    def keys(self, ids: Iterable[uuid.UUID]) -> list[str]:
        """The catalogue keys of the given product ids, in their order."""
        names = {product: key for key, product in self.products.items()}
        return [names[product] for product in ids]

    def ctx(self, seller: str) -> Context:
        """The seller's context, one minute after the previous command's."""
        self.clock += timedelta(minutes=1)
        return as_actor(self.sellers[seller], self.clock)

    def owner(self, key: str) -> str:
        return BY_KEY[key].seller

    def build(self) -> Catalogue:
        """Register the sellers, list every item and bring its stock to the table's units."""
        for name in (NORTHWIND, HARBOR):
            seller = self.sellers[name] = uuid.uuid4()
            email = f"{seller.hex[:8]}@shop.test"
            self.commands.catalog.register_seller(seller, name, email, self.ctx(name))
        for item in ITEMS:
            product = self.products[item.key] = uuid.uuid4()
            ctx = self.ctx(item.seller)
            self.commands.catalog.list_product(
                product,
                self.sellers[item.seller],
                item.title,
                item.description,
                item.category,
                {},
                Money(item.price_minor, "EUR"),
                ctx,
            )
        self._stock()
        self._images()
        return self

    def _images(self) -> None:
        """The teapot: a processing image (a thumbnail so far) shown before a ready one; the
        kettle: a failed image. The rest have none."""
        catalog = self.commands.catalog
        added = {}
        for key, name in (("teapot", "front"), ("teapot", "side"), ("kettle", "broken")):
            product, digest = self.products[key], hashlib.sha256(name.encode()).hexdigest()
            original = (digest, "image/jpeg", 2400, 1800, 1000)
            ctx = self.ctx(self.owner(key))
            catalog.add_product_image(product, f"originals/{digest}", original, 10, ctx)
            added[name] = next(reversed(catalog.gallery(product).images))
        teapot, ctx = self.products["teapot"], self.ctx(HARBOR)
        rendered = [(name, IMAGE_SIZES[name], image_keys(name)) for name in VARIANTS]
        catalog.record_image_variants(teapot, added["front"], rendered, ctx)
        catalog.record_image_variants(teapot, added["side"], rendered[:1], ctx)
        catalog.reorder_product_images(teapot, [added["side"], added["front"]], ctx, None)
        kettle = self.products["kettle"]
        catalog.fail_product_image(kettle, added["broken"], "cannot decode", self.ctx(NORTHWIND))
        self.images = added

    def _stock(self) -> None:
        for item in ITEMS:
            if item.key == "shears":
                continue  # never stocked: no stock item at all
            product = self.products[item.key]
            ctx = self.ctx(item.seller)
            received = {"board": 4, "pen": 3}.get(item.key, item.units)
            self.commands.receive_stock(product, received, ctx)
        self.commands.inventory.adjust_stock(
            self.products["board"], -4, "water damage", self.ctx(NORTHWIND)
        )
        self.reserve("pen", 3, commit=True)
        self.reserve("trowel", 2, release=True)

    def reserve(
        self, key: str, quantity: int, *, commit: bool = False, release: bool = False
    ) -> uuid.UUID:
        """Hold units of a product for a new order, then commit or release them if asked."""
        order = uuid.uuid4()
        ctx = self.ctx(self.owner(key))
        product = self.products[key]
        inventory = self.commands.inventory
        inventory.reserve(product, order, quantity, ctx.at + timedelta(hours=1), ctx)
        if commit:
            inventory.commit(product, order, self.ctx(self.owner(key)))
        if release:
            inventory.release(product, order, "abandoned", self.ctx(self.owner(key)))
        return order


IMAGE_SIZES = {"thumbnail": (200, 150), "card": (600, 450), "zoom": (1600, 1200)}


def image_keys(variant: str) -> dict[str, str]:
    """Rendition blob keys of a variant (one per format)."""
    digest = hashlib.sha256(variant.encode()).hexdigest()
    return {"webp": f"images/{digest}.webp", "jpeg": f"images/{digest}.jpg"}


SearchView = Any
"""A view that is both a runtime View of CatalogSearchUnit and a CatalogSearch."""


def postgres_view(server: str, cleanups: list[Callable[[], None]]) -> PostgresCatalogSearchView:
    """A created PostgreSQL view in a new schema; cleanups gets its removal."""
    schema = f"v_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    pool = ConnectionPool(with_search_path(server, schema), min_size=1, max_size=2, open=True)

    def drop() -> None:
        pool.close()
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')

    cleanups.append(drop)
    view = PostgresCatalogSearchView(pool)
    view.create()
    return view


def opensearch_view(url: str, cleanups: list[Callable[[], None]]) -> OpenSearchCatalogSearchView:
    """A created OpenSearch view under a new index prefix; cleanups gets its removal."""
    client = OpenSearch(hosts=[url], timeout=30)
    view = OpenSearchCatalogSearchView(client, prefix=f"t{uuid.uuid4().hex[:10]}-")

    def drop() -> None:
        view.drop()
        client.close()

    cleanups.append(drop)
    view.create()
    return view


def project(view: SearchView, env: dict[str, str], batch_size: int = 1000) -> int:
    """Catch the view up with both logs; the number of events projected."""
    logs = [ContextLog(env, "catalog"), ContextLog(env, "inventory")]
    try:
        return Worker(CatalogSearchProjection(), view, logs, batch_size=batch_size).catch_up()
    finally:
        for context_log in logs:
            context_log.close()


def keys(view: SearchView, shop: Catalogue, **query: Any) -> list[str]:
    """The catalogue keys of all hits of a search, in result order."""
    result: SearchResult = view.search(SearchQuery(limit=100, **query))
    return shop.keys(hit.id for hit in result.hits)


def buckets(**counts: int) -> tuple[FacetBucket, ...]:
    """Facet buckets in the given order."""
    return tuple(FacetBucket(key, count) for key, count in counts.items())


def prices(*counts: int) -> tuple[FacetBucket, ...]:
    """The five price buckets with these counts."""
    labels = ("<10", "10-50", "50-100", "100-500", ">=500")
    return tuple(FacetBucket(label, count) for label, count in zip(labels, counts, strict=True))


def stored(view: OpenSearchCatalogSearchView) -> dict[str, tuple[int, dict[str, Any]]]:
    """Every document of the index but the tracking one: its external version and source."""
    view.client.indices.refresh(index=view.index)
    body = {"query": {"match_all": {}}, "size": 1000, "version": True}
    hits = view.client.search(index=view.index, body=body)["hits"]["hits"]
    return {
        hit["_id"]: (hit["_version"], hit["_source"]) for hit in hits if hit["_id"] != "tracking"
    }
