"""Where the stores are: the configured URLs, or those of the embedded servers `up` starts."""

from __future__ import annotations

from dataclasses import dataclass

from infra.local.postgres import LocalPostgres
from infra.local.redis import LocalRedis
from infra.settings import Settings


@dataclass(frozen=True)
class Stores:
    """The addresses a projector reads from and writes to."""

    postgres_url: str
    redis_url: str


def stores(settings: Settings) -> Stores:
    """The configured store URLs; unset ones are the embedded servers `marketplace up` starts."""
    data_dir = settings.data_dir.resolve()
    postgres_url = settings.postgres.url or (
        LocalPostgres(data_dir / "postgres", settings.postgres.embedded_port).url
    )
    redis_url = (
        settings.redis.url or LocalRedis(data_dir / "redis", settings.redis.embedded_port).url
    )
    return Stores(postgres_url, redis_url)
