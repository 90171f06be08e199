"""GET /v1/audit/verify: every log verified, or the first break named; also a metric."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import psycopg
import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY

from auditapi.app import create_app
from commands.services import Commands
from infra.eventstore import eventsourcing_env
from infra.settings import BlobSettings, PostgresSettings, Settings
from marketplace.audit import build_audit_deps
from marketplace.audit_chain import take_checkpoints
from tests.support.audit import open_shop

pytestmark = pytest.mark.postgres


@pytest.fixture
def settings(postgres_url: str, tmp_path: Path) -> Iterator[Settings]:
    """A shop's history on the test's schema, its checkpoints in the test's blob folder."""
    settings = Settings(
        environment="test",
        postgres=PostgresSettings(url=postgres_url),
        blobs=BlobSettings(local_dir=tmp_path),
    )
    commands = Commands(eventsourcing_env(settings, postgres_url))
    open_shop(commands)
    commands.close()
    yield settings


def verification(settings: Settings) -> dict[str, dict[str, object]]:
    deps = build_audit_deps(settings)
    token = deps.tokens.issue(uuid4(), "auditor")
    with TestClient(create_app(deps, owned=deps.closers)) as client:
        answer = client.get("/v1/audit/verify", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    return {"ok": {"ok": body["ok"]}, **{each["log"]: each for each in body["logs"]}}


def test_an_untouched_history_verifies(settings: Settings) -> None:
    take_checkpoints(settings)

    result = verification(settings)

    assert result["ok"] == {"ok": True}
    assert result["orders"]["ok"] is True
    assert result["orders"]["verified"] == result["orders"]["head"] > 0
    assert REGISTRY.get_sample_value("audit_chain_intact", {"log": "orders"}) == 1


def test_an_edited_payload_is_named_with_its_position(settings: Settings) -> None:
    take_checkpoints(settings)
    assert settings.postgres.url
    with psycopg.connect(settings.postgres.url, autocommit=True) as conn:
        conn.execute(
            "UPDATE orders_events SET state = convert_to('{}', 'UTF8') WHERE notification_id = 2"
        )

    result = verification(settings)

    assert result["ok"] == {"ok": False}
    assert (result["orders"]["broken"], result["orders"]["position"]) == ("payload changed", 2)
    assert result["catalog"]["ok"] is True
    assert REGISTRY.get_sample_value("audit_chain_intact", {"log": "orders"}) == 0
    assert REGISTRY.get_sample_value("audit_chain_broken_position", {"log": "orders"}) == 2
