"""Settings read only MARKETPLACE_ variables and refuse unsafe production setups."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from infra.eventstore import eventsourcing_env, search_path_of, with_search_path
from infra.settings import Settings


def test_reads_prefixed_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MARKETPLACE_WRITE_API_PORT", "9123")
    monkeypatch.setenv("WRITE_API_PORT", "1")
    assert Settings().write_api_port == 9123


def test_production_refuses_the_development_secret() -> None:
    with pytest.raises(ValidationError, match="JWT_SECRET"):
        Settings(environment="production")
    assert Settings(environment="production", jwt_secret="x" * 40).environment == "production"
    with_provider = Settings(environment="production", jwt_jwks_url="https://idp.example/jwks")
    assert with_provider.jwt_jwks_url == "https://idp.example/jwks"


def test_kurrentdb_needs_a_uri() -> None:
    with pytest.raises(ValidationError, match="KURRENTDB_URI"):
        Settings(event_store="kurrentdb")
    env = eventsourcing_env(Settings(event_store="kurrentdb", kurrentdb_uri="kurrentdb://h:2113"))
    assert env["PERSISTENCE_MODULE"] == "infra.kurrentdb_recorder:MarketplaceKurrentDBFactory"
    assert env["KURRENTDB_URI"] == "kurrentdb://h:2113"
    assert "KURRENTDB_CALL_TIMEOUT" not in env


def test_kurrentdb_calls_get_the_command_apis_deadline() -> None:
    settings = Settings(
        event_store="kurrentdb", kurrentdb_uri="kurrentdb://h:2113", write_store_timeout_seconds=1.5
    )
    env = eventsourcing_env(settings, call_timeout=settings.write_store_timeout_seconds)
    assert env["KURRENTDB_CALL_TIMEOUT"] == "1.5"


def test_postgres_env_carries_lock_timeout_and_schema() -> None:
    url = with_search_path("postgresql://u:p%40ss@db.local:6543/shop", "tenant_a")
    env = eventsourcing_env(Settings(postgres_lock_timeout_seconds=7), url)
    assert env["PERSISTENCE_MODULE"] == "infra.postgres_recorder:MarketplacePostgresFactory"
    assert (env["POSTGRES_HOST"], env["POSTGRES_PORT"], env["POSTGRES_DBNAME"]) == (
        "db.local",
        "6543",
        "shop",
    )
    assert env["POSTGRES_PASSWORD"] == "p@ss"
    assert env["POSTGRES_LOCK_TIMEOUT"] == "7"
    assert env["POSTGRES_SCHEMA"] == "tenant_a" == search_path_of(url)
    assert "POSTGRES_CALL_TIMEOUT" not in env


def test_the_command_api_bounds_its_event_store_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MARKETPLACE_READ_STORE_TIMEOUT_SECONDS", raising=False)
    monkeypatch.delenv("MARKETPLACE_WRITE_STORE_TIMEOUT_SECONDS", raising=False)
    env = eventsourcing_env(Settings(), "postgresql://db.local/shop", call_timeout=1.5)
    assert env["POSTGRES_CALL_TIMEOUT"] == "1.5"
    assert Settings().write_store_timeout_seconds == Settings().read_store_timeout_seconds == 1.0


def test_bounds_are_enforced() -> None:
    with pytest.raises(ValidationError):
        Settings(idempotency_ttl_hours=1)
    with pytest.raises(ValidationError):
        Settings(max_body_bytes=10)


def test_an_unconfirmed_order_expires_after_fifteen_minutes_by_default() -> None:
    assert Settings().checkout_expiry_seconds == 15 * 60
