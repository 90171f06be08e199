"""Read-path throughput: projection rebuilds, the query API and projection lag under load.

Run `python -m benchmarks.read_path [--duration 10] [--no-opensearch]`. One run starts its
own durable PostgreSQL and a Valkey (and an OpenSearch node unless --no-opensearch) in a
temporary directory, loads a demo catalogue through commands.services.Commands, then:

1. rebuilds product-detail (Redis) and catalog-search (PostgreSQL, OpenSearch) from empty,
   with batches of 1000 and of 1, next to the raw rate of reading the same logs;
2. loads `marketplace serve-read` (product detail, and search if the API has it) with wrk,
   next to a bare FastAPI endpoint on the same uvicorn settings, with 1 and 2 workers;
3. samples the product-detail projector's lag every 100 ms while wrk drives receive-stock
   commands at `marketplace serve-write`.

It prints a table and ratios to baselines measured in the same run, checks invariants
(exit status 1 if one fails) and needs `wrk` on PATH (exit status 2 otherwise).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks import catalogue, fixtures
from benchmarks.loadgen import require_wrk
from benchmarks.read_report import Report
from benchmarks.read_scenarios import Scenarios
from benchmarks.servers import free_port
from infra.local.postgres import LocalPostgres
from infra.local.redis import LocalRedis
from tests.support.opensearch import LocalOpenSearch, find_java_home


def log(message: str, started: float) -> None:
    """A progress line on stderr."""
    print(f"[{time.monotonic() - started:6.1f}s] {message}", file=sys.stderr, flush=True)


class Background:
    """Starts an OpenSearch node in a thread while the catalogue loads."""

    def __init__(self, node: LocalOpenSearch | None) -> None:
        self.node = node
        self.url: str | None = None
        self.error = "not asked for (--no-opensearch)" if node is None else ""
        self._thread = threading.Thread(target=self._start, daemon=True)
        if node is not None:
            self._thread.start()

    def _start(self) -> None:
        assert self.node is not None
        try:
            self.url = self.node.start()
        except Exception as error:  # reported, and the OpenSearch rows are left out
            self.error = f"could not start: {str(error).splitlines()[0]}"

    def wait(self) -> str | None:
        """The node's URL once healthy, or None."""
        if self.node is not None:
            self._thread.join()
        return self.url

    def stop(self) -> None:
        """Stop the node, if it started."""
        if self.node is not None:
            self._thread.join()
            self.node.stop()


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.read_path", description=__doc__)
    parser.add_argument("--duration", type=int, default=10, help="seconds per timed wrk run")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of warm-up per server")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="timed runs per query-API server, taken in turn (ratios are per-round medians)",
    )
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--sellers", type=int, default=36)
    parser.add_argument("--products", type=int, default=3000)
    parser.add_argument(
        "--small-batch-seconds",
        type=float,
        default=4.0,
        help="time budget of each batch-size-1 run (they stop at the heads or here)",
    )
    parser.add_argument("--no-opensearch", action="store_true", help="skip the OpenSearch view")
    parser.add_argument(
        "--product-detail-only",
        action="store_true",
        help="only the product-detail query API runs next to the bare endpoint (implies "
        "--no-opensearch): one batch-1000 rebuild per store, no raw reads, search or lag",
    )
    args = parser.parse_args(argv)
    if args.product_detail_only:
        args.no_opensearch = True
    if not 1 <= args.duration <= 120 or not 1 <= args.warmup <= 30:
        parser.error("--duration must be 1..120 and --warmup 1..30 seconds")
    if not 1 <= args.rounds <= 20:
        parser.error("--rounds must be 1..20")
    if not args.threads <= args.connections <= 1000:
        parser.error("--connections must be from --threads to 1000")
    if not 1 <= args.sellers <= args.products <= 100_000:
        parser.error("need 1 <= --sellers <= --products <= 100000")
    if not 0.5 <= args.small_batch_seconds <= 60:
        parser.error("--small-batch-seconds must be 0.5..60")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; 0 when every invariant holds, 1 otherwise, 2 without wrk."""
    args = parse_args(argv)
    if require_wrk() is None:
        print("wrk is not on PATH: install it (Debian: apt-get install -y wrk).", file=sys.stderr)
        return 2
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-read-path-") as tmp:
        workdir = Path(tmp)
        postgres = LocalPostgres(workdir / "postgres", free_port(), durable=True)
        valkey = LocalRedis(workdir / "valkey", free_port())
        node = None
        if not args.no_opensearch and find_java_home() is not None:
            node = LocalOpenSearch(workdir / "opensearch", free_port())
        opensearch = Background(node)
        if node is None and not args.no_opensearch:
            opensearch.error = "no java on PATH"
        try:
            server_url = postgres.start()
            redis_url = valkey.start()
            log(f"PostgreSQL (durable) on {server_url}, Valkey on {redis_url}", started)
            url = fixtures.create_schema(server_url, "bench")
            demo = catalogue.load(url, sellers=args.sellers, products=args.products)
            log(
                f"catalogue loaded: {len(demo.sellers)} sellers, {len(demo.products)} products "
                f"and their stock, through Commands",
                started,
            )
            opensearch_url = opensearch.wait()
            log(f"OpenSearch: {opensearch_url or opensearch.error}", started)
            report = Report(args, opensearch_url, opensearch.error)
            scenarios = Scenarios(
                args,
                workdir,
                server_url,
                url,
                redis_url,
                opensearch_url,
                demo,
                report,
                lambda message: log(message, started),
            )
            if args.product_detail_only:
                scenarios.rebuilds(small=False)
                scenarios.query_api(search=False)
            else:
                scenarios.rebuilds()
                scenarios.query_api()
                scenarios.lag()
            passed = report.print()
        finally:
            opensearch.stop()
            valkey.stop()
            postgres.stop()
    print(f"Total time {time.monotonic() - started:.0f} s.")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
