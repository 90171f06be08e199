"""An order whose deadline passes while the payment breaker is open fails cleanly.

Orders wait in "payment pending" (stock reserved) while the breaker refuses every call;
one whose deadline comes first is expired by the deadline loop, its stock goes back, and
the gateway never hears of it. The worker keeps going and stops promptly.
"""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

import httpx
import psycopg
import pytest
from prometheus_client import CollectorRegistry

from domain.order_lines import OrderStatus
from infra.payments.breaker import BreakerMetrics, BreakerState
from infra.payments.client import ClientMetrics, PaymentsClient
from infra.settings import Settings
from tests.checkout.shop import Gateway, Shop, checkout_worker, wait_for

pytestmark = pytest.mark.postgres

OPENERS = 4
"""Orders whose failed authorisations open the breaker (its window and minimum)."""
LATE = 5
"""Orders placed while the breaker is open, with a deadline that passes before it closes."""
DEADLINE = timedelta(seconds=4)
SLACK_SECONDS = 10.0
"""How long past its deadline an order may take to be expired and its stock returned."""
STOP_SECONDS = 10.0
"""How long the worker may take to stop with orders still waiting on the open breaker."""


def requests_received(gateway: Gateway) -> int:
    """How many /v1 requests the sandbox gateway has received."""
    response = httpx.get(f"{gateway.url}/admin/stats", timeout=5)
    response.raise_for_status()
    return int(response.json()["requests"])


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    """A sample of the private registry, 0 when absent."""
    return registry.get_sample_value(name, labels) or 0.0


def payment_jobs(postgres_url: str, order_ids: list[uuid.UUID]) -> int:
    """Gateway calls the checkout book still holds for these orders."""
    with psycopg.connect(postgres_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM checkout_payment_jobs WHERE order_id = ANY(%s)", (order_ids,)
        ).fetchone()
    assert row is not None
    return int(row[0])


def test_an_order_whose_deadline_passes_while_the_breaker_is_open_expires_cleanly(
    shop: Shop, settings: Settings, gateway: Gateway
) -> None:
    settings = settings.updated(
        # One call at a time: once the breaker opens, no request is left in flight,
        # so after that the gateway must receive nothing at all.
        payments={"timeout_seconds": 0.5, "attempts": 1, "workers": 1},
        breaker={
            "failure_rate": 0.5,
            "window_calls": OPENERS,
            "min_calls": OPENERS,
            "open_seconds": 600.0,
            "half_open_calls": 1,
        },
    )
    registry = CollectorRegistry()
    client = PaymentsClient.from_settings(
        settings,
        breaker_metrics=BreakerMetrics.on(registry),
        metrics=ClientMetrics.on(registry),
    )
    held, late = shop.product(OPENERS), shop.product(LATE)
    shop.register_shoppers(OPENERS + LATE)
    openers, latecomers = shop.shoppers[:OPENERS], shop.shoppers[OPENERS:]
    shop.fill_carts(held, openers)
    shop.fill_carts(late, latecomers)
    gateway.faults(error_rate=1.0)

    with checkout_worker(settings, client) as stop:
        opener_ids = shop.check_out_all(openers, "opens")
        wait_for(lambda: client.breaker.state is BreakerState.OPEN, 30)
        gateway.faults(error_rate=0.0)  # healthy: only the open breaker keeps calls away now
        received = requests_received(gateway)
        refused = sample(
            registry, "payment_gateway_calls_total", operation="authorise", outcome="refused"
        )
        shop.expiry = DEADLINE
        placed = time.monotonic()
        late_ids = shop.check_out_all(latecomers, "late")
        orders = shop.wait_until_final(late_ids, DEADLINE.total_seconds() + SLACK_SECONDS)
        wait_for(lambda: shop.stock(late).reserved == 0, SLACK_SECONDS)
        took = time.monotonic() - placed
        state = client.breaker.state
        gauge = sample(registry, "payment_breaker_state")
        waiting = {shop.order(order_id).status for order_id in opener_ids}
        refused_since = (
            sample(
                registry, "payment_gateway_calls_total", operation="authorise", outcome="refused"
            )
            - refused
        )
        stopping = time.monotonic()
        stop.set()
    stopped_in = time.monotonic() - stopping
    client.close()

    assert state is BreakerState.OPEN
    assert gauge == float(BreakerState.OPEN)
    transitions = "payment_breaker_transitions_total"
    assert sample(registry, transitions, from_state="closed", to_state="open") == 1
    assert sample(registry, transitions, from_state="open", to_state="half_open") == 0
    assert refused_since > 0, "the payment loop should keep asking while the breaker is open"
    assert requests_received(gateway) == received, "a call got past the open breaker"

    assert {order.status for order in orders.values()} == {OrderStatus.EXPIRED}
    assert all(order.stock_reserved for order in orders.values()), "reserved before expiring"
    assert DEADLINE.total_seconds() <= took < DEADLINE.total_seconds() + SLACK_SECONDS
    item = shop.stock(late)
    assert (item.available, item.reserved, item.sold) == (LATE, 0, 0)
    assert payment_jobs(str(settings.postgres.url), late_ids) == 0
    charged = {charge["reference"] for charge in gateway.charges()}
    assert charged.isdisjoint(str(order_id) for order_id in late_ids)
    assert charged == set()

    assert waiting == {OrderStatus.STOCK_RESERVED}, "long-deadline orders still wait to pay"
    assert shop.stock(held).reserved == OPENERS
    assert stopped_in < STOP_SECONDS, f"the worker took {stopped_in:.1f} s to stop"
