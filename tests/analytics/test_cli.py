"""`marketplace analytics replay` as an analyst runs it: a progress bar, files, clear errors."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from commands.services import Commands
from tests.analytics.scenario import CUT, afternoon, morning
from tests.conftest import run_marketplace

pytestmark = pytest.mark.postgres

EXAMPLE = Path(__file__).parents[2] / "analytics" / "examples" / "refunds_by_day.py"


def test_an_ad_hoc_projection_from_a_file_into_csv(
    commands: Commands, postgres_url: str, tmp_path: Path
) -> None:
    afternoon(commands, morning(commands))
    out = tmp_path / "refunds"

    done = run_marketplace(
        "analytics", "replay", "--projection", f"{EXAMPLE}:RefundsByDay",
        "--out", str(out), "--format", "csv",
        env={"MARKETPLACE_POSTGRES_URL": postgres_url},
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    assert "events/s" in done.stderr and "ETA" in done.stderr
    assert done.stdout.startswith("replayed refunds-by-day")
    with (out / "csv" / "refunds_by_day.csv").open() as file:
        assert list(csv.DictReader(file)) == [
            {"day": "2026-12-04", "currency": "EUR", "refunds": "1", "refunded_minor": "1000"}
        ]


def test_an_unknown_projection_is_a_usage_error_that_writes_nothing(
    postgres_url: str, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    done = run_marketplace(
        "analytics", "replay", "no-such-view", "--out", str(out),
        env={"MARKETPLACE_POSTGRES_URL": postgres_url},
    )  # fmt: skip
    assert done.returncode == 2
    assert (
        "no analytic projection 'no-such-view'; built in: cart-funnel, gmv, order-lines"
        in done.stderr
    )
    assert not out.exists()


def test_production_refuses_the_development_key_and_writes_nothing(
    postgres_url: str, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    env = {
        "MARKETPLACE_POSTGRES_URL": postgres_url,
        "MARKETPLACE_ENVIRONMENT": "production",
        "MARKETPLACE_JWT_SECRET": "s" * 40,
    }
    done = run_marketplace("analytics", "replay", "order-lines", "--out", str(out), env=env)
    assert done.returncode == 2
    assert "set MARKETPLACE_ANALYTICS_KEY" in done.stderr
    assert not out.exists()
    own_key = run_marketplace(
        "analytics", "replay", "order-lines", "--out", str(out),
        env=env | {"MARKETPLACE_ANALYTICS_KEY": "k" * 32},
    )  # fmt: skip
    assert own_key.returncode == 0, own_key.stderr


def test_an_unwritable_out_is_refused_and_writes_nothing(postgres_url: str, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    done = run_marketplace(
        "analytics", "replay", "gmv", "--until", CUT.isoformat(), "--out", str(blocker / "out"),
        env={"MARKETPLACE_POSTGRES_URL": postgres_url},
    )  # fmt: skip
    assert done.returncode == 2
    assert "cannot be written" in done.stderr
    assert sorted(tmp_path.iterdir()) == [blocker]
