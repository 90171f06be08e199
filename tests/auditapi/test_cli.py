"""`marketplace audit`: the same reads from the command line, on the same event store."""

from __future__ import annotations

import getpass
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import structlog

from infra.settings import load_settings
from marketplace.cli import main
from tests.auditapi.conftest import Audit

pytestmark = pytest.mark.postgres


@pytest.fixture
def cli(audit: Audit, module_postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Audit]:
    for name in [n for n in os.environ if n.startswith("MARKETPLACE_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("MARKETPLACE_ENVIRONMENT", "test")
    monkeypatch.setenv("MARKETPLACE_POSTGRES_URL", module_postgres_url)
    # The settings without configure_logging: its loggers, cached on first use, would keep
    # writing to this test's captured stderr once it is closed.
    monkeypatch.setattr("marketplace.cli.audit_reads.configured", load_settings)
    before = structlog.get_config()
    structlog.configure(logger_factory=lambda *_: structlog.PrintLogger(sys.stderr))
    yield audit
    structlog.configure(**before)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["audit", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_stream_as_json_and_as_a_table(cli: Audit, capsys: pytest.CaptureFixture[str]) -> None:
    order = str(cli.shop.order_id)
    code, out, _ = run(capsys, "stream", order, "--json")
    assert code == 0
    events: Any = orjson.loads(out)
    assert events == cli.get(f"/v1/audit/streams/{order}")["events"]  # type: ignore[index]
    code, out, _ = run(capsys, "stream", order)
    lines = out.splitlines()
    assert lines[0].split() == ["position", "version", "type", "timestamp", "actor", "stream_id"]
    assert [line.split()[2] for line in lines[1:]] == [e["type"] for e in events]


def test_log_is_filtered_and_reversed_ranges_refused(
    cli: Audit, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "log", "orders", "--type", "Order.Confirmed", "--json")
    assert code == 0
    assert [e["type"] for e in orjson.loads(out)] == ["Order.Confirmed"]
    since, until = "2026-03-02T00:00:00+00:00", "2026-03-01T00:00:00+00:00"
    code, _, err = run(capsys, "log", "orders", "--since", since, "--until", until)
    assert code == 2 and "--until must be later than --since" in err
    code, _, err = run(capsys, "log", "ledger")
    assert code == 2 and "no log 'ledger'" in err


def test_trace_prints_the_causation_tree(cli: Audit, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "trace", cli.shop.correlation_id)
    assert code == 0
    lines = out.splitlines()
    (root,) = [line for line in lines if line.startswith("Order.Placed")]
    assert "caused by req-checkout" in root
    assert any(line.startswith("  Order.StockReserved") for line in lines)


def test_state_is_the_one_the_api_answers(cli: Audit, capsys: pytest.CaptureFixture[str]) -> None:
    order = cli.shop.order_id
    code, out, _ = run(capsys, "state", str(order), "--version", "1", "--json")
    assert code == 0
    api: Any = cli.get(f"/v1/audit/streams/{order}/state", version=1)
    assert orjson.loads(out)["state"] == api["state"]
    code, _, err = run(capsys, "state", str(order))
    assert code == 2 and "exactly one of --version and --at" in err


def test_export_writes_ndjson_with_progress_and_is_recorded(
    cli: Audit, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    target = tmp_path / "orders.ndjson"
    code, _, err = run(capsys, "export", "orders", "--output", str(target))
    assert code == 0
    lines = [orjson.loads(line) for line in target.read_bytes().splitlines()]
    listed: Any = cli.get("/v1/audit/logs/orders/events")
    assert lines == listed["events"]
    assert "export orders" in err and "100%" in err
    reads: Any = cli.get("/v1/audit/access", subject="orders", limit=1000)
    exports = [r for r in reads["reads"] if r["action"] == "export" and r["role"] == "operator"]
    assert exports and exports[-1]["query"]["os_user"] == getpass.getuser()


def test_cli_reads_are_found_by_the_customer_whose_data_they_showed(
    cli: Audit, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Like the API's reads: none of these names the shopper, yet each is found by them."""
    shop = cli.shop
    asked_before: Any = cli.get("/v1/audit/access", subject=str(shop.shopper_id), limit=1000)
    seen = {r["id"] for r in asked_before["reads"]}
    commands = [
        ["stream", str(shop.order_id), "--json"],
        ["log", "orders", "--type", "Order.PaymentAuthorised", "--json"],
        ["trace", shop.correlation_id, "--json"],
        ["state", str(shop.order_id), "--version", "1", "--json"],
        ["export", "orders", "--type", "Order.Confirmed", "--output", str(tmp_path / "o.ndjson")],
    ]
    for command in commands:
        assert run(capsys, *command)[0] == 0, command
    assert run(capsys, "stream", str(shop.product_id), "--json")[0] == 0

    asked: Any = cli.get("/v1/audit/access", subject=str(shop.shopper_id), limit=1000)
    new = [r for r in asked["reads"] if r["id"] not in seen and r["role"] == "operator"]
    assert [r["action"] for r in new] == ["stream", "log", "trace", "state", "export"]
    assert all(r["subjects"] == [str(shop.shopper_id)] for r in new)
