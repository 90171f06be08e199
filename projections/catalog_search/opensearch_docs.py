"""Whole product documents for the OpenSearch view, rebuilt in memory for one batch.

A unit collects a batch's intents; a Batch starts from the stored documents it touches and
applies the events in log order. Each document keeps the aggregate versions it reflects
(product, stock item, seller) and skips any event at or below them, so starting from a
document that already holds some of the batch's events (a replay) applies each event at
most once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from projections.catalog_search.projection import Listing
from projections.product_detail.projection import units_available

Doc = dict[str, Any]

LONGEST_KEYWORD = 8191
"""Characters of a free-text keyword (category, seller name) that OpenSearch indexes: a longer
one (in an event from before the command API bounded texts, or from another writer) could
pass Lucene's 32,766-byte limit on a term or doc value and fail the whole batch. Such a value
is still stored and returned with its document; it is only left out of filters and facets."""

MAPPING: Doc = {
    "dynamic": "strict",
    "properties": {
        "kind": {"type": "keyword"},
        "id": {"type": "keyword"},
        "listed": {"type": "boolean"},
        "delisted": {"type": "boolean"},
        "title": {"type": "text", "copy_to": "search_text"},
        "description": {"type": "text", "copy_to": "search_text"},
        "search_text": {"type": "text"},
        "category": {"type": "keyword", "ignore_above": LONGEST_KEYWORD},
        "seller_id": {"type": "keyword"},
        "seller_name": {"type": "keyword", "ignore_above": LONGEST_KEYWORD},
        "price_minor": {"type": "long"},
        "currency": {"type": "keyword"},
        "listed_at": {"type": "date_nanos"},
        "stock_id": {"type": "keyword"},
        "received": {"type": "long", "index": False},
        "reserved": {"type": "long", "index": False},
        "sold": {"type": "long", "index": False},
        "units_available": {"type": "long"},
        "gallery": {"type": "object", "enabled": False},
        "versions": {"type": "object", "enabled": False},
        "positions": {"type": "object", "enabled": False},
        "name": {"type": "keyword", "index": False, "ignore_above": LONGEST_KEYWORD},
        "version": {"type": "long", "index": False},
        "position": {"type": "long", "index": False},
        "product_id": {"type": "keyword", "index": False},
    },
}
"""One index, four kinds of document, told apart by kind and id:

- product (id: the product id): text fields for matching (title boosted at query time),
  keywords for filters and facets, the counters, the gallery fields its images are shown from
  (stored, not indexed) and the versions and positions it reflects;
- seller (id "seller:<id>"): name, aggregate version and position;
- stock (id "stock:<id>"): the product a stock item belongs to (stock events carry only
  the stock item's id);
- tracking (id "tracking"): the view's position in each log.
"""


def new_product(product_id: str) -> Doc:
    """A document for a product not seen yet: not listed, no stock, nothing applied."""
    return {
        "kind": "product",
        "id": product_id,
        "listed": False,
        "delisted": False,
        "title": None,
        "description": None,
        "category": None,
        "seller_id": None,
        "seller_name": None,
        "price_minor": None,
        "currency": None,
        "listed_at": None,
        "stock_id": None,
        "received": 0,
        "reserved": 0,
        "sold": 0,
        "units_available": 0,
        "gallery": {},
        "versions": {"product": -1, "stock": -1, "seller": -1},
        "positions": {},
    }


class Batch:
    """The documents one batch reads and changes; which of them it changed."""

    def __init__(
        self, products: dict[str, Doc], sellers: dict[str, Doc], stock_products: dict[str, str]
    ) -> None:
        self.products = products
        self.sellers = sellers
        self.stock_products = stock_products
        self.changed_products: set[str] = set()
        self.changed_sellers: set[str] = set()
        self.opened: dict[str, str] = {}

    def name_seller(self, seller_id: UUID, name: str, version: int) -> None:
        """Rename a seller and every product document of it."""
        key = str(seller_id)
        seller = self.sellers.get(key, {})
        if seller.get("version", -1) >= version:
            return
        self.sellers[key] = {**seller, "kind": "seller", "name": name, "version": version}
        self.changed_sellers.add(key)
        for doc in self.products.values():
            if doc["seller_id"] == key and doc["versions"]["seller"] < version:
                doc["seller_name"] = name
                doc["versions"]["seller"] = version
                self.changed_products.add(doc["id"])

    def list_product(self, listing: Listing, version: int) -> None:
        """Fill a product's document from its listing and its seller's current name."""
        doc = self._product(str(listing.product_id))
        if doc["versions"]["product"] >= version:
            return
        seller = self.sellers.get(str(listing.seller_id), {})
        doc.update(
            listed=True,
            seller_id=str(listing.seller_id),
            seller_name=seller.get("name"),
            title=listing.title,
            description=listing.description,
            category=listing.category,
            price_minor=listing.price_minor,
            currency=listing.currency,
            listed_at=listing.listed_at.isoformat(),
        )
        doc["versions"].update(product=version, seller=seller.get("version", -1))
        self.changed_products.add(doc["id"])

    def update_product(self, product_id: UUID, version: int, **fields: Any) -> None:
        """Overwrite some fields of a listed product's document."""
        doc = self.products.get(str(product_id))
        if doc is None or not doc["listed"] or doc["versions"]["product"] >= version:
            return
        doc.update(fields)
        doc["versions"]["product"] = version
        self.changed_products.add(doc["id"])

    def show_images(self, product_id: UUID, version: int, fields: dict[str, Any]) -> None:
        """Merge gallery fields into a listed product's document."""
        doc = self.products.get(str(product_id))
        if doc is not None:
            gallery = {**doc.get("gallery", {}), **fields}
            self.update_product(product_id, version, gallery=gallery)

    def open_stock(self, stock_id: UUID, product_id: UUID, version: int) -> None:
        """Link a stock item to its product's document."""
        key = str(stock_id)
        self.stock_products[key] = self.opened[key] = str(product_id)
        doc = self._product(str(product_id))
        if doc["versions"]["stock"] >= version:
            return
        doc["stock_id"] = key
        doc["versions"]["stock"] = version
        self.changed_products.add(doc["id"])

    def move_stock(
        self, stock_id: UUID, version: int, received: int, reserved: int, sold: int
    ) -> None:
        """Add deltas to the stock counters of the stock item's product."""
        product_id = self.stock_products.get(str(stock_id))
        if product_id is None:
            raise LookupError(f"stock item {stock_id} moved before it was opened in the view")
        doc = self._product(product_id)
        if doc["versions"]["stock"] >= version:
            return
        doc["received"] += received
        doc["reserved"] += reserved
        doc["sold"] += sold
        doc["units_available"] = units_available(doc["received"], doc["reserved"], doc["sold"])
        doc["versions"]["stock"] = version
        self.changed_products.add(doc["id"])

    def _product(self, product_id: str) -> Doc:
        if product_id not in self.products:
            self.products[product_id] = new_product(product_id)
        return self.products[product_id]


def external_version(doc: Doc, log: str, position: int) -> int:
    """Mark doc as projected up to position in log; its external version (positions summed).

    A document reflects two logs, catalog and inventory, each with its own positions. Every
    write raises one of the two and never lowers the other, so their sum rises with every
    write of a document: OpenSearch keeps the newest and refuses (409) any replayed write.
    """
    positions = doc["positions"]
    positions[log] = max(positions.get(log, 0), position)
    return sum(positions.values())


@dataclass
class OpenSearchCatalogSearchUnit:
    """One batch's intents, kept in order, and what must be read before applying them."""

    ops: list[Callable[[Batch], None]] = field(default_factory=list)
    sellers: set[str] = field(default_factory=set)
    renamed: set[str] = field(default_factory=set)
    products: set[str] = field(default_factory=set)
    stock: set[str] = field(default_factory=set)
    tracked: tuple[str, int, int] | None = None

    def track(self, log: str, after: int, position: int) -> None:
        """Move the log's tracking position from after to position when the unit exits."""
        self.tracked = (log, after, position)

    def name_seller(self, seller_id: UUID, name: str, version: int) -> None:
        """Rename a seller: its documents are rewritten whole with the new name."""
        self.sellers.add(str(seller_id))
        self.renamed.add(str(seller_id))
        self.ops.append(lambda batch: batch.name_seller(seller_id, name, version))

    def list_product(self, listing: Listing, version: int) -> None:
        """Make a product findable."""
        self.sellers.add(str(listing.seller_id))
        self.products.add(str(listing.product_id))
        self.ops.append(lambda batch: batch.list_product(listing, version))

    def describe_product(
        self, product_id: UUID, title: str, description: str, category: str, version: int
    ) -> None:
        """Replace a product's searchable details."""
        fields = {"title": title, "description": description, "category": category}
        self._update(product_id, version, fields)

    def reprice_product(
        self, product_id: UUID, price_minor: int, currency: str, version: int
    ) -> None:
        """Set a product's price."""
        self._update(product_id, version, {"price_minor": price_minor, "currency": currency})

    def delist_product(self, product_id: UUID, version: int) -> None:
        """Keep the document, marked delisted, so a replayed older write cannot revive it."""
        self._update(product_id, version, {"delisted": True})

    def show_images(self, product_id: UUID, fields: dict[str, Any], version: int) -> None:
        """Merge gallery fields into the product's."""
        self.products.add(str(product_id))
        self.ops.append(lambda batch: batch.show_images(product_id, version, fields))

    def open_stock(self, stock_id: UUID, product_id: UUID, version: int) -> None:
        """Link a stock item to its product."""
        self.products.add(str(product_id))
        self.ops.append(lambda batch: batch.open_stock(stock_id, product_id, version))

    def move_stock(
        self, stock_id: UUID, version: int, *, received: int = 0, reserved: int = 0, sold: int = 0
    ) -> None:
        """Add deltas to the stock counters of the stock item's product."""
        self.stock.add(str(stock_id))
        self.ops.append(lambda batch: batch.move_stock(stock_id, version, received, reserved, sold))

    def _update(self, product_id: UUID, version: int, fields: dict[str, Any]) -> None:
        self.products.add(str(product_id))
        self.ops.append(lambda batch: batch.update_product(product_id, version, **fields))
