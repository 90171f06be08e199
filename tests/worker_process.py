"""A `marketplace <worker>` child process for tests: start, kill -9, stop, read its metrics;
and a kill schedule that lands each kill while the process is behind the log it follows."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
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

    def freeze(self) -> None:
        """SIGSTOP, and wait until the kernel shows it stopped (it sends nothing more)."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)
        stat = Path("/proc") / str(self.process.pid) / "stat"
        deadline = time.monotonic() + WAIT_SECONDS
        while stat.read_text().rsplit(")", 1)[1].split()[0] not in ("T", "t"):
            if time.monotonic() > deadline:
                pytest.fail(f"{self.args[0]} not stopped after {WAIT_SECONDS}s")
            time.sleep(0.001)

    def thaw(self) -> None:
        """SIGCONT: let a frozen process go on."""
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

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


Positions = dict[str, int]


def behind(at: Positions, head: Positions) -> bool:
    """Whether a checkpoint is short of the head of any log."""
    return any(at.get(log, 0) < position for log, position in head.items())


def advanced(at: Positions, since: Positions) -> int:
    """How far a checkpoint has moved past since, summed over the logs."""
    return sum(position - since.get(log, 0) for log, position in at.items())


@dataclass(frozen=True)
class Kill:
    """Where a projector stood when it was killed: where it started, its checkpoint, the heads."""

    since: Positions
    at: Positions
    head: Positions
    top_ups: int = 0
    """How often it was found caught up and handed more events first."""

    @property
    def mid_stream(self) -> bool:
        """It had projected since its start and was still behind the log."""
        return advanced(self.at, self.since) > 0 and behind(self.at, self.head)


def kill_mid_stream(
    projector: WorkerProcess,
    checkpoint: Callable[[], Positions],
    heads: Callable[[], Positions],
    since: Positions,
    progress: int,
    top_up: Callable[[], object],
) -> Kill:
    """SIGKILL the projector once its checkpoint is known to be behind the log.

    Once the checkpoint has moved progress events past since (or caught up), the process is
    frozen with SIGSTOP, so the heads and then its checkpoint are read while it cannot move;
    it is killed only if it is still behind. One found caught up is let go and handed more
    events (top_up), so a kill lands mid-stream however fast or slow the machine is: only how
    long it takes varies, never where the kill lands.
    """
    deadline, mark, top_ups = time.monotonic() + 3 * WAIT_SECONDS, since, 0
    while True:
        at = checkpoint()
        if advanced(at, mark) >= progress or (at != mark and not behind(at, heads())):
            projector.freeze()
            head = heads()
            kill = Kill(since, checkpoint(), head, top_ups)
            if kill.mid_stream:
                projector.kill()
                return kill
            projector.thaw()
            top_up()  # it had caught up: kill it once it has moved into the new events
            mark, progress, top_ups = kill.at, 1, top_ups + 1
        if not projector.alive():
            pytest.fail(f"projector exited: {projector.log()}")
        if time.monotonic() > deadline:
            pytest.fail(f"no kill mid-stream after {since}: {projector.log()}")
        time.sleep(0.005)
