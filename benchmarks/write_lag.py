"""Projection lag while wrk loads the command API (the write-path benchmark's lag run).

The carts and product-detail projectors (Redis views) follow the carts and inventory logs
while `serve-write` takes the mixed load (half add to cart, half receive stock). It runs on
its own, after the ratio runs, so the projectors' CPU never depresses a ratio.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from benchmarks.loadgen import WrkResult
from benchmarks.read_load import LagSampler, marketplace_script, percentile
from benchmarks.servers import free_port, marketplace_command, serving

FOLLOWED = {"carts": "carts", "product-detail": "inventory"}
"""Each projector sampled, and the log whose lag it reports."""


@dataclass
class LagRun:
    """The load the command API took and each projector's lag samples during it."""

    load: WrkResult
    samplers: dict[str, LagSampler]

    def lines(self) -> list[str]:
        """The figures, one line per projector."""
        r = self.load
        out = [
            f"Projection lag while serve-write (1 worker) took the mixed load at "
            f"{r.rate:.0f} 2xx/s (p99 {r.p99_ms:.1f} ms, non-2xx {r.non2xx}) "
            f"{r.verdict.describe()}".rstrip()
        ]
        for name, sampler in self.samplers.items():
            lag, behind = sampler.seconds, sampler.events
            out.append(
                f"  {name} ({FOLLOWED[name]} log), {len(lag)} samples every 100 ms: lag "
                f"p50 {percentile(lag, 0.5) * 1000:.0f} ms, p99 {percentile(lag, 0.99) * 1000:.0f} "
                f"ms; events behind p50 {percentile(behind, 0.5):.0f}, "
                f"p99 {percentile(behind, 0.99):.0f}; failed samples {sampler.failures}"
            )
        return out


def measure_lag(
    env: dict[str, str], redis_url: str, workdir: Path, load: Callable[[str, str], WrkResult]
) -> LagRun:
    """Start the projectors and serve-write, warm up, then load while sampling the lag.

    load(base_url, prefix) runs wrk once (the caller picks duration and data); the first call
    is the warm-up.
    """
    env = {**env, "MARKETPLACE_REDIS_URL": redis_url, "MARKETPLACE_REDIS_PREFIX": "lag"}
    samplers: dict[str, LagSampler] = {}
    with ExitStack() as stack:
        for name, log in FOLLOWED.items():
            port = free_port()
            command = [*marketplace_script(), "project", name, "--metrics-port", str(port)]
            stack.enter_context(serving(command, env, port, "/metrics", workdir / f"{name}.log"))
            samplers[name] = LagSampler(f"http://127.0.0.1:{port}/metrics", name, log)
        write_port = free_port()
        base = stack.enter_context(
            serving(
                marketplace_command(write_port, 1),
                env,
                write_port,
                "/health/ready",
                workdir / "lag-write.log",
            )
        )
        load(base, "lag-warm")
        for sampler in samplers.values():
            sampler.start()
        result = load(base, "lag")
        for sampler in samplers.values():
            sampler.stop()
    return LagRun(result, samplers)
