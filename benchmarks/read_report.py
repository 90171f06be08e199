"""What the read-path benchmark measured and checked, and how it is printed."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field
from statistics import median

from benchmarks.loadgen import WrkResult
from benchmarks.read_load import percentile
from benchmarks.rebuild import Rate
from benchmarks.verdict import ratio, show_ratio

REBUILD_GOAL = 20_000
"""Events per second the issue asks of a rebuild."""
P99_GOAL_MS = 15.0
UNLIMITED = "ours: product detail, no limits"
"""The label of the query API run with MARKETPLACE_RATE_LIMITS_ENABLED=false."""
BARE = "bare FastAPI, constant"
"""The label of the baseline: benchmarks/bare_read_app.py on the same uvicorn settings."""


@dataclass(frozen=True)
class HttpRun:
    """One timed wrk run against one server."""

    label: str
    workers: int
    result: WrkResult
    round: int = 0


@dataclass(frozen=True)
class Lag:
    """The product-detail projector's lag sampled during the receive-stock load."""

    load: WrkResult
    seconds: list[float]
    events: list[float]
    drained_after: float | None
    sample_failures: int


@dataclass
class Report:
    """Figures and invariant checks, printed at the end."""

    args: argparse.Namespace
    opensearch_url: str | None
    opensearch_note: str
    raw: list[Rate] = field(default_factory=list)
    rebuilds: list[Rate] = field(default_factory=list)
    http: list[HttpRun] = field(default_factory=list)
    search_note: str = "not reached"
    lag: Lag | None = None
    checks: list[tuple[str, bool]] = field(default_factory=list)

    def check(self, description: str, passed: bool) -> None:
        """Record one invariant."""
        self.checks.append((description, passed))

    def runs(self, label: str, workers: int) -> list[WrkResult]:
        """The runs of that label and worker count, one per round, in round order."""
        return [r.result for r in self.http if r.label == label and r.workers == workers]

    def rate(self, label: str, workers: int) -> WrkResult | None:
        """The run of that label and worker count with the median rate, if it ran."""
        runs = sorted(self.runs(label, workers), key=lambda r: r.rate)
        return runs[(len(runs) - 1) // 2] if runs else None

    def print(self) -> bool:
        """Print everything; True when every invariant holds."""
        a = self.args
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        print()
        print(
            f"Read path, {os.cpu_count()} CPUs (load average now {load}); PostgreSQL fsync=on, "
            f"Valkey AOF everysec, OpenSearch {'on' if self.opensearch_url else 'off'}; "
            f"wrk -t{a.threads} -c{a.connections} -d{a.duration}s after {a.warmup}s warm-up; "
            "everything shares the same CPUs"
        )
        self._print_rebuilds()
        self._print_http()
        self._print_lag()
        print()
        print("Invariants")
        passed = True
        for description, ok in self.checks:
            print(f"  [{'ok' if ok else 'FAILED'}] {description}")
            passed &= ok
        for kind in ("product detail and bare", "search"):
            runs = [r for r in self.http if ("search" in r.label) == (kind == "search")]
            if not runs:
                continue
            bad = sum(r.result.non2xx + r.result.socket_errors for r in runs)
            statuses: dict[str, int] = {}
            for run in runs:
                for status, n in run.result.statuses.items():
                    statuses[status] = statuses.get(status, 0) + n
            print(
                f"  [{'ok' if bad == 0 else 'FAILED'}] non-2xx and socket errors over the "
                f"{kind} runs: {bad} {statuses or ''}".rstrip()
            )
            passed &= bad == 0
        print(f"Invariants {'hold' if passed else 'FAILED'}.")
        return passed

    def _print_rebuilds(self) -> None:
        raw = {r.batch: r for r in self.raw}
        print()
        print("Projection rebuild from empty (events of the catalog and inventory logs)")
        header = f"{'store: projection':<30}{'batch':>6}{'events':>8}{'seconds':>9}"
        header += f"{'events/s':>10}{'/ raw read':>11}  note"
        print(header)
        print("-" * (len(header) + 10))
        for rate in [*self.raw, *self.rebuilds]:
            base = raw.get(rate.batch)
            ratio = (
                f"{rate.per_second / base.per_second:>11.2f}" if base and base.per_second else ""
            )
            note = "to the heads" if rate.complete else "stopped by the time budget"
            print(
                f"{rate.label:<30}{rate.batch:>6}{rate.events:>8}{rate.seconds:>9.2f}"
                f"{rate.per_second:>10,.0f}{ratio:>11}  {note}"
            )
        if not self.opensearch_url:
            print(f"  OpenSearch: {self.opensearch_note}")
        print("Ratios")
        for rate in self.rebuilds:
            if rate.batch != 1000:
                continue
            goal = "meets" if rate.per_second >= REBUILD_GOAL else "misses"
            print(f"  {rate.label:<28} {goal} the {REBUILD_GOAL:,} events/s goal")
        for label in [self.raw[0].label if self.raw else "", *{r.label for r in self.rebuilds}]:
            rates = {r.batch: r for r in [*self.raw, *self.rebuilds] if r.label == label}
            if 1 in rates and 1000 in rates and rates[1].per_second:
                gain = rates[1000].per_second / rates[1].per_second
                print(f"  {label:<28} batch 1000 / batch 1: {gain:6.1f}x")

    def _print_http(self) -> None:
        print()
        print(
            "Query API (GET, rotating over every product id; search over a few queries); "
            f"servers loaded in turn, {self.args.rounds} round(s)"
        )
        header = f"{'scenario':<34}{'workers':>8}{'round':>6}{'req/s':>9}{'p50 ms':>9}"
        header += f"{'p99 ms':>9}{'non-2xx':>9}{'sock err':>10}"
        print(header)
        print("-" * len(header))
        for run in self.http:
            r = run.result
            print(
                f"{run.label:<34}{run.workers:>8}{run.round + 1:>6}{r.rate:>9.0f}{r.p50_ms:>9.1f}"
                f"{r.p99_ms:>9.1f}{r.non2xx:>9}{r.socket_errors:>10}  {r.verdict.describe()}"
            )
        print(f"  search: {self.search_note}")
        print("Medians over the rounds (ratio: median of the per-round ratios to bare)")
        header = f"{'scenario':<34}{'workers':>8}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}"
        header += f"{'/ bare':>8}"
        print(header)
        print("-" * len(header))
        for label in (BARE, "ours: product detail", UNLIMITED):
            for workers in (1, 2):
                runs, bare = self.runs(label, workers), self.runs(BARE, workers)
                if not runs:
                    continue
                ratios = per_round_ratios(runs, bare)
                shown = f"{median(ratios):>8.2f}" if ratios else f"{'FAILED':>8}"
                print(
                    f"{label:<34}{workers:>8}{median([r.rate for r in runs]):>9.0f}"
                    f"{median([r.p50_ms for r in runs]):>9.1f}"
                    f"{median([r.p99_ms for r in runs]):>9.1f}{shown}"
                )
        print("Ratios")
        for label, note in (("ours: product detail", ""), (UNLIMITED, ", no limits")):
            for workers in (1, 2):
                runs, bare = self.runs(label, workers), self.runs(BARE, workers)
                ratios = per_round_ratios(runs, bare)
                if not ratios:
                    if runs:
                        print(f"  product detail{note} / bare, {workers}w: FAILED (> 1 % non-2xx)")
                    continue
                mid, p99 = median(ratios), median([r.p99_ms for r in runs])
                print(
                    f"  product detail{note} / bare, {workers} "
                    f"worker{'s' if workers > 1 else ''}: "
                    f"{mid:5.2f} (goal >= 1.0: {'met' if mid >= 1.0 else 'missed'}); "
                    f"p99 {p99:.1f} ms (goal <= {P99_GOAL_MS:.0f} ms: "
                    f"{'met' if p99 <= P99_GOAL_MS else 'missed'})"
                )
        for label in dict.fromkeys(r.label for r in self.http):
            one, two = self.rate(label, 1), self.rate(label, 2)
            scaling = ratio(two.figure, one.figure) if one and two else None
            if one and two:
                print(f"  {label}: 2 workers / 1 worker {show_ratio(scaling)} (median runs)")

    def _print_lag(self) -> None:
        lag = self.lag
        print()
        if lag is None:
            print("Projection lag: not measured")
            return
        r = lag.load
        print(
            f"Projection lag of product-detail (inventory log) while serve-write (1 worker) "
            f"took receive-stock at {r.rate:,.0f} req/s (p99 {r.p99_ms:.1f} ms, "
            f"non-2xx {r.non2xx}) for {r.seconds:.0f} s"
        )
        print(
            f"  projection_lag_seconds over {len(lag.seconds)} samples (every 100 ms): "
            f"p50 {percentile(lag.seconds, 0.5) * 1000:.0f} ms, "
            f"p99 {percentile(lag.seconds, 0.99) * 1000:.0f} ms, "
            f"max {max(lag.seconds, default=0.0) * 1000:.0f} ms"
        )
        print(
            f"  projection_lag_events: p50 {percentile(lag.events, 0.5):.0f}, "
            f"p99 {percentile(lag.events, 0.99):.0f}, max {max(lag.events, default=0.0):.0f}"
        )
        drained = f"{lag.drained_after:.2f} s" if lag.drained_after is not None else "not in 30 s"
        print(
            f"  view at the log heads {drained} after the load stopped; "
            f"failed samples {lag.sample_failures}"
        )


def per_round_ratios(runs: list[WrkResult], bare: list[WrkResult]) -> list[float]:
    """Each round's 2xx rate over the bare endpoint's; empty when any round of either failed."""
    pairs = [ratio(o.figure, b.figure) for o, b in zip(runs, bare, strict=False)]
    return [] if None in pairs else [p for p in pairs if p is not None]
