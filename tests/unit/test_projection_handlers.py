"""Projections find handlers by event class; an event that no handler takes is passed over."""

from __future__ import annotations

import inspect
import types
import typing
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from domain import cart, customer, fulfilment, inventory, order, product, seller
from domain.base import Context, MarketplaceAggregate
from domain.cart import Cart
from domain.customer import Customer
from domain.fulfilment import Fulfilment
from domain.inventory import StockItem
from domain.order import Order
from domain.product import Product
from domain.seller import Seller
from projections.carts.projection import CartProjection
from projections.catalog_search.projection import CatalogSearchProjection
from projections.handlers import handles
from projections.orders.projection import OrderHistoryProjection
from projections.product_detail.projection import ProductDetailProjection
from projections.runtime import Projection
from projections.seller_sales.projection import SellerSalesProjection
from workers.checkout.book_projection import CheckoutBookProjection
from workers.checkout.manager import CheckoutManager
from workers.images.worker import ImageProjection
from workers.labels import LabelProjection
from workers.notify.projection import NotificationProjection


class Animal:
    pass


class Dog(Animal):
    pass


class Puppy(Dog):
    pass


class Stone:
    pass


@dataclass
class Notes:
    seen: list[tuple[str, str]] = field(default_factory=list)

    def track(self, log: str, after: int, position: int) -> None:
        pass


class Keeper(Projection[Notes]):
    name = "keeper"
    contexts = ("zoo",)

    @handles(Animal)
    def feed(self, event: Animal, unit: Notes) -> None:
        unit.seen.append(("feed", type(event).__name__))

    @handles(Dog)
    def walk(self, event: Dog, unit: Notes) -> None:
        unit.seen.append(("walk", type(event).__name__))


def projected(projection: Projection[Notes], *events: object) -> list[tuple[str, str]]:
    notes = Notes()
    for event in events:
        projection.project(event, notes)
    return notes.seen


def test_a_handled_event_is_applied_and_an_unrelated_one_passed_over() -> None:
    assert projected(Keeper(), Stone(), Animal(), Stone()) == [("feed", "Animal")]


def test_a_handler_for_a_base_class_takes_its_subclasses_unless_a_nearer_one_does() -> None:
    assert projected(Keeper(), Dog(), Puppy()) == [("walk", "Dog"), ("walk", "Puppy")]
    assert Keeper.handler_for(Puppy) is Keeper.walk
    assert Keeper.handler_for(Stone) is None


def test_a_subclass_inherits_its_bases_handlers_and_may_override_one() -> None:
    class PuppyKeeper(Keeper):
        @handles(Puppy)
        def carry(self, event: Puppy, unit: Notes) -> None:
            unit.seen.append(("carry", type(event).__name__))

    class Groomer(Keeper):
        @handles(Dog)
        def groom(self, event: Dog, unit: Notes) -> None:
            unit.seen.append(("groom", type(event).__name__))

    assert projected(PuppyKeeper(), Animal(), Dog(), Puppy()) == [
        ("feed", "Animal"),
        ("walk", "Dog"),
        ("carry", "Puppy"),
    ]
    assert projected(Groomer(), Puppy()) == [("groom", "Puppy")]
    assert projected(Keeper(), Puppy()) == [("walk", "Puppy")]


def test_one_handler_may_take_several_classes_but_a_class_has_one_handler_per_class_body() -> None:
    class Mover(Projection[Notes]):
        name = "mover"
        contexts = ("zoo",)

        @handles(Dog, Stone)
        def move(self, event: Any, unit: Notes) -> None:
            unit.seen.append(("move", type(event).__name__))

    assert projected(Mover(), Stone(), Puppy(), Animal()) == [("move", "Stone"), ("move", "Puppy")]

    with pytest.raises(TypeError, match="handles Dog twice"):

        class Twice(Projection[Notes]):
            @handles(Dog)
            def one(self, event: Dog, unit: Notes) -> None: ...

            @handles(Dog)
            def other(self, event: Dog, unit: Notes) -> None: ...


def test_only_plain_methods_can_be_handlers() -> None:
    with pytest.raises(TypeError, match="plain methods"):
        handles(Dog)(staticmethod(lambda event, unit: None))


PROJECTIONS: dict[type[Projection[Any]], set[type]] = {
    CartProjection: {
        Cart.Created,
        Cart.ItemAdded,
        Cart.QuantityChanged,
        Cart.ItemRemoved,
        Cart.Cleared,
    },
    CatalogSearchProjection: {
        Seller.Registered,
        Seller.ProfileUpdated,
        Product.Listed,
        Product.DetailsUpdated,
        Product.PriceChanged,
        Product.Delisted,
        Product.ImageAdded,
        Product.ImagesReordered,
        Product.ImageRemoved,
        Product.ImageVariantRendered,
        Product.ImageFailed,
        StockItem.Opened,
        StockItem.StockReceived,
        StockItem.StockAdjusted,
        StockItem.UnitsReserved,
        StockItem.ReservationReleased,
        StockItem.ReservationCommitted,
        StockItem.SaleCancelled,
    },
    ProductDetailProjection: {
        Seller.Registered,
        Seller.ProfileUpdated,
        Seller.Suspended,
        Product.Listed,
        Product.DetailsUpdated,
        Product.PriceChanged,
        Product.Delisted,
        Product.ImageAdded,
        Product.ImagesReordered,
        Product.ImageRemoved,
        Product.ImageVariantRendered,
        Product.ImageFailed,
        StockItem.Opened,
        StockItem.StockReceived,
        StockItem.StockAdjusted,
        StockItem.UnitsReserved,
        StockItem.ReservationReleased,
        StockItem.ReservationCommitted,
        StockItem.SaleCancelled,
    },
    CheckoutBookProjection: {
        Order.Placed,
        Order.StockReserved,
        Order.PaymentAuthorised,
        Order.Confirmed,
        Order.Rejected,
        Order.PaymentFailed,
        Order.PaymentVoided,
        Order.Cancelled,
        Order.Expired,
        Order.PaymentCaptured,
        Order.Refunded,
    },
    NotificationProjection: {
        Customer.Registered,
        Customer.Erased,
        Seller.Registered,
        Seller.ProfileUpdated,
        Order.Placed,
        Order.Confirmed,
        Order.Shipped,
        Order.Cancelled,
        Order.Expired,
    },
    OrderHistoryProjection: {
        Order.Placed,
        Order.StockReserved,
        Order.Rejected,
        Order.PaymentAuthorised,
        Order.PaymentFailed,
        Order.Confirmed,
        Order.Cancelled,
        Order.Expired,
        Order.PaymentVoided,
        Order.Shipped,
        Order.Delivered,
        Order.PaymentCaptured,
        Order.Refunded,
        Fulfilment.Opened,
        Fulfilment.LabelAttached,
        Customer.Erased,
    },
    SellerSalesProjection: {Order.Placed, Order.Confirmed, Order.Cancelled, Order.Refunded},
    LabelProjection: {Fulfilment.Opened},  # it notes the owner; labels in prepare
    ImageProjection: set(),  # it renders in prepare, outside the view transaction
}
PROJECTIONS[CheckoutManager] = PROJECTIONS[CheckoutBookProjection]


def domain_events() -> set[type]:
    """Every event class of every aggregate in the domain."""
    modules = (cart, customer, fulfilment, inventory, order, product, seller)
    aggregates = {
        value
        for module in modules
        for value in vars(module).values()
        if inspect.isclass(value)
        and issubclass(value, MarketplaceAggregate)
        and value is not MarketplaceAggregate
    }
    return {
        value
        for aggregate in aggregates
        for value in vars(aggregate).values()
        if inspect.isclass(value)
        and issubclass(value, aggregate.Event)
        and value.__name__ != "Event"
    }


@pytest.mark.parametrize("projection", list(PROJECTIONS), ids=lambda p: p.__name__)
def test_each_projection_takes_exactly_its_events(projection: type[Projection[Any]]) -> None:
    taken = {event for event in domain_events() if projection.handler_for(event) is not None}

    assert taken == PROJECTIONS[projection]


@pytest.mark.parametrize("projection", list(PROJECTIONS), ids=lambda p: p.__name__)
def test_each_handler_is_annotated_with_the_events_it_takes(
    projection: type[Projection[Any]],
) -> None:
    for event_type, handler in projection.handlers.items():
        hint = typing.get_type_hints(handler)["event"]
        annotated = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
        assert event_type in annotated, (handler.__qualname__, event_type)


class Recorder:
    """A unit that records every call made to it."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def __getattr__(self, name: str) -> Any:
        return lambda *args: self.calls.append((name, args))


def test_a_real_projection_applies_its_events_and_passes_over_another_contexts() -> None:
    ctx = Context(datetime(2025, 1, 1, tzinfo=UTC), "ann", "customer", "r", "c", "c")
    registered = Customer.register(uuid.uuid4(), "Ann", "ann@x.test", ctx).collect_events()
    basket = Cart.create(uuid.uuid4(), ctx)
    basket.add_item(product_id := uuid.uuid4(), 2, "EUR", ctx)
    created, added = basket.collect_events()
    unit = Recorder()

    for event in (*registered, created, added):
        CartProjection().project(event, unit)

    assert unit.calls == [
        ("open_cart", (basket.id, basket.shopper_id, 0)),
        ("add_units", (basket.id, product_id, 2, 1)),
    ]
