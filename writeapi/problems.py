"""RFC 9457 problem+json responses, and the one mapping from errors to them."""

from __future__ import annotations

from typing import Any

import psycopg
from eventsourcing.persistence import InterfaceError, OperationalError, RecordConflictError
from fastapi import FastAPI, Request
from psycopg_pool import PoolTimeout
from starlette.responses import Response

from commands.errors import Forbidden, SoldOut, StaleVersion, TooMuchContention
from commands.services import UnshippedOrders
from domain.errors import DomainError, InsufficientStock, InvalidValue, NotFound, RuleViolated
from domain.product_images import TooManyImages
from infra.web import Problem, install_http_problems, problem_response, unavailable_handler

__all__ = [
    "Problem",
    "detail_for",
    "install_problem_handlers",
    "problem_for",
    "problem_response",
    "store_unavailable",
]

RETRY_AFTER_SECONDS = 2
"""Retry-After of a 503 whose store did not answer."""
STORE_UNAVAILABLE: tuple[type[Exception], ...] = (
    OperationalError,
    InterfaceError,
    psycopg.OperationalError,
    PoolTimeout,
)
"""A store did not answer, or not in time (infra.postgres_pool.ServerNotAnswering is a
psycopg.OperationalError): a 503 with Retry-After."""
ERROR_MAP: list[tuple[type[Exception], int, str, str]] = [
    (InsufficientStock, 409, "insufficient-stock", "Not enough stock"),
    (SoldOut, 409, "sold-out", "Sold out"),
    (UnshippedOrders, 409, "unshipped-orders", "Orders not yet shipped"),
    (NotFound, 404, "not-found", "Not found"),
    (InvalidValue, 422, "invalid-value", "Invalid value"),
    (TooManyImages, 422, "too-many-images", "Too many images"),
    (RuleViolated, 409, "rule-violated", "Business rule violated"),
    (DomainError, 409, "rule-violated", "Business rule violated"),
    (Forbidden, 403, "forbidden", "Forbidden"),
    (StaleVersion, 412, "stale-version", "Precondition failed"),
    (RecordConflictError, 409, "conflict", "Conflict"),
]


def install_problem_handlers(app: FastAPI) -> None:
    """Map every known error to problem+json; unknown errors become a logged 500."""
    install_http_problems(app)

    @app.exception_handler(TooMuchContention)
    async def _busy(request: Request, exc: TooMuchContention) -> Response:
        return problem_response(
            request, 503, "contention", "Too much contention", headers={"Retry-After": "1"}
        )

    store_down = unavailable_handler(
        event="store_unavailable",
        title="Store unavailable",
        detail="the event store or the idempotency store is not answering; retry later",
        retry_after=RETRY_AFTER_SECONDS,
    )

    for unavailable in STORE_UNAVAILABLE:
        app.add_exception_handler(unavailable, store_down)

    for error, status, slug, title in ERROR_MAP:
        app.add_exception_handler(error, _domain_handler(status, slug, title))


def _domain_handler(status: int, slug: str, title: str) -> Any:
    async def handle(request: Request, exc: Exception) -> Response:
        return problem_response(request, status, slug, title, detail_for(exc))

    return handle


def detail_for(exc: Exception) -> str:
    """What a client may read of an error; the store's own message names tables and keys."""
    if isinstance(exc, RecordConflictError):
        return "the resource already exists or another request changed it first"
    return str(exc)


def store_unavailable(exc: BaseException) -> bool:
    """Whether exc says a store did not answer: a write it cut off may or may not have
    committed (see infra.postgres_pool.ServerNotAnswering)."""
    return isinstance(exc, STORE_UNAVAILABLE)


def problem_for(exc: Exception) -> tuple[int, str, str] | None:
    """The (status, slug, title) a known error maps to, or None."""
    for error, status, slug, title in ERROR_MAP:
        if isinstance(exc, error):
            return status, slug, title
    return None
