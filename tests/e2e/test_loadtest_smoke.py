"""`marketplace loadtest`, short, against a real `marketplace up`: invariants only, no timings."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

from commands.services import Commands
from infra.eventstore import eventsourcing_env
from infra.settings import EventStoreSettings, PostgresSettings, load_settings
from loadtest.plan import ENDPOINTS
from tests.e2e.stack import Stack, marketplace

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

LOAD_SECONDS = 20
FLASH_STOCK = 4
RUN_TIMEOUT = 240.0
PNG = b"\x89PNG\r\n\x1a\n"


def run_loadtest(stack: Stack, out: Path) -> tuple[int, str]:
    """`marketplace loadtest` against the stack, as a user would type it; exit code, output."""
    args = [
        "loadtest",
        "--write-url",
        stack.url,
        "--read-url",
        f"http://127.0.0.1:{stack.read_port}",
        "--out",
        str(out),
        "--duration",
        str(LOAD_SECONDS),
        "--users",
        "12",
        "--flash-users",
        "12",
        "--flash-at",
        "8",
        "--flash-stock",
        str(FLASH_STOCK),
        "--products",
        "30",
        "--think",
        "0.5",
        "--settle",
        "90",
    ]
    env = {**stack.env(), "MARKETPLACE_DATA_DIR": str(stack.data_dir)}
    result = subprocess.run(
        marketplace(*args),
        capture_output=True,
        text=True,
        env=env,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    return result.returncode, result.stdout + result.stderr


def stock_in_event_store(stack: Stack, product_ids: list[str]) -> dict[str, tuple[int, int, int]]:
    """(received, sold, available) of each product's stock item, read from the event store."""
    settings = load_settings(
        postgres=PostgresSettings(url=stack.postgres_url),
        events=EventStoreSettings(store="postgres", split_logs=True),
    )
    commands = Commands(eventsourcing_env(settings), split_logs=settings.events.split_logs)
    try:
        items = {p: commands.inventory.stock_of(uuid.UUID(p)) for p in product_ids}
    finally:
        commands.close()
    return {p: (i.received, i.sold, i.available) for p, i in items.items()}


def test_a_short_black_friday_run_keeps_every_invariant_and_writes_its_report(
    stack: Stack, tmp_path: Path
) -> None:
    stack.start()
    out = tmp_path / "report"
    code, output = run_loadtest(stack, out)
    assert code == 0, output

    report = out / "report.md"
    assert report.stat().st_size > 0, output
    summary: dict[str, Any] = json.loads((out / "summary.json").read_text())
    assert set(summary["charts"]) >= {
        "throughput",
        "latency",
        "errors",
        "overload",
        "lag",
        "flash_sale",
        "breaker",
    }
    for name in summary["charts"].values():
        png = (out / name).read_bytes()
        assert png.startswith(PNG) and len(png) > 1000, name
        assert f"]({name})" in report.read_text()

    untouched = [name for name in ENDPOINTS if summary["endpoints"][name]["requests"] == 0]
    assert untouched == [], output
    assert summary["connection_errors"] == 0, summary["errors"]
    assert summary["user_exceptions"] == {}
    assert summary["lag_samples"] > 0
    assert summary["breaker"]["samples"] > 0, summary["breaker"]

    assert summary["settled"], output
    assert [i for i in summary["invariants"] if i["ok"] is False] == [], summary["invariants"]
    flash = summary["flash"]
    assert len(flash) == 3
    for row in flash:
        assert row["stock"] == FLASH_STOCK
        assert row["oversold"] == 0
        assert row["sold"] <= row["stock"]
        assert row["sold"] + row["held"] + row["left"] == row["stock"]

    stock = stock_in_event_store(stack, [row["product_id"] for row in flash])
    for row in flash:
        received, sold, available = stock[row["product_id"]]
        assert received == FLASH_STOCK
        assert sold <= received
        assert sold + available == received, (row["product_id"], received, sold, available)
        assert sold == row["sold"]
