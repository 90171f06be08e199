"""Hosts whose clocks disagree still give an order its whole payment deadline, and a lease its term.

The command API (as the composition root builds it) takes a checkout in this process with its
wall clock moved by time-machine; the checkout worker's loops then run here with a skew of
their own. Deadlines and leases are measured in the database's time, which no host's wall
clock moves.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import psycopg
import pytest
import time_machine
from prometheus_client import REGISTRY
from starlette.testclient import TestClient

from domain.cart import cart_id_for
from domain.order import Order
from domain.order_lines import OrderStatus
from infra.apps import Serving
from infra.settings import Settings
from marketplace.bootstrap import build_write_deps
from tests.checkout.shop import Gateway, Shop, checkout_worker, database_now, wait_for
from workers.checkout.book import TABLES
from writeapi.app import create_app

pytestmark = pytest.mark.postgres

EXPIRY = timedelta(minutes=15)
SET_WITHIN = timedelta(seconds=5)
"""How much later than the checkout's own time (in the database's) its deadline may be set:
the clock reads ahead by one query's round trip at most."""
SKEW_BOUND = timedelta(seconds=30)
WAIT_SECONDS = 60.0
WAIT = timedelta(seconds=WAIT_SECONDS)
MINUTE = timedelta(minutes=1)


@contextmanager
def skewed(by: timedelta) -> Iterator[None]:
    """This process's wall clock runs by ahead (or behind, if negative) while inside."""
    with time_machine.travel(datetime.now(UTC) + by, tick=True):
        yield


def skew_gauge() -> timedelta:
    """This process's clock_skew_seconds, as its metrics endpoint serves it."""
    value = REGISTRY.get_sample_value("clock_skew_seconds")
    assert value is not None
    return timedelta(seconds=value)


def check_out_through_the_api(
    shop: Shop, settings: Settings, shopper: uuid.UUID
) -> tuple[uuid.UUID, str]:
    """POST the shopper's checkout to the command API the composition root builds: the order,
    and what the API's /metrics served then."""
    api_settings = settings.updated(
        environment="test", checkout={"expiry_seconds": int(EXPIRY.total_seconds())}
    )
    deps = build_write_deps(api_settings, sold_out_fast_path=False)
    app = create_app(deps, Serving(owned=(deps.commands.close, deps.idempotency.close)))
    headers = {
        "Authorization": f"Bearer {deps.tokens.issue(shopper, 'shopper')}",
        "Idempotency-Key": "skewed",
    }
    body = {"address_id": str(shop.address_ids[shopper])}
    with TestClient(app) as client:
        response = client.post(
            f"/v1/carts/{cart_id_for(shopper)}/checkout", json=body, headers=headers
        )
        metrics = client.get("/metrics").text
    assert response.status_code == 202, response.text
    return uuid.UUID(response.json()["order_id"]), metrics


@pytest.mark.parametrize(
    ("api_skew", "worker_skew"),
    [(-5 * MINUTE, 5 * MINUTE), (5 * MINUTE, -5 * MINUTE), (-17 * MINUTE, timedelta(0))],
    ids=["api-5-min-slow-worker-5-min-fast", "api-5-min-fast-worker-5-min-slow", "api-17-min-slow"],
)
def test_a_skewed_command_api_and_worker_give_the_whole_payment_deadline(
    shop: Shop, settings: Settings, api_skew: timedelta, worker_skew: timedelta
) -> None:
    product = shop.product(1)
    shop.register_shoppers(1)
    (shopper,) = shop.shoppers
    shop.fill_carts(product, [shopper])

    before = database_now(str(settings.postgres.url))
    with skewed(api_skew):
        order_id, metrics = check_out_through_the_api(shop, settings, shopper)
        api_skew_seen = skew_gauge()
    after = database_now(str(settings.postgres.url))
    deadline = shop.order(order_id).expires_at
    with skewed(worker_skew), checkout_worker(settings):
        order = shop.wait_until_final([order_id], WAIT_SECONDS)[order_id]
        if order.status is OrderStatus.CONFIRMED:  # its units are sold next
            wait_for(lambda: shop.stock(product).sold == 1, WAIT_SECONDS)
        worker_skew_seen = skew_gauge()

    assert before + EXPIRY <= deadline <= after + EXPIRY + SET_WITHIN
    assert order.status is OrderStatus.CONFIRMED  # reserved and paid, not expired at once
    assert "clock_skew_seconds" in metrics
    assert abs(api_skew_seen - api_skew) < SKEW_BOUND
    assert abs(worker_skew_seen - worker_skew) < SKEW_BOUND


def hold_a_lease(url: str, term: timedelta) -> uuid.UUID:
    """A refund job another worker claimed and holds for term more (by the database's clock)."""
    order_id = uuid.uuid4()
    with psycopg.connect(url, autocommit=True) as conn:
        for statement in TABLES:
            conn.execute(statement)
        conn.execute(
            "INSERT INTO checkout_payment_jobs (order_id, kind, reference, amount_minor, "
            "currency, payment_id, due_at, attempts) VALUES (%s, 'refund', 'r1', 100, 'EUR', "
            "'pay-held', clock_timestamp() + %s, 1)",
            (order_id, term),
        )
    return order_id


def attempts(url: str, order_id: uuid.UUID) -> list[int]:
    """How often each payment job of the order was claimed."""
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT attempts FROM checkout_payment_jobs WHERE order_id = %s", (order_id,)
        ).fetchall()
    return [row[0] for row in rows]


def test_a_worker_20_minutes_fast_expires_no_order_early_and_steals_no_lease(
    shop: Shop, settings: Settings
) -> None:
    url = str(settings.postgres.url)
    product = shop.product(1)
    shop.register_shoppers(1)
    shop.fill_carts(product, shop.shoppers)
    held = hold_a_lease(url, timedelta(minutes=10))
    order_id = shop.check_out(shop.shoppers[0], "fast-worker")  # a 15-minute deadline

    with skewed(20 * MINUTE), checkout_worker(settings):
        # The payment loop claimed this order's authorisation after the held job was due by
        # its own clock: had it gone by that clock, it would have claimed both at once.
        order = shop.wait_until_final([order_id], WAIT_SECONDS)[order_id]

    assert order.status is OrderStatus.CONFIRMED
    assert attempts(url, held) == [1]


def test_a_worker_20_minutes_slow_expires_an_order_at_its_deadline(
    shop: Shop, settings: Settings, gateway: Gateway
) -> None:
    settings = settings.updated(payments={"timeout_seconds": 0.5, "attempts": 1})
    gateway.faults(stall=True, hang_seconds=30)
    shop.expiry = timedelta(seconds=3)
    product = shop.product(1)
    shop.register_shoppers(1)
    shop.fill_carts(product, shop.shoppers)
    try:
        order_id = shop.check_out(shop.shoppers[0], "slow-worker")
        with skewed(-20 * MINUTE), checkout_worker(settings):
            order = shop.wait_until_final([order_id], WAIT_SECONDS)[order_id]
            wait_for(lambda: shop.stock(product).reserved == 0, WAIT_SECONDS)
    finally:
        gateway.faults(stall=False)

    events = shop.commands.orders.repository.event_store.get(order_id)
    (expired,) = [event for event in events if isinstance(event, Order.Expired)]
    assert order.status is OrderStatus.EXPIRED
    assert order.expires_at <= expired.timestamp < order.expires_at + WAIT
    assert shop.stock(product).available == 1
