"""The cart funnel replayed on real PostgreSQL: each stage per UTC day, abandonment included."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest

from analytics.replay import STORE_FILE
from commands.services import Commands
from domain.cart import cart_id_for
from infra.settings import Settings
from marketplace.analytics import run_replay
from tests.analytics.scenario import T0, as_of
from tests.projections.orders_fixture import OrderDesk

pytestmark = pytest.mark.postgres

DAY1, DAY2 = T0.date(), (T0 + timedelta(days=1)).date()


def shop_around(commands: Commands) -> None:
    """s1 fills a cart and checks out; s2 leaves a full cart; s3 starts one the next day."""
    lamp, mug, seller = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    s1, s2, s3 = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    carts = commands.carts

    def fill(shopper: uuid.UUID, at: timedelta, *products: uuid.UUID) -> None:
        ctx = as_of(shopper, "shopper", T0 + at)
        carts.create_cart(shopper, ctx)
        for product in products:
            carts.add_item(cart_id_for(shopper), product, 1, "EUR", ctx)

    fill(s1, timedelta(0), lamp, mug)
    carts.clear(cart_id_for(s1), as_of(s1, "shopper", T0 + timedelta(hours=1)))
    desk = OrderDesk(commands)
    order = desk.place(s1, [(seller, lamp, "Lamp", 1500, 1), (seller, mug, "Mug", 250, 1)], T0)
    desk.confirm(order, T0 + timedelta(minutes=5))
    fill(s2, timedelta(hours=2), lamp)
    fill(s3, timedelta(hours=30), mug)


def funnel(out: Path) -> list[tuple[object, ...]]:
    with duckdb.connect(str(out / STORE_FILE), read_only=True) as conn:
        return conn.execute("SELECT * FROM cart_funnel ORDER BY day").fetchall()


def test_each_stage_per_day_and_a_cart_left_a_day_is_abandoned(
    commands: Commands, settings: Settings, tmp_path: Path
) -> None:
    shop_around(commands)
    evening = (T0 + timedelta(hours=20)).isoformat()

    run_replay("cart-funnel", settings, evening, tmp_path / "evening")
    run_replay("cart-funnel", settings, None, tmp_path / "end")

    # created, items added, checked out, confirmed, abandoned
    assert funnel(tmp_path / "evening") == [(DAY1, 2, 3, 1, 1, 0)]
    assert funnel(tmp_path / "end") == [(DAY1, 2, 3, 1, 1, 1), (DAY2, 1, 1, 0, 0, 0)]
