"""kill -9 of a catalog-search projector, and an OpenSearch outage under one, corrupt nothing.

The projector runs as a child process (tests/projections/search_projector.py) on the
PostgreSQL or the OpenSearch view while the logs keep growing. Once it has caught up, the
whole view must equal a full replay of the logs into a fresh schema or index prefix.
"""

from __future__ import annotations

import os
import random
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from opensearchpy.helpers import scan
from psycopg import sql

from commands.services import Commands
from infra.eventstore import eventsourcing_env
from infra.settings import Settings
from projections.catalog_search.opensearch_view import (
    TRACKING_ID,
    VIEW_VERSION,
    OpenSearchCatalogSearchView,
)
from projections.catalog_search.postgres_view import PostgresCatalogSearchView
from projections.catalog_search.search import SearchQuery, Sort
from tests.conftest import free_port, require_java_for_opensearch
from tests.projections.catalog_fixture import SearchView, opensearch_view, postgres_view, project
from tests.projections.conftest import WAIT_SECONDS, Appender, Workload, heads
from tests.support.opensearch import DEFAULT_CACHE_DIR, LocalOpenSearch
from tests.worker_process import Kill, WorkerProcess, kill_mid_stream

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

KILLS = 20
BATCH_SIZES = {"postgres": 20, "opensearch": 100}
"""OpenSearch refreshes once a batch: on two cores it projects ~100 events/s in batches of
20 and ~370 in batches of 100, so it gets the larger batches to keep ahead of the appends."""
INITIAL_EVENTS = 1000
BACKLOG_EVENTS = 100
"""Appended while the projector is down, so each restart has a backlog to chew."""
APPEND_EVERY_SECONDS = 0.1
TABLES = ("catalog_search_sellers", "catalog_search_stock", "catalog_search_products")
BOOKKEEPING = ("positions", "position")
"""Where in the log a document was last written: it follows the batch boundaries, which a
restart shifts, so it differs from a replay's (as do the external versions summed from it)."""


def search_projector(argv: list[str], output: Path) -> WorkerProcess:
    """tests.projections.search_projector as a child process (not started yet)."""
    return WorkerProcess(argv, {}, output, module="tests.projections.search_projector")


def positions(view: SearchView) -> dict[str, int]:
    """The view's positions ({} while its store is unavailable)."""
    try:
        return view.positions()
    except view.transient_errors:
        return {}


def poll(
    what: str,
    done: Callable[[], bool],
    projector: WorkerProcess,
    moving: Callable[[], object] | None = None,
) -> None:
    """Poll done() until true; fail if the projector exits, or after WAIT_SECONDS in which
    done() stayed false and, if given, moving() did not change (a long catch-up that keeps
    moving is waited for)."""
    deadline = time.monotonic() + WAIT_SECONDS
    last = moving() if moving else None
    while not done():
        if not projector.alive():
            pytest.fail(f"projector exited while waiting for {what}: {projector.log()}")
        if moving is not None and (now := moving()) != last:
            last, deadline = now, time.monotonic() + WAIT_SECONDS
        if time.monotonic() > deadline:
            pytest.fail(f"{what} not seen after {WAIT_SECONDS}s\n{projector.log()}")
        time.sleep(0.005)


def caught_up(view: SearchView, commands: Commands) -> Callable[[], bool]:
    target = heads(commands)
    return lambda: all(positions(view).get(n, 0) >= h for n, h in target.items())


def grown(commands: Commands, events: int) -> Callable[[], bool]:
    start = sum(heads(commands).values())
    return lambda: sum(heads(commands).values()) >= start + events


def dump(view: SearchView) -> dict[str, Any]:
    """The whole view: every row of every table, or every document of the index."""
    if isinstance(view, PostgresCatalogSearchView):
        with view.pool.connection() as conn:
            out: dict[str, Any] = {
                table: conn.execute(
                    sql.SQL("SELECT * FROM {} ORDER BY 1").format(sql.Identifier(table))
                ).fetchall()
                for table in TABLES
            }
            out["positions"] = conn.execute(
                "SELECT log, position FROM projection_positions WHERE view = %s ORDER BY 1",
                (view.name,),
            ).fetchall()
        return out
    assert isinstance(view, OpenSearchCatalogSearchView)
    view.client.indices.refresh(index=view.index)
    hits = scan(view.client, index=view.index, query={"query": {"match_all": {}}}, size=500)
    docs = {hit["_id"]: hit["_source"] for hit in hits}
    tracking = docs.pop(TRACKING_ID)
    for doc in docs.values():
        for log, position in doc.get("positions", {}).items():
            assert position <= tracking["positions"][log], f"{doc} written past the tracking"
    return {
        "tracking": tracking,
        "docs": {
            key: {k: v for k, v in doc.items() if k not in BOOKKEEPING} for key, doc in docs.items()
        },
    }


def searches(workload: Workload) -> list[SearchQuery]:
    seller = sorted(set(workload.products.values()))[0]
    return [
        SearchQuery(limit=100),
        SearchQuery(sort=Sort.PRICE_ASC, limit=100),
        SearchQuery(sort=Sort.PRICE_DESC, limit=10, offset=5),
        SearchQuery(in_stock=True, sort=Sort.NEWEST, limit=100),
        SearchQuery(min_price_minor=10_00, max_price_minor=500_00, limit=100),
        SearchQuery(category="home", seller_id=seller, sort=Sort.PRICE_ASC, limit=100),
        SearchQuery(text="item", limit=100),
        SearchQuery(text="item 7", in_stock=True, limit=100),
    ]


def assert_same_as_replay(
    view: SearchView, make: Callable[[], SearchView], workload: Workload, env: dict[str, str]
) -> None:
    """The whole view and a set of searches equal a full replay into a fresh view."""
    replayed = make()
    project(replayed, env, batch_size=500)
    assert view.positions() == replayed.positions() == heads(workload.commands)
    mine, theirs = dump(view), dump(replayed)
    assert mine.keys() == theirs.keys()
    for part in mine:
        assert mine[part] == theirs[part], part
    for query in searches(workload):
        assert view.search(query) == replayed.search(query), query


@pytest.fixture(scope="module")
def own_opensearch(services_dir: Path) -> Iterator[LocalOpenSearch]:
    """An OpenSearch node of this module's own, which the outage test stops and starts.

    The crash test uses it too: on two cores each node start costs ~20 s, and this file
    needs one node it may stop anyway.
    """
    require_java_for_opensearch()
    cache = os.environ.get("MARKETPLACE_TEST_OPENSEARCH_CACHE")
    node = LocalOpenSearch(
        services_dir / f"opensearch-{uuid.uuid4().hex[:8]}",
        free_port(),
        cache_dir=Path(cache) if cache else DEFAULT_CACHE_DIR,
    )
    node.start()
    try:
        yield node
    finally:
        node.stop()
        shutil.rmtree(node.data_dir, ignore_errors=True)


@dataclass
class Target:
    """The projector's view, its child's arguments, and a maker of fresh views beside it."""

    view: SearchView
    argv: list[str]
    make: Callable[[], SearchView]


def opensearch_target(url: str, cleanups: list[Callable[[], None]]) -> Target:
    view = opensearch_view(url, cleanups)
    prefix = view.index.removesuffix(f"catalog-search-v{VIEW_VERSION}")
    argv = ["--backend", "opensearch", "--view", url, "--prefix", prefix]
    argv += ["--batch-size", str(BATCH_SIZES["opensearch"])]
    return Target(view, argv, lambda: opensearch_view(url, cleanups))


def postgres_target(server: str, cleanups: list[Callable[[], None]]) -> Target:
    view = postgres_view(server, cleanups)
    assert isinstance(view.pool.conninfo, str)
    argv = ["--backend", "postgres", "--view", view.pool.conninfo]
    argv += ["--batch-size", str(BATCH_SIZES["postgres"])]
    return Target(view, argv, lambda: postgres_view(server, cleanups))


@pytest.fixture(params=["postgres", "opensearch"])
def target(request: pytest.FixtureRequest, postgres_server: str) -> Iterator[Target]:
    """The projector's view on one backend, dropped (with its replays) after the test."""
    cleanups: list[Callable[[], None]] = []
    if request.param == "postgres":
        yield postgres_target(postgres_server, cleanups)
    else:
        yield opensearch_target(request.getfixturevalue("own_opensearch").url, cleanups)
    for cleanup in reversed(cleanups):
        cleanup()


def test_kill_9_at_random_points_leaves_the_view_equal_to_a_full_replay(
    target: Target, postgres_url: str, commands: Commands, tmp_path: Path
) -> None:
    seed = int(os.environ.get("MARKETPLACE_TEST_SEED", random.randrange(1 << 30)))
    print(f"seed {seed}")
    rng = random.Random(seed)
    workload = Workload(commands, rng)
    workload.open_shop(sellers=4, products=36)
    workload.run(INITIAL_EVENTS)
    argv = [*target.argv, "--postgres-url", postgres_url]
    projector = search_projector(argv, tmp_path / "projector.log")
    view, kills = target.view, list[Kill]()
    started = time.monotonic()
    try:
        with Appender(workload, APPEND_EVERY_SECONDS):
            for _ in range(KILLS):
                workload.run(BACKLOG_EVENTS)
                since = view.positions()
                projector.start()
                kills.append(
                    kill_mid_stream(
                        projector,
                        lambda: positions(view),
                        lambda: heads(commands),
                        since,
                        progress=rng.randrange(1, BACKLOG_EVENTS // 2),
                        top_up=lambda: workload.run(BACKLOG_EVENTS),
                    )
                )
        projector.start()
        poll("catching up", caught_up(view, commands), projector, lambda: positions(view))
        assert projector.stop() == 0, projector.log()
        top_ups = sum(k.top_ups for k in kills)
        print(f"{len(kills)} kills, each behind the log ({top_ups} top-ups)", end="; ")
        print(f"{workload.events} events")
        print(f"killing and catching up took {time.monotonic() - started:.1f}s")
        assert_same_as_replay(
            view, target.make, workload, eventsourcing_env(Settings(), postgres_url)
        )
    finally:
        if projector.alive():
            projector.kill()
    assert len(kills) == KILLS
    assert all(kill.mid_stream for kill in kills), "every kill lands while the view is behind"


def test_an_opensearch_restart_under_appends_loses_and_doubles_nothing(
    own_opensearch: LocalOpenSearch, postgres_url: str, commands: Commands, tmp_path: Path
) -> None:
    workload = Workload(commands, random.Random(7))
    workload.open_shop(sellers=3, products=24)
    workload.run(1000)
    cleanups: list[Callable[[], None]] = []
    target = opensearch_target(own_opensearch.url, cleanups)
    view = target.view
    argv = [*target.argv, "--postgres-url", postgres_url]
    projector = search_projector(argv, tmp_path / "projector.log")
    projector.start()
    try:
        poll("catching up", caught_up(view, commands), projector)
        pid = projector.process.pid if projector.process else None
        with Appender(workload, every=0.02):
            poll("appends while OpenSearch is up", grown(commands, 100), projector)
            own_opensearch.stop()
            poll("appends while OpenSearch is down", grown(commands, 200), projector)
            retrying = "projection_failures_total"
            poll(
                "the projector retrying",
                lambda: projector.metric(retrying, kind="retry") > 0,
                projector,
            )
            own_opensearch.start()
            poll("appends after OpenSearch is back", grown(commands, 100), projector)
        poll("catching up after the outage", caught_up(view, commands), projector)
        assert projector.alive() and projector.process and projector.process.pid == pid
        assert projector.stop() == 0, projector.log()
        env = eventsourcing_env(Settings(), postgres_url)
        assert_same_as_replay(view, target.make, workload, env)
    finally:
        if projector.alive():
            projector.kill()
        for cleanup in reversed(cleanups):
            cleanup()
