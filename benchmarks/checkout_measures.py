"""The checkout benchmark's measures: raw append baselines, CPU, worker metrics, gateway charges."""

from __future__ import annotations

import os
import re
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import uuid4

from benchmarks import fixtures
from benchmarks.checkout_shop import acting
from commands.services import Commands
from infra.eventstore import eventsourcing_env
from infra.settings import PostgresSettings, Settings


@dataclass(frozen=True)
class Rate:
    """Appends made in some seconds."""

    key: str
    label: str
    events: int
    seconds: float
    errors: int

    @property
    def per_second(self) -> float:
        """Appends per second (0 over no time)."""
        return self.events / self.seconds if self.seconds else 0.0


def _append_for(append: Callable[[], object], threads: int, seconds: float) -> Rate:
    """Call append from threads for seconds; count the calls and the errors."""
    counts = [0] * threads
    errors = [0] * threads
    stop = threading.Event()

    def loop(i: int) -> None:
        while not stop.is_set():
            try:
                append()
                counts[i] += 1
            except Exception:
                errors[i] += 1

    pool = [threading.Thread(target=loop, args=(i,), daemon=True) for i in range(threads)]
    began = time.perf_counter()
    for thread in pool:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in pool:
        thread.join(timeout=30)
    return Rate("", "", sum(counts), time.perf_counter() - began, sum(errors))


def hammer(
    key: str, label: str, append: Callable[[], object], threads: int, seconds: float
) -> Rate:
    """Call append from threads for a second of warm-up, then for seconds; count the calls."""
    _append_for(append, threads, 1.0)
    timed = _append_for(append, threads, seconds)
    return Rate(key, label, timed.events, timed.seconds, timed.errors)


def raw_ours(server_url: str, threads: int, seconds: float) -> list[Rate]:
    """New one-event aggregates (sellers) through Commands.catalog, on a schema of their own:
    from threads, then from one thread (the rate of appends that share no commit)."""
    url = fixtures.create_schema(server_url, "raw_ours")
    commands = Commands(
        eventsourcing_env(Settings(log_level="WARNING", postgres=PostgresSettings(url=url)))
    )
    try:

        def append() -> None:
            seller = uuid4()
            ctx = acting(seller, "seller")
            commands.catalog.register_seller(seller, "Raw", "raw@bench.example", ctx)

        return [
            hammer("ours", f"ours: new seller, {threads} threads", append, threads, seconds),
            hammer("ours-1", "ours: new seller, 1 thread", append, 1, seconds),
        ]
    finally:
        commands.close()


def raw_library(server_url: str, threads: int, seconds: float) -> Rate:
    """New one-event aggregates through a plain eventsourcing Application, library defaults."""
    from benchmarks.naive_app import Item, ItemsApplication, naive_env

    fixtures.create_schema(server_url, "raw_library")
    app = ItemsApplication(env=naive_env(server_url, "raw_library"))
    try:
        return hammer(
            "library",
            f"library: Application.save, {threads} threads",
            lambda: app.save(Item(ref=uuid4().hex, name="raw", quantity=1)),
            threads,
            seconds,
        )
    finally:
        app.close()


def cpu_busy() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    try:
        fields = [float(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    except OSError:
        return 0.0, 0.0
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)
    return sum(fields) - idle, sum(fields)


def tree_cpu(pid: int | None) -> float:
    """CPU seconds of a process, its reaped children and its live children (PostgreSQL's)."""
    if pid is None:
        return 0.0
    tick = float(os.sysconf("SC_CLK_TCK"))
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2 :].split()
        own, parent = int(stat.parent.name), int(fields[1])
        if own == pid:
            total += sum(float(x) for x in fields[11:15]) / tick  # utime stime cutime cstime
        elif parent == pid:
            total += (float(fields[11]) + float(fields[12])) / tick
    return total


def scrape(base: str) -> dict[str, float]:
    """The worker's Prometheus samples, by name and labels as written."""
    with urllib.request.urlopen(base + "/metrics", timeout=5) as response:  # noqa: S310
        text = response.read().decode()
    samples: dict[str, float] = {}
    for line in text.splitlines():
        match = re.match(r"^([^#\s][^\s]*)\s+([-+0-9.eEinfINFNa]+)$", line)
        if match:
            samples[match.group(1)] = float(match.group(2))
    return samples


def gateway_charges(url: str) -> list[dict[str, Any]]:
    """Every authorisation the sandbox holds."""
    import httpx

    response = httpx.get(f"{url}/admin/charges", timeout=10)
    response.raise_for_status()
    body = response.json()
    return list(body["charges"] if isinstance(body, dict) else body)
