"""Orders, seller orders, labels and sales through the query API, over real PostgreSQL."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from commands.services import Commands
from infra.auth import Role
from infra.eventstore import eventsourcing_env
from infra.settings import Settings
from marketplace.order_views import order_history_view, seller_sales_view
from projections.log import ContextLog
from projections.orders.projection import OrderHistoryProjection
from projections.runtime import Worker
from projections.seller_sales.projection import SellerSalesProjection
from tests.conftest import free_port
from tests.projections.orders_fixture import START, OrderDesk
from tests.readapi.conftest import Reader, http_client, open_reader, read_settings

pytestmark = pytest.mark.postgres

PROBLEM = "application/problem+json"
PRIVATE = "private, no-store"
PDF = b"%PDF-1.4 a label\n%%EOF\n"

Who = tuple[uuid.UUID, Role] | None


@dataclass
class Desk:
    """The query API, the command side that feeds it, and the two order projectors."""

    reader: Reader
    desk: OrderDesk
    workers: list[Worker[Any]]

    def project(self) -> None:
        for worker in self.workers:
            worker.catch_up()

    async def get(self, path: str, who: Who, **params: Any) -> httpx.Response:
        headers = params.pop("headers", {})
        auth = self.reader.auth(*who) if who else {}
        return await self.reader.client.get(path, params=params, headers={**auth, **headers})


@pytest.fixture
async def shop(
    postgres_url: str, redis_server: str, commands: Commands, tmp_path: Path
) -> AsyncIterator[Desk]:
    settings = read_settings(postgres_url, redis_server, blobs={"local_dir": tmp_path / "blobs"})
    env = eventsourcing_env(Settings(), postgres_url)
    history, sales = order_history_view(postgres_url), seller_sales_view(postgres_url)
    logs = [ContextLog(env, "orders"), ContextLog(env, "orders")]
    workers: list[Worker[Any]] = [
        Worker(OrderHistoryProjection(), history, logs[:1]),
        Worker(SellerSalesProjection(), sales, logs[1:]),
    ]
    try:
        async with open_reader(settings, commands) as reader:
            yield Desk(reader, OrderDesk(commands), workers)
    finally:
        history.close()
        sales.close()
        for context_log in logs:
            context_log.close()


def assert_problem(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM


async def test_a_shopper_pages_through_their_orders_newest_first(shop: Desk) -> None:
    ann, bob, seller = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    placed = [
        shop.desk.place(
            ann, [(seller, uuid.uuid4(), f"Item {n}", 100 + n, 1)], START + timedelta(minutes=n)
        )
        for n in range(5)
    ]
    shop.desk.place(bob, [(seller, uuid.uuid4(), "Bob's", 100, 1)])
    shop.project()

    pages, cursor = [], None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        response = await shop.get("/v1/me/orders", (ann, "shopper"), **params)
        assert response.status_code == 200, response.text
        assert response.headers["cache-control"] == PRIVATE
        assert "etag" not in response.headers
        body = response.json()
        pages.append([order["id"] for order in body["orders"]])
        cursor = body["next_cursor"]
        if cursor is None:
            break

    newest_first = [str(order) for order in reversed(placed)]
    assert pages == [newest_first[:2], newest_first[2:4], newest_first[4:]]
    everything = await shop.get("/v1/me/orders", (ann, "shopper"), limit=100)
    assert [order["id"] for order in everything.json()["orders"]] == newest_first
    assert everything.json()["next_cursor"] is None
    for params in ({"limit": 0}, {"limit": 101}, {"cursor": "x" * 201}):
        assert_problem(await shop.get("/v1/me/orders", (ann, "shopper"), **params), 422)
    assert_problem(await shop.get("/v1/me/orders", (ann, "shopper"), cursor="not-a-cursor"), 404)
    nobody = await shop.get("/v1/me/orders", (uuid.uuid4(), "shopper"))
    assert nobody.json() == {"orders": [], "next_cursor": None}


async def test_an_order_reads_in_full_only_for_its_shopper(shop: Desk) -> None:
    ann, acme, bolt = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    lamp, kettle = uuid.uuid4(), uuid.uuid4()
    order = shop.desk.place(ann, [(acme, lamp, "Lamp", 1999, 2), (bolt, kettle, "Kettle", 4000, 1)])
    shop.desk.confirm(order)
    shop.desk.ship(order, acme)
    shop.project()
    path = f"/v1/me/orders/{order}"

    answers = {
        name: await shop.get(path, who)
        for name, who in {
            "owner": (ann, "shopper"),
            "other shopper": (uuid.uuid4(), "shopper"),
            "seller": (acme, "seller"),
            "admin": (uuid.uuid4(), "admin"),
            "auditor": (uuid.uuid4(), "auditor"),
            "anonymous": None,
        }.items()
    }

    assert {name: r.status_code for name, r in answers.items()} == {
        "owner": 200,
        "other shopper": 404,
        "seller": 403,
        "admin": 403,
        "auditor": 403,
        "anonymous": 401,
    }
    for name, response in answers.items():
        if name != "owner":
            assert response.headers["content-type"] == PROBLEM, name
            assert "Lamp" not in response.text, name
    assert answers["other shopper"].headers["cache-control"] == PRIVATE
    body = answers["owner"].json()
    assert answers["owner"].headers["cache-control"] == PRIVATE
    assert body["id"] == str(order)
    assert body["status"] == "partially_shipped"
    assert body["total"] == {"amount_minor": 7998, "currency": "EUR"}
    assert body["lines"][0] == {
        "product_id": str(lamp),
        "seller_id": str(acme),
        "title": "Lamp",
        "quantity": 2,
        "unit_price": {"amount_minor": 1999, "currency": "EUR"},
        "subtotal": {"amount_minor": 3998, "currency": "EUR"},
    }
    assert body["sellers"] == [
        {"seller_id": str(acme), "shipped": True, "delivered": False},
        {"seller_id": str(bolt), "shipped": False, "delivered": False},
    ]
    assert body["payment"]["state"] == "captured"
    assert body["payment"]["captured"] == {"amount_minor": 7998, "currency": "EUR"}
    assert body["placed_at"] == START.isoformat()
    assert_problem(await shop.get(f"/v1/me/orders/{uuid.uuid4()}", (ann, "shopper")), 404)


async def test_a_seller_sees_only_its_own_lines_grouped_per_order(shop: Desk) -> None:
    ann, x, y = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    lamp, mug, kettle = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    shared = shop.desk.place(
        ann, [(x, lamp, "Lamp", 1999, 2), (y, kettle, "Kettle", 4000, 1), (x, mug, "Mug", 500, 3)]
    )
    later = [
        shop.desk.place(ann, [(x, lamp, "Lamp", 1999, 1)], START + timedelta(hours=n))
        for n in (1, 2)
    ]
    shop.desk.place(ann, [(y, kettle, "Kettle", 4000, 1)], START + timedelta(hours=3))
    shop.desk.confirm(shared)
    shop.project()

    first = await shop.get(f"/v1/sellers/{x}/orders", (x, "seller"), limit=2)
    assert first.status_code == 200, first.text
    assert first.headers["cache-control"] == PRIVATE
    page = first.json()
    assert [o["order_id"] for o in page["orders"]] == [str(later[1]), str(later[0])]
    second = await shop.get(f"/v1/sellers/{x}/orders", (x, "seller"), cursor=page["next_cursor"])
    assert second.json()["next_cursor"] is None
    (order,) = second.json()["orders"]
    assert order["order_id"] == str(shared)
    assert order["status"] == "confirmed"
    assert [(line["title"], line["quantity"]) for line in order["lines"]] == [
        ("Lamp", 2),
        ("Mug", 3),
    ]
    assert order["subtotal"] == {"amount_minor": 3998 + 1500, "currency": "EUR"}
    assert "Kettle" not in first.text + second.text

    callers: dict[str, Who] = {
        "other seller": (y, "seller"),
        "shopper": (ann, "shopper"),
        "auditor": (uuid.uuid4(), "auditor"),
        "anonymous": None,
    }
    for name, who in callers.items():
        response = await shop.get(f"/v1/sellers/{x}/orders", who)
        assert response.status_code == (401 if who is None else 403), name
        assert "Lamp" not in response.text, name
    admin = await shop.get(f"/v1/sellers/{x}/orders", (uuid.uuid4(), "admin"), limit=100)
    assert admin.status_code == 200
    assert len(admin.json()["orders"]) == 3
    assert_problem(await shop.get(f"/v1/sellers/{x}/orders", (x, "seller"), limit=101), 422)


async def test_a_label_downloads_once_attached_for_its_seller_only(shop: Desk) -> None:
    ann, x, y = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    order = shop.desk.place(
        ann, [(x, uuid.uuid4(), "Lamp", 1999, 1), (y, uuid.uuid4(), "Mug", 500, 1)]
    )
    shop.desk.confirm(order)
    shop.project()
    path = f"/v1/sellers/{x}/orders/{order}/label"

    before = await shop.get(path, (x, "seller"))
    assert_problem(before, 404)
    assert before.json()["type"] == "urn:marketplace:problem:label-not-ready"

    key = f"labels/{order}/{x}.pdf"
    shop.reader.deps.blobs.put(key, PDF, "application/pdf")
    shop.desk.label(order, x, key)
    shop.desk.label(order, y, f"labels/{order}/{y}.png", "image/png")
    shop.project()

    label = await shop.get(path, (x, "seller"))
    assert label.status_code == 200, label.text
    assert label.content == PDF
    assert label.headers["content-type"] == "application/pdf"
    assert label.headers["cache-control"] == PRIVATE
    assert label.headers["content-disposition"] == f'attachment; filename="label-{order}.pdf"'
    assert (await shop.get(path, (uuid.uuid4(), "admin"))).content == PDF
    for who in ((y, "seller"), (ann, "shopper"), (uuid.uuid4(), "auditor")):
        assert_problem(await shop.get(path, who), 403)  # type: ignore[arg-type]
    assert_problem(await shop.get(path, None), 401)
    stranger = uuid.uuid4()
    not_theirs = await shop.get(
        f"/v1/sellers/{stranger}/orders/{order}/label", (stranger, "seller")
    )
    assert_problem(not_theirs, 404)
    assert not_theirs.json()["type"] == "urn:marketplace:problem:not-found"
    missing = await shop.get(f"/v1/sellers/{y}/orders/{order}/label", (y, "seller"))
    assert_problem(missing, 404)
    assert missing.json()["type"] == "urn:marketplace:problem:label-missing"
    unknown = await shop.get(f"/v1/sellers/{x}/orders/{uuid.uuid4()}/label", (x, "seller"))
    assert_problem(unknown, 404)


async def test_sales_come_in_hourly_buckets_with_totals_for_their_seller_only(shop: Desk) -> None:
    ann, x, y = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    lamp, mug = uuid.uuid4(), uuid.uuid4()
    nine = START.replace(minute=0)
    for minutes, lines in (
        (0, [(x, lamp, "Lamp", 1500, 2), (y, uuid.uuid4(), "Other", 100, 1)]),
        (30, [(x, lamp, "Lamp", 1500, 1), (x, mug, "Mug", 250, 4)]),
        (60, [(x, mug, "Mug", 250, 1)]),
    ):
        at = START + timedelta(minutes=minutes)
        shop.desk.confirm(shop.desk.place(ann, lines, at), at)
    cancelled = shop.desk.place(ann, [(x, lamp, "Lamp", 1500, 7)], START)
    shop.desk.confirm(cancelled, START)
    shop.desk.cancel(cancelled)
    shop.project()
    path = f"/v1/sellers/{x}/sales"
    day = {"from": nine.isoformat(), "to": (nine + timedelta(days=1)).isoformat()}

    response = await shop.get(path, (x, "seller"), **day)

    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == PRIVATE
    body = response.json()
    eur = "EUR"
    buckets = {
        (b["hour"], b["product_id"]): (b["units"], b["revenue"], b["orders"])
        for b in body["buckets"]
    }
    ten = (nine + timedelta(hours=1)).isoformat()
    assert buckets == {
        (nine.isoformat(), str(lamp)): (3, {"amount_minor": 4500, "currency": eur}, 2),
        (nine.isoformat(), str(mug)): (4, {"amount_minor": 1000, "currency": eur}, 1),
        (ten, str(mug)): (1, {"amount_minor": 250, "currency": eur}, 1),
    }
    products = {
        p["product_id"]: (p["units"], p["revenue"]["amount_minor"]) for p in body["products"]
    }
    assert products == {str(lamp): (3, 4500), str(mug): (5, 1250)}
    assert body["totals"] == [{"units": 8, "revenue": {"amount_minor": 5750, "currency": eur}}]
    assert (body["seller_id"], body["from"]) == (str(x), nine.isoformat())
    only_mug = await shop.get(path, (x, "seller"), product_id=str(mug), **day)
    assert {b["product_id"] for b in only_mug.json()["buckets"]} == {str(mug)}
    naive = await shop.get(
        path, (x, "seller"), **{"from": "2025-03-01T10:00:00", "to": "2025-03-01T11:00:00"}
    )
    assert naive.json()["buckets"] == [
        {
            "hour": ten,
            "product_id": str(mug),
            "units": 1,
            "revenue": {"amount_minor": 250, "currency": eur},
            "orders": 1,
        }
    ]

    assert (await shop.get(path, (uuid.uuid4(), "admin"), **day)).status_code == 200
    for who in ((y, "seller"), (ann, "shopper"), (uuid.uuid4(), "auditor")):
        assert_problem(await shop.get(path, who, **day), 403)  # type: ignore[arg-type]
    for params in ({"from": "yesterday", "to": day["to"]}, {"to": day["to"]}):
        assert_problem(await shop.get(path, (x, "seller"), **params), 422)
    month_end = (nine + timedelta(days=31)).isoformat()
    too_long = {"from": nine.isoformat(), "to": (nine + timedelta(days=31, hours=1)).isoformat()}
    cut = await shop.get(path, (x, "seller"), **too_long)
    assert cut.status_code == 200, cut.text
    assert (cut.json()["to"], len(cut.json()["buckets"])) == (month_end, 3)
    for empty in ({"from": day["to"], "to": day["from"]}, {"from": day["from"], "to": day["from"]}):
        answer = await shop.get(path, (x, "seller"), **empty)
        assert answer.status_code == 200, answer.text
        assert (answer.json()["buckets"], answer.json()["totals"]) == ([], [])


async def test_reads_wait_for_the_orders_position_then_answer_fresh(shop: Desk) -> None:
    shop.project()
    ann, x = uuid.uuid4(), uuid.uuid4()
    order = shop.desk.place(ann, [(x, uuid.uuid4(), "Lamp", 1999, 1)])
    outcome = shop.desk.confirm(order)
    assert outcome.log == "orders" and outcome.position is not None
    wanted = {"X-Min-Position": f"orders:{outcome.position}"}
    path = f"/v1/me/orders/{order}"

    stale = await shop.get(path, (ann, "shopper"), headers={**wanted, "X-Max-Wait-Ms": "0"})
    assert_problem(stale, 404)
    assert stale.headers["x-consistency"] == "stale"

    projector = threading.Thread(target=shop.project)
    request = asyncio.create_task(shop.get(path, (ann, "shopper"), headers=wanted))
    projector.start()
    fresh = await asyncio.wait_for(request, 10.0)
    projector.join(10.0)

    assert fresh.status_code == 200, fresh.text
    assert fresh.headers["x-consistency"] == "fresh"
    assert fresh.json()["status"] == "confirmed"
    for seller_path in (f"/v1/sellers/{x}/orders", f"/v1/sellers/{x}/sales"):
        params = {"from": START.isoformat(), "to": (START + timedelta(hours=1)).isoformat()}
        answer = await shop.get(seller_path, (x, "seller"), headers=wanted, **params)
        assert answer.status_code == 200, answer.text
        assert answer.headers["x-consistency"] == "fresh"
    unknown = await shop.get(path, (ann, "shopper"), headers={"X-Min-Position": "carts:1"})
    assert_problem(unknown, 422)


async def test_order_reads_while_postgres_is_down_are_503s(
    redis_server: str, tmp_path: Path
) -> None:
    from marketplace.bootstrap import build_read_deps

    closed = f"postgresql://postgres@127.0.0.1:{free_port()}/postgres"
    settings = read_settings(
        closed,
        redis_server,
        deadlines={"read_store_timeout_seconds": 0.3},
        blobs={"local_dir": tmp_path},
    )
    deps = build_read_deps(settings)
    seller = uuid.uuid4()
    try:
        async with http_client(deps) as client:
            auth = {"Authorization": f"Bearer {deps.tokens.issue(seller, 'seller')}"}
            shopper = {"Authorization": f"Bearer {deps.tokens.issue(seller, 'shopper')}"}
            answers = [
                await client.get("/v1/me/orders", headers=shopper),
                await client.get(f"/v1/sellers/{seller}/orders", headers=auth),
                await client.get(f"/v1/sellers/{seller}/orders/{uuid.uuid4()}/label", headers=auth),
                await client.get(
                    f"/v1/sellers/{seller}/sales",
                    params={"from": "2025-03-01T00:00:00Z", "to": "2025-03-02T00:00:00Z"},
                    headers=auth,
                ),
            ]
    finally:
        deps.catalog_search.view.close()
        deps.orders.view.close()
        deps.product_detail.view.client.close()

    for response in answers:
        assert_problem(response, 503)
        assert response.headers["retry-after"] == "2"
