"""Recent reads: a moment's copy for checks on other aggregates, forgotten on a local change."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import pytest

from commands.catalog import CatalogApplication
from domain.base import Context
from domain.errors import NotFound
from domain.money import Money
from domain.product import Product
from domain.seller import Seller

SELLER = uuid4()
CTX = Context(datetime(2026, 11, 27, tzinfo=UTC), str(SELLER), "seller", "r", "c", "c")


def catalog_with_a_product() -> tuple[CatalogApplication, Product]:
    app = CatalogApplication({"PERSISTENCE_MODULE": "eventsourcing.popo"})
    app.register_seller(SELLER, "Acme", "acme@example.com", CTX)
    product_id = uuid4()
    app.list_product(product_id, SELLER, "Kettle", "", "home", {}, Money(2500, "EUR"), CTX)
    return app, app.load(product_id, Product)


def test_a_recent_read_is_served_again_without_loading() -> None:
    app, product = catalog_with_a_product()
    first = app.recent(product.id, Product)
    assert app.recent(product.id, Product) is first


def test_a_change_made_here_is_seen_at_once() -> None:
    app, product = catalog_with_a_product()
    assert not app.recent(product.id, Product).delisted
    app.delist_product(product.id, "recalled", CTX, None)
    assert app.recent(product.id, Product).delisted


def test_a_recent_read_of_another_kind_is_not_found() -> None:
    app, product = catalog_with_a_product()
    app.recent(product.id, Product)
    with pytest.raises(NotFound):
        app.recent(product.id, Seller)
