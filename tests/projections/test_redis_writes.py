"""Folded hash writes (projections.stores.redis.writes) leave Redis as single writes do."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from projections.stores.redis.writes import COMMIT, HashWrites

KEYS = ("a", "b")
FIELDS = ("x", "y", "z")
Write = tuple[str, str, str, int]

writes = st.lists(
    st.tuples(
        st.sampled_from(["hset", "hincrby", "hdel", "delete"]),
        st.sampled_from(KEYS),
        st.sampled_from(FIELDS),
        st.integers(-5, 5),
    ),
    max_size=30,
)


@pytest.fixture
def client(redis_server: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_server)
    yield client
    client.close()


def one_by_one(client: redis.Redis, prefix: str, batch: list[Write]) -> None:
    for kind, key, name, value in batch:
        full = f"{prefix}:{key}"
        if kind == "hset":
            client.hset(full, name, value)
        elif kind == "hincrby":
            client.hincrby(full, name, value)
        elif kind == "hdel":
            client.hdel(full, name)
        else:
            client.delete(full)


def folded(prefix: str, batch: list[Write]) -> HashWrites:
    out = HashWrites()
    for kind, key, name, value in batch:
        full = f"{prefix}:{key}"
        if kind == "hset":
            out.hset(full, {name: value})
        elif kind == "hincrby":
            out.hincrby(full, name, value)
        elif kind == "hdel":
            out.hdel(full, name)
        else:
            out.delete(full)
    return out


def dump(client: redis.Redis, prefix: str) -> dict[str, Any]:
    return {key: client.hgetall(f"{prefix}:{key}") for key in KEYS}


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(batches=st.lists(writes, min_size=1, max_size=3))
def test_folded_batches_equal_the_writes_one_by_one(
    client: redis.Redis, batches: list[list[Write]]
) -> None:
    run = uuid.uuid4().hex[:8]
    plain, fold, positions = f"p{run}", f"f{run}", f"f{run}:positions"
    commit = client.register_script(COMMIT)
    client.hset(positions, "log", 0)
    try:
        for n, batch in enumerate(batches):
            one_by_one(client, plain, batch)
            args = ["log", n, n + 1, "0", 0, *folded(fold, batch).args()]
            keys = [positions, "unused", f"f{run}:target"]
            assert commit(keys=keys, args=args)[0] == b"ok"
            assert dump(client, fold) == dump(client, plain)
    finally:
        client.delete(*(f"{p}:{k}" for p in (plain, fold) for k in KEYS), positions)


def test_a_batch_from_another_position_writes_nothing(client: redis.Redis) -> None:
    run = uuid.uuid4().hex[:8]
    positions, key = f"t{run}:positions", f"t{run}:a"
    commit = client.register_script(COMMIT)
    client.hset(positions, "log", 5)
    batch = HashWrites()
    batch.hset(key, {"x": 1})
    try:
        outcome, found = commit(
            keys=[positions, "unused", f"t{run}:target"],
            args=["log", 4, 6, "0", 0, *batch.args()],
        )
        assert (outcome, found) == (b"position", b"5")
        assert client.exists(key) == 0
        assert client.hget(positions, "log") == b"5"
    finally:
        client.delete(positions, key)


def test_a_batch_into_a_view_without_positions_writes_nothing(client: redis.Redis) -> None:
    run = uuid.uuid4().hex[:8]
    positions, key = f"t{run}:positions", f"t{run}:a"
    commit = client.register_script(COMMIT)
    batch = HashWrites()
    batch.hset(key, {"x": 1})

    outcome, _ = commit(
        keys=[positions, "unused", f"t{run}:target"], args=["log", 0, 1, "0", 0, *batch.args()]
    )

    assert outcome == b"position"
    assert client.exists(key, positions) == 0


def test_the_batch_that_reaches_a_logs_target_clears_it(client: redis.Redis) -> None:
    run = uuid.uuid4().hex[:8]
    positions, target = f"t{run}:positions", f"t{run}:target"
    commit = client.register_script(COMMIT)
    client.hset(positions, mapping={"a": 0, "b": 0})
    client.hset(target, mapping={"a": 3, "b": 1})
    left = []
    try:
        for log, after, position in (("b", 0, 1), ("a", 0, 2), ("a", 2, 3)):
            args = [log, after, position, "0", 0]
            assert commit(keys=[positions, "unused", target], args=args)[0] == b"ok"
            left.append(client.hgetall(target))
    finally:
        client.delete(positions, target)

    assert left == [{b"a": b"3"}, {b"a": b"3"}, {}]
