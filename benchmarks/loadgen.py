"""Drives wrk with benchmarks/rotate.lua and reads back its figures and 2xx request ids."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.verdict import Verdict

LUA_SCRIPT = Path(__file__).with_name("rotate.lua")
RESULT_MARKER = "WRK_RESULT "


@dataclass(frozen=True)
class LoadData:
    """What the Lua script rotates over: cart lines by shoppers and stock receipts by sellers."""

    cart_paths: Sequence[str] = ()
    shopper_auth: Sequence[str] = ()
    cart_bodies: Sequence[str] = ()
    stock_paths: Sequence[str] = ()
    stock_owner: Sequence[int] = ()
    seller_auth: Sequence[str] = ()
    register_auth: Sequence[str] = ()
    """One new shopper's token per registration (a second use of one answers 409)."""

    def write_lua(self, path: Path) -> Path:
        """Write the tables as a Lua chunk returning them (1-based owner indexes)."""

        def strings(values: Sequence[str]) -> str:
            return "{" + ",".join(json.dumps(v) for v in values) + "}"

        owners = "{" + ",".join(str(i + 1) for i in self.stock_owner) + "}"
        path.write_text(
            "return {\n"
            f"cart_paths={strings(self.cart_paths)},\n"
            f"shopper_auth={strings(self.shopper_auth)},\n"
            f"cart_bodies={strings(self.cart_bodies)},\n"
            f"stock_paths={strings(self.stock_paths)},\n"
            f"stock_owner={owners},\n"
            f"seller_auth={strings(self.seller_auth)},\n"
            f"register_auth={strings(self.register_auth)},\n"
            "}\n"
        )
        return path


@dataclass
class WrkResult:
    """One wrk invocation's figures."""

    requests: int
    seconds: float
    ok: int
    non2xx: int
    socket_errors: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    statuses: dict[str, int]
    first_error: str
    ok_ids: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> Verdict:
        """The shared rule: served means 2xx; non-2xx answers and socket errors are not."""
        unserved = self.non2xx + self.socket_errors
        return Verdict(max(self.requests, self.ok + unserved), self.ok, self.seconds)

    @property
    def rate(self) -> float:
        """Successful (2xx) answers per second: a 429, 503 or error is never throughput."""
        return self.ok / self.seconds if self.seconds else 0.0

    @property
    def figure(self) -> float | None:
        """The 2xx rate, or None when the run failed the shared rule (over 1 % not 2xx)."""
        return self.verdict.rate

    @property
    def failed(self) -> bool:
        """More than 1 % of the requests got no 2xx: the run measured refusals, not the path."""
        return self.verdict.failed


def require_wrk() -> str | None:
    """The path of wrk, or None when it is not installed."""
    return shutil.which("wrk")


def run_wrk(
    url: str,
    *,
    data: Path,
    mode: str,
    prefix: str,
    start: int,
    duration: int,
    connections: int,
    threads: int,
    max_requests: int,
    workdir: Path,
) -> WrkResult:
    """Run wrk for duration seconds (or max_requests answers) and parse its result line."""
    out = workdir / f"{prefix}.ok"
    env = {
        **os.environ,
        "BENCH_DATA": str(data),
        "BENCH_MODE": mode,
        "BENCH_PREFIX": prefix,
        "BENCH_START": str(start),
        "BENCH_THREADS": str(threads),
        "BENCH_MAX": str(max(1, max_requests // threads)),
        "BENCH_OUT": str(out),
    }
    command = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{duration}s",
        "--timeout",
        "10s",
        "-s",
        str(LUA_SCRIPT),
        url,
    ]
    raw = wrk_output(command, env, duration)
    ids = out.read_text().split() if out.exists() else []
    return wrk_result(raw, ids)


def wrk_output(command: list[str], env: dict[str, str], duration: int) -> dict[str, Any]:
    """Run a wrk command line and return the JSON its Lua script's done() printed."""
    completed = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=duration + 60, check=False
    )
    line = next((x for x in completed.stdout.splitlines() if x.startswith(RESULT_MARKER)), None)
    if completed.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({completed.returncode}): {completed.stderr.strip()}")
    raw: dict[str, Any] = json.loads(line[len(RESULT_MARKER) :])
    return raw


def wrk_result(raw: dict[str, Any], ok_ids: list[str] | None = None) -> WrkResult:
    """A WrkResult from the figures the Lua scripts print."""
    return WrkResult(
        requests=raw["requests"],
        seconds=raw["duration_us"] / 1e6,
        ok=raw["ok"],
        non2xx=raw["non2xx"],
        socket_errors=raw["socket_errors"],
        p50_ms=raw["p50_us"] / 1000,
        p90_ms=raw["p90_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
        max_ms=raw["max_us"] / 1000,
        statuses=raw["statuses"],
        first_error=raw["first_error"],
        ok_ids=ok_ids or [],
    )
