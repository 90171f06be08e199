"""The three parts of the read-path benchmark, each recording figures and checks in a Report."""

from __future__ import annotations

import argparse
import time
import urllib.parse
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from benchmarks import fixtures
from benchmarks.catalogue import Catalogue
from benchmarks.loadgen import WrkResult, run_wrk
from benchmarks.read_load import (
    LagSampler,
    bare_command,
    get_json,
    marketplace_script,
    read_command,
    run_get,
    write_paths,
)
from benchmarks.read_report import HttpRun, Lag, Report
from benchmarks.rebuild import Rebuilds, opensearch_counts, postgres_counts, redis_counts
from benchmarks.servers import clean_env, free_port, marketplace_command, serving
from infra.stores import Stores
from projections.product_detail.projection import ProductDetailProjection

VIEW = "bench"
"""The Redis prefix, PostgreSQL schema and OpenSearch index prefix the query API reads."""
SMALL = "b1"
BENCH_IP_BUDGET = "1000000000/minute"
"""The browse-ip budget of the query API under load: spent by every request, never reached."""
BARE = "bare FastAPI, constant"
LIMITED = "ours: product detail"
UNLIMITED = "ours: product detail, no limits"
SEARCH_QUERIES = (
    "earbuds",
    "cast iron skillet",
    "merino sweater",
    "tent",
    "fountain pen",
    "dog harness",
    "yoga mat",
    "kettle",
    "board game",
    "hand cream",
)


class Scenarios:
    """Runs the parts against the stores started by read_path.main."""

    def __init__(
        self,
        args: argparse.Namespace,
        workdir: Path,
        server_url: str,
        url: str,
        redis_url: str,
        opensearch_url: str | None,
        demo: Catalogue,
        report: Report,
        log: Callable[[str], None],
    ) -> None:
        self.args, self.workdir, self.demo, self.report, self.log = args, workdir, demo, report, log
        self.server_url, self.url, self.redis_url = server_url, url, redis_url
        self.opensearch_url = opensearch_url
        settings = fixtures.settings_for(url, split_logs=True)
        settings = settings.updated(redis={"url": redis_url})
        self.stores = Stores(url, redis_url)
        self.rebuild = Rebuilds(settings, server_url, self.stores, opensearch_url)
        store_env = {"MARKETPLACE_REDIS_URL": redis_url, "MARKETPLACE_REDIS_PREFIX": VIEW}
        self.env = clean_env({**fixtures.server_env(url, split_logs=True), **store_env})
        # Rate limits stay on (every request spends its budgets in Redis, as in production),
        # but wrk's one client IP would spend the default browse-ip budget in a second.
        self.read_env = {**self.env, "MARKETPLACE_RATE_LIMIT_BROWSE_PER_IP": BENCH_IP_BUDGET}
        self.unlimited_env = {**self.env, "MARKETPLACE_RATE_LIMITS_ENABLED": "false"}
        self.search_env = dict(self.read_env)
        if opensearch_url:
            self.search_env["MARKETPLACE_OPENSEARCH_URL"] = opensearch_url
            self.search_env["MARKETPLACE_OPENSEARCH_INDEX_PREFIX"] = f"{VIEW}-"

    def heads(self) -> dict[str, int]:
        """The heads of the logs product detail and catalog search follow."""
        with self.rebuild.logs(ProductDetailProjection()) as logs:
            return {log.log_name: log.head() for log in logs}

    def rebuilds(self, small: bool = True) -> None:
        """Raw log reads and rebuilds per store, batch 1000 (to the heads) and 1 (bounded).

        Without small, only batch 1000: the views the query API reads, and their checks.
        """
        budget = self.args.small_batch_seconds
        self.report.raw = [self.rebuild.raw(1000, 300.0)]
        if small:
            self.report.raw.append(self.rebuild.raw(1, budget))
        self.log(f"raw read: {self.report.raw[0].per_second:,.0f} events/s")
        for target in self.rebuild.targets():
            big = self.rebuild.run(target, VIEW, 1000, None)
            self.log(f"{target.store}: {big.per_second:,.0f} events/s (batch 1000)")
            self.report.rebuilds.append(big)
            if small:
                self.report.rebuilds.append(self.rebuild.run(target, SMALL, 1, budget))
        heads, products = self.heads(), len(self.demo.products)
        events = self.report.raw[0].events
        for rate in self.report.rebuilds:
            if rate.complete:
                self.report.check(
                    f"{rate.label}, batch {rate.batch}: {rate.events} events projected, "
                    f"as many as the raw read",
                    rate.events == events,
                )
        keys, positions = redis_counts(self.stores, f"{VIEW}:{ProductDetailProjection.name}")
        self.report.check(
            f"Redis product-detail: {keys} products (listed {products}), positions at the heads",
            keys == products and positions == heads,
        )
        rows, units, positions = postgres_counts(self.server_url, VIEW)
        self.report.check(
            f"PostgreSQL catalog-search: {rows} products, {units} units available "
            f"(received {self.demo.units}), positions at the heads",
            rows == products and units == self.demo.units and positions == heads,
        )
        if self.opensearch_url:
            docs, positions = opensearch_counts(self.opensearch_url, VIEW)
            self.report.check(
                f"OpenSearch catalog-search: {docs} product documents, positions at the heads",
                docs == products and positions == heads,
            )

    def _measure(
        self, label: str, base: str, paths: Path, workers: int, warmup: bool = True, round_: int = 0
    ) -> WrkResult:
        a = self.args
        if warmup:
            run_get(base, paths, duration=a.warmup, connections=a.connections, threads=a.threads)
        result = run_get(
            base, paths, duration=a.duration, connections=a.connections, threads=a.threads
        )
        self.report.http.append(HttpRun(label, workers, result, round_))
        self.log(
            f"{label}, {workers} worker(s), round {round_ + 1}: {result.rate:,.0f} req/s, "
            f"p99 {result.p99_ms:.1f} ms, non-2xx {result.non2xx}"
        )
        if result.non2xx:
            self.log(f"  statuses {result.statuses}; first error: {result.first_error}")
        return result

    def _search_paths(self, base: str) -> Path | None:
        """Rotating search paths if the query API has GET /v1/search, else None (noted)."""
        spec: dict[str, Any] = get_json(base + "/openapi.json")
        operation = spec.get("paths", {}).get("/v1/search", {}).get("get")
        if operation is None:
            self.report.search_note = "GET /v1/search is not in the query API: not measured"
            return None
        names = [p.get("name") for p in operation.get("parameters", []) if p.get("in") == "query"]
        param = next((n for n in ("q", "query", "text", "search") if n in names), None)
        if param is None:
            self.report.search_note = f"GET /v1/search has no text parameter ({names}): unrotated"
            paths = ["/v1/search"]
        else:
            paths = [f"/v1/search?{urllib.parse.urlencode({param: q})}" for q in SEARCH_QUERIES]
            self.report.search_note = (
                f"GET /v1/search?{param}=... rotating over {len(paths)} queries"
            )
        return write_paths(paths, self.workdir / "search.lua")

    def query_api(self, search: bool = True) -> None:
        """Product detail (and search) through serve-read, next to the bare endpoint.

        Per worker count, three servers run side by side: the bare endpoint, serve-read with
        rate limits on and serve-read with MARKETPLACE_RATE_LIMITS_ENABLED=false. wrk loads
        them in turn, --rounds times (each warmed up in the first round only), so a load
        that comes and goes on the machine hits all three alike. Then search, once per
        worker count: on OpenSearch when it runs (index prefix "bench-"), and one more
        2-worker server without it measures search on PostgreSQL.
        """
        paths = write_paths(self.demo.product_paths(), self.workdir / "products.lua")
        backend = "OpenSearch" if self.opensearch_url else "PostgreSQL"
        for workers in (1, 2):
            with ExitStack() as servers:
                bases = {
                    BARE: self._start(servers, bare_command, self.env, workers, "bare"),
                    LIMITED: self._start(servers, read_command, self.search_env, workers, "read"),
                    UNLIMITED: self._start(
                        servers, read_command, self.unlimited_env, workers, "unlimited"
                    ),
                }
                for label in (LIMITED, UNLIMITED):
                    first = get_json(bases[label] + self.demo.product_paths()[0])
                    self.report.check(
                        f"serve-read {workers}w ({label}): first product answers with its title",
                        first.get("title") == self.demo.titles[0],
                    )
                for round_ in range(self.args.rounds):
                    for label, base in bases.items():
                        self._measure(label, base, paths, workers, round_ == 0, round_)
                if search:
                    self._search(bases[LIMITED], workers, backend)
        if self.opensearch_url and search:
            with ExitStack() as servers:
                base = self._start(servers, read_command, self.read_env, 2, "read-postgres")
                self._search(base, 2, "PostgreSQL")

    def _start(
        self,
        servers: ExitStack,
        command: Callable[[int, int], list[str]],
        env: dict[str, str],
        workers: int,
        name: str,
    ) -> str:
        port = free_port()
        logfile = self.workdir / f"{name}-{workers}.log"
        return servers.enter_context(
            serving(command(port, workers), env, port, "/health/ready", logfile)
        )

    def _search(self, base: str, workers: int, backend: str) -> None:
        search_paths = self._search_paths(base)
        if search_paths is not None:
            word = self.demo.titles[0].split()[0].lower()
            total = get_json(f"{base}/v1/search?q={urllib.parse.quote(word)}").get("total")
            self.report.check(
                f"search on {backend}: {word!r} (first product's brand) finds {total} products",
                isinstance(total, int) and total > 0,
            )
            self._measure(f"ours: search ({backend})", base, search_paths, workers)

    def lag(self) -> None:
        """Sample the product-detail projector's lag while wrk drives receive-stock."""
        a = self.args
        metrics_port, write_port = free_port(), free_port()
        project = [*marketplace_script(), "project", ProductDetailProjection.name]
        project += ["--metrics-port", str(metrics_port)]
        data = self.demo.stock_load().write_lua(self.workdir / "stock.lua")
        sampler = LagSampler(
            f"http://127.0.0.1:{metrics_port}/metrics", ProductDetailProjection.name, "inventory"
        )
        projector_log, write_log = self.workdir / "projector.log", self.workdir / "write.log"
        with (
            serving(project, self.env, metrics_port, "/metrics", projector_log),
            serving(
                marketplace_command(write_port, 1), self.env, write_port, "/health/ready", write_log
            ) as base,
        ):
            deadline = time.monotonic() + 30
            while sampler.sample() is None and time.monotonic() < deadline:
                time.sleep(0.1)

            def load(prefix: str, start: int, seconds: int) -> WrkResult:
                return run_wrk(
                    base,
                    data=data,
                    mode="stock",
                    prefix=prefix,
                    start=start,
                    duration=seconds,
                    connections=a.connections,
                    threads=a.threads,
                    max_requests=1_000_000,
                    workdir=self.workdir,
                )

            warm = load("lag-warm", 0, a.warmup)
            sampler.start()
            result = load("lag", warm.requests + a.connections, a.duration)
            during = len(sampler.seconds)
            drained_at, drain_started = None, time.monotonic()
            while time.monotonic() - drain_started < 30:
                _, positions = redis_counts(self.stores, f"{VIEW}:{ProductDetailProjection.name}")
                if positions == self.heads():
                    drained_at = time.monotonic() - drain_started
                    break
                time.sleep(0.05)
            sampler.stop()
        self.report.lag = Lag(
            result, sampler.seconds[:during], sampler.events[:during], drained_at, sampler.failures
        )
        self.report.check(
            f"lag run: receive-stock non-2xx {result.non2xx}, socket errors "
            f"{result.socket_errors}; view at the log heads after the load",
            result.non2xx == 0 and drained_at is not None,
        )
