"""A context's log (paged, filtered, exported), a traced flow, and who read what."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import orjson
import pytest
from structlog.testing import capture_logs

from auditapi.reader import CONTEXTS
from domain.cart import cart_id_for
from domain.inventory import stock_item_id
from tests.auditapi.conftest import Audit

pytestmark = pytest.mark.postgres


def test_the_logs_are_listed(audit: Audit) -> None:
    assert audit.get("/v1/audit/logs") == {"logs": list(CONTEXTS)}


def test_a_log_is_paged_by_position(audit: Audit) -> None:
    first: Any = audit.get("/v1/audit/logs/orders/events", limit=2)
    assert [e["type"] for e in first["events"]] == ["Order.Placed", "Order.StockReserved"]
    rest: Any = audit.get("/v1/audit/logs/orders/events", after=first["next_after"], limit=100)
    assert [e["type"] for e in rest["events"]] == [
        "Order.PaymentAuthorised",
        "Order.Confirmed",
        "Fulfilment.Opened",
    ]
    assert rest["next_after"] is None
    positions = [e["position"] for e in first["events"] + rest["events"]]
    assert positions == sorted(positions) and len(set(positions)) == 5


def test_a_log_is_filtered(audit: Audit) -> None:
    shop = audit.shop
    by_type: Any = audit.get("/v1/audit/logs/orders/events", type="Order.Confirmed")
    assert [e["type"] for e in by_type["events"]] == ["Order.Confirmed"]
    by_actor: Any = audit.get("/v1/audit/logs/catalog/events", actor=str(shop.seller_id))
    assert [e["type"] for e in by_actor["events"]] == ["Seller.Registered", "Product.Listed"]
    item = str(stock_item_id(shop.product_id))
    by_stream: Any = audit.get("/v1/audit/logs/inventory/events", stream_id=item)
    assert [e["stream_id"] for e in by_stream["events"]] == [item] * 3
    timed: Any = audit.get(
        "/v1/audit/logs/catalog/events",
        since=by_actor["events"][1]["timestamp"],
        until="2030-01-01T00:00:00+00:00",
    )
    assert [e["type"] for e in timed["events"]] == ["Product.Listed"]


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("/v1/audit/logs/ledger/events", 404),
        ("/v1/audit/logs/ledger/export", 404),
        ("/v1/audit/logs/orders/events?since=not-a-time", 422),
        ("/v1/audit/logs/orders/events?since=2026-03-01T10:00:00", 422),
        ("/v1/audit/logs/orders/events?since=2026-03-02T00:00:00Z&until=2026-03-01T00:00:00Z", 422),
        ("/v1/audit/logs/orders/events?after=10&until_position=5", 422),
        ("/v1/audit/logs/orders/export?after=10&until_position=10", 422),
        ("/v1/audit/logs/orders/events?limit=5000", 422),
        ("/v1/audit/logs/orders/events?after=-1", 422),
        ("/v1/audit/logs/orders/events?stream_id=12", 422),
        ("/v1/audit/logs/orders/events?type=Order", 422),
        ("/v1/audit/traces/no%20spaces", 422),
        ("/v1/audit/traces/nobody-traced-this", 404),
        ("/v1/audit/traces/x?limit=0", 422),
        ("/v1/audit/traces/x?limit=1001", 422),
        ("/v1/audit/traces/x?after=not%20base64", 422),
        ("/v1/audit/traces/x?after=bm90LWpzb24", 422),
        ("/v1/audit/traces/x?after=WyJ5ZXN0ZXJkYXkiLCAib3JkZXJzIiwgMV0", 422),
        ("/v1/audit/traces/x?after=WyIyMDI2LTAzLTAxVDA5OjAwOjAwIiwgIm9yZGVycyIsIDFd", 422),
        ("/v1/audit/traces/x?after=WyIyMDI2LTAzLTAxVDA5OjAwOjAwWiIsICJvcmRlcnMiLCAtMV0", 422),
        ("/v1/audit/access?reader=me", 422),
    ],
)
def test_bad_input_is_a_problem(audit: Audit, query: str, status: int) -> None:
    answer = audit.client.get(query, headers=audit.headers())
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"


def test_an_export_is_the_log_as_ndjson(audit: Audit) -> None:
    answer = audit.client.get("/v1/audit/logs/orders/export", headers=audit.headers())
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/x-ndjson"
    lines = [orjson.loads(line) for line in answer.content.splitlines()]
    listed: Any = audit.get("/v1/audit/logs/orders/events")
    assert lines == listed["events"]
    only: Any = audit.client.get(
        "/v1/audit/logs/orders/export", params={"type": "Order.Placed"}, headers=audit.headers()
    )
    assert [orjson.loads(line)["type"] for line in only.content.splitlines()] == ["Order.Placed"]


def test_a_trace_is_one_causation_tree_across_contexts(audit: Audit) -> None:
    shop = audit.shop
    trace: Any = audit.get(f"/v1/audit/traces/{shop.correlation_id}")
    assert trace["complete"] is True
    events = trace["events"]
    assert {e["log"] for e in events} == {"orders", "carts", "inventory"}
    assert [e["timestamp"] for e in events] == sorted(e["timestamp"] for e in events)
    (root,) = [node for node in trace["tree"] if node["type"] == "Order.Placed"]
    assert root["caused_by"] == "req-checkout"
    caused = {child["type"] for child in root["caused"]}
    assert caused == {"StockItem.UnitsReserved", "Order.StockReserved"}
    flat = []
    stack = list(trace["tree"])
    while stack:
        node = stack.pop()
        flat.append(node["event_id"])
        stack.extend(node["caused"])
    assert sorted(flat) == sorted(e["metadata"]["event_id"] for e in events)
    assert {n["caused_by"] for n in trace["tree"]} == {"req-checkout"}
    assert trace["next_after"] is None


def test_a_trace_is_paged_with_a_cursor_never_truncated(audit: Audit) -> None:
    path = f"/v1/audit/traces/{audit.shop.correlation_id}"
    whole: Any = audit.get(path)
    pages: list[Any] = [audit.get(path, limit=2)]
    while pages[-1]["next_after"] is not None:
        assert pages[-1]["complete"] is False and len(pages[-1]["events"]) == 2
        pages.append(audit.get(path, limit=2, after=pages[-1]["next_after"]))
    assert len(pages) == 4 and pages[-1]["complete"] is True
    assert [e for page in pages for e in page["events"]] == whole["events"]
    (placed,) = [n for n in whole["tree"] if n["type"] == "Order.Placed"]
    assert placed["caused"] and all(n["caused_by"] != "req-checkout" for n in pages[-1]["tree"])


def test_every_read_is_logged_and_recorded_with_who_read_what(audit: Audit) -> None:
    reader = uuid4()
    order = str(audit.shop.order_id)
    with capture_logs() as logs:
        answer = audit.client.get(
            f"/v1/audit/streams/{order}", headers=audit.headers("auditor", reader)
        )
    assert answer.status_code == 200
    (line,) = [entry for entry in logs if entry["event"] == "audit_read"]
    assert (line["reader"], line["action"], line["subject"]) == (str(reader), "stream", order)
    asked: Any = audit.get("/v1/audit/access", role="admin", subject=order)
    mine = [r for r in asked["reads"] if r["reader"] == str(reader)]
    assert [(r["role"], r["action"], r["subject"]) for r in mine] == [("auditor", "stream", order)]
    assert mine[0]["request_id"] == answer.headers["x-request-id"]
    by_reader: Any = audit.get("/v1/audit/access", reader=str(reader))
    assert [r["subject"] for r in by_reader["reads"]] == [order]


def test_who_looked_at_a_customer_covers_their_orders_carts_and_payments(audit: Audit) -> None:
    """Reads that never name the customer (a late page of their order, holding the payment;
    their cart; the orders log filtered to payments; the checkout's trace; an export) are
    found by the customer's id, and a read of someone else's data is not."""
    shop, reader = audit.shop, uuid4()
    as_reader = audit.headers("auditor", reader)
    cart = str(cart_id_for(shop.shopper_id))
    reads = [
        (f"/v1/audit/streams/{shop.order_id}", {"after_version": 1}),
        (f"/v1/audit/streams/{shop.order_id}/state", {"version": 2}),
        (f"/v1/audit/streams/{cart}", {}),
        ("/v1/audit/logs/orders/events", {"type": "Order.PaymentAuthorised"}),
        (f"/v1/audit/traces/{shop.correlation_id}", {"limit": 1, "after": None}),
        ("/v1/audit/logs/orders/export", {"type": "Order.Confirmed"}),
        (f"/v1/audit/streams/{shop.product_id}", {}),
    ]
    for path, params in reads:
        given = {key: value for key, value in params.items() if value is not None}
        answer = audit.client.get(path, params=given, headers=as_reader)
        assert answer.status_code == 200, answer.text
    payments = audit.get("/v1/audit/logs/orders/events", type="Order.PaymentAuthorised")
    assert "customer_id" not in payments["events"][0]["payload"]  # type: ignore[index]
    asked: Any = audit.get("/v1/audit/access", role="admin", subject=str(shop.shopper_id))
    mine = [r for r in asked["reads"] if r["reader"] == str(reader)]
    assert [r["action"] for r in mine] == ["stream", "state", "stream", "log", "trace", "export"]
    assert all(r["subjects"] == [str(shop.shopper_id)] for r in mine)
    nobody: Any = audit.get("/v1/audit/access", subject=str(uuid4()))
    assert [r["action"] for r in nobody["reads"]] == ["access"]  # the asking, recorded first
