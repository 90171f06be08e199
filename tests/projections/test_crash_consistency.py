"""kill -9 of a real projector process, many times mid-stream, never corrupts the Redis view.

The projector (`marketplace project product-detail`) follows a log that keeps growing while
it is killed and restarted at random points, each one while it is known to be behind the log
(tests.worker_process.kill_mid_stream); once it has caught up, the view must equal a full
replay of the log into a fresh prefix, key by key and field by field.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
import redis

from commands.services import Commands
from projections.product_detail.redis_view import RedisProductDetailView
from tests.projections.conftest import (
    Appender,
    Workload,
    assert_matches_domain,
    assert_same_view,
    heads,
    projector_process,
    replay,
    view_prefix,
    wait_until_caught_up,
)
from tests.worker_process import Kill, kill_mid_stream

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

KILLS = 22
BATCH_SIZE = 20
INITIAL_EVENTS = 5000
APPEND_EVERY_SECONDS = 0.05
BACKLOG_EVENTS = 300
"""Appended while the projector is down, so each restart has a batch-sized backlog to chew."""


def test_kill_9_at_random_points_leaves_the_view_equal_to_a_full_replay(
    postgres_url: str, redis_server: str, commands: Commands, prefix: str, tmp_path: Path
) -> None:
    seed = int(os.environ.get("MARKETPLACE_TEST_SEED", random.randrange(1 << 30)))
    print(f"seed {seed}")
    rng = random.Random(seed)
    workload = Workload(commands, rng)
    workload.open_shop(sellers=4, products=36)
    workload.run(INITIAL_EVENTS)
    client = redis.Redis.from_url(redis_server)
    view = RedisProductDetailView(client, view_prefix(prefix))
    projector = projector_process(
        postgres_url, redis_server, prefix, tmp_path / "projector.log", BATCH_SIZE
    )
    kills: list[Kill] = []
    try:
        with Appender(workload, APPEND_EVERY_SECONDS):
            for _ in range(KILLS):
                workload.run(BACKLOG_EVENTS)
                since = view.positions()
                projector.start()
                kills.append(
                    kill_mid_stream(
                        projector,
                        view.positions,
                        lambda: heads(commands),
                        since,
                        progress=rng.randrange(1, BACKLOG_EVENTS // 2),
                        top_up=lambda: workload.run(BACKLOG_EVENTS),
                    )
                )
        projector.start()
        wait_until_caught_up(view, commands, projector)
        assert projector.stop() == 0, projector.log()

        replayed = replay(postgres_url, client, f"{prefix}r")
        try:
            assert_same_view(view, replayed, workload)
            assert_matches_domain(view, workload)
        finally:
            replayed.clear()
    finally:
        if projector.alive():
            projector.kill()
        view.clear()
    top_ups = sum(k.top_ups for k in kills)
    print(f"{len(kills)} kills, each behind the log ({top_ups} top-ups); {workload.events} events")
    assert len(kills) == KILLS
    assert all(kill.mid_stream for kill in kills), "every kill lands while the projector has work"
