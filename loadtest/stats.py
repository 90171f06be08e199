"""Figures from the request records: rates and latency percentiles per endpoint and bucket."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from loadtest.journal import RequestRecord
from loadtest.plan import ENDPOINTS, endpoint_class

GOALS_MS = {"views": 250.0, "checkout": 1000.0}
"""p99 goals per endpoint class: views under 250 ms, checkout under 1 s."""
SUSTAINED_SECONDS = 15.0
"""How long a rate must hold (in whole buckets) to count as sustained."""


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile of sorted values (0 for none)."""
    if not values:
        return 0.0
    rank = max(math.ceil(fraction * len(values)) - 1, 0)
    return values[min(rank, len(values) - 1)]


@dataclass
class Latencies:
    """Request count, failure counts and sorted latencies of one group of requests."""

    ms: list[float] = field(default_factory=list)
    kinds: Counter[str] = field(default_factory=Counter)
    cache: Counter[str] = field(default_factory=Counter)

    def add(self, record: RequestRecord) -> None:
        """Count one request in."""
        self.ms.append(record.ms)
        if record.kind:
            self.kinds[record.kind] += 1
        if record.cache:
            self.cache[record.cache] += 1

    def done(self) -> Latencies:
        """Sort the latencies; returns self."""
        self.ms.sort()
        return self

    @property
    def count(self) -> int:
        """Requests."""
        return len(self.ms)

    @property
    def errors(self) -> int:
        """Answers of 400 and above, and requests with no answer."""
        return sum(self.kinds.values())

    def status(self, code: int) -> int:
        """Answers with that status."""
        prefix = f"{code}"
        return sum(n for kind, n in self.kinds.items() if kind.split(" ")[0] == prefix)

    def p(self, fraction: float) -> float:
        """A latency percentile in ms."""
        return percentile(self.ms, fraction)


@dataclass
class RunStats:
    """Every figure the report shows about the requests."""

    started: float
    bucket: float
    buckets: int
    total: dict[str, Latencies]
    per_bucket: dict[str, list[Latencies]]
    per_class: dict[str, list[Latencies]]
    all_requests: Latencies

    @property
    def seconds(self) -> float:
        """The span the buckets cover."""
        return self.buckets * self.bucket

    def times(self) -> list[float]:
        """Each bucket's middle, in seconds since the start."""
        return [(i + 0.5) * self.bucket for i in range(self.buckets)]

    def rate(self, latencies: Latencies) -> float:
        """Requests per second over the whole run."""
        return latencies.count / self.seconds if self.seconds else 0.0

    @property
    def window(self) -> int:
        """Buckets in a sustained window."""
        return max(round(SUSTAINED_SECONDS / self.bucket), 1)

    def sustained(self) -> tuple[float, int] | None:
        """The highest request rate (all endpoints) held for a window of buckets while every
        class with a goal kept its p99 under it, and the first bucket of that window."""
        best: tuple[float, int] | None = None
        for first in range(0, max(self.buckets - self.window + 1, 0)):
            window = range(first, first + self.window)
            if not all(self._meets_goals(window, name) for name in GOALS_MS):
                continue
            count = sum(self.per_bucket_total(i) for i in window)
            rate = count / (self.window * self.bucket)
            if best is None or rate > best[0]:
                best = (rate, first)
        return best

    def per_bucket_total(self, index: int) -> int:
        """Requests that started in a bucket."""
        return sum(buckets[index].count for buckets in self.per_bucket.values())

    def _meets_goals(self, window: range, name: str) -> bool:
        merged = sorted(ms for i in window for ms in self.per_class[name][i].ms)
        return not merged or percentile(merged, 0.99) < GOALS_MS[name]


def run_stats(records: Iterable[RequestRecord], started: float, bucket: float) -> RunStats:
    """Group the records per endpoint, per bucket of `bucket` seconds and per class."""
    kept = [r for r in records if r.t >= started]
    buckets = max((int((r.t - started) // bucket) for r in kept), default=0) + 1
    total: dict[str, Latencies] = {name: Latencies() for name in ENDPOINTS}
    per_bucket = {name: [Latencies() for _ in range(buckets)] for name in ENDPOINTS}
    per_class: dict[str, list[Latencies]] = {
        name: [Latencies() for _ in range(buckets)] for name in ("views", "cart", "checkout")
    }
    everything = Latencies()
    for record in kept:
        index = int((record.t - started) // bucket)
        if record.endpoint not in per_bucket:
            per_bucket[record.endpoint] = [Latencies() for _ in range(buckets)]
        total.setdefault(record.endpoint, Latencies()).add(record)
        per_bucket[record.endpoint][index].add(record)
        per_class[endpoint_class(record.endpoint)][index].add(record)
        everything.add(record)
    for group in [*total.values(), everything]:
        group.done()
    for series in [*per_bucket.values(), *per_class.values()]:
        for latencies in series:
            latencies.done()
    return RunStats(started, bucket, buckets, total, per_bucket, per_class, everything)
