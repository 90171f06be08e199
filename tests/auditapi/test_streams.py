"""One stream, its links and its past states; bad input answered as problem+json."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import pytest

from auditapi.events import plain
from domain.fulfilment import fulfilment_id
from domain.inventory import stock_item_id
from domain.order import Order
from infra.audit.logs import chain_hashes
from tests.auditapi.conftest import Audit
from tests.support.audit import START

pytestmark = pytest.mark.postgres


def test_a_stream_shows_every_event_with_its_metadata(audit: Audit) -> None:
    shop = audit.shop
    page: Any = audit.get(f"/v1/audit/streams/{shop.order_id}")
    types = [e["type"] for e in page["events"]]
    assert types == [
        "Order.Placed",
        "Order.StockReserved",
        "Order.PaymentAuthorised",
        "Order.Confirmed",
    ]
    assert [e["version"] for e in page["events"]] == [0, 1, 2, 3]
    authorised = page["events"][2]
    assert authorised["payload"] == {
        "payment_id": shop.payment_id,
        "amount_minor": 9998,
        "currency": "EUR",
    }
    assert authorised["metadata"]["correlation_id"] == shop.correlation_id
    assert authorised["metadata"]["role"] == "system"
    assert authorised["log"] == "orders"
    recorder = audit.commands.orders.recorder
    positions = [e["position"] for e in page["events"]]
    chained = chain_hashes(recorder, positions)
    assert [e["chain_hash"] for e in page["events"]] == [chained[p] for p in positions]
    assert len({e["chain_hash"] for e in page["events"]}) == 4
    assert page["next_after_version"] is None


def test_a_stream_is_paged_by_version(audit: Audit) -> None:
    path = f"/v1/audit/streams/{audit.shop.order_id}"
    first: Any = audit.get(path, limit=3)
    assert [e["version"] for e in first["events"]] == [0, 1, 2]
    assert first["next_after_version"] == 2
    rest: Any = audit.get(path, limit=3, after_version=first["next_after_version"])
    assert [e["version"] for e in rest["events"]] == [3]
    assert rest["next_after_version"] is None


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/v1/audit/streams/{unknown}", 404),
        ("/v1/audit/streams/{unknown}/links", 404),
        ("/v1/audit/streams/{unknown}/state?version=0", 404),
        ("/v1/audit/streams/not-a-uuid", 422),
        ("/v1/audit/streams/{order}?limit=0", 422),
        ("/v1/audit/streams/{order}?limit=1001", 422),
        ("/v1/audit/streams/{order}?after_version=-2", 422),
        ("/v1/audit/streams/{order}/state", 422),
        ("/v1/audit/streams/{order}/state?version=1&at=2026-03-01T09:00:00Z", 422),
        ("/v1/audit/streams/{order}/state?at=yesterday", 422),
        ("/v1/audit/streams/{order}/state?at=2026-03-01T09:00:00", 422),
        ("/v1/audit/streams/{order}/state?version=99", 404),
        ("/v1/audit/streams/{order}/state?at=2000-01-01T00:00:00Z", 404),
    ],
)
def test_bad_input_is_a_problem(audit: Audit, path: str, status: int) -> None:
    url = path.format(unknown=uuid4(), order=audit.shop.order_id)
    answer = audit.client.get(url, headers=audit.headers())
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["status"] == status


def replayed(audit: Audit, version: int) -> dict[str, Any]:
    """The order rebuilt from its first version + 1 events, read through the commands."""
    aggregate: Any = None
    for event in audit.commands.orders.events.get(audit.shop.order_id, lte=version):
        aggregate = event.mutate(aggregate)
    assert isinstance(aggregate, Order)
    state = {key.lstrip("_"): value for key, value in vars(aggregate).items()}
    for internal in ("id", "version", "created_on", "modified_on", "pending_events"):
        state.pop(internal)
    return dict(plain(state))


def test_state_at_version_n_is_the_first_n_events_replayed(audit: Audit) -> None:
    path = f"/v1/audit/streams/{audit.shop.order_id}/state"
    states = []
    for version in range(4):
        past: Any = audit.get(path, version=version)
        assert (past["aggregate"], past["version"]) == ("Order", version)
        assert past["state"] == replayed(audit, version)
        states.append(past["state"]["status"])
    assert states == ["placed", "stock_reserved", "payment_authorised", "confirmed"]


def test_state_at_a_time_is_after_the_last_event_by_then(audit: Audit) -> None:
    path = f"/v1/audit/streams/{audit.shop.order_id}/state"
    events: Any = audit.get(f"/v1/audit/streams/{audit.shop.order_id}")
    second = events["events"][1]["timestamp"]
    at_second: Any = audit.get(path, at=second)
    assert at_second["version"] == 1
    assert at_second["timestamp"] == second
    assert audit.get(path, at=(START.replace(year=2027)).isoformat())["version"] == 3  # type: ignore[index]


def test_links_walk_from_an_order_and_a_product(audit: Audit) -> None:
    shop = audit.shop
    order: Any = audit.get(f"/v1/audit/streams/{shop.order_id}/links")
    assert order["aggregate"] == "Order" and order["customer"] == str(shop.shopper_id)
    assert order["fulfilments"] == [str(fulfilment_id(shop.order_id, shop.seller_id))]
    assert order["stock_items"] == [str(stock_item_id(shop.product_id))]
    (payment,) = order["payments"]
    assert (payment["type"], payment["payment_id"], payment["version"]) == (
        "Order.PaymentAuthorised",
        shop.payment_id,
        2,
    )
    product: Any = audit.get(f"/v1/audit/streams/{shop.product_id}/links")
    assert product["stock_item"] == str(stock_item_id(shop.product_id))
    item: Any = audit.get(f"/v1/audit/streams/{product['stock_item']}/links")
    assert item["product"] == str(shop.product_id)
    fulfilment: Any = audit.get(f"/v1/audit/streams/{order['fulfilments'][0]}/links")
    assert fulfilment["order"] == str(shop.order_id)
    assert audit.get(f"/v1/audit/streams/{order['fulfilments'][0]}")["events"][0]["log"] == "orders"  # type: ignore[index]
