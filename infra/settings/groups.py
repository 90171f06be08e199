"""The settings of each concern, and the flat MARKETPLACE_* variable each field reads."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar, Literal

from limits import parse_many
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

PREFIX = "MARKETPLACE_"
DEV_JWT_SECRET = "dev-only-secret-change-me-0123456789abcdef"  # noqa: S105
DEV_ANALYTICS_KEY = "dev-only-analytics-key-change-me"
DEV_AUDIT_SIGNING_KEY = "de" * 32
"""The development Ed25519 key (a 32-byte seed, in hex) that signs checkpoints of the logs."""


class Group(BaseModel):
    """One concern's settings: field `f` reads MARKETPLACE_<env_prefix><F> unless renamed."""

    model_config = ConfigDict(extra="forbid")
    env_prefix: ClassVar[str] = ""
    env_names: ClassVar[Mapping[str, str]] = {}
    """Fields whose variable is not env_prefix + field name, by field name."""

    @classmethod
    def env_name(cls, field: str) -> str:
        """The variable this group's field reads."""
        return PREFIX + cls.env_names.get(field, cls.env_prefix + field).upper()


class HttpSettings(Group):
    """Where the APIs listen, how many processes serve them, and what one admits."""

    host: str = "127.0.0.1"
    write_api_port: int = Field(default=8000, ge=1, le=65535)
    read_api_port: int = Field(default=8001, ge=1, le=65535)
    write_api_workers: int = Field(default=2, ge=1, le=64)
    read_api_workers: int = Field(default=2, ge=1, le=64)
    audit_api_port: int = Field(default=8002, ge=1, le=65535)
    audit_api_workers: int = Field(default=1, ge=1, le=16)
    read_api_public_url: str | None = Field(default=None, pattern=r"^https?://[^/?#]+(/[^?#]*)?$")
    """The query API's base URL as clients reach it (a proxy, a CDN): the command API's
    Location headers point into it. Unset, http://<host>:<read_api_port>."""
    max_body_bytes: int = Field(default=64 * 1024, ge=1024, le=16 * 1024 * 1024)
    max_requests_in_flight: int = Field(default=200, ge=1, le=100_000)
    """Requests one API process serves at once; past it, 503 with Retry-After at once."""
    checkout_reserved_share: float = Field(default=0.2, ge=0, lt=1)
    """The last share of the command API's slots, only checkout requests may take."""
    shed_retry_after_seconds: int = Field(default=1, ge=1, le=600)


class DeadlineSettings(Group):
    """How long the APIs wait on their stores before they answer 503."""

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


class AuthSettings(Group):
    """Bearer tokens: a shared HS256 secret, or an identity provider's key set."""

    env_prefix: ClassVar[str] = "jwt_"
    secret: SecretStr = SecretStr(DEV_JWT_SECRET)
    issuer: str = "marketplace"
    audience: str = "marketplace-api"
    ttl_seconds: int = Field(default=3600, ge=60, le=86400 * 30)
    leeway_seconds: int = Field(default=60, ge=0, le=600)
    """Clock skew allowed between the host that issued a token and ours (iat, nbf, exp)."""
    jwks_url: str | None = Field(default=None, pattern=r"^https?://")
    """Set, tokens are the identity provider's (RS256 or ES256, checked against the keys this
    URL serves) and shared-secret tokens are refused; unset, HS256 with MARKETPLACE_JWT_SECRET."""
    jwks_cache_seconds: int = Field(default=300, ge=1, le=86400)
    """How long a fetched key set is used before it is fetched again."""
    jwks_refresh_cooldown_seconds: int = Field(default=30, ge=0, le=3600)
    """At most one extra fetch per this many seconds for a token naming an unknown key id."""


class AnalyticsSettings(Group):
    """Analytics replays into a side store."""

    env_prefix: ClassVar[str] = "analytics_"
    key: SecretStr = SecretStr(DEV_ANALYTICS_KEY)
    """The key of the pseudonymous customer keys in analytics replays (a keyed hash of the id);
    the same key gives the same pseudonyms, so exports join across replays. Set your own: with
    the development key, anyone who knows a customer's id can find their rows."""


class AuditSettings(Group):
    """Tamper evidence: signed checkpoints of each event log's chain head."""

    env_prefix: ClassVar[str] = "audit_"
    signing_key: SecretStr = SecretStr(DEV_AUDIT_SIGNING_KEY)
    """The Ed25519 private key (its 32-byte seed, 64 hex digits) that signs checkpoints. Set
    your own: under the development key, anyone can sign a rewritten log's checkpoint."""
    verify_key: str | None = None
    """The matching Ed25519 public key (64 hex digits), for processes that only verify
    (`marketplace audit verify`, the audit API): set it there instead of the signing key."""
    checkpoint_seconds: float = Field(default=60.0, ge=1, le=86400)
    """How often the checkpoints process writes each log's head (when it has moved)."""
    checkpoint_history: int = Field(default=1000, ge=1, le=1_000_000)
    """How many checkpoints of each log are kept; older ones are dropped (the newest vouch
    for everything before them)."""


class EventStoreSettings(Group):
    """Which event store holds the logs, and how they are split."""

    env_names: ClassVar[Mapping[str, str]] = {"store": "event_store"}
    store: Literal["postgres", "kurrentdb", "memory"] = "postgres"
    split_logs: bool = True
    encrypt_personal_data: bool = True
    """Seal personal data in events with a per-person key, so that erasure can shred it."""
    kurrentdb_uri: str | None = None
    kurrentdb_root_certificates: str | None = None
    snapshot_every: int = Field(default=500, ge=0, le=1_000_000)
    """Snapshot stock items and carts (streams that grow without bound) every this many
    events, so a load reads at most that many; 0 turns snapshots off. Snapshots are only an
    aid: deleting them all changes nothing but load times."""

    @model_validator(mode="after")
    def _kurrentdb_needs_uri(self) -> EventStoreSettings:
        if self.store == "kurrentdb" and not self.kurrentdb_uri:
            raise ValueError("MARKETPLACE_KURRENTDB_URI is required when event_store is kurrentdb")
        return self


class PostgresSettings(Group):
    """The PostgreSQL server of the event store and the SQL views; unset url, embedded."""

    env_prefix: ClassVar[str] = "postgres_"
    env_names: ClassVar[Mapping[str, str]] = {"embedded_port": "embedded_postgres_port"}
    url: str | None = None
    lock_timeout_seconds: int = Field(default=5, ge=1, le=60)
    connect_timeout_seconds: int = Field(default=2, ge=1, le=60)
    pool_size: int = Field(default=10, ge=1, le=200)
    max_overflow: int = Field(default=10, ge=0, le=200)
    embedded_port: int = Field(default=54329, ge=1, le=65535)


class RedisSettings(Group):
    """The Redis of the hot views and the rate limits; unset url, embedded."""

    env_prefix: ClassVar[str] = "redis_"
    env_names: ClassVar[Mapping[str, str]] = {"embedded_port": "embedded_redis_port"}
    url: str | None = None
    prefix: str = Field(default="mp", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    embedded_port: int = Field(default=63799, ge=1, le=65535)


class OpenSearchSettings(Group):
    """Set url, the catalog-search view lives in OpenSearch; unset, in the event store's SQL."""

    env_prefix: ClassVar[str] = "opensearch_"
    url: str | None = None
    index_prefix: str = Field(default="mp-", max_length=64, pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    """Prefix of this platform's OpenSearch indices (`<prefix>catalog-search-v1`)."""


class RateLimitSettings(Group):
    """Per-caller and per-IP budgets for browsing, cart changes and checkout (kept in Redis)."""

    env_prefix: ClassVar[str] = "rate_limit_"
    env_names: ClassVar[Mapping[str, str]] = {"enabled": "rate_limits_enabled"}
    enabled: bool = True
    strategy: Literal["sliding-window-counter", "moving-window", "fixed-window"] = (
        "sliding-window-counter"
    )
    browse_per_principal: str = "1200/minute"
    """Query-API GETs per authenticated caller (token sub); `limits` notation, `;`-separated."""
    browse_per_ip: str = "6000/minute"
    """Per client IP: the peer, or X-Forwarded-For from a proxy in FORWARDED_ALLOW_IPS."""
    cart_per_principal: str = "300/minute"
    """Command-API cart changes (create, add, change, remove, clear) per caller."""
    cart_per_ip: str = "1500/minute"
    checkout_per_principal: str = "30/minute"
    """POST /v1/carts/{id}/checkout per caller; an empty string turns a budget off."""
    checkout_per_ip: str = "300/minute"
    store_timeout_seconds: float = Field(default=0.5, gt=0, le=5)
    """How long a request waits on the rate-limit Redis before the in-process fallback decides."""
    recheck_seconds: float = Field(default=5.0, gt=0, le=300)
    """While Redis is down, how often one background PING checks whether it is back."""
    fallback_scale: float = Field(default=1.0, gt=0, le=1)
    """Each process's share of every budget while it decides alone (e.g. 1 / processes)."""

    @field_validator(
        "browse_per_principal",
        "browse_per_ip",
        "cart_per_principal",
        "cart_per_ip",
        "checkout_per_principal",
        "checkout_per_ip",
    )
    @classmethod
    def _rate_limit(cls, value: str) -> str:
        if value.strip():
            parse_many(value)
        return value.strip()


class IdempotencySettings(Group):
    """How long the command API remembers an Idempotency-Key and its answer."""

    env_prefix: ClassVar[str] = "idempotency_"
    ttl_hours: int = Field(default=24, ge=24, le=24 * 30)


class CheckoutSettings(Group):
    """The checkout worker: how long an order may wait for payment, where it reports."""

    env_prefix: ClassVar[str] = "checkout_"
    expiry_seconds: int = Field(default=900, ge=1, le=86400)
    """How long a placed order may take to be paid and confirmed before it expires."""
    metrics_port: int = Field(default=0, ge=0, le=65535)
    """Set, `marketplace up` has the checkout worker serve Prometheus metrics on it (breaker
    state and transitions, gateway calls); `marketplace loadtest` samples them from there."""


class PaymentSettings(Group):
    """The payment gateway and how the checkout worker calls it."""

    env_prefix: ClassVar[str] = "payment_"
    env_names: ClassVar[Mapping[str, str]] = {"gateway_port": "gateway_port"}
    gateway_url: str | None = None
    """Unset, `marketplace up` starts the sandbox gateway on gateway_port."""
    gateway_api_key: SecretStr | None = None
    """Sent as a bearer token on every gateway call (the sandbox needs none)."""
    gateway_port: int = Field(default=8010, ge=1, le=65535)
    timeout_seconds: float = Field(default=2.0, gt=0, le=60)
    attempts: int = Field(default=3, ge=1, le=10)
    """Tries per gateway call (the first plus retries), only for retry-safe failures."""
    workers: int = Field(default=8, ge=1, le=128)
    """Gateway calls the checkout worker makes at once."""


class BreakerSettings(Group):
    """The circuit breaker in front of the payment gateway."""

    env_prefix: ClassVar[str] = "breaker_"
    failure_rate: float = Field(default=0.5, gt=0, le=1)
    window_calls: int = Field(default=100, ge=1, le=10_000)
    min_calls: int = Field(default=20, ge=1, le=10_000)
    open_seconds: float = Field(default=60.0, gt=0, le=3600)
    half_open_calls: int = Field(default=10, ge=1, le=1000)


class MailSettings(Group):
    """The SMTP server the mail sender uses."""

    env_prefix: ClassVar[str] = "smtp_"
    env_names: ClassVar[Mapping[str, str]] = {"sender": "mail_from"}
    host: str = "127.0.0.1"
    port: int = Field(default=8025, ge=1, le=65535)
    """With the default host, `marketplace up` runs a local mail sink that keeps .eml files."""
    username: str | None = None
    password: SecretStr | None = None
    starttls: bool = False
    timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    sender: str = Field(default="Marketplace <no-reply@marketplace.local>", max_length=200)


class BlobSettings(Group):
    """Where label PDFs and other blobs are kept: a local folder or an S3 bucket."""

    env_prefix: ClassVar[str] = "s3_"
    env_names: ClassVar[Mapping[str, str]] = {"store": "blob_store", "local_dir": "blob_dir"}
    store: Literal["local", "s3"] = "local"
    local_dir: Path | None = None
    """Folder of the local blob store; unset, `<data_dir>/blobs`."""
    endpoint_url: str | None = None
    bucket: str = Field(default="marketplace", min_length=3, max_length=63)
    region: str = "us-east-1"
    access_key_id: str | None = None
    secret_access_key: SecretStr | None = None


class ImageSettings(Group):
    """What a product image upload may be, and the variants the image worker renders."""

    env_prefix: ClassVar[str] = "image_"
    max_upload_bytes: int = Field(default=10 * 1024 * 1024, ge=1024, le=200 * 1024 * 1024)
    max_pixels: int = Field(default=40_000_000, ge=1024, le=200_000_000)
    """Width times height an upload may have; Pillow's decompression-bomb guard uses it too."""
    max_per_product: int = Field(default=12, ge=1, le=100)
    metrics_port: int = Field(default=0, ge=0, le=65535)
