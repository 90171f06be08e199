"""A `marketplace <worker>` child process for tests: start, kill -9, stop, read its metrics."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import free_port

WAIT_SECONDS = 60.0


@dataclass
class WorkerProcess:
    """`marketplace <args> --metrics-port P` with only the given MARKETPLACE_* variables."""

    args: list[str]
    env: Mapping[str, str]
    output: Path
    metrics_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    module: str = "marketplace.cli"
    """The module run with `python -m` (a test's own worker, or the CLI)."""

    def start(self) -> None:
        """Spawn it and wait until it serves metrics (its signal handlers are in place then)."""
        base = {k: v for k, v in os.environ.items() if not k.startswith("MARKETPLACE_")}
        argv = [sys.executable, "-m", self.module, *self.args]
        argv += ["--metrics-port", str(self.metrics_port)]
        with self.output.open("ab") as out:
            self.process = subprocess.Popen(
                argv,
                env=base | dict(self.env),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.starts += 1
        deadline = time.monotonic() + WAIT_SECONDS
        while not self.serving():
            if not self.alive():
                pytest.fail(f"{self.args[0]} exited at start: {self.log()}")
            if time.monotonic() > deadline:
                pytest.fail(f"{self.args[0]} not serving after {WAIT_SECONDS}s: {self.log()}")
            time.sleep(0.02)

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    def serving(self) -> bool:
        """Whether its metrics endpoint answers."""
        try:
            return httpx.get(self.metrics_url, timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def metric(self, sample: str, **labels: str) -> float:
        """A sample's value on the process's metrics endpoint (0 when absent or unreachable)."""
        try:
            text = httpx.get(self.metrics_url, timeout=5).text
        except httpx.HTTPError:
            return 0.0
        return sum(
            s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
            if s.name == sample and labels.items() <= s.labels.items()
        )

    def kill(self) -> None:
        """SIGKILL, and reap it."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> int:
        """SIGTERM; its exit code."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.terminate()
            try:
                return self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                raise
        return self.process.returncode

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log(self) -> str:
        return self.output.read_text(errors="replace")[-4000:] if self.output.exists() else ""
