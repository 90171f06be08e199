"""The catalog-search view in OpenSearch: whole documents with external versions, then tracking.

One index per view version, `<prefix>catalog-search-v1`: a whole document per product (what
searches read) beside the seller, stock-link and tracking documents (see opensearch_docs).

A batch is applied when its unit exits: read (mget, realtime) the tracking document and the
documents the batch touches, refuse the batch unless tracking is at its start, apply the
events in memory, bulk-index the changed whole documents with version_type=external and
refresh, then move the tracking document {log: position} with optimistic concurrency. A
replayed write is refused with 409, which is harmless.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from opensearchpy import ConflictError, NotFoundError, OpenSearch, TransportError
from opensearchpy.exceptions import ConnectionError as OpenSearchConnectionError

from projections.catalog_search.opensearch_docs import MAPPING, Batch, Doc, external_version
from projections.catalog_search.opensearch_query import search_body, search_result
from projections.catalog_search.projection import Listing
from projections.catalog_search.search import SearchQuery, SearchResult
from projections.runtime import PositionMoved

VIEW_VERSION = 1
TRACKING_ID = "tracking"
SCAN_PAGE = 1000


class OpenSearchUnavailable(Exception):
    """OpenSearch answered 429 or 5xx (busy, starting, recovering shards): retried."""


TRANSIENT: tuple[type[BaseException], ...] = (OpenSearchConnectionError, OpenSearchUnavailable)
"""opensearch-py raises ConnectionError (and its ConnectionTimeout) when the node does not
answer, and a bare TransportError for a 5xx, such as the 503 no_shard_available_action_exception
of a node still recovering its shards after a restart; the view turns those into
OpenSearchUnavailable."""


class BulkWriteFailed(Exception):
    """OpenSearch refused a document write for a reason other than a newer version."""


def _unavailable(status: object) -> bool:
    return isinstance(status, int) and (status == 429 or status >= 500)


@contextmanager
def _unavailable_is_transient() -> Iterator[None]:
    """Raise OpenSearchUnavailable for a 429 or 5xx answer; other errors pass unchanged."""
    try:
        yield
    except TransportError as error:
        if _unavailable(error.status_code):
            raise OpenSearchUnavailable(f"{error.status_code} {error.error}") from error
        raise


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


class OpenSearchCatalogSearch:
    """Writes and answers catalog searches from this view version's index under prefix."""

    transient_errors = TRANSIENT

    def __init__(
        self, client: OpenSearch, prefix: str, *, shards: int = 1, replicas: int = 0
    ) -> None:
        self.client = client
        self.index = f"{prefix}catalog-search-v{VIEW_VERSION}"
        self.settings = {"number_of_shards": shards, "number_of_replicas": replicas}

    def create(self) -> None:
        """Create the index with its mapping, unless it exists."""
        if not self.client.indices.exists(index=self.index):
            body = {"settings": self.settings, "mappings": MAPPING}
            self.client.indices.create(index=self.index, body=body)

    def drop(self) -> None:
        """Delete the index (tests and rebuilds)."""
        self.client.indices.delete(index=self.index, ignore_unavailable=True)

    def positions(self) -> dict[str, int]:
        """The tracking document: the last projected position of each log."""
        try:
            with _unavailable_is_transient():
                found = self.client.get(index=self.index, id=TRACKING_ID)
        except NotFoundError:
            return {}
        return _positions(found["_source"])

    def search(self, query: SearchQuery) -> SearchResult:
        """One page of matches with total and facets; OpenSearchUnavailable on a 429 or 5xx."""
        with _unavailable_is_transient():
            answer = self.client.search(index=self.index, body=search_body(query))
        return search_result(answer)

    @contextmanager
    def unit_of_work(self) -> Iterator[OpenSearchCatalogSearchUnit]:
        """Collect a batch's intents, then write its documents and, last, its position."""
        unit = OpenSearchCatalogSearchUnit()
        yield unit
        if unit.tracked is None:
            raise ValueError("a unit of work must track the position it reaches")
        with _unavailable_is_transient():
            self._apply(unit, *unit.tracked)

    def _apply(
        self, unit: OpenSearchCatalogSearchUnit, log: str, after: int, position: int
    ) -> None:
        sellers = [f"seller:{s}" for s in sorted(unit.sellers)]
        links = [f"stock:{s}" for s in sorted(unit.stock)]
        found = self._mget([TRACKING_ID, *sellers, *links, *sorted(unit.products)])
        tracking = found.pop(TRACKING_ID, None)
        positions = _positions(tracking["_source"]) if tracking else {}
        if positions.get(log, 0) != after:
            raise PositionMoved(f"{log} is at {positions.get(log, 0)} in the view, not {after}")
        batch = self._batch(unit, {key: doc["_source"] for key, doc in found.items()})
        for op in unit.ops:
            op(batch)
        self._write(batch, log, position)
        self._move_tracking({**positions, log: position}, tracking)

    def _batch(self, unit: OpenSearchCatalogSearchUnit, found: dict[str, Doc]) -> Batch:
        """The batch's starting state: what was found, plus the products it reaches from there."""
        sellers = {k.removeprefix("seller:"): v for k, v in found.items() if v["kind"] == "seller"}
        links = {
            k.removeprefix("stock:"): v["product_id"]
            for k, v in found.items()
            if v["kind"] == "stock"
        }
        products = {k: v for k, v in found.items() if v["kind"] == "product"}
        reached = set(links.values())
        if unit.renamed:
            reached |= self._products_of(unit.renamed)
        missing = sorted(reached - products.keys())
        products.update({k: doc["_source"] for k, doc in self._mget(missing).items()})
        return Batch(products, sellers, links)

    def _mget(self, ids: list[str]) -> dict[str, Doc]:
        """The stored documents with these ids (realtime, so unrefreshed writes are seen).

        A document that could not be read (its shard unavailable) must not pass for a missing
        one, which the batch would rebuild from nothing: that raises OpenSearchUnavailable.
        """
        if not ids:
            return {}
        response = self.client.mget(index=self.index, body={"ids": ids})
        failed = [doc for doc in response["docs"] if "error" in doc]
        if failed:
            raise OpenSearchUnavailable(f"{failed[0]['_id']}: {failed[0]['error']}")
        return {doc["_id"]: doc for doc in response["docs"] if doc.get("found")}

    def _move_tracking(self, positions: dict[str, int], tracking: Doc | None) -> None:
        body = {"kind": "tracking", "positions": positions}
        concurrency: dict[str, Any] = {"op_type": "create"}
        if tracking is not None:
            concurrency = {
                "if_seq_no": tracking["_seq_no"],
                "if_primary_term": tracking["_primary_term"],
            }
        try:
            self.client.index(index=self.index, id=TRACKING_ID, body=body, **concurrency)
        except ConflictError:
            raise PositionMoved("the tracking document changed during the batch") from None

    def _products_of(self, sellers: set[str]) -> set[str]:
        """The ids of every product document of these sellers (after a refresh)."""
        self.client.indices.refresh(index=self.index)
        found: set[str] = set()
        search_after: list[Any] | None = None
        while True:
            body: dict[str, Any] = {
                "query": {"terms": {"seller_id": sorted(sellers)}},
                "sort": [{"id": "asc"}],
                "size": SCAN_PAGE,
                "_source": False,
            }
            if search_after is not None:
                body["search_after"] = search_after
            hits = self.client.search(index=self.index, body=body)["hits"]["hits"]
            found.update(hit["_id"] for hit in hits)
            if len(hits) < SCAN_PAGE:
                return found
            search_after = hits[-1]["sort"]

    def _write(self, batch: Batch, log: str, position: int) -> None:
        actions: list[dict[str, Any]] = []
        external = {"_index": self.index, "version_type": "external"}
        for product_id in sorted(batch.changed_products):
            doc = batch.products[product_id]
            version = external_version(doc, log, position)
            actions += [{"index": {**external, "_id": product_id, "version": version}}, doc]
        for seller_id in sorted(batch.changed_sellers):
            seller = batch.sellers[seller_id]
            seller["position"] = max(int(seller.get("position", 0)), position)
            meta = {**external, "_id": f"seller:{seller_id}", "version": seller["position"]}
            actions += [{"index": meta}, seller]
        for stock_id, product_id in sorted(batch.opened.items()):
            meta = {"_index": self.index, "_id": f"stock:{stock_id}"}
            actions += [{"create": meta}, {"kind": "stock", "product_id": product_id}]
        if actions:
            response = self.client.bulk(body=actions, refresh="true")
            _raise_unless_written_or_newer(response)


def _positions(tracking: Doc) -> dict[str, int]:
    return {str(k): int(v) for k, v in tracking.get("positions", {}).items()}


def _raise_unless_written_or_newer(response: dict[str, Any]) -> None:
    """Accept written items and 409s (a newer or equal version is already stored)."""
    if not response.get("errors"):
        return
    for item in response["items"]:
        ((_, result),) = item.items()
        if _unavailable(result.get("status")):
            raise OpenSearchUnavailable(f"{result.get('_id')}: {result.get('error')}")
        if result.get("status", 500) >= 300 and result.get("status") != 409:
            raise BulkWriteFailed(f"{result.get('_id')}: {result.get('error')}")
