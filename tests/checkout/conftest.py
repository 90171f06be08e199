"""Checkout fixtures: the command side on a fresh schema, and the sandbox gateway process."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from commands.services import Commands
from infra.eventstore import eventsourcing_env
from infra.settings import PaymentSettings, PostgresSettings, Settings
from tests.checkout.shop import Gateway, Shop, sandbox_gateway


@pytest.fixture(scope="module")
def gateway() -> Iterator[Gateway]:
    """The sandbox gateway as its own process, for this module's tests."""
    with sandbox_gateway() as started:
        yield started


@pytest.fixture
def settings(postgres_url: str, gateway: Gateway) -> Settings:
    """Settings for a checkout worker on this test's schema and the sandbox gateway."""
    gateway.reset()
    return Settings(
        postgres=PostgresSettings(url=postgres_url),
        payments=PaymentSettings(gateway_url=gateway.url, timeout_seconds=1.0, attempts=2),
    )


@pytest.fixture
def commands(settings: Settings) -> Iterator[Commands]:
    """The command side on this test's schema."""
    built = Commands(eventsourcing_env(settings))
    yield built
    built.close()


@pytest.fixture
def shop(commands: Commands) -> Shop:
    """An open shop with one seller."""
    opened = Shop(commands)
    opened.open()
    return opened
