"""The query API's reads of catalog search, on either store."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import structlog

from projections.catalog_search.search import (
    PRICE_BUCKETS,
    FacetBucket,
    Facets,
    SearchQuery,
    SearchResult,
)

log = structlog.get_logger()


class SearchableView(Protocol):
    """A catalog-search view as readers see it."""

    transient_errors: tuple[type[BaseException], ...]

    def positions(self) -> dict[str, int]:
        """How far into each log the view has projected."""

    def search(self, query: SearchQuery) -> SearchResult:
        """The page of products matching query, with total and facets."""


def no_match() -> SearchResult:
    """The answer of a view that holds no product."""
    prices = tuple(FacetBucket(bucket.key, 0) for bucket in PRICE_BUCKETS)
    return SearchResult(hits=(), total=0, facets=Facets((), (), prices))


class EmptyUntilCreated:
    """A view read before its projector has created it: no positions, no matches (not a 500).

    missing are the store's errors for a view that does not exist yet. earlier, if given, is
    read while view is missing: the OpenSearch index of a deployment from before the aliases,
    until its upgraded projector adds them. close releases the view's pool or client.
    """

    def __init__(
        self,
        view: SearchableView,
        missing: tuple[type[Exception], ...],
        close: Callable[[], None],
        earlier: SearchableView | None = None,
    ) -> None:
        self.view = view
        self.missing = missing
        self.earlier = earlier
        self.transient_errors = view.transient_errors
        self.close = close

    def positions(self) -> dict[str, int]:
        """The view's positions, or none while it does not exist."""
        for view in (self.view, self.earlier):
            try:
                if view is not None:
                    return view.positions()
            except self.missing as error:
                log.debug("catalog_search_not_created", error=repr(error))
        return {}

    def search(self, query: SearchQuery) -> SearchResult:
        """The view's answer, or an empty one while it does not exist."""
        for view in (self.view, self.earlier):
            try:
                if view is not None:
                    return view.search(query)
            except self.missing as error:
                log.debug("catalog_search_not_created", error=repr(error))
        return no_match()
