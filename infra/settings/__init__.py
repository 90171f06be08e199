"""The one place that reads the environment: every setting has the MARKETPLACE_ prefix.

Settings are grouped by concern (`settings.postgres.url`, `settings.auth.secret`), and each
field keeps its flat variable name (MARKETPLACE_POSTGRES_URL, MARKETPLACE_JWT_SECRET): a
group says which prefix its fields take, and `env_name` gives any field's variable. A
MARKETPLACE_* variable that names no setting is refused, so a typo is never silently ignored;
MARKETPLACE_TEST_* belongs to the test suite and is left alone.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from infra.settings.groups import (
    DEV_ANALYTICS_KEY,
    DEV_AUDIT_SIGNING_KEY,
    DEV_JWT_SECRET,
    PREFIX,
    AnalyticsSettings,
    AuditSettings,
    AuthSettings,
    BlobSettings,
    BreakerSettings,
    CheckoutSettings,
    DeadlineSettings,
    EventStoreSettings,
    Group,
    HttpSettings,
    IdempotencySettings,
    ImageSettings,
    MailSettings,
    OpenSearchSettings,
    PaymentSettings,
    PostgresSettings,
    RateLimitSettings,
    RedisSettings,
)

__all__ = [
    "DEV_ANALYTICS_KEY",
    "DEV_AUDIT_SIGNING_KEY",
    "DEV_JWT_SECRET",
    "PREFIX",
    "AnalyticsSettings",
    "AuditSettings",
    "AuthSettings",
    "BlobSettings",
    "BreakerSettings",
    "CheckoutSettings",
    "DeadlineSettings",
    "EventStoreSettings",
    "Group",
    "HttpSettings",
    "IdempotencySettings",
    "ImageSettings",
    "MailSettings",
    "OpenSearchSettings",
    "PaymentSettings",
    "PostgresSettings",
    "RateLimitSettings",
    "RedisSettings",
    "Settings",
    "UnknownSettings",
    "env_names",
    "load_settings",
]

TEST_PREFIX = "MARKETPLACE_TEST_"
"""Variables of the test suite (its servers, its seeds), not settings."""


class Settings(BaseSettings):
    """Platform settings, one group per concern. Unset store URLs mean: start the embedded
    local services."""

    model_config = SettingsConfigDict(extra="forbid")

    environment: Literal["development", "test", "production"] = "development"
    data_dir: Path = Path(".marketplace")
    log_level: str = "INFO"
    logs_on_terminal: bool = False
    """Whether `marketplace up` shows its processes' JSON log lines on its terminal; by
    default each process's go to <data dir>/logs/<process>.log."""

    http: HttpSettings = Field(default_factory=HttpSettings)
    deadlines: DeadlineSettings = Field(default_factory=DeadlineSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    analytics: AnalyticsSettings = Field(default_factory=AnalyticsSettings)
    audit: AuditSettings = Field(default_factory=AuditSettings)
    events: EventStoreSettings = Field(default_factory=EventStoreSettings)
    postgres: PostgresSettings = Field(default_factory=PostgresSettings)
    redis: RedisSettings = Field(default_factory=RedisSettings)
    opensearch: OpenSearchSettings = Field(default_factory=OpenSearchSettings)
    rate_limits: RateLimitSettings = Field(default_factory=RateLimitSettings)
    idempotency: IdempotencySettings = Field(default_factory=IdempotencySettings)
    checkout: CheckoutSettings = Field(default_factory=CheckoutSettings)
    payments: PaymentSettings = Field(default_factory=PaymentSettings)
    breaker: BreakerSettings = Field(default_factory=BreakerSettings)
    mail: MailSettings = Field(default_factory=MailSettings)
    blobs: BlobSettings = Field(default_factory=BlobSettings)
    images: ImageSettings = Field(default_factory=ImageSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Arguments first, then the flat MARKETPLACE_* variables; nothing else."""
        return init_settings, FlatEnvironment(settings_cls, os.environ)

    def updated(self, **changes: Any) -> Settings:
        """A validated copy: a top-level field's new value, a dict of a group's new fields, or
        a whole group.

        `settings.updated(payments={"attempts": 1}, data_dir=folder)`; the environment is not
        read again."""
        data: dict[str, Any] = dict(self)
        for name, change in changes.items():
            current = data[name]
            if isinstance(current, Group) and isinstance(change, Mapping):
                change = type(current).model_validate({**dict(current), **change})
            data[name] = change
        return type(self).model_validate(data)

    @model_validator(mode="after")
    def _guard_secrets(self) -> Settings:
        default_secret = self.auth.secret.get_secret_value() == DEV_JWT_SECRET
        if self.environment == "production" and default_secret and not self.auth.jwks_url:
            raise ValueError(
                "in production, set MARKETPLACE_JWT_JWKS_URL (or MARKETPLACE_JWT_SECRET)"
            )
        return self


class DevelopmentKey(ValueError):
    """A production process given a key whose development value anyone can read here."""


def production_key(
    settings: Settings, secret: SecretStr, development: str, variable: str, risk: str
) -> str:
    """The secret's value; in production, DevelopmentKey (saying to set variable, and the
    risk) while it is still the development value."""
    value = secret.get_secret_value()
    if settings.environment == "production" and value == development:
        raise DevelopmentKey(f"in production, set {variable}: under the development key, {risk}")
    return value


def _top_level_name(field: str) -> str:
    return PREFIX + field.upper()


def env_names() -> dict[str, str]:
    """Every variable a setting reads, with the setting's path (`postgres.url`)."""
    names: dict[str, str] = {}
    for name, info in Settings.model_fields.items():
        group = _group_of(info)
        if group is None:
            names[_top_level_name(name)] = name
            continue
        for field in group.model_fields:
            names[group.env_name(field)] = f"{name}.{field}"
    return names


def _group_of(info: FieldInfo) -> type[Group] | None:
    kind = info.annotation
    return kind if isinstance(kind, type) and issubclass(kind, Group) else None


def _unknown_names(environ: Mapping[str, str], known: Mapping[str, str]) -> list[str]:
    return sorted(
        name
        for name in environ
        if name.upper().startswith(PREFIX)
        and not name.upper().startswith(TEST_PREFIX)
        and name.upper() not in known
    )


def _unknown_message(unknown: list[str]) -> str:
    known = [name.removeprefix(PREFIX) for name in env_names()]
    parts = []
    for name in unknown:
        close = difflib.get_close_matches(name.upper().removeprefix(PREFIX), known, 1, 0.75)
        parts.append(f"{name} (did you mean {PREFIX}{close[0]}?)" if close else name)
    return "unknown MARKETPLACE_* settings: " + ", ".join(parts)


class UnknownSettings(ValueError):
    """MARKETPLACE_* variables that no setting reads: a typo, or a setting that is gone."""


class FlatEnvironment(PydanticBaseSettingsSource):
    """Reads each group's fields from their flat MARKETPLACE_* variables, names in any case.

    Refuses variables with the prefix that no setting reads, naming them."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        super().__init__(settings_cls)
        self.environ = {name.upper(): value for name, value in environ.items()}

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        """Unused: __call__ reads every field at once."""
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        known = env_names()
        unknown = _unknown_names(self.environ, known)
        if unknown:
            raise UnknownSettings(_unknown_message(unknown))
        values: dict[str, Any] = {}
        for variable, path in known.items():
            if variable in self.environ:
                group, _, field = path.rpartition(".")
                into = values.setdefault(group, {}) if group else values
                into[field] = self.environ[variable]
        return values


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment, explicit overrides winning: a top-level field's
    value, or a dict of some of a group's fields (`http={"write_api_port": 9000}`)."""
    return Settings(**overrides)  # type: ignore[arg-type]
