"""Settings read only MARKETPLACE_ variables, grouped by concern, and refuse unsafe setups."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

from infra.eventstore import eventsourcing_env, search_path_of, with_search_path
from infra.settings import (
    AuthSettings,
    DeadlineSettings,
    EventStoreSettings,
    HttpSettings,
    IdempotencySettings,
    PostgresSettings,
    Settings,
    UnknownSettings,
    env_names,
    load_settings,
)

VARIABLES: list[tuple[str, str, str, Any]] = [
    ("ENVIRONMENT", "test", "environment", "test"),
    ("DATA_DIR", "/srv/mp", "data_dir", Path("/srv/mp")),
    ("LOG_LEVEL", "DEBUG", "log_level", "DEBUG"),
    ("LOGS_ON_TERMINAL", "true", "logs_on_terminal", True),
    ("HOST", "0.0.0.0", "http.host", "0.0.0.0"),
    ("WRITE_API_PORT", "9100", "http.write_api_port", 9100),
    ("READ_API_PORT", "9101", "http.read_api_port", 9101),
    ("WRITE_API_WORKERS", "5", "http.write_api_workers", 5),
    ("READ_API_WORKERS", "6", "http.read_api_workers", 6),
    ("AUDIT_API_PORT", "9102", "http.audit_api_port", 9102),
    ("AUDIT_API_WORKERS", "3", "http.audit_api_workers", 3),
    ("READ_API_PUBLIC_URL", "https://q.example", "http.read_api_public_url", "https://q.example"),
    ("MAX_BODY_BYTES", "2048", "http.max_body_bytes", 2048),
    ("MAX_REQUESTS_IN_FLIGHT", "77", "http.max_requests_in_flight", 77),
    ("CHECKOUT_RESERVED_SHARE", "0.3", "http.checkout_reserved_share", 0.3),
    ("SHED_RETRY_AFTER_SECONDS", "4", "http.shed_retry_after_seconds", 4),
    ("READ_WAIT_MAX_SECONDS", "3.5", "deadlines.read_wait_max_seconds", 3.5),
    ("READ_STORE_TIMEOUT_SECONDS", "0.7", "deadlines.read_store_timeout_seconds", 0.7),
    ("WRITE_STORE_TIMEOUT_SECONDS", "0.8", "deadlines.write_store_timeout_seconds", 0.8),
    ("JWT_SECRET", "s" * 40, "auth.secret", "s" * 40),
    ("ANALYTICS_KEY", "k" * 20, "analytics.key", "k" * 20),
    ("AUDIT_SIGNING_KEY", "ab" * 32, "audit.signing_key", "ab" * 32),
    ("AUDIT_VERIFY_KEY", "cd" * 32, "audit.verify_key", "cd" * 32),
    ("AUDIT_CHECKPOINT_SECONDS", "30", "audit.checkpoint_seconds", 30.0),
    ("AUDIT_CHECKPOINT_HISTORY", "10", "audit.checkpoint_history", 10),
    ("JWT_ISSUER", "idp", "auth.issuer", "idp"),
    ("JWT_AUDIENCE", "shop", "auth.audience", "shop"),
    ("JWT_TTL_SECONDS", "120", "auth.ttl_seconds", 120),
    ("JWT_LEEWAY_SECONDS", "9", "auth.leeway_seconds", 9),
    ("JWT_JWKS_URL", "https://idp/jwks", "auth.jwks_url", "https://idp/jwks"),
    ("JWT_JWKS_CACHE_SECONDS", "11", "auth.jwks_cache_seconds", 11),
    ("JWT_JWKS_REFRESH_COOLDOWN_SECONDS", "12", "auth.jwks_refresh_cooldown_seconds", 12),
    ("EVENT_STORE", "memory", "events.store", "memory"),
    ("SPLIT_LOGS", "false", "events.split_logs", False),
    ("ENCRYPT_PERSONAL_DATA", "false", "events.encrypt_personal_data", False),
    ("SNAPSHOT_EVERY", "50", "events.snapshot_every", 50),
    ("KURRENTDB_URI", "kurrentdb://h:2113", "events.kurrentdb_uri", "kurrentdb://h:2113"),
    ("KURRENTDB_ROOT_CERTIFICATES", "PEM", "events.kurrentdb_root_certificates", "PEM"),
    ("POSTGRES_URL", "postgresql://db/x", "postgres.url", "postgresql://db/x"),
    ("POSTGRES_LOCK_TIMEOUT_SECONDS", "7", "postgres.lock_timeout_seconds", 7),
    ("POSTGRES_CONNECT_TIMEOUT_SECONDS", "8", "postgres.connect_timeout_seconds", 8),
    ("POSTGRES_POOL_SIZE", "13", "postgres.pool_size", 13),
    ("POSTGRES_MAX_OVERFLOW", "14", "postgres.max_overflow", 14),
    ("EMBEDDED_POSTGRES_PORT", "5999", "postgres.embedded_port", 5999),
    ("REDIS_URL", "redis://r:1/0", "redis.url", "redis://r:1/0"),
    ("REDIS_PREFIX", "pfx", "redis.prefix", "pfx"),
    ("EMBEDDED_REDIS_PORT", "6999", "redis.embedded_port", 6999),
    ("OPENSEARCH_URL", "http://os:9200", "opensearch.url", "http://os:9200"),
    ("OPENSEARCH_INDEX_PREFIX", "shop-", "opensearch.index_prefix", "shop-"),
    ("RATE_LIMITS_ENABLED", "false", "rate_limits.enabled", False),
    ("RATE_LIMIT_STRATEGY", "fixed-window", "rate_limits.strategy", "fixed-window"),
    ("RATE_LIMIT_BROWSE_PER_PRINCIPAL", "1/second", "rate_limits.browse_per_principal", "1/second"),
    ("RATE_LIMIT_BROWSE_PER_IP", "2/second", "rate_limits.browse_per_ip", "2/second"),
    ("RATE_LIMIT_CART_PER_PRINCIPAL", "3/second", "rate_limits.cart_per_principal", "3/second"),
    ("RATE_LIMIT_CART_PER_IP", "4/second", "rate_limits.cart_per_ip", "4/second"),
    ("RATE_LIMIT_CHECKOUT_PER_PRINCIPAL", "", "rate_limits.checkout_per_principal", ""),
    ("RATE_LIMIT_CHECKOUT_PER_IP", "6/hour", "rate_limits.checkout_per_ip", "6/hour"),
    ("RATE_LIMIT_STORE_TIMEOUT_SECONDS", "0.25", "rate_limits.store_timeout_seconds", 0.25),
    ("RATE_LIMIT_RECHECK_SECONDS", "6", "rate_limits.recheck_seconds", 6.0),
    ("RATE_LIMIT_FALLBACK_SCALE", "0.5", "rate_limits.fallback_scale", 0.5),
    ("IDEMPOTENCY_TTL_HOURS", "48", "idempotency.ttl_hours", 48),
    ("CHECKOUT_EXPIRY_SECONDS", "60", "checkout.expiry_seconds", 60),
    ("CHECKOUT_METRICS_PORT", "9300", "checkout.metrics_port", 9300),
    ("PAYMENT_GATEWAY_URL", "https://pay", "payments.gateway_url", "https://pay"),
    ("PAYMENT_GATEWAY_API_KEY", "key", "payments.gateway_api_key", "key"),
    ("GATEWAY_PORT", "9400", "payments.gateway_port", 9400),
    ("PAYMENT_TIMEOUT_SECONDS", "1.5", "payments.timeout_seconds", 1.5),
    ("PAYMENT_ATTEMPTS", "2", "payments.attempts", 2),
    ("PAYMENT_WORKERS", "3", "payments.workers", 3),
    ("BREAKER_FAILURE_RATE", "0.25", "breaker.failure_rate", 0.25),
    ("BREAKER_WINDOW_CALLS", "50", "breaker.window_calls", 50),
    ("BREAKER_MIN_CALLS", "5", "breaker.min_calls", 5),
    ("BREAKER_OPEN_SECONDS", "30", "breaker.open_seconds", 30.0),
    ("BREAKER_HALF_OPEN_CALLS", "2", "breaker.half_open_calls", 2),
    ("SMTP_HOST", "mail.example", "mail.host", "mail.example"),
    ("SMTP_PORT", "2525", "mail.port", 2525),
    ("SMTP_USERNAME", "user", "mail.username", "user"),
    ("SMTP_PASSWORD", "pw", "mail.password", "pw"),
    ("SMTP_STARTTLS", "true", "mail.starttls", True),
    ("SMTP_TIMEOUT_SECONDS", "3", "mail.timeout_seconds", 3.0),
    ("MAIL_FROM", "Shop <s@x.example>", "mail.sender", "Shop <s@x.example>"),
    ("BLOB_STORE", "s3", "blobs.store", "s3"),
    ("BLOB_DIR", "/srv/blobs", "blobs.local_dir", Path("/srv/blobs")),
    ("S3_ENDPOINT_URL", "http://s3:9000", "blobs.endpoint_url", "http://s3:9000"),
    ("S3_BUCKET", "labels", "blobs.bucket", "labels"),
    ("S3_REGION", "eu-west-1", "blobs.region", "eu-west-1"),
    ("S3_ACCESS_KEY_ID", "AKIA", "blobs.access_key_id", "AKIA"),
    ("S3_SECRET_ACCESS_KEY", "shh", "blobs.secret_access_key", "shh"),
    ("IMAGE_MAX_UPLOAD_BYTES", "2048", "images.max_upload_bytes", 2048),
    ("IMAGE_MAX_PIXELS", "5000000", "images.max_pixels", 5_000_000),
    ("IMAGE_MAX_PER_PRODUCT", "8", "images.max_per_product", 8),
    ("IMAGE_METRICS_PORT", "9108", "images.metrics_port", 9108),
]
"""Every variable an operator may set, the value set, the setting it lands in, as read."""


def read(settings: Settings, path: str) -> Any:
    value: Any = settings
    for part in path.split("."):
        value = getattr(value, part)
    return value.get_secret_value() if isinstance(value, SecretStr) else value


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No MARKETPLACE_ setting from the surrounding environment."""
    for name in env_names():
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_the_table_names_every_setting_once() -> None:
    assert sorted(f"MARKETPLACE_{name}" for name, *_ in VARIABLES) == sorted(env_names())
    assert {path for *_, path, _ in VARIABLES} == set(env_names().values())


@pytest.mark.parametrize(("name", "raw", "path", "expected"), VARIABLES, ids=lambda v: str(v))
def test_each_variable_lands_in_its_group(
    clean_env: pytest.MonkeyPatch, name: str, raw: str, path: str, expected: Any
) -> None:
    default = read(Settings(), path)
    clean_env.setenv(f"MARKETPLACE_{name}", raw)
    assert read(Settings(), path) == expected != default


def test_names_are_read_in_any_case_and_only_with_the_prefix(
    clean_env: pytest.MonkeyPatch,
) -> None:
    clean_env.setenv("marketplace_write_api_port", "9123")
    clean_env.setenv("WRITE_API_PORT", "1")
    assert Settings().http.write_api_port == 9123


def test_an_unknown_marketplace_variable_is_refused_by_name(
    clean_env: pytest.MonkeyPatch,
) -> None:
    clean_env.setenv("MARKETPLACE_POSTGRES_ULR", "postgresql://db/x")
    clean_env.setenv("MARKETPLACE_NO_SUCH_THING", "1")
    with pytest.raises(UnknownSettings) as refused:
        load_settings()
    assert str(refused.value) == (
        "unknown MARKETPLACE_* settings: MARKETPLACE_NO_SUCH_THING, "
        "MARKETPLACE_POSTGRES_ULR (did you mean MARKETPLACE_POSTGRES_URL?)"
    )


def test_the_test_suites_variables_and_group_names_are_not_settings(
    clean_env: pytest.MonkeyPatch,
) -> None:
    clean_env.setenv("MARKETPLACE_TEST_SEED", "7")
    assert load_settings().postgres.url is None
    clean_env.setenv("MARKETPLACE_POSTGRES", '{"url": "postgresql://db/x"}')
    with pytest.raises(
        UnknownSettings,
        match=r"settings: MARKETPLACE_POSTGRES \(did you mean MARKETPLACE_POSTGRES_URL\?\)",
    ):
        load_settings()


def test_overrides_change_some_of_a_groups_fields_and_keep_the_environments(
    clean_env: pytest.MonkeyPatch,
) -> None:
    clean_env.setenv("MARKETPLACE_HOST", "0.0.0.0")
    clean_env.setenv("MARKETPLACE_WRITE_API_PORT", "9100")
    settings = load_settings(http={"read_api_port": 9200}, data_dir=Path("/srv"))
    assert (settings.http.host, settings.http.write_api_port) == ("0.0.0.0", 9100)
    assert (settings.http.read_api_port, settings.data_dir) == (9200, Path("/srv"))
    with pytest.raises(ValidationError, match="read_api_port"):
        load_settings(http={"read_api_port": 0})
    with pytest.raises(ValidationError, match="postgres_url"):
        load_settings(postgres_url="postgresql://db/x")


def test_updated_is_a_validated_copy(clean_env: pytest.MonkeyPatch) -> None:
    settings = Settings()
    changed = settings.updated(payments={"attempts": 1}, log_level="DEBUG")
    assert (changed.payments.attempts, changed.log_level) == (1, "DEBUG")
    assert changed.payments.workers == settings.payments.workers
    assert (settings.payments.attempts, settings.log_level) == (3, "INFO")
    with pytest.raises(ValidationError):
        settings.updated(payments={"attempts": 0})
    with pytest.raises(ValidationError):
        settings.updated(payments={"attempt": 1})


def test_production_refuses_the_development_secret(clean_env: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError, match="JWT_SECRET"):
        Settings(environment="production")
    secret = AuthSettings(secret=SecretStr("x" * 40))
    assert Settings(environment="production", auth=secret).environment == "production"
    provider = AuthSettings(jwks_url="https://idp.example/jwks")
    with_provider = Settings(environment="production", auth=provider)
    assert with_provider.auth.jwks_url == "https://idp.example/jwks"


def test_kurrentdb_needs_a_uri() -> None:
    with pytest.raises(ValidationError, match="KURRENTDB_URI"):
        Settings(events=EventStoreSettings(store="kurrentdb"))
    events = EventStoreSettings(store="kurrentdb", kurrentdb_uri="kurrentdb://h:2113")
    env = eventsourcing_env(Settings(events=events))
    assert env["PERSISTENCE_MODULE"] == "infra.kurrentdb_recorder:MarketplaceKurrentDBFactory"
    assert env["KURRENTDB_URI"] == "kurrentdb://h:2113"
    assert "KURRENTDB_CALL_TIMEOUT" not in env


def test_kurrentdb_calls_get_the_command_apis_deadline() -> None:
    settings = Settings(
        events=EventStoreSettings(store="kurrentdb", kurrentdb_uri="kurrentdb://h:2113"),
        deadlines=DeadlineSettings(write_store_timeout_seconds=1.5),
    )
    env = eventsourcing_env(settings, call_timeout=settings.deadlines.write_store_timeout_seconds)
    assert env["KURRENTDB_CALL_TIMEOUT"] == "1.5"


def test_postgres_env_carries_lock_timeout_and_schema() -> None:
    url = with_search_path("postgresql://u:p%40ss@db.local:6543/shop", "tenant_a")
    env = eventsourcing_env(Settings(postgres=PostgresSettings(lock_timeout_seconds=7)), url)
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


def test_the_command_api_bounds_its_event_store_calls(clean_env: pytest.MonkeyPatch) -> None:
    env = eventsourcing_env(Settings(), "postgresql://db.local/shop", call_timeout=1.5)
    assert env["POSTGRES_CALL_TIMEOUT"] == "1.5"
    deadlines = Settings().deadlines
    assert deadlines.write_store_timeout_seconds == deadlines.read_store_timeout_seconds == 1.0


def test_bounds_are_enforced() -> None:
    with pytest.raises(ValidationError):
        Settings(idempotency=IdempotencySettings(ttl_hours=1))
    with pytest.raises(ValidationError):
        Settings(http=HttpSettings(max_body_bytes=10))


def test_an_unconfirmed_order_expires_after_fifteen_minutes_by_default(
    clean_env: pytest.MonkeyPatch,
) -> None:
    assert Settings().checkout.expiry_seconds == 15 * 60
