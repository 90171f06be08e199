"""A catalog-search projector for fault tests, run as a child process until SIGTERM (exit 0).

python -m tests.projections.search_projector --backend postgres|opensearch
    --postgres-url URL  the event store (a libpq URL; its search_path picks the schema)
    --view WHERE        postgres: a libpq URL whose search_path is the view's schema;
                        opensearch: the node's URL
    --prefix P          the OpenSearch index prefix
    --batch-size N      events per batch
    --metrics-port N    serve Prometheus metrics there (0: none)

Test-only: it wires what the catalog-search projector will, independent of marketplace/.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from contextlib import ExitStack
from types import FrameType
from typing import Any

from prometheus_client import start_http_server

from infra.eventstore import eventsourcing_env
from infra.settings import Settings
from projections.catalog_search.projection import CatalogSearchProjection
from projections.log import ContextLog
from projections.runtime import View, Worker

OPENSEARCH_TIMEOUT_SECONDS = 10


def build_view(args: argparse.Namespace, resources: ExitStack) -> View[Any]:
    """The chosen catalog-search view, created if missing; resources closes its client.

    Only the chosen backend's modules are imported: the fault tests start this process often.
    """
    if args.backend == "postgres":
        from psycopg_pool import ConnectionPool

        from projections.catalog_search.postgres_view import PostgresCatalogSearchView

        pool = ConnectionPool(
            args.view, min_size=1, max_size=2, timeout=5, open=True, name="search-view"
        )
        resources.callback(pool.close)
        postgres = PostgresCatalogSearchView(pool)
        postgres.create()
        return postgres
    from opensearchpy import OpenSearch

    from projections.catalog_search.opensearch_view import OpenSearchCatalogSearchView

    client = OpenSearch(hosts=[args.view], timeout=OPENSEARCH_TIMEOUT_SECONDS)
    resources.callback(client.close)
    opensearch = OpenSearchCatalogSearchView(client, args.prefix)
    opensearch.create()
    return opensearch


def main(argv: Sequence[str] | None = None) -> int:
    """Project both logs into the view until SIGTERM or SIGINT; 0 on a requested stop."""
    parser = argparse.ArgumentParser(prog="search_projector")
    parser.add_argument("--backend", choices=("postgres", "opensearch"), required=True)
    parser.add_argument("--postgres-url", required=True)
    parser.add_argument("--view", required=True)
    parser.add_argument("--prefix", default="")
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--metrics-port", type=int, default=0)
    args = parser.parse_args(argv)

    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, request_stop)
    if args.metrics_port:
        start_http_server(args.metrics_port, addr="127.0.0.1")
    env = eventsourcing_env(Settings(), args.postgres_url)
    env["POSTGRES_CONNECT_TIMEOUT"] = "1"
    with ExitStack() as resources:
        logs = [ContextLog(env, name) for name in CatalogSearchProjection.contexts]
        for context_log in logs:
            resources.callback(context_log.close)
        view = build_view(args, resources)
        worker = Worker(CatalogSearchProjection(), view, logs, batch_size=args.batch_size)
        worker.run(stop)
    return 0


if __name__ == "__main__":
    sys.exit(main())
