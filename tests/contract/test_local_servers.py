"""The embedded PostgreSQL and Valkey never outlive the process that started them, and a start
finds a server left running on its data directory and stops it before starting its own."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import psycopg
import pytest
import redis

from infra.local.postgres import LocalPostgres
from infra.local.processes import alive, gone_within, stop_child
from infra.local.redis import LocalRedis
from tests.conftest import free_port

pytestmark = pytest.mark.postgres

WAIT_SECONDS = 120.0


def test_a_valkey_start_stops_the_one_left_running_on_its_data(services_dir: Path) -> None:
    folder, port = services_dir / f"valkey-left-{free_port()}", free_port()
    earlier, later = LocalRedis(folder, port), LocalRedis(folder, port)
    earlier.start()
    try:
        old = earlier.pid
        redis.Redis.from_url(earlier.url).set("kept", "yes")
        later.start()
        try:
            assert old is not None and not alive(old)
            assert later.pid not in (None, old)
            assert redis.Redis.from_url(later.url).get("kept") == b"yes"
        finally:
            later.stop()
    finally:
        earlier.stop()


def test_a_postgres_start_stops_the_one_left_running_on_its_data(services_dir: Path) -> None:
    folder = services_dir / f"pg-left-{free_port()}"
    folder.mkdir()
    folder.chmod(0o777)
    port = free_port()
    earlier, later = LocalPostgres(folder, port, durable=False), LocalPostgres(folder, port)
    earlier.start()
    try:
        old = earlier.pid()
        with psycopg.connect(earlier.url, autocommit=True) as conn:
            conn.execute("CREATE TABLE kept AS SELECT 'yes' AS answer")
        later.start()
        try:
            assert old is not None and not alive(old)
            assert later.pid() not in (None, old)
            with psycopg.connect(later.url) as conn:
                assert conn.execute("SELECT answer FROM kept").fetchone() == ("yes",)
        finally:
            later.stop()
    finally:
        earlier.stop()


STARTER = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    from infra.local.postgres import LocalPostgres
    from infra.local.redis import LocalRedis

    folder, pg_port, redis_port = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    postgres = LocalPostgres(folder / "postgres", pg_port, durable=False)
    valkey = LocalRedis(folder / "redis", redis_port, durable=False)
    postgres.start()
    valkey.start()
    print(json.dumps({"postgres": postgres.pid(), "valkey": valkey.pid}), flush=True)
    time.sleep(600)
    """
)


def test_the_servers_stop_when_the_process_that_started_them_is_killed(
    services_dir: Path,
) -> None:
    folder = services_dir / f"orphans-{free_port()}"
    folder.mkdir()
    folder.chmod(0o777)
    starter = subprocess.Popen(
        [sys.executable, "-c", STARTER, str(folder), str(free_port()), str(free_port())],
        stdout=subprocess.PIPE,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert starter.stdout is not None
    line = starter.stdout.readline()
    pids: dict[str, int] = {}
    try:
        assert line, "the starter printed nothing"
        pids = json.loads(line)
        assert all(alive(pid) for pid in pids.values())
        starter.send_signal(signal.SIGKILL)
        starter.wait(WAIT_SECONDS)
        assert {name: gone_within(pid, WAIT_SECONDS) for name, pid in pids.items()} == {
            "postgres": True,
            "valkey": True,
        }
    finally:
        if starter.poll() is None:
            starter.kill()
        for pid in pids.values():
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def child(code: str) -> subprocess.Popen[bytes]:
    """A Python child running code, once it has said it is ready (its handlers are set)."""
    process = subprocess.Popen(
        [sys.executable, "-c", f"{code}\nprint('ready', flush=True)\nimport time; time.sleep(600)"],
        stdout=subprocess.PIPE,
    )
    assert process.stdout is not None
    assert process.stdout.readline() == b"ready\n"
    return process


def test_stop_child_waits_for_a_child_that_stops_on_the_signal() -> None:
    process = child("")
    assert stop_child(process, signal.SIGTERM, WAIT_SECONDS) is False
    assert process.returncode == -signal.SIGTERM


def test_stop_child_kills_a_child_that_ignores_the_signal() -> None:
    process = child("import signal; signal.signal(signal.SIGTERM, signal.SIG_IGN)")
    assert stop_child(process, signal.SIGTERM, 0.5) is True
    assert process.returncode == -signal.SIGKILL


def test_stop_child_leaves_a_child_that_already_ended() -> None:
    process = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    process.wait(WAIT_SECONDS)
    assert stop_child(process, signal.SIGTERM, WAIT_SECONDS) is False
    assert process.returncode == 3
