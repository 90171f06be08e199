"""`marketplace up` as a user runs it: real processes, driven over HTTP, stopped with Ctrl-C."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from psycopg import sql

from tests.conftest import free_port

pytestmark = pytest.mark.e2e

START_TIMEOUT = 180.0
STOP_TIMEOUT = 90.0
COMMAND_TIMEOUT = 120.0
SCRIPT = Path(sys.executable).with_name("marketplace")


def marketplace(*args: str) -> list[str]:
    """The command line of the console script, as a user would type it."""
    if SCRIPT.exists():
        return [str(SCRIPT), *args]
    return [sys.executable, "-m", "marketplace.cli", *args]


@dataclass
class Stack:
    """One `marketplace up` process and where it listens."""

    data_dir: Path
    write_port: int
    read_port: int
    postgres_port: int
    redis_port: int
    log: Path
    process: subprocess.Popen[bytes] | None = None
    offset: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.write_port}"

    @property
    def postgres_url(self) -> str:
        return f"postgresql://postgres:local@127.0.0.1:{self.postgres_port}/marketplace"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MARKETPLACE_")}
        env["MARKETPLACE_EMBEDDED_POSTGRES_PORT"] = str(self.postgres_port)
        env["MARKETPLACE_EMBEDDED_REDIS_PORT"] = str(self.redis_port)
        env["MARKETPLACE_LOG_LEVEL"] = "WARNING"
        return env

    def start(self) -> str:
        """Run `marketplace up` in a session of its own; its output once the ready block shows."""
        args = ["up", "--data-dir", str(self.data_dir), "--write-port", str(self.write_port)]
        args += ["--read-port", str(self.read_port)]
        self.offset = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                marketplace(*args, "--workers", "2"),
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.env(),
                start_new_session=True,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while "marketplace is up" not in self.output():
            if self.process.poll() is not None:
                pytest.fail(f"`marketplace up` exited early:\n{self.output()}")
            if time.monotonic() > deadline:
                pytest.fail(f"`marketplace up` not ready after {START_TIMEOUT}s:\n{self.output()}")
            time.sleep(0.2)
        return self.output()

    def interrupt(self) -> int:
        """Ctrl-C as a terminal sends it (to the whole process group); the exit code."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGINT)
        return self.wait()

    def terminate(self) -> int:
        """SIGTERM to `up` alone, as a service manager sends it; the exit code."""
        assert self.process is not None
        self.process.terminate()
        return self.wait()

    def wait(self) -> int:
        """The exit code of `up`, within the stop timeout."""
        assert self.process is not None
        try:
            return self.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"`marketplace up` did not stop:\n{self.output()}")

    def assert_all_stopped(self) -> None:
        """No server of this stack runs or listens any more."""
        assert not (self.data_dir / "postgres" / "pgdata" / "postmaster.pid").exists()
        for port in (self.write_port, self.read_port, self.postgres_port, self.redis_port):
            assert not listening(port), f"port {port} still listening"
        assert self.leftovers() == []

    def output(self) -> str:
        """What the latest `marketplace up` printed."""
        return self.log.read_bytes()[self.offset :].decode(errors="replace")

    def kill(self) -> None:
        """Leave nothing behind, whatever state the test stopped in."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(30)
        for pid in self.leftovers():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        pidfile = self.data_dir / "postgres" / "pgdata" / "postmaster.pid"
        if pidfile.exists():
            with contextlib.suppress(ProcessLookupError, ValueError, IndexError):
                os.kill(int(pidfile.read_text().split()[0]), signal.SIGQUIT)

    def leftovers(self) -> list[int]:
        """Processes of this stack other than PostgreSQL: `up`, the command API and its
        workers, Valkey; found by command line, then by session."""
        marks = (f"--port {self.write_port} ", f"127.0.0.1:{self.redis_port}", str(self.data_dir))
        table = process_table()
        leaders = {
            pid
            for pid, (_, cmdline) in table.items()
            if "postgres" not in cmdline and any(mark in cmdline for mark in marks)
        }
        return sorted(pid for pid, (session, _) in table.items() if {pid, session} & leaders)

    def token(self, role: str, sub: uuid.UUID) -> str:
        """A development token from the `marketplace token` command."""
        result = subprocess.run(
            marketplace("token", "--role", role, "--sub", str(sub)),
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
            env=self.env(),
            check=True,
        )
        return result.stdout.strip()


def process_table() -> dict[int, tuple[int, str]]:
    """Every other process: its session id and command line."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode() + " "
        except (OSError, IndexError):
            continue
        table[int(entry.name)] = (int(stat[3]), cmdline)
    return table


def listening(port: int) -> bool:
    """Whether something accepts TCP connections on the loopback port."""
    with socket.socket() as s:
        s.settimeout(1.0)
        return s.connect_ex(("127.0.0.1", port)) == 0


def grew(after: dict[str, int], before: dict[str, int], expected: dict[str, int]) -> dict[str, int]:
    """Check each log's position moved by at least the expected number of events.

    Positions are notification ids: an append that lost a race still used up its ids, so a
    position may move further than the number of events it covers, never less.
    """
    for log, events in expected.items():
        assert after[log] - before[log] >= events, (log, before, after)
    return {log: after[log] - before[log] for log in after}


def event_counts(postgres_url: str) -> dict[str, int]:
    """How many events each context's log holds, counted in the store itself."""
    counts = {}
    with psycopg.connect(postgres_url) as conn:
        for log in ("catalog", "inventory", "carts", "customers"):
            query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(f"{log}_events"))
            row = conn.execute(query).fetchone()
            assert row is not None
            counts[log] = int(row[0])
    return counts


def positions(client: httpx.Client) -> dict[str, int]:
    response = client.get("/health/ready")
    assert response.status_code == 200, response.text
    found: dict[str, int] = response.json()["positions"]
    return found


def ok(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert response.headers["etag"] == f'"{body["version"]}"'
    return body


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    """A stack description with free ports and a fresh data directory, cleaned up after.

    The data directory is not under tmp_path: a concurrent pytest run chmods
    /tmp/pytest-of-<user> back to 0700, which locks out the PostgreSQL service user.
    """
    ports: set[int] = set()
    while len(ports) < 4:
        ports.add(free_port())
    write_port, read_port, postgres_port, redis_port = sorted(ports)
    data_dir = Path(tempfile.mkdtemp(prefix="marketplace-e2e-"))
    up = Stack(data_dir, write_port, read_port, postgres_port, redis_port, tmp_path / "up.log")
    try:
        yield up
    finally:
        up.kill()
        shutil.rmtree(data_dir, ignore_errors=True)


def test_up_serves_commands_stops_on_ctrl_c_and_keeps_data(stack: Stack) -> None:
    banner = stack.start()
    assert stack.postgres_url in banner
    assert f"redis://127.0.0.1:{stack.redis_port}/0" in banner
    assert f"{stack.url}/docs" in banner

    seller_id, shopper_id = uuid.uuid4(), uuid.uuid4()
    seller = {"Authorization": f"Bearer {stack.token('seller', seller_id)}"}
    shopper = {"Authorization": f"Bearer {stack.token('shopper', shopper_id)}"}
    with httpx.Client(base_url=stack.url, timeout=30.0) as client:
        assert client.get("/docs").status_code == 200
        before = positions(client)
        ok(
            client.post(
                "/v1/sellers", json={"name": "Ada", "email": "ada@example.com"}, headers=seller
            ),
            201,
        )
        listing = {
            "title": "Walnut Desk Lamp",
            "category": "Home & Kitchen",
            "price": {"amount_minor": 4999, "currency": "EUR"},
        }
        product_id = ok(client.post("/v1/products", json=listing, headers=seller), 201)["id"]
        stock_path = f"/v1/products/{product_id}/stock/receipts"
        stocked = ok(client.post(stock_path, json={"quantity": 10}, headers=seller), 200)
        cart_id = ok(client.post("/v1/carts", headers=shopper), 201)["id"]
        item = {"product_id": product_id, "quantity": 2}
        carted = ok(client.post(f"/v1/carts/{cart_id}/items", json=item, headers=shopper), 200)
        first = positions(client)
    grew(first, before, {"catalog": 2, "inventory": 2, "carts": 2, "customers": 0})
    counted = event_counts(stack.postgres_url)
    assert counted == {"catalog": 2, "inventory": 2, "carts": 2, "customers": 0}

    assert stack.interrupt() == 0
    output = stack.output()
    assert output.index("stopping command API") < output.index("stopping PostgreSQL")
    assert output.index("stopping PostgreSQL") < output.index("stopping Valkey")
    assert "marketplace stopped" in output
    stack.assert_all_stopped()

    stack.start()
    with httpx.Client(base_url=stack.url, timeout=30.0) as client:
        assert positions(client) == first
        restocked = ok(client.post(stock_path, json={"quantity": 5}, headers=seller), 200)
        assert restocked["version"] == stocked["version"] + 1
        assert restocked["position"] > first["inventory"]
        stale = client.post(
            f"/v1/carts/{cart_id}/items",
            json=item,
            headers={**shopper, "If-Match": f'"{carted["version"] - 1}"'},
        )
        assert stale.status_code == 412, stale.text
        again = client.post(
            f"/v1/carts/{cart_id}/items",
            json=item,
            headers={**shopper, "If-Match": f'"{carted["version"]}"'},
        )
        assert ok(again, 200)["version"] == carted["version"] + 1
        second = positions(client)

        seeded = subprocess.run(
            marketplace(
                *("seed-demo", "--url", stack.url, "--sellers", "3", "--products", "30"),
                *("--customers", "4", "--seed", "7"),
            ),
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
            env=stack.env(),
            check=False,
        )
        assert seeded.returncode == 0, seeded.stdout + seeded.stderr
        match = re.search(r"customers\s+4 with (\d+) addresses", seeded.stdout)
        assert match, seeded.stdout
        addresses = int(match.group(1))
        third = positions(client)
    seeded_events = {"catalog": 3 + 30, "inventory": 2 * 30, "customers": 4 + addresses, "carts": 0}
    grew(third, second, seeded_events)
    assert event_counts(stack.postgres_url) == {
        "catalog": counted["catalog"] + seeded_events["catalog"],
        "inventory": counted["inventory"] + 1 + seeded_events["inventory"],
        "carts": counted["carts"] + 1,
        "customers": seeded_events["customers"],
    }

    assert stack.terminate() == 0
    stack.assert_all_stopped()


def test_up_stops_everything_and_fails_when_a_child_dies(stack: Stack) -> None:
    stack.start()
    table = process_table()
    [api] = [
        pid for pid, (_, cmd) in table.items() if f"serve-write --port {stack.write_port} " in cmd
    ]
    os.kill(api, signal.SIGKILL)
    assert stack.wait() == 1
    output = stack.output()
    assert "unexpected: command API was killed by SIGKILL" in output
    assert "stopping PostgreSQL" in output
    stack.assert_all_stopped()
