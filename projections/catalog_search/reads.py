"""The query API's reads of catalog search, on either store."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import structlog

from projections.catalog_search.projection import CatalogSearchProjection
from projections.catalog_search.search import SearchQuery, SearchResult
from projections.completeness import Completeness, ViewIncomplete

log = structlog.get_logger()


class SearchableView(Protocol):
    """A catalog-search view as readers see it."""

    transient_errors: tuple[type[BaseException], ...]

    def positions(self) -> dict[str, int]:
        """How far into each log the view has projected."""

    def completeness(self) -> Completeness:
        """The positions and the completeness target left (projections.completeness)."""

    def search(self, query: SearchQuery) -> SearchResult:
        """The page of products matching query, with total and facets."""


class EmptyUntilCreated:
    """A view read before its projector has created it: no positions, and searches answer
    ViewIncomplete (503), as they do while it is first built: never a partial answer.

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

    def completeness(self) -> Completeness:
        """The view's positions and target left, or none while it does not exist."""
        for view in (self.view, self.earlier):
            try:
                if view is not None:
                    return view.completeness()
            except self.missing as error:
                log.debug("catalog_search_not_created", error=repr(error))
        return Completeness({})

    def search(self, query: SearchQuery) -> SearchResult:
        """The view's answer; ViewIncomplete while it does not exist or is incomplete."""
        for view in (self.view, self.earlier):
            try:
                if view is not None:
                    return view.search(query)
            except self.missing as error:
                log.debug("catalog_search_not_created", error=repr(error))
        raise ViewIncomplete(CatalogSearchProjection.name, "not created yet")
