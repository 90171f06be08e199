"""A shop to check out in: sellers, products with stock, shoppers with carts, and a gateway."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import psycopg

from commands.services import Commands
from domain.base import Context
from domain.errors import DomainError
from domain.inventory import StockItem, stock_item_id
from domain.money import Money
from domain.order import Order, order_id_for
from domain.order_lines import OrderStatus
from domain.seller import Seller
from infra.settings import Settings
from tests.conftest import free_port
from workers.checkout.manager import run_until

ADDRESS = {
    "line1": "1 Loop Rd",
    "line2": "",
    "city": "Lyon",
    "postal_code": "69001",
    "country": "FR",
}
FINAL = frozenset(
    {
        OrderStatus.CONFIRMED,
        OrderStatus.REJECTED,
        OrderStatus.PAYMENT_FAILED,
        OrderStatus.EXPIRED,
        OrderStatus.CANCELLED,
    }
)


def database_now(url: str) -> datetime:
    """The database's clock, read on a connection of its own."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT clock_timestamp()").fetchone()
    assert row is not None
    return row[0]


def acting(actor: uuid.UUID, role: str) -> Context:
    """A context for actor in role, now."""
    return Context(datetime.now(UTC), str(actor), role, "req", "corr", "cause")


@dataclass
class Shop:
    """Drives the command side directly, as the command API would."""

    commands: Commands
    expiry: timedelta = timedelta(minutes=15)
    seller: uuid.UUID = field(default_factory=uuid.uuid4)
    shoppers: list[uuid.UUID] = field(default_factory=list)
    address_ids: dict[uuid.UUID, uuid.UUID] = field(default_factory=dict)

    def open(self) -> None:
        """Register the seller, with a ship-from address."""
        ctx = acting(self.seller, "seller")
        self.commands.catalog.register_seller(self.seller, "Acme", "sales@acme.test", ctx)
        address = {"name": "Acme", **ADDRESS, "city": "Ghent"}
        self.commands.catalog.change(self.seller, Seller, lambda s: s.set_address(address, ctx))

    def product(self, units: int, price_minor: int = 1999) -> uuid.UUID:
        """List a product with units in stock."""
        product_id = uuid.uuid4()
        ctx = acting(self.seller, "seller")
        self.commands.catalog.list_product(
            product_id, self.seller, "Flash kettle", "d", "home", {}, Money(price_minor, "EUR"), ctx
        )
        self.commands.receive_stock(product_id, units, ctx)
        return product_id

    def register_shoppers(self, count: int, threads: int = 8) -> None:
        """Register count shoppers, each with an address and a cart."""

        def register(n: int) -> uuid.UUID:
            shopper, address = uuid.uuid4(), uuid.uuid4()
            ctx = acting(shopper, "shopper")
            self.commands.customers.register_customer(shopper, f"Shopper {n}", f"s{n}@x.test", ctx)
            self.commands.customers.add_address(shopper, address, ADDRESS, ctx, None)
            self.commands.carts.create_cart(shopper, ctx)
            self.address_ids[shopper] = address
            return shopper

        with ThreadPoolExecutor(threads) as pool:
            self.shoppers.extend(pool.map(register, range(count)))

    def fill_carts(
        self, product_id: uuid.UUID, shoppers: list[uuid.UUID], threads: int = 8
    ) -> None:
        """Put one unit of the product in each shopper's cart."""
        from domain.cart import cart_id_for

        def fill(shopper: uuid.UUID) -> None:
            ctx = acting(shopper, "shopper")
            self.commands.add_to_cart(cart_id_for(shopper), product_id, 1, ctx)

        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(fill, shoppers))

    def check_out(self, shopper: uuid.UUID, key: str) -> uuid.UUID:
        """Check out the shopper's cart; return the order id."""
        ctx = acting(shopper, "shopper")
        outcome = self.commands.check_out(
            shopper, self.address_ids[shopper], key, datetime.now(UTC) + self.expiry, ctx
        )
        assert outcome.aggregate_id == order_id_for(shopper, key)
        return outcome.aggregate_id

    def check_out_all(
        self, shoppers: list[uuid.UUID], key: str, threads: int = 16
    ) -> list[uuid.UUID]:
        """Check out every shopper's cart at once."""
        with ThreadPoolExecutor(threads) as pool:
            return list(pool.map(lambda s: self.check_out(s, key), shoppers))

    def order(self, order_id: uuid.UUID) -> Order:
        """The order as stored."""
        return self.commands.orders.order(order_id)

    def stock(self, product_id: uuid.UUID) -> StockItem:
        """The stock item as stored."""
        return self.commands.inventory.load(stock_item_id(product_id), StockItem)

    def wait_until_final(
        self, order_ids: list[uuid.UUID], seconds: float, final: frozenset[str] = FINAL
    ) -> dict[uuid.UUID, Order]:
        """Wait until every order is in a final state; fail naming the ones that are not."""
        deadline = time.monotonic() + seconds
        orders: dict[uuid.UUID, Order] = {}
        while True:
            orders = {order_id: self.order(order_id) for order_id in order_ids}
            waiting = [o for o in orders.values() if o.status not in final]
            if not waiting:
                return orders
            if time.monotonic() > deadline:
                statuses = sorted({str(o.status) for o in waiting})
                raise AssertionError(f"{len(waiting)} orders still {statuses} after {seconds} s")
            time.sleep(0.1)


@contextmanager
def checkout_worker(settings: Settings, gateway: Any = None) -> Iterator[threading.Event]:
    """The checkout worker's loops in threads of this process, stopped on exit."""
    from workers.checkout.manager import gateway_client

    stop = threading.Event()
    failure: list[BaseException] = []

    def work() -> None:
        try:
            run_until(stop, settings, gateway or gateway_client(settings))
        except BaseException as error:  # re-raised in the test below
            failure.append(error)

    thread = threading.Thread(target=work, name="checkout-worker", daemon=True)
    thread.start()
    try:
        yield stop
    finally:
        stop.set()
        thread.join(timeout=60)
    assert not failure, f"the checkout worker stopped: {failure[0]!r}"
    assert not thread.is_alive(), "the checkout worker did not stop"


@dataclass
class Gateway:
    """The sandbox gateway process and its admin endpoints."""

    url: str
    process: subprocess.Popen[bytes]

    def faults(self, **faults: Any) -> None:
        """Set the gateway's faults (unnamed ones keep their values)."""
        response = httpx.put(f"{self.url}/admin/faults", json=faults, timeout=5)
        response.raise_for_status()

    def reset(self) -> None:
        """Forget every payment and clear every fault."""
        httpx.post(f"{self.url}/admin/reset", timeout=5).raise_for_status()

    def charges(self) -> list[dict[str, Any]]:
        """Every authorisation the gateway made."""
        response = httpx.get(f"{self.url}/admin/charges", timeout=5)
        response.raise_for_status()
        body = response.json()
        return list(body["charges"] if isinstance(body, dict) else body)


@contextmanager
def sandbox_gateway() -> Iterator[Gateway]:
    """Start `marketplace gateway` on a free port; stop it on exit."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MARKETPLACE_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "marketplace.cli", "gateway", "--port", str(port)],
        env=env | {"MARKETPLACE_GATEWAY_PORT": str(port)},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: httpx.get(f"{url}/healthz", timeout=1).status_code == 200, 30)
        yield Gateway(url, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def wait_for(ready: Callable[[], bool], seconds: float) -> None:
    """Poll ready() until it is true; fail after seconds."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if ready():
                return
        except (httpx.HTTPError, DomainError):
            pass
        time.sleep(0.1)
    raise AssertionError(f"not ready after {seconds} s")
