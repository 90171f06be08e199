"""`marketplace rebuild catalog-search` while OpenSearch drops as the new index is created.

A proxy in front of the real node fails index creations (503, or a connection closed with no
answer) more times than the client's own retries cover: the rebuild retries the creation with
backoff and goes on; a node that never comes back ends the rebuild with one line, not a
traceback.
"""

from __future__ import annotations

import re

import pytest

from infra.settings import Settings
from marketplace.rebuild import StoreUnavailable, rebuild
from tests.conftest import run_marketplace as marketplace
from tests.projections.rebuild_fixture import (  # noqa: F401 - fixtures
    BY_ID,
    Market,
    Target,
    market,
    pointers,
    rebuild_settings,
)
from tests.support.flaky_proxy import Failure, FlakyProxy, flaky_proxy

pytestmark = pytest.mark.postgres

CLIENT_ATTEMPTS = 4
"""One call and the three retries the rebuild's OpenSearch client makes on its own."""
FOREVER = 1_000_000


@pytest.fixture
def target() -> Target:
    return BY_ID["catalog-search@opensearch"]


@pytest.mark.parametrize("failure", ["503", "drop"])
def test_a_creation_that_fails_for_a_while_is_retried_and_the_rebuild_completes(
    target: Target,
    rebuild_settings: Settings,  # noqa: F811
    market: Market,  # noqa: F811
    failure: Failure,
) -> None:
    market.trade(8)
    failures = CLIENT_ATTEMPTS + 2
    proxy = FlakyProxy(
        str(rebuild_settings.opensearch.url), creations(rebuild_settings), failure, failures
    )

    with flaky_proxy(proxy) as url:
        done = rebuild(target.name, with_url(rebuild_settings, url), grace_seconds=0)

    assert proxy.failed == failures
    assert (done.version, done.events > 0) == (1, True)
    assert pointers(target.name, rebuild_settings) == (1, 1, {1})
    assert target.dump(rebuild_settings, 1) == target.replay(rebuild_settings)


def test_a_node_that_stays_down_ends_the_rebuild_with_store_unavailable(
    target: Target,
    rebuild_settings: Settings,  # noqa: F811
    market: Market,  # noqa: F811
) -> None:
    market.trade(4)
    proxy = FlakyProxy(str(rebuild_settings.opensearch.url), creations(rebuild_settings), "503")
    proxy.failures = FOREVER

    with flaky_proxy(proxy) as url, pytest.raises(StoreUnavailable) as raised:
        rebuild(target.name, with_url(rebuild_settings, url), retry_seconds=2)

    assert proxy.failed > CLIENT_ATTEMPTS
    assert str(raised.value).startswith("could not create v1 of catalog-search")
    assert "\n" not in str(raised.value)


def test_the_command_says_so_in_one_line_and_exits_1(
    target: Target,
    rebuild_settings: Settings,  # noqa: F811
    market: Market,  # noqa: F811
) -> None:
    market.trade(4)
    proxy = FlakyProxy(str(rebuild_settings.opensearch.url), creations(rebuild_settings), "drop")
    proxy.failures = FOREVER

    with flaky_proxy(proxy) as url:
        result = marketplace(
            "rebuild",
            "catalog-search",
            "--store-retry-seconds",
            "2",
            env={
                "MARKETPLACE_POSTGRES_URL": str(rebuild_settings.postgres.url),
                "MARKETPLACE_REDIS_URL": str(rebuild_settings.redis.url),
                "MARKETPLACE_OPENSEARCH_URL": url,
                "MARKETPLACE_OPENSEARCH_INDEX_PREFIX": rebuild_settings.opensearch.index_prefix,
                "MARKETPLACE_LOG_LEVEL": "ERROR",
            },
        )

    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("marketplace rebuild: could not create v1 of catalog-search")
    assert pointers(target.name, rebuild_settings) == (0, 0, set())


def creations(settings: Settings) -> re.Pattern[str]:
    """Requests creating an index of a version of the view under the settings' prefix."""
    prefix = re.escape(settings.opensearch.index_prefix)
    return re.compile(f"PUT /{prefix}catalog-search-v\\d+")


def with_url(settings: Settings, url: str) -> Settings:
    """The settings with OpenSearch reached at url."""
    return settings.updated(opensearch={"url": url})
