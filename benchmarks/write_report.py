"""The write-path benchmark's report: the table of runs, the ratios and the invariants."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

from benchmarks import invariants

if TYPE_CHECKING:
    from benchmarks.write_path import Bench, Target

LABELS = {
    "naive": "naive: new aggregate",
    "cart": "ours: add to cart",
    "stock": "ours: receive stock",
    "mixed-split": "ours: mixed, split logs",
    "mixed-single": "ours: mixed, one log",
    "register-sealed": "ours: register, sealed",
    "register-plain": "ours: register, plain",
    "chained": "ours: mixed, chained",
    "unchained": "ours: mixed, unchained",
}


def print_report(bench: Bench, targets: Sequence[Target], args: argparse.Namespace) -> bool:
    """Print the table, the ratios and the invariants; True when every invariant holds."""
    header = f"{'scenario':<26}{'workers':>8}{'2xx/s':>9}{'p50 ms':>9}{'p99 ms':>9}"
    header += f"{'non-2xx':>9}{'sock err':>10}"
    print()
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"Write path, {os.cpu_count()} CPUs (load average now {load}), PostgreSQL fsync=on "
        f"synchronous_commit=on, wrk -t{args.threads} -c{args.connections} -d{args.duration}s "
        f"after {args.warmup}s warm-up per server; wrk and PostgreSQL share the same CPUs"
    )
    print(header)
    print("-" * len(header))
    for run in bench.runs:
        r = run.result
        print(
            f"{LABELS[run.key]:<26}{run.workers:>8}{r.rate:>9.0f}{r.p50_ms:>9.1f}{r.p99_ms:>9.1f}"
            f"{r.non2xx:>9}{r.socket_errors:>10}{'  FAILED' if r.failed else ''}"
        )
    print()
    print("Ratios of 2xx/s (same run; over rounds, the median ratio; a failed run gives none)")
    pairs = [
        ("add to cart / naive", "cart", "naive"),
        ("receive stock / naive", "stock", "naive"),
        ("mixed: split / one log", "mixed-split", "mixed-single"),
        ("register: sealed / plain", "register-sealed", "register-plain"),
        ("mixed: chained / unchained", "chained", "unchained"),
    ]
    for name, top, bottom in pairs:
        cells = []
        for workers in (1, 2):
            ratio = bench.ratio(top, bottom, workers)
            if ratio is not None:
                cells.append(f"{workers} worker{'s' if workers > 1 else ''}: {ratio:5.2f}")
        if cells:
            print(f"  {name:<26}" + "   ".join(cells))
    scaling = []
    for key in LABELS:
        one, two = bench.rate(key, 1), bench.rate(key, 2)
        if one and two is not None:
            scaling.append(f"{key} {two / one:.2f}")
    if scaling:
        print(f"  {'2 workers / 1 worker':<26}" + ", ".join(scaling))
    print()
    return print_invariants(bench, targets)


def print_invariants(bench: Bench, targets: Sequence[Target]) -> bool:
    """Print each run's checks and the streams' versions; True when all hold and no run failed."""
    print("Invariants (SQL on the event tables after each server stopped)")
    passed = True
    for run in bench.runs:
        print(f"  {LABELS[run.key]}, {run.workers}w: {run.check.describe()}")
        passed &= run.check.passed
    for target in targets:
        for table in target.tables:
            streams, broken = invariants.broken_streams(target.url, table)
            print(
                f"  {table.schema}.{table.name}: {streams} streams, "
                f"{broken} with a gap or overlap in versions"
            )
            passed &= broken == 0
    bad = sum(run.result.non2xx + run.result.socket_errors for run in bench.runs)
    print(f"  non-2xx and socket errors over all timed runs: {bad}")
    failed = [f"{LABELS[run.key]}, {run.workers}w" for run in bench.runs if run.result.failed]
    if failed:
        print(f"  runs over 1 % non-2xx, reported as failed: {', '.join(failed)}")
    passed &= not failed
    print(f"Invariants {'hold' if passed else 'FAILED'}.")
    return passed
