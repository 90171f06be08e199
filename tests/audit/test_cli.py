"""`marketplace audit checkpoint` and `verify` as an auditor runs them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.audit.chained_log import log_recorder, sql, stored
from tests.conftest import run_marketplace

pytestmark = pytest.mark.postgres


def test_verify_reports_each_log_and_the_first_break(postgres_url: str, tmp_path: Path) -> None:
    env = {"MARKETPLACE_POSTGRES_URL": postgres_url, "MARKETPLACE_BLOB_DIR": str(tmp_path)}
    with log_recorder(postgres_url, log="orders") as orders:
        for _ in range(4):
            orders.insert_events(stored(5))

    taken = run_marketplace("audit", "checkpoint", "--json", env=env)
    clean = run_marketplace("audit", "verify", env=env)
    sql(postgres_url, "DELETE FROM orders_events WHERE notification_id > 17")
    broken = run_marketplace("audit", "verify", "--json", env=env)

    assert taken.returncode == 0, taken.stderr
    assert json.loads(taken.stdout)["checkpoints"][0]["position"] == 20
    assert clean.returncode == 0, clean.stderr
    assert "orders       OK" in clean.stdout and "20 events up to 20" in clean.stdout
    assert "verify orders" in clean.stderr
    assert broken.returncode == 1, broken.stderr
    result = json.loads(broken.stdout)
    assert result["ok"] is False
    (orders_verdict,) = [each for each in result["logs"] if each["log"] == "orders"]
    assert orders_verdict["broken"] == "head truncated"
    assert orders_verdict["position"] == 18
    assert all(each["ok"] for each in result["logs"] if each["log"] != "orders")


def test_production_refuses_the_development_key(postgres_url: str, tmp_path: Path) -> None:
    env = {
        "MARKETPLACE_POSTGRES_URL": postgres_url,
        "MARKETPLACE_BLOB_DIR": str(tmp_path),
        "MARKETPLACE_ENVIRONMENT": "production",
        "MARKETPLACE_JWT_SECRET": "a-production-secret-0123456789abcdef",
    }

    done = run_marketplace("audit", "checkpoint", env=env)

    assert done.returncode == 2
    assert "MARKETPLACE_AUDIT_SIGNING_KEY" in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_the_checkpoints_process_signs_heads_until_stopped(
    postgres_url: str, tmp_path: Path
) -> None:
    with log_recorder(postgres_url, log="carts") as carts:
        carts.insert_events(stored(3))
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MARKETPLACE_")},
        "MARKETPLACE_POSTGRES_URL": postgres_url,
        "MARKETPLACE_BLOB_DIR": str(tmp_path),
        "MARKETPLACE_AUDIT_CHECKPOINT_SECONDS": "1",
    }
    blob = tmp_path / "audit" / "checkpoints" / "carts.json"
    process = subprocess.Popen(
        [sys.executable, "-m", "marketplace.cli", "audit-checkpoints"], env=env
    )
    try:
        deadline = time.monotonic() + 60
        while not blob.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=30)

    assert code == 0
    (checkpoint,) = json.loads(blob.read_text())["checkpoints"]
    assert checkpoint["position"] == 3
