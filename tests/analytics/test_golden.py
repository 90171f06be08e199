"""The golden scenario's known totals, the flash sale included, in DuckDB and through the API.

(tests/analytics/test_spark.py reads the same totals from the Parquet export with pyspark.)
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import duckdb
import pytest

from analytics.replay import STORE_FILE
from commands.services import Commands
from infra.settings import Settings
from marketplace.analytics import BUILT_IN, run_replay
from tests.analytics.scenario import FLASH, GOLDEN_GMV, PERSONAL, golden
from tests.readapi.test_analytics import figures
from tests.readapi.test_orders import Desk, shop

pytestmark = pytest.mark.postgres

__all__ = ["figures", "shop"]
RANGE = {"from": "2026-12-03T00:00:00Z", "to": "2026-12-06T00:00:00Z"}


def query(out: Path, statement: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(out / STORE_FILE), read_only=True) as conn:
        return conn.execute(statement).fetchall()


@pytest.mark.parametrize("projection", sorted(BUILT_IN))
def test_no_personal_data_in_any_output_file(
    commands: Commands, settings: Settings, tmp_path: Path, projection: str
) -> None:
    shop = golden(commands)

    for fmt in ("duckdb", "parquet", "csv"):
        run_replay(projection, settings, None, tmp_path / fmt, fmt)

    files = [path for path in tmp_path.rglob("*") if path.is_file()]
    raw = b"\n".join(path.read_bytes() for path in files)
    with duckdb.connect(str(tmp_path / "duckdb" / STORE_FILE), read_only=True) as conn:
        tables = [
            row[0] for row in conn.execute("SELECT table_name FROM duckdb_tables()").fetchall()
        ]
        stored = [conn.execute(f"SELECT * FROM {table}").fetchall() for table in tables]  # noqa: S608
    parquet = f"{tmp_path}/parquet/**/*.parquet"
    exported = duckdb.read_parquet(parquet, union_by_name=True)
    decoded = repr(stored) + repr(exported.fetchall())
    customers = [str(customer) for customer in shop.customers]
    secrets = [*PERSONAL, *customers, *(customer.replace("-", "") for customer in customers)]
    assert [secret for secret in secrets if secret.encode() in raw or secret in decoded] == []
    assert {path.suffix for path in files} >= {".duckdb", ".parquet", ".csv"}
    assert str(shop.seller) in decoded or projection == "cart-funnel"


def test_golden_totals_in_duckdb(commands: Commands, settings: Settings, tmp_path: Path) -> None:
    shop = golden(commands)

    run_replay("gmv", settings, None, tmp_path / "gmv")
    run_replay("stock-movements", settings, None, tmp_path / "stock")

    totals = query(
        tmp_path / "gmv",
        "SELECT day::VARCHAR, category, currency, sum(gmv_minor) FROM gmv GROUP BY ALL",
    )
    assert {(day, category, currency): n for day, category, currency, n in totals} == GOLDEN_GMV
    flash = query(
        tmp_path / "stock",
        "SELECT product_id, received, sold, sell_through, seconds_to_sell_out FROM "
        "stock_sell_through",
    )
    # received an hour before the sale opened, sold out two minutes after
    assert len(flash) == 1 and flash[0][1:] == (3, 3, 1.0, 3600 + 120)
    assert flash[0][0] not in (str(shop.lamp), str(shop.mug))


async def test_golden_totals_through_the_api(figures: Desk) -> None:
    shop = golden(figures.reader.commands)
    figures.project()
    analyst = (uuid.uuid4(), "analyst")

    gmv = await figures.get("/v1/analytics/gmv", analyst, **RANGE)  # type: ignore[arg-type]
    funnel = await figures.get("/v1/analytics/funnel", analyst, **RANGE)  # type: ignore[arg-type]
    hours = await figures.get("/v1/analytics/gmv", analyst, bucket="hour", **RANGE)  # type: ignore[arg-type]

    assert gmv.status_code == 200, gmv.text
    assert {
        (row["day"], row["category"], row["gmv"]["currency"]): row["gmv"]["amount_minor"]
        for row in gmv.json()["rows"]
        if row["seller_id"] == str(shop.seller)
    } == GOLDEN_GMV
    assert [
        (row["day"], row["checked_out"], row["confirmed"]) for row in funnel.json()["rows"]
    ] == [("2026-12-04", 3, 3), ("2026-12-05", 4, 4)]
    flash_hour = (FLASH.isoformat(), "kitchen", 12000)
    assert flash_hour in {
        (row["hour"], row["category"], row["gmv"]["amount_minor"]) for row in hours.json()["rows"]
    }
    everything = gmv.text + funnel.text + hours.text
    assert [secret for secret in PERSONAL if secret in everything] == []
