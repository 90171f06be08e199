"""Stock movements replayed on real PostgreSQL: a flash sale that sells out in two minutes."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest

from analytics.replay import STORE_FILE
from commands.services import Commands
from infra.settings import Settings
from marketplace.analytics import run_replay
from tests.analytics.scenario import T0, as_of

pytestmark = pytest.mark.postgres


def flash_sale(commands: Commands) -> tuple[uuid.UUID, uuid.UUID]:
    """5 lamps; 3 then 2 held (sold out at +2 min), 2 released, 3 sold, 2 held and sold again."""
    lamp, seller = uuid.uuid4(), uuid.uuid4()
    stock = commands.inventory
    stock.receive_stock(lamp, seller, 5, as_of(seller, "seller", T0))
    orders = [uuid.uuid4() for _ in range(3)]

    def system(minutes: int) -> object:
        return as_of(uuid.UUID(int=0), "admin", T0 + timedelta(minutes=minutes))

    due = T0 + timedelta(hours=1)
    stock.reserve(lamp, orders[0], 3, due, system(1))
    stock.reserve(lamp, orders[1], 2, due, system(2))
    stock.release(lamp, orders[1], "payment failed", system(3))
    stock.commit(lamp, orders[0], system(4))
    stock.reserve(lamp, orders[2], 2, due, system(10))
    stock.commit(lamp, orders[2], system(11))
    return lamp, seller


def test_hourly_movements_sell_through_and_time_to_sell_out(
    commands: Commands, settings: Settings, tmp_path: Path
) -> None:
    lamp, seller = flash_sale(commands)

    run_replay("stock-movements", settings, None, tmp_path, "parquet")

    with duckdb.connect(str(tmp_path / STORE_FILE), read_only=True) as conn:
        hourly = conn.execute("SELECT * FROM stock_movements").fetchall()
        sell_through = conn.execute("SELECT * FROM stock_sell_through").fetchall()
    hour = T0.replace(tzinfo=None)
    # hour, product, seller, received, adjusted, reserved, released, sold, cancelled
    assert hourly == [(hour, str(lamp), str(seller), 5, 0, 7, 2, 5, 0)]
    assert sell_through == [
        (str(lamp), str(seller), 5, 5, 1.0, hour, hour + timedelta(minutes=2), 120)
    ]
    assert (tmp_path / "parquet" / "stock_movements" / "day=2026-12-04").is_dir()
    assert (tmp_path / "parquet" / "stock_sell_through" / "data.parquet").is_file()
