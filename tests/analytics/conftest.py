"""The analytics tests' fixtures: settings and the command side on this test's schema."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from commands.services import Commands
from infra.eventstore import eventsourcing_env
from infra.settings import AnalyticsSettings, PostgresSettings, Settings


@pytest.fixture
def settings(postgres_url: str) -> Settings:
    return Settings(
        postgres=PostgresSettings(url=postgres_url),
        analytics=AnalyticsSettings(key=SecretStr("test-analytics-key")),
    )


@pytest.fixture
def commands(settings: Settings, postgres_url: str) -> Iterator[Commands]:
    commands = Commands(eventsourcing_env(settings, postgres_url))
    yield commands
    commands.close()
