"""Marketplace-wide figures for analysts through the query API, from the live seller sales."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tests.readapi.test_orders import Desk, assert_problem, shop

pytestmark = pytest.mark.postgres

__all__ = ["shop"]
MORNING = datetime(2025, 3, 1, 10, 0, tzinfo=UTC)
LATE = datetime(2025, 3, 1, 23, 30, tzinfo=UTC)
"""Still 1 March in UTC, already 2 March in Paris (UTC+1)."""
RANGE = {"from": "2025-02-28T00:00:00Z", "to": "2025-03-03T00:00:00Z"}


async def test_gmv_per_local_day_and_top_products_for_analysts_only(shop: Desk) -> None:
    x, y, lamp, mug, ann = (uuid.uuid4() for _ in range(5))
    desk = shop.desk
    early = desk.place(ann, [(x, lamp, "Lamp", 1500, 1), (y, mug, "Mug", 250, 1)], MORNING)
    desk.confirm(early, MORNING)
    desk.ship(early, x, MORNING + timedelta(hours=1))
    desk.refund(early, 175)  # split 1500:250, so 150 off the lamp and 25 off the mug
    late = desk.place(ann, [(x, lamp, "Lamp", 1500, 2)], LATE)
    desk.confirm(late, LATE)
    shop.project()
    analyst = (uuid.uuid4(), "analyst")

    utc = await shop.get("/v1/analytics/gmv", analyst, **RANGE)
    paris = await shop.get("/v1/analytics/gmv", analyst, tz="Europe/Paris", **RANGE)
    top = await shop.get("/v1/analytics/top-products", analyst, limit=5, **RANGE)

    def days(body: dict[str, object]) -> set[tuple[object, ...]]:
        rows = body["days"]
        assert isinstance(rows, list)
        return {(d["day"], d["seller_id"], d["units"], d["gmv"]["amount_minor"]) for d in rows}

    assert utc.status_code == 200, utc.text
    assert days(utc.json()) == {("2025-03-01", str(x), 3, 4350), ("2025-03-01", str(y), 1, 225)}
    assert days(paris.json()) == {
        ("2025-03-01", str(x), 1, 1350),
        ("2025-03-01", str(y), 1, 225),
        ("2025-03-02", str(x), 2, 3000),
    }
    assert [(p["product_id"], p["gmv"]["amount_minor"]) for p in top.json()["products"]] == [
        (str(lamp), 4350),
        (str(mug), 225),
    ]
    assert str(ann) not in utc.text + paris.text + top.text
    assert (await shop.get("/v1/analytics/gmv", (uuid.uuid4(), "admin"), **RANGE)).is_success
    for who in ((x, "seller"), (ann, "shopper"), (uuid.uuid4(), "auditor")):
        assert_problem(await shop.get("/v1/analytics/gmv", who, **RANGE), 403)  # type: ignore[arg-type]
    assert_problem(await shop.get("/v1/analytics/gmv", analyst, tz="Mars/Olympus", **RANGE), 422)
    backwards = {"from": RANGE["to"], "to": RANGE["from"]}
    nothing = await shop.get("/v1/analytics/top-products", analyst, **backwards)
    assert (nothing.status_code, nothing.json()["products"]) == (200, [])
