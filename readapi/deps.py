"""What the query API needs, and the dependency naming the caller of a private read."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, Generic, Protocol, TypeVar

from fastapi import Depends

from infra.auth import ROLES, Principal, Role, TokenCodec
from infra.blobs import BlobStore
from infra.web import caller_in
from projections.carts.redis_view import RedisCartView
from projections.catalog_search.search import CatalogSearch
from projections.completeness import Completeness
from projections.marketplace_figures.postgres_view import PostgresMarketplaceFiguresView
from projections.orders.postgres_view import PostgresOrderHistoryView
from projections.product_detail.redis_view import RedisProductDetailView
from projections.seller_sales.postgres_view import PostgresSellerSalesView


class PositionedView(Protocol):
    """A view a client can wait on: it reports how far it has projected each log."""

    transient_errors: tuple[type[BaseException], ...]

    def positions(self) -> dict[str, int]:
        """The last projected position of each log."""
        ...

    def completeness(self) -> Completeness:
        """The positions and what is left of the completeness target (readiness shows it)."""
        ...


class SearchView(PositionedView, CatalogSearch, Protocol):
    """A catalog-search view a client can wait on."""

    def close(self) -> None:
        """Release the view's connections."""
        ...


V = TypeVar("V", bound=PositionedView)


@dataclass(frozen=True)
class Followed(Generic[V]):
    """A view with the name of its projection, the logs that projection follows, and the
    kind of store it lives in (as readiness names it)."""

    name: str
    view: V
    logs: tuple[str, ...]
    store: str


@dataclass
class ReadApiDeps:
    """The query API's dependencies, built by the composition root."""

    product_detail: Followed[RedisProductDetailView]
    catalog_search: Followed[SearchView]
    carts: Followed[RedisCartView]
    orders: Followed[PostgresOrderHistoryView]
    seller_sales: Followed[PostgresSellerSalesView]
    marketplace_figures: Followed[PostgresMarketplaceFiguresView]
    blobs: BlobStore
    tokens: TokenCodec
    max_wait_seconds: float = 2.0
    store_timeout_seconds: float = 1.0
    """Each read store call's bound (deadlines.read_store_timeout_seconds); readiness answers
    within twice it."""

    def closers(self) -> tuple[Callable[[], object], ...]:
        """What releases the views' clients and pools (the carts view shares product detail's
        Redis client; the seller-sales and marketplace-figures views share the order history's
        pool)."""
        product_detail = self.product_detail.view
        return (
            product_detail.client.close,
            product_detail.aclose,
            self.catalog_search.view.close,
            self.orders.view.close,
        )

    def views(self) -> tuple[Followed[Any], ...]:
        """Every view the API reads."""
        return (
            self.product_detail,
            self.catalog_search,
            self.carts,
            self.orders,
            self.seller_sales,
            self.marketplace_figures,
        )


def caller_as(*roles: Role) -> Callable[..., Awaitable[Principal]]:
    """A dependency naming a caller in one of the roles: 401 without a valid token, else 403."""
    return caller_in(roles, "read this")


Caller = Annotated[Principal, Depends(caller_as(*ROLES))]
