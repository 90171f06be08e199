"""Readers move only to a complete version, on every store.

A new version built from empty records its completeness target with its first positions; as
long as it is short of it, the readers' switch refuses it, even if it has passed the old
version's positions (here the old version holds none).
"""

from __future__ import annotations

import pytest

from infra.eventstore import eventsourcing_env
from infra.settings import Settings
from marketplace.projectors import PROJECTORS
from projections.log import ContextLog
from projections.runtime import Worker
from tests.projections.rebuild_fixture import (  # noqa: F401 - fixtures
    BY_ID,
    TARGETS,
    Market,
    Target,
    market,
    rebuild_settings,
    versions_of,
)

pytestmark = pytest.mark.postgres


@pytest.fixture(params=TARGETS, ids=[target.id for target in TARGETS])
def target(request: pytest.FixtureRequest) -> Target:
    return request.param


def test_the_readers_move_to_a_new_version_only_once_it_is_complete(
    target: Target,
    rebuild_settings: Settings,  # noqa: F811
    market: Market,  # noqa: F811
) -> None:
    market.trade(20)
    projection = PROJECTORS[target.name].projection()
    env = eventsourcing_env(rebuild_settings, rebuild_settings.postgres.url)
    logs = [ContextLog(env, log) for log in projection.contexts]
    versions = versions_of(target.name, rebuild_settings)
    try:
        view = versions.build(1)
        worker = Worker(projection, view, logs, batch_size=2)
        worker.step()
        started = view.completeness()  # type: ignore[attr-defined]
        refused = versions.move_readers(0, 1)
        worker.catch_up()
        moved = versions.move_readers(0, 1)
        readers = versions.readers()
        heads = {context_log.log_name: context_log.head() for context_log in logs}
    finally:
        versions.close()
        for context_log in logs:
            context_log.close()

    assert not started.complete
    assert started.target == {log: head for log, head in heads.items() if head > 2}
    assert (refused, moved, readers) == (False, True, 1)
