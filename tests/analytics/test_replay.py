"""Replays into the side store on real PostgreSQL: golden totals, point in time, resuming."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
from pydantic import SecretStr

from analytics.adhoc import UnknownProjection
from analytics.replay import STORE_FILE
from analytics.store import CheckpointMismatch
from analytics.until import BadUntil
from commands.services import Commands
from infra.settings import Settings
from infra.stores import stores
from marketplace.analytics import replay, run_replay
from marketplace.order_views import seller_sales_view
from projections.failures import ProjectionStopped
from projections.runtime import Worker
from projections.seller_sales.projection import SellerSalesProjection
from tests.analytics.scenario import CUT, PERSONAL, T0, afternoon, morning
from workers.logs import context_logs

pytestmark = pytest.mark.postgres

DAY1, DAY2 = T0.date(), (T0 + timedelta(days=1)).date()


def rows(out: Path, table: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(out / STORE_FILE), read_only=True) as conn:
        return sorted(conn.execute(f"SELECT * FROM {table}").fetchall(), key=repr)  # noqa: S608


def gmv(out: Path) -> dict[tuple[Any, ...], tuple[int, int, int]]:
    return {
        (day, category, currency): (gmv_minor, units, orders)
        for day, _, category, currency, gmv_minor, units, orders in rows(out, "gmv")
    }


def test_golden_gmv_at_the_cut_and_at_the_end(
    commands: Commands, settings: Settings, tmp_path: Path
) -> None:
    shop = morning(commands)
    afternoon(commands, shop)

    run_replay("gmv", settings, CUT.isoformat(), tmp_path / "cut")
    run_replay("gmv", settings, None, tmp_path / "end")

    assert gmv(tmp_path / "cut") == {
        (DAY1, "home", "EUR"): (3000, 2, 1),
        (DAY1, "kitchen", "EUR"): (250, 1, 1),
        (DAY1, "kitchen", "USD"): (900, 3, 1),
    }
    run_replay("gmv", settings, None, tmp_path / "end", "parquet")
    exported = duckdb.read_parquet(
        f"{tmp_path}/end/parquet/gmv/*/*.parquet", hive_partitioning=True
    )
    by_day = exported.aggregate("day, currency, sum(gmv_minor)::BIGINT").fetchall()
    assert sorted(by_day) == [
        (DAY1, "EUR", 3000 - 923 + 250 - 77),
        (DAY1, "USD", 900),
        (DAY2, "EUR", 1500),
    ]
    # the refund of 1000 split 3000:250 over order A's lines: 923 and 77
    assert gmv(tmp_path / "end") == {
        (DAY1, "home", "EUR"): (3000 - 923, 2, 1),
        (DAY1, "kitchen", "EUR"): (250 - 77, 1, 1),
        (DAY1, "kitchen", "USD"): (900, 3, 1),
        (DAY2, "home", "EUR"): (1500, 1, 1),
    }


def test_replay_until_t_equals_the_live_seller_sales_as_they_stood_at_t(
    commands: Commands, settings: Settings, postgres_url: str, tmp_path: Path
) -> None:
    shop = morning(commands)
    live = seller_sales_view(postgres_url)
    logs = context_logs(SellerSalesProjection, settings, stores(settings))
    try:
        Worker(SellerSalesProjection(), live, logs).catch_up()
        at_cut = live.hourly(shop.seller, T0 - timedelta(days=1), T0 + timedelta(days=2))
        afternoon(commands, shop)
        Worker(SellerSalesProjection(), live, logs).catch_up()
    finally:
        for log in logs:
            log.close()
        live.close()

    run_replay("gmv", settings, CUT.isoformat(), tmp_path / "cut")

    live_totals: dict[tuple[Any, ...], int] = {}
    for bucket in at_cut:
        key = (bucket.hour.date(), bucket.currency)
        live_totals[key] = live_totals.get(key, 0) + bucket.revenue_minor
    replayed: dict[tuple[Any, ...], int] = {}
    for (day, _, currency), (gmv_minor, _, _) in gmv(tmp_path / "cut").items():
        replayed[(day, currency)] = replayed.get((day, currency), 0) + gmv_minor
    assert replayed == live_totals == {(DAY1, "EUR"): 3250, (DAY1, "USD"): 900}


def test_a_replay_to_t_continued_to_the_end_equals_a_straight_replay(
    commands: Commands, settings: Settings, tmp_path: Path
) -> None:
    shop = morning(commands)
    afternoon(commands, shop)

    first = run_replay("order-lines", settings, CUT.isoformat(), tmp_path / "resumed")
    second = run_replay("order-lines", settings, None, tmp_path / "resumed")
    straight = run_replay("order-lines", settings, None, tmp_path / "straight")

    assert first.events > 0 and second.events > 0
    assert first.events + second.events == straight.events
    assert second.positions == straight.positions
    for table in ("order_lines", "order_line_state", "order_line_products"):
        assert rows(tmp_path / "resumed", table) == rows(tmp_path / "straight", table)
    assert len(rows(tmp_path / "straight", "order_lines")) == 5


def test_order_lines_hold_pseudonyms_and_no_personal_data(
    commands: Commands, settings: Settings, tmp_path: Path
) -> None:
    shop = morning(commands)
    afternoon(commands, shop)
    out = tmp_path / "lines"

    run_replay("order-lines", settings, None, out, "csv")
    run_replay("order-lines", settings, None, out, "parquet")

    first = replay("order-lines", out=out, settings=settings)
    lines = replay("order-lines", out=out, settings=settings)  # the first holds no lock
    assert sorted(first.fetchall(), key=repr) == sorted(lines.fetchall(), key=repr)
    keys = {row[0] for row in lines.project("customer_key").fetchall()}
    assert len(keys) == 2
    brands = dict(lines.project("product_id, brand").fetchall())
    assert brands == {str(shop.lamp): "Lumo", str(shop.mug): None}
    parquet = sorted(p.relative_to(out) for p in (out / "parquet").rglob("*.parquet"))
    assert {p.parent.name for p in parquet} == {"day=2026-12-04", "day=2026-12-05"}
    exported = duckdb.read_parquet(f"{out}/parquet/**/*.parquet", hive_partitioning=True)
    assert exported.count("*").fetchall() == [(5,)]
    everything = "\n".join(
        [(out / "csv" / "order_lines.csv").read_text()]
        + [str(row) for row in exported.fetchall()]
        + [str(row) for row in lines.fetchall()]
    )
    secrets = (*PERSONAL, *(str(customer) for customer in shop.customers))
    assert [secret for secret in secrets if secret in everything] == []
    assert str(shop.lamp) in everything


@pytest.mark.parametrize(
    ("spec", "until", "fmt", "error", "message"),
    [
        ("nowhere.py:Thing", None, "duckdb", UnknownProjection, "there is no file nowhere.py"),
        ("gmv", "friday at six", "duckdb", BadUntil, "is not a time"),
        ("gmv", "2026-12-04T18:00", "duckdb", BadUntil, "needs a time zone"),
        ("gmv", "120", "duckdb", BadUntil, "needs a projection of one log"),
        ("gmv", "orders=3", "duckdb", BadUntil, "names no position for the log 'catalog'"),
        ("gmv", None, "xlsx", ValueError, "unknown format 'xlsx'"),
    ],
)
def test_bad_input_is_refused_and_writes_nothing(
    settings: Settings,
    tmp_path: Path,
    spec: str,
    until: str | None,
    fmt: str,
    error: type[Exception],
    message: str,
) -> None:
    with pytest.raises(error, match=re.escape(message)):
        run_replay(spec, settings, until, tmp_path / "out", fmt)
    assert not (tmp_path / "out").exists()


def test_a_replay_cannot_go_back_in_time(
    commands: Commands, settings: Settings, tmp_path: Path
) -> None:
    afternoon(commands, morning(commands))
    out = tmp_path / "out"
    run_replay("gmv", settings, None, out, "parquet")
    before = sorted(out.rglob("*"))

    with pytest.raises(BadUntil, match="past --until"):
        run_replay("gmv", settings, CUT.isoformat(), out, "parquet")
    assert sorted(out.rglob("*")) == before


def test_a_replay_continues_only_the_same_projection_under_the_same_key(
    commands: Commands, settings: Settings, tmp_path: Path
) -> None:
    morning(commands)
    out = tmp_path / "out"
    run_replay("gmv", settings, None, out)
    rekeyed = settings.updated(analytics={"key": SecretStr("another-key")})

    with pytest.raises(CheckpointMismatch, match="holds a replay of 'gmv'"):
        run_replay("order-lines", settings, None, out)
    with pytest.raises(CheckpointMismatch, match="holds a replay of 'gmv'"):
        run_replay("gmv", rekeyed, None, out)
    assert run_replay("gmv", settings, None, out).events == 0


BROKEN = """
from typing import ClassVar

from analytics.projection import AnalyticProjection
from domain.order import Order
from projections.handlers import handles


class Broken(AnalyticProjection):
    name = "broken"
    contexts: ClassVar[tuple[str, ...]] = ("orders",)
    tables: ClassVar[dict[str, str]] = {"seen": "order_id VARCHAR PRIMARY KEY"}

    @handles(Order.Placed)
    def placed(self, event, unit):
        unit.insert("seen", order_id=str(event.originator_id))

    @handles(Order.Cancelled)
    def cancelled(self, event, unit):
        raise RuntimeError("a bug in the analyst's handler")
"""


def test_a_first_replay_that_fails_leaves_no_folder_behind(
    commands: Commands, settings: Settings, tmp_path: Path
) -> None:
    morning(commands)
    source = tmp_path / "broken.py"
    source.write_text(BROKEN)

    with pytest.raises(ProjectionStopped, match="a bug in the analyst's handler"):
        run_replay(f"{source}:Broken", settings, None, tmp_path / "made" / "for" / "it")
    assert sorted(tmp_path.iterdir()) == [source]
