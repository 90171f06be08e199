"""The one place that reads the environment: every setting has the MARKETPLACE_ prefix."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from limits import parse_many
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_JWT_SECRET = "dev-only-secret-change-me-0123456789abcdef"  # noqa: S105
DEV_ANALYTICS_KEY = "dev-only-analytics-key-change-me"


class Settings(BaseSettings):
    """Platform settings. Unset store URLs mean: start the embedded local services."""

    model_config = SettingsConfigDict(env_prefix="MARKETPLACE_", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    data_dir: Path = Path(".marketplace")

    event_store: Literal["postgres", "kurrentdb", "memory"] = "postgres"
    split_logs: bool = True
    postgres_url: str | None = None
    postgres_lock_timeout_seconds: int = Field(default=5, ge=1, le=60)
    postgres_connect_timeout_seconds: int = Field(default=2, ge=1, le=60)
    postgres_pool_size: int = Field(default=10, ge=1, le=200)
    postgres_max_overflow: int = Field(default=10, ge=0, le=200)
    kurrentdb_uri: str | None = None
    kurrentdb_root_certificates: str | None = None
    redis_url: str | None = None
    redis_prefix: str = Field(
        default="mp", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$"
    )
    opensearch_url: str | None = None
    """Set, the catalog-search view lives in OpenSearch; unset, in the event store's PostgreSQL."""
    opensearch_index_prefix: str = Field(
        default="mp-", max_length=64, pattern=r"^[a-z0-9][a-z0-9_.-]*$"
    )
    """Prefix of this platform's OpenSearch indices (`<prefix>catalog-search-v1`)."""

    host: str = "127.0.0.1"
    write_api_port: int = Field(default=8000, ge=1, le=65535)
    read_api_port: int = Field(default=8001, ge=1, le=65535)
    write_api_workers: int = Field(default=2, ge=1, le=64)
    read_api_workers: int = Field(default=2, ge=1, le=64)
    read_api_public_url: str | None = Field(default=None, pattern=r"^https?://[^/?#]+(/[^?#]*)?$")
    """The query API's base URL as clients reach it (a proxy, a CDN): the command API's
    Location headers point into it. Unset, http://<host>:<read_api_port>."""
    read_wait_max_seconds: float = Field(default=2.0, gt=0, le=10)
    """How long the query API waits for a view to reach a client's X-Min-Position."""
    read_store_timeout_seconds: float = Field(default=1.0, gt=0, le=30)
    """How long one query-API call to a read store may take before the request gets a 503.

    The client enforces it (Redis socket timeouts, OpenSearch's request timeout, and on
    PostgreSQL both the wait for a pooled connection and each call), so it holds when the
    store itself hangs: a read whose store stops answering gets its 503 within about twice
    this (2 s by default)."""
    write_store_timeout_seconds: float = Field(default=1.0, gt=0, le=30)
    """How long one command-API call to PostgreSQL (the event store, idempotency keys) may
    wait for a pooled connection, and then again for the server's answer, before the request
    gets a 503 with Retry-After; on KurrentDB, each call's gRPC deadline (see
    infra.kurrentdb_recorder). The client enforces it, so it holds when the server hangs:
    a command whose store stops answering gets its 503 within about twice this (2 s by
    default). The outcome of an append cut off this way is unknown to the client (see
    README, Deadlines)."""
    embedded_postgres_port: int = Field(default=54329, ge=1, le=65535)
    embedded_redis_port: int = Field(default=63799, ge=1, le=65535)

    jwt_secret: SecretStr = SecretStr(DEV_JWT_SECRET)
    analytics_key: SecretStr = SecretStr(DEV_ANALYTICS_KEY)
    """The key of the pseudonymous customer keys in analytics replays (a keyed hash of the id);
    the same key gives the same pseudonyms, so exports join across replays. Set your own: with
    the development key, anyone who knows a customer's id can find their rows."""
    jwt_issuer: str = "marketplace"
    jwt_audience: str = "marketplace-api"
    jwt_ttl_seconds: int = Field(default=3600, ge=60, le=86400 * 30)
    jwt_leeway_seconds: int = Field(default=60, ge=0, le=600)
    """Clock skew allowed between the host that issued a token and ours (iat, nbf, exp)."""
    jwt_jwks_url: str | None = Field(default=None, pattern=r"^https?://")
    """Set, tokens are the identity provider's (RS256 or ES256, checked against the keys this
    URL serves) and shared-secret tokens are refused; unset, HS256 with MARKETPLACE_JWT_SECRET."""
    jwt_jwks_cache_seconds: int = Field(default=300, ge=1, le=86400)
    """How long a fetched key set is used before it is fetched again."""
    jwt_jwks_refresh_cooldown_seconds: int = Field(default=30, ge=0, le=3600)
    """At most one extra fetch per this many seconds for a token naming an unknown key id."""

    checkout_expiry_seconds: int = Field(default=900, ge=1, le=86400)
    """How long a placed order may take to be paid and confirmed before it expires."""
    payment_gateway_url: str | None = None
    """Unset, `marketplace up` starts the sandbox gateway on gateway_port."""
    payment_gateway_api_key: SecretStr | None = None
    """Sent as a bearer token on every gateway call (the sandbox needs none)."""
    gateway_port: int = Field(default=8010, ge=1, le=65535)
    checkout_metrics_port: int = Field(default=0, ge=0, le=65535)
    """Set, `marketplace up` has the checkout worker serve Prometheus metrics on it (breaker
    state and transitions, gateway calls); `marketplace loadtest` samples them from there."""
    payment_timeout_seconds: float = Field(default=2.0, gt=0, le=60)
    payment_attempts: int = Field(default=3, ge=1, le=10)
    """Tries per gateway call (the first plus retries), only for retry-safe failures."""
    payment_workers: int = Field(default=8, ge=1, le=128)
    """Gateway calls the checkout worker makes at once."""
    breaker_failure_rate: float = Field(default=0.5, gt=0, le=1)
    breaker_window_calls: int = Field(default=100, ge=1, le=10_000)
    breaker_min_calls: int = Field(default=20, ge=1, le=10_000)
    breaker_open_seconds: float = Field(default=60.0, gt=0, le=3600)
    breaker_half_open_calls: int = Field(default=10, ge=1, le=1000)

    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=8025, ge=1, le=65535)
    """With the default host, `marketplace up` runs a local mail sink that keeps .eml files."""
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False
    smtp_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    mail_from: str = Field(default="Marketplace <no-reply@marketplace.local>", max_length=200)

    blob_store: Literal["local", "s3"] = "local"
    blob_dir: Path | None = None
    """Folder of the local blob store; unset, `<data_dir>/blobs`."""
    s3_endpoint_url: str | None = None
    s3_bucket: str = Field(default="marketplace", min_length=3, max_length=63)
    s3_region: str = "us-east-1"
    s3_access_key_id: str | None = None
    s3_secret_access_key: SecretStr | None = None

    max_body_bytes: int = Field(default=64 * 1024, ge=1024, le=16 * 1024 * 1024)
    idempotency_ttl_hours: int = Field(default=24, ge=24, le=24 * 30)
    log_level: str = "INFO"
    logs_on_terminal: bool = False
    """Whether `marketplace up` shows its processes' JSON log lines on its terminal; by
    default each process's go to <data dir>/logs/<process>.log."""

    rate_limits_enabled: bool = True
    """Per-caller and per-IP budgets for browsing, cart changes and checkout (kept in Redis)."""
    rate_limit_strategy: Literal["sliding-window-counter", "moving-window", "fixed-window"] = (
        "sliding-window-counter"
    )
    rate_limit_browse_per_principal: str = "1200/minute"
    """Query-API GETs per authenticated caller (token sub); `limits` notation, `;`-separated."""
    rate_limit_browse_per_ip: str = "6000/minute"
    """Per client IP: the peer, or X-Forwarded-For from a proxy in FORWARDED_ALLOW_IPS."""
    rate_limit_cart_per_principal: str = "300/minute"
    """Command-API cart changes (create, add, change, remove, clear) per caller."""
    rate_limit_cart_per_ip: str = "1500/minute"
    rate_limit_checkout_per_principal: str = "30/minute"
    """POST /v1/carts/{id}/checkout per caller; an empty string turns a budget off."""
    rate_limit_checkout_per_ip: str = "300/minute"
    rate_limit_store_timeout_seconds: float = Field(default=0.5, gt=0, le=5)
    """How long a request waits on the rate-limit Redis before the in-process fallback decides."""
    rate_limit_recheck_seconds: float = Field(default=5.0, gt=0, le=300)
    """While Redis is down, how often one background PING checks whether it is back."""
    rate_limit_fallback_scale: float = Field(default=1.0, gt=0, le=1)
    """Each process's share of every budget while it decides alone (e.g. 1 / processes)."""
    max_requests_in_flight: int = Field(default=200, ge=1, le=100_000)
    """Requests one API process serves at once; past it, 503 with Retry-After at once."""
    checkout_reserved_share: float = Field(default=0.2, ge=0, lt=1)
    """The last share of the command API's slots, only checkout requests may take."""
    shed_retry_after_seconds: int = Field(default=1, ge=1, le=600)

    @field_validator(
        "rate_limit_browse_per_principal",
        "rate_limit_browse_per_ip",
        "rate_limit_cart_per_principal",
        "rate_limit_cart_per_ip",
        "rate_limit_checkout_per_principal",
        "rate_limit_checkout_per_ip",
    )
    @classmethod
    def _rate_limit(cls, value: str) -> str:
        if value.strip():
            parse_many(value)
        return value.strip()

    @model_validator(mode="after")
    def _guard_secrets(self) -> Settings:
        default_secret = self.jwt_secret.get_secret_value() == DEV_JWT_SECRET
        if self.environment == "production" and default_secret and not self.jwt_jwks_url:
            raise ValueError(
                "in production, set MARKETPLACE_JWT_JWKS_URL (or MARKETPLACE_JWT_SECRET)"
            )
        if self.event_store == "kurrentdb" and not self.kurrentdb_uri:
            raise ValueError("MARKETPLACE_KURRENTDB_URI is required when event_store is kurrentdb")
        return self


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment, with explicit overrides winning."""
    return Settings(**overrides)  # type: ignore[arg-type]
