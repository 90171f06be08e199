"""Builds the eventsourcing library's persistence environment from settings."""

from __future__ import annotations

from urllib.parse import parse_qs, unquote, urlencode, urlparse, urlunparse

from infra.kurrentdb_recorder import CALL_TIMEOUT as KURRENTDB_CALL_TIMEOUT
from infra.personal.factory import KEYS_SCHEMA, KEYS_URL, POLICY
from infra.postgres_recorder import CALL_TIMEOUT
from infra.settings import PostgresSettings, Settings

POSTGRES_FACTORY = "infra.postgres_recorder:MarketplacePostgresFactory"
"""The library's PostgreSQL persistence, with our connections (infra.postgres_recorder)."""
KURRENTDB_FACTORY = "infra.kurrentdb_recorder:MarketplaceKurrentDBFactory"
"""The library's KurrentDB persistence, with a deadline on each call (infra.kurrentdb_recorder)."""
PERSONAL_DATA_POLICY = "domain.personal:POLICY"
"""Which events carry whose personal data: the mapper seals it per person (infra.personal)."""


def eventsourcing_env(
    settings: Settings, postgres_url: str | None = None, *, call_timeout: float | None = None
) -> dict[str, str]:
    """The environment that selects and configures the event store.

    postgres_url overrides settings.postgres.url (the embedded server's URL, once started).
    call_timeout bounds each event-store call: on PostgreSQL the wait for a pooled connection
    and each answer, on KurrentDB each call (the command API's; workers leave it unset).
    Personal data is sealed per person unless settings turn it off, or the store is in memory
    (which has no PostgreSQL for the keys); KurrentDB keeps the keys in the PostgreSQL.
    """
    common = {
        "AGGREGATE_CACHE_MAXSIZE": "10000",
        "SNAPSHOT_EVERY": str(settings.events.snapshot_every),
    }
    if settings.events.store == "memory":
        return {**common, "PERSISTENCE_MODULE": "eventsourcing.popo"}
    url = postgres_url or settings.postgres.url
    if settings.events.encrypt_personal_data:
        common[POLICY] = PERSONAL_DATA_POLICY
    if settings.events.store == "kurrentdb":
        assert settings.events.kurrentdb_uri
        env = {
            **common,
            "PERSISTENCE_MODULE": KURRENTDB_FACTORY,
            "KURRENTDB_URI": settings.events.kurrentdb_uri,
            "GROUP_COMMIT": "n",
        }
        if settings.events.kurrentdb_root_certificates:
            env["KURRENTDB_ROOT_CERTIFICATES"] = settings.events.kurrentdb_root_certificates
        if call_timeout is not None:
            env[KURRENTDB_CALL_TIMEOUT] = str(call_timeout)
        return {**env, **_keys_env(url)} if POLICY in common else env
    if not url:
        raise ValueError("no PostgreSQL URL: set MARKETPLACE_POSTGRES_URL")
    return {**common, **postgres_env(url, settings.postgres, call_timeout)}


def postgres_env(
    url: str, postgres: PostgresSettings, call_timeout: float | None = None
) -> dict[str, str]:
    """The eventsourcing.postgres keys for a postgresql:// URL (through our factory)."""
    parts = urlparse(url)
    env = {
        "PERSISTENCE_MODULE": POSTGRES_FACTORY,
        "POSTGRES_DBNAME": parts.path.lstrip("/") or "postgres",
        "POSTGRES_HOST": parts.hostname or "127.0.0.1",
        "POSTGRES_PORT": str(parts.port or 5432),
        "POSTGRES_USER": unquote(parts.username or "postgres"),
        "POSTGRES_PASSWORD": unquote(parts.password or ""),
        "POSTGRES_LOCK_TIMEOUT": str(postgres.lock_timeout_seconds),
        "POSTGRES_CONNECT_TIMEOUT": str(postgres.connect_timeout_seconds),
        "POSTGRES_POOL_SIZE": str(postgres.pool_size),
        "POSTGRES_MAX_OVERFLOW": str(postgres.max_overflow),
        "POSTGRES_PRE_PING": "y",
        "POSTGRES_ENABLE_DB_FUNCTIONS": "n",
        "APPLICATION_RECORDER_TOPIC": "infra.postgres_recorder:ArrayInsertPostgresRecorder",
    }
    schema = search_path_of(url)
    if schema:
        env["POSTGRES_SCHEMA"] = schema
    if call_timeout is not None:
        env[CALL_TIMEOUT] = str(call_timeout)
    return env


def _keys_env(url: str | None) -> dict[str, str]:
    """Where KurrentDB's personal-data keys live: the PostgreSQL of the views (the factory
    refuses to build the mapper without it)."""
    if not url:
        return {}
    return {KEYS_URL: url, KEYS_SCHEMA: search_path_of(url) or "public"}


def search_path_of(url: str) -> str | None:
    """The schema named by a libpq URL's options=-csearch_path=..., if any."""
    for value in parse_qs(urlparse(url).query).get("options", []):
        for option in value.split():
            if option.startswith("-csearch_path="):
                return option.split("=", 1)[1].split(",")[0]
    return None


def with_search_path(url: str, schema: str) -> str:
    """The same URL, with its sessions using the given schema."""
    parts = urlparse(url)
    query = urlencode({"options": f"-csearch_path={schema}"})
    return urlunparse(parts._replace(query=query))
