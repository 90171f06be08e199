"""`marketplace rebuild` as a user runs it: progress on stderr, a summary on stdout."""

from __future__ import annotations

import io

import pytest

from infra.settings import Settings
from marketplace.projectors import PROJECTORS
from marketplace.rebuild import rebuild
from tests.conftest import run_marketplace as marketplace
from tests.projections.rebuild_fixture import (  # noqa: F401 - fixtures
    BY_ID,
    TARGETS,
    Market,
    Target,
    market,
    pointers,
    rebuild_settings,
)

pytestmark = pytest.mark.postgres
STORES = [target for target in TARGETS if target.backend != "opensearch"]


@pytest.fixture(params=STORES, ids=[target.id for target in STORES])
def target(request: pytest.FixtureRequest) -> Target:
    return request.param


def test_an_unknown_view_is_refused_with_the_known_names() -> None:
    result = marketplace("rebuild", "nope", env={})

    assert result.returncode == 2
    assert "unknown projection 'nope'" in result.stderr
    assert all(name in result.stderr for name in PROJECTORS)


def test_progress_is_drawn_and_the_summary_names_the_versions(
    target: Target,
    rebuild_settings: Settings,  # noqa: F811
    market: Market,  # noqa: F811
) -> None:
    market.trade(30)
    stream = io.StringIO()

    done = rebuild(target.name, rebuild_settings, batch_size=25, progress=stream, grace_seconds=0)

    lines = stream.getvalue().splitlines()
    assert lines[0].startswith(f"rebuild {target.name} v1 |")
    assert lines[-1].startswith(f"rebuild {target.name} v1 |" + "#" * 30 + "| 100%")
    assert done.events > 0
    assert done.summary().startswith(f"rebuilt {target.name}: v0 -> v1, {done.events} events")


@pytest.mark.parametrize("target", [BY_ID["seller-sales@postgres"]], ids=["seller-sales"])
def test_the_command_shows_progress_and_prints_a_summary(
    rebuild_settings: Settings,  # noqa: F811
    market: Market,  # noqa: F811
) -> None:
    market.trade(60)
    env = {
        "MARKETPLACE_POSTGRES_URL": str(rebuild_settings.postgres.url),
        "MARKETPLACE_REDIS_URL": str(rebuild_settings.redis.url),
        "MARKETPLACE_REDIS_PREFIX": rebuild_settings.redis.prefix,
        "MARKETPLACE_LOG_LEVEL": "WARNING",
    }

    result = marketplace("rebuild", "seller-sales", "--batch-size", "10", env=env)

    assert result.returncode == 0, result.stderr
    progress = result.stderr.splitlines()
    assert progress[0].startswith("rebuild seller-sales v1 |")
    assert "| 100%" in progress[-1] and "events/s" in progress[-1]
    assert result.stdout.startswith("rebuilt seller-sales: v0 -> v1, ")
    assert result.stdout.rstrip().endswith("events/s); dropped v0")
    assert pointers("seller-sales", rebuild_settings) == (1, 1, {1})
