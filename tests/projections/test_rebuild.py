"""`marketplace rebuild NAME` on every Redis and PostgreSQL view, beside a live projector.

A market trades across every context while the projector's worker runs as it does in
`marketplace project`; the rebuild builds the next version, switches readers and writers,
and drops the old one. The new version must equal a full replay, and the live worker must
carry on in it.
"""

from __future__ import annotations

import psycopg
import pytest

from infra.schema_lock import holding
from infra.settings import Settings
from infra.stores import stores
from marketplace.projectors import opened
from marketplace.rebuild import RebuildRunning, rebuild
from tests.projections.rebuild_fixture import (  # noqa: F401 - fixtures
    BY_ID,
    TARGETS,
    Market,
    Target,
    market,
    pointers,
    rebuild_settings,
    rebuild_twice_beside_a_live_projector,
    versions_of,
    wait_until_read,
)

pytestmark = pytest.mark.postgres
STORES = [target for target in TARGETS if target.backend != "opensearch"]


@pytest.fixture(params=STORES, ids=[target.id for target in STORES])
def target(request: pytest.FixtureRequest) -> Target:
    return request.param


def test_a_rebuild_equals_a_replay_and_the_live_projector_moves_to_it(
    target: Target,
    rebuild_settings: Settings,  # noqa: F811
    market: Market,  # noqa: F811
) -> None:
    rebuild_twice_beside_a_live_projector(
        target, rebuild_settings, market, trades=80, live_batch=50
    )


@pytest.mark.parametrize("target", [BY_ID["seller-sales@postgres"]], ids=["seller-sales"])
def test_an_interrupted_switch_is_finished_by_the_next_rebuild(
    rebuild_settings: Settings,  # noqa: F811
    market: Market,  # noqa: F811
) -> None:
    name, settings = "seller-sales", rebuild_settings
    market.trade(40)
    with opened(name, settings) as worker:
        worker.catch_up()
    versions = versions_of(name, settings)
    try:
        versions.build(1)
        versions.move_writers(0, 1)  # as a rebuild that died before moving the readers leaves
    finally:
        versions.close()
    assert pointers(name, settings) == (0, 1, {0, 1})

    done = rebuild(name, settings, grace_seconds=0)

    assert (done.readers, done.writers, done.version, done.dropped) == (0, 1, 2, (0, 1))
    assert pointers(name, settings) == (2, 2, {2})


@pytest.mark.parametrize("target", [BY_ID["product-detail@redis"]], ids=["product-detail"])
def test_one_rebuild_of_a_view_at_a_time(
    rebuild_settings: Settings,  # noqa: F811
    market: Market,  # noqa: F811
) -> None:
    versions = versions_of("product-detail", rebuild_settings)
    lock = f"rebuild {versions.lock_name}"
    versions.close()

    with holding(str(stores(rebuild_settings).postgres_url), lock), pytest.raises(RebuildRunning):
        rebuild("product-detail", rebuild_settings)


@pytest.mark.parametrize("target", [BY_ID["seller-sales@postgres"]], ids=["seller-sales"])
def test_the_query_api_reads_tables_made_before_versions_existed(
    rebuild_settings: Settings,  # noqa: F811
    market: Market,  # noqa: F811
) -> None:
    market.trade(40)
    with opened("seller-sales", rebuild_settings) as worker:
        worker.catch_up()
        heads = {log.log_name: log.head() for log in worker.logs}
    with psycopg.connect(str(rebuild_settings.postgres.url), autocommit=True) as conn:
        conn.execute("DROP TABLE projection_versions")  # as a deployment from before has it

    assert wait_until_read("seller-sales", rebuild_settings) == heads
