"""Prometheus metrics of the API processes, summed over every worker of a server.

A server started with several worker processes gives each a share of one folder
(PROMETHEUS_MULTIPROC_DIR, set before the workers start); `/metrics` on any of them then
reads every worker's values from it. A single-process server serves its own registry.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from fastapi import FastAPI
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    generate_latest,
    multiprocess,
)
from starlette.responses import Response

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def share_between_workers(folder: Path) -> None:
    """Empty folder and have the worker processes started after this write their metrics there."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    os.environ[MULTIPROC_ENV] = str(folder.resolve())


def exposition() -> bytes:
    """Every metric in the text format: all workers' if they share a folder, else this one's."""
    if not os.environ.get(MULTIPROC_ENV):
        return generate_latest(REGISTRY)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return generate_latest(registry)


def install_metrics(app: FastAPI) -> None:
    """Serve GET /metrics (never rate limited or shed, left out of the OpenAPI document)."""

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(exposition(), media_type=CONTENT_TYPE_LATEST)
