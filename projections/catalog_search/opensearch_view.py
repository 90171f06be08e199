"""The catalog-search view in OpenSearch: whole documents with external versions, then tracking.

One index per view version, `<prefix>catalog-search-v<N>`: a whole document per product (what
searches read) beside the seller, stock-link and tracking documents (see opensearch_docs).
The view follows an alias (readers or writers, see projections.stores.opensearch.versions) or
is pinned to one version; a live writer works on the index its alias named when it last read
its positions.

A batch is applied when its unit exits: read (mget, realtime) the tracking document and the
documents the batch touches, refuse the batch unless tracking is at its start, apply the
events in memory, bulk-index the changed whole documents with version_type=external and
refresh, then move the tracking document {log: position} with optimistic concurrency. A
replayed write is refused with 409, which is harmless.

A rebuild's view (defer_refresh: a new index nobody searches yet) neither refreshes per batch
nor periodically: the versions restore the index's refresh interval when the writers move to
it, and refresh it before the readers do (projections.stores.opensearch.versions).
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar, cast

import orjson
from opensearchpy import (
    AuthorizationException,
    ConflictError,
    NotFoundError,
    OpenSearch,
)

from projections.catalog_search.opensearch_docs import (
    MAPPING,
    Batch,
    Doc,
    OpenSearchCatalogSearchUnit,
    external_version,
)
from projections.catalog_search.opensearch_query import search_body, search_result
from projections.catalog_search.projection import CatalogSearchProjection
from projections.catalog_search.search import SearchQuery, SearchResult
from projections.completeness import Completeness, ViewIncomplete
from projections.runtime import PositionMoved, ViewVersionMoved
from projections.stores.opensearch.errors import (
    TRANSIENT,
    BulkWriteFailed,
    OpenSearchUnavailable,
    unavailable,
    unavailable_is_transient,
)
from projections.stores.opensearch.versions import (
    TARGET_ID,
    TRACKING_ID,
    VIEW_VERSION,
    alias_name,
    aliased,
    completeness_at,
    index_name,
    tracked,
    version_of,
)
from projections.versions import READERS, WRITERS
from projections.versions import reached as positions_reached

T = TypeVar("T")
SCAN_PAGE = 1000
BULK_REQUESTS_AT_ONCE = 2
"""A batch's documents go out in this many bulk requests at once, which OpenSearch indexes on
as many write threads."""
DOCS_PER_REQUEST = 5000
"""Documents per mget or bulk request: a large batch's are sent in several, BULK_REQUESTS_AT_ONCE
at a time (the tracking document still moves only once they are all written)."""
__all__ = [
    "TRACKING_ID",
    "VIEW_VERSION",
    "OpenSearchCatalogSearchUnit",
    "OpenSearchCatalogSearchView",
]


class OpenSearchCatalogSearchView:
    """Writes and answers catalog searches from this view version's index under prefix."""

    transient_errors = TRANSIENT

    def __init__(
        self,
        client: OpenSearch,
        prefix: str,
        *,
        shards: int = 1,
        replicas: int = 0,
        follows: str = WRITERS,
        version: int | None = None,
    ) -> None:
        self.client = client
        self.prefix = prefix
        self.pinned = version
        self.follows = follows
        self.alias = alias_name(prefix, follows)
        self.version = version or VIEW_VERSION
        self.index = index_name(prefix, self.version)
        self.settings = {"number_of_shards": shards, "number_of_replicas": replicas}
        self.refresh = "true"
        self._senders = ThreadPoolExecutor(BULK_REQUESTS_AT_ONCE, thread_name_prefix="bulk")

    @property
    def target(self) -> str:
        """What reads address: the pinned index, or the alias the view follows."""
        return self.index if self.pinned is not None else self.alias

    def create(self) -> None:
        """Create the index with its mapping, unless it exists.

        A view following the aliases creates them if missing, on the index of version 1
        (the one an unversioned deployment already has).
        """
        if self.pinned is not None or aliased(self.client, self.alias) is not None:
            self._create_index(self.index if self.pinned is not None else self._resolve())
            return
        first = index_name(self.prefix, VIEW_VERSION)
        self._create_index(first)
        actions = [
            {"add": {"index": first, "alias": alias}}
            for alias in (alias_name(self.prefix, READERS), alias_name(self.prefix, WRITERS))
            if aliased(self.client, alias) is None
        ]
        self.client.indices.update_aliases(body={"actions": actions})
        self._resolve()

    def _create_index(self, index: str) -> None:
        """Create the index, or add the fields the mapping gained since it was created."""
        if not self.client.indices.exists(index=index):
            body = {"settings": self.settings, "mappings": MAPPING}
            self.client.indices.create(index=index, body=body)
        else:
            self.client.indices.put_mapping(index=index, body=MAPPING)

    def defer_refresh(self) -> None:
        """Stop refreshing this view's index, per batch and periodically (a rebuild's)."""
        self.refresh = "false"
        body = {"index.refresh_interval": "-1"}
        self.client.indices.put_settings(index=self.index, body=body)

    def drop(self) -> None:
        """Delete every version's index under the prefix, with their aliases (tests)."""
        for index in self.client.indices.get(index=f"{self.prefix}catalog-search-v*"):
            self.client.indices.delete(index=index, ignore_unavailable=True)

    def positions(self) -> dict[str, int]:
        """The tracking document: the last projected position of each log.

        A live writer first resolves its alias, and works on that index from then on. A
        reader's missing alias is a NotFoundError (the view is not created yet).
        """
        with unavailable_is_transient():
            if self.pinned is None and self.follows == WRITERS:
                self._resolve()
                return tracked(self.client, self.index)
            return tracked(self.client, self.target, strict=self.pinned is None)

    def completeness(self) -> Completeness:
        """The positions and the completeness target left (projections.completeness)."""
        with unavailable_is_transient():
            if self.pinned is None and self.follows == WRITERS:
                self._resolve()
                return completeness_at(self.client, self.index)
            return completeness_at(self.client, self.target)

    def start_empty(self, target: dict[str, int]) -> dict[str, int]:
        """Record target and a position of 0 per log, if the index has no tracking document.

        The target document is written first: a tracking document never stands without it.
        """
        heads = {log: head for log, head in target.items() if head > 0}
        with unavailable_is_transient():
            if heads:
                body = {"kind": "target", "positions": heads}
                self.client.index(index=self.index, id=TARGET_ID, body=body)
            zeros = {"kind": "tracking", "positions": dict.fromkeys(target, 0)}
            try:
                self.client.index(index=self.index, id=TRACKING_ID, body=zeros, op_type="create")
            except ConflictError:
                return tracked(self.client, self.index)
        return dict.fromkeys(target, 0)

    def search(self, query: SearchQuery) -> SearchResult:
        """One page of matches with total and facets; OpenSearchUnavailable on a 429 or 5xx.

        ViewIncomplete if the version searched is not complete: its tracking and target
        documents are read (realtime) first, and a live view refreshes each batch's documents
        before it moves its tracking, so a complete one's are all searchable.
        """
        with unavailable_is_transient():
            if not completeness_at(self.client, self.target).complete:
                raise ViewIncomplete(CatalogSearchProjection.name)
            answer = self.client.search(index=self.target, body=search_body(query))
        return search_result(answer)

    @contextmanager
    def unit_of_work(self) -> Iterator[OpenSearchCatalogSearchUnit]:
        """Collect a batch's intents, then write its documents and, last, its position.

        A live writer whose index was blocked or deleted because the writers' alias moved
        raises ViewVersionMoved, and resolves the alias again when it rereads positions.
        """
        unit = OpenSearchCatalogSearchUnit()
        yield unit
        if unit.tracked is None:
            raise ValueError("a unit of work must track the position it reaches")
        try:
            with unavailable_is_transient():
                self._apply(unit, *unit.tracked)
        except (BulkWriteFailed, AuthorizationException, NotFoundError) as error:
            if self.pinned is None and aliased(self.client, self.alias) != self.index:
                raise ViewVersionMoved(f"{self.alias} no longer names {self.index}") from error
            raise

    def _resolve(self) -> str:
        """Point the view at the index its alias names now (NotFoundError if none)."""
        index = aliased(self.client, self.alias)
        if index is None:
            raise NotFoundError(404, "alias_not_found", {"alias": self.alias})
        self.index, self.version = index, version_of(self.prefix, index)
        return index

    def _apply(
        self, unit: OpenSearchCatalogSearchUnit, log: str, after: int, position: int
    ) -> None:
        sellers = [f"seller:{s}" for s in sorted(unit.sellers)]
        links = [f"stock:{s}" for s in sorted(unit.stock)]
        found = self._mget([TRACKING_ID, TARGET_ID, *sellers, *links, *sorted(unit.products)])
        tracking = found.pop(TRACKING_ID, None)
        target = found.pop(TARGET_ID, None)
        positions = _positions(tracking["_source"]) if tracking else {}
        if positions.get(log, 0) != after:
            raise PositionMoved(f"{log} is at {positions.get(log, 0)} in the view, not {after}")
        batch = self._batch(unit, {key: doc["_source"] for key, doc in found.items()})
        for op in unit.ops:
            op(batch)
        self._write(batch, log, position)
        moved = {**positions, log: position}
        self._move_tracking(moved, tracking)
        if target is not None and positions_reached(moved, _positions(target["_source"])):
            self.client.delete(index=self.index, id=TARGET_ID, ignore=[404])

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
        found: dict[str, Doc] = {}
        for response in self._senders.map(self._mget_one, _split(ids)):
            failed = [doc for doc in response["docs"] if "error" in doc]
            if failed:
                raise OpenSearchUnavailable(f"{failed[0]['_id']}: {failed[0]['error']}")
            found.update((doc["_id"], doc) for doc in response["docs"] if doc.get("found"))
        return found

    def _mget_one(self, ids: list[str]) -> dict[str, Any]:
        return cast(dict[str, Any], self.client.mget(index=self.index, body={"ids": ids}))

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
        pairs = [actions[n : n + 2] for n in range(0, len(actions), 2)]
        bodies = [
            b"".join(orjson.dumps(part) + b"\n" for pair in chunk for part in pair)
            for chunk in _split(pairs)
        ]
        for response in self._senders.map(self._bulk, bodies):
            _raise_unless_written_or_newer(response)

    def _bulk(self, body: bytes) -> dict[str, Any]:
        return cast(dict[str, Any], self.client.bulk(body=body, refresh=self.refresh))


def _split(items: list[T]) -> list[list[T]]:
    """items in BULK_REQUESTS_AT_ONCE requests or more, of at most DOCS_PER_REQUEST each."""
    size = min(DOCS_PER_REQUEST, max(1, -(-len(items) // BULK_REQUESTS_AT_ONCE)))
    return [items[start : start + size] for start in range(0, len(items), size)]


def _positions(tracking: Doc) -> dict[str, int]:
    """The positions a tracking document holds."""
    return {str(k): int(v) for k, v in tracking.get("positions", {}).items()}


def _raise_unless_written_or_newer(response: dict[str, Any]) -> None:
    """Accept written items and 409s (a newer or equal version is already stored)."""
    if not response.get("errors"):
        return
    for item in response["items"]:
        ((_, result),) = item.items()
        if unavailable(result.get("status")):
            raise OpenSearchUnavailable(f"{result.get('_id')}: {result.get('error')}")
        if result.get("status", 500) >= 300 and result.get("status") != 409:
            raise BulkWriteFailed(f"{result.get('_id')}: {result.get('error')}")
