"""Load helpers of the read-path benchmark: GET rotation with wrk, servers, metric sampling."""

from __future__ import annotations

import json
import math
import os
import re
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.loadgen import WrkResult, wrk_output, wrk_result
from benchmarks.servers import naive_command

LUA_SCRIPT = Path(__file__).with_name("read_rotate.lua")


def write_paths(paths: Sequence[str], path: Path) -> Path:
    """Write the paths as a Lua chunk returning them."""
    path.write_text("return {" + ",".join(json.dumps(p) for p in paths) + "}\n")
    return path


def run_get(base: str, paths: Path, *, duration: int, connections: int, threads: int) -> WrkResult:
    """GET the rotating paths for duration seconds and parse wrk's result line."""
    env = {**os.environ, "BENCH_PATHS": str(paths), "BENCH_THREADS": str(threads)}
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--timeout", "10s"]
    command += ["-s", str(LUA_SCRIPT), base]
    return wrk_result(wrk_output(command, env, duration))


def marketplace_script() -> list[str]:
    """The `marketplace` console script of this venv (or the module, without it)."""
    script = Path(sys.executable).parent / "marketplace"
    return [str(script)] if script.exists() else [sys.executable, "-m", "marketplace.cli"]


def bare_command(port: int, workers: int) -> list[str]:
    """The baseline: the bare app on the same uvicorn settings as the query API."""
    command = naive_command(port, workers)
    command[command.index("benchmarks.naive_app:app")] = "benchmarks.bare_read_app:app"
    return command


def read_command(port: int, workers: int) -> list[str]:
    """`marketplace serve-read` on this port with this many workers."""
    return [*marketplace_script(), "serve-read", "--port", str(port), "--workers", str(workers)]


def get_json(url: str, timeout: float = 5.0) -> Any:
    """GET a loopback URL and decode its JSON body."""
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (loopback)
        return json.loads(response.read())


def get_status(url: str, timeout: float = 5.0) -> int:
    """The status of a GET on a loopback URL (4xx/5xx included)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (loopback)
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


SAMPLE = re.compile(r"^(projection_lag_seconds|projection_lag_events)\{([^}]*)\} (\S+)$")


@dataclass
class LagSampler:
    """Polls a projector's Prometheus endpoint every interval for one log's lag gauges."""

    url: str
    projection: str
    log: str
    interval: float = 0.1
    seconds: list[float] = field(default_factory=list)
    events: list[float] = field(default_factory=list)
    failures: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def sample(self) -> tuple[float, float] | None:
        """One reading of (lag seconds, lag events), or None if the gauges are not there yet."""
        with urllib.request.urlopen(self.url, timeout=2) as response:  # noqa: S310 (loopback)
            text = response.read().decode()
        found: dict[str, float] = {}
        labels = {f'projection="{self.projection}"', f'log="{self.log}"'}
        for line in text.splitlines():
            match = SAMPLE.match(line)
            if match and labels <= set(match.group(2).split(",")):
                found[match.group(1)] = float(match.group(3))
        if len(found) < 2:
            return None
        return found["projection_lag_seconds"], found["projection_lag_events"]

    def _loop(self) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            try:
                reading = self.sample()
            except OSError:
                reading = None
                self.failures += 1
            if reading is not None:
                self.seconds.append(reading[0])
                self.events.append(reading[1])
            next_at += self.interval
            self._stop.wait(max(next_at - time.monotonic(), 0.0))

    def start(self) -> None:
        """Start sampling in a background thread."""
        self._thread = threading.Thread(target=self._loop, name="lag-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop sampling and wait for the thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(math.ceil(fraction * len(ordered)) - 1, 0)
    return ordered[min(rank, len(ordered) - 1)]


def wait_for(url: str, timeout: float = 30.0) -> None:
    """Wait until a loopback URL answers 200."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if get_status(url, timeout=1) == 200:
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not answer within {timeout:.0f} s")
        time.sleep(0.2)
