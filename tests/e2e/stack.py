"""One `marketplace up` stack on free ports, for end-to-end tests, and its clean-up."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import free_port

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
    gateway_port: int = field(default_factory=free_port)
    smtp_port: int = field(default_factory=free_port)
    checkout_metrics_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    offset: int = 0
    log_level: str = "WARNING"
    """Of the processes `up` runs (their lines go to files under the data directory)."""
    settings: dict[str, str] = field(default_factory=dict)
    """MARKETPLACE_* variables to set for `up` and the commands run beside it."""

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
        env["MARKETPLACE_GATEWAY_PORT"] = str(self.gateway_port)
        env["MARKETPLACE_SMTP_PORT"] = str(self.smtp_port)
        env["MARKETPLACE_CHECKOUT_METRICS_PORT"] = str(self.checkout_metrics_port)
        env["MARKETPLACE_LOG_LEVEL"] = self.log_level
        return {**env, **self.settings}

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
        ports = (self.write_port, self.read_port, self.postgres_port, self.redis_port)
        for port in (*ports, self.gateway_port, self.smtp_port, self.checkout_metrics_port):
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
            if "postgres" not in cmdline
            and (any(mark in cmdline for mark in marks) or self._runs_here(pid))
        }
        return sorted(pid for pid, (session, _) in table.items() if {pid, session} & leaders)

    def _runs_here(self, pid: int) -> bool:
        """Whether the process was started for this stack (its data dir is in its environment)."""
        return f"MARKETPLACE_DATA_DIR={self.data_dir}\n" in environment_of(pid)

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


def environment_of(pid: int) -> str:
    """A process's environment as one string, or nothing if it cannot be read."""
    try:
        return (Path("/proc") / str(pid) / "environ").read_bytes().replace(b"\0", b"\n").decode()
    except OSError:
        return ""


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


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    """A stack description with free ports and a fresh data directory, cleaned up after.

    The data directory is not under tmp_path: a concurrent pytest run chmods
    /tmp/pytest-of-<user> back to 0700, which locks out the PostgreSQL service user.
    """
    ports: set[int] = set()
    while len(ports) < 7:  # all drawn together: two free_port() calls may return one port
        ports.add(free_port())
    write_port, read_port, postgres_port, redis_port, gateway, smtp, metrics = sorted(ports)
    data_dir = Path(tempfile.mkdtemp(prefix="marketplace-e2e-"))
    up = Stack(
        data_dir,
        write_port,
        read_port,
        postgres_port,
        redis_port,
        tmp_path / "up.log",
        gateway_port=gateway,
        smtp_port=smtp,
        checkout_metrics_port=metrics,
    )
    try:
        yield up
    finally:
        up.kill()
        shutil.rmtree(data_dir, ignore_errors=True)
