"""The query API's problem+json answers, including 503 while a read store is down."""

from __future__ import annotations

from collections.abc import Iterable

from fastapi import FastAPI, Request
from starlette.responses import Response

from infra.web import install_http_problems, unavailable_problem

RETRY_AFTER_SECONDS = 2


def store_unavailable(request: Request, exc: BaseException) -> Response:
    """The 503 problem (with Retry-After) of a read that its store did not answer."""
    return unavailable_problem(
        request,
        exc,
        event="read_store_unavailable",
        title="Read store unavailable",
        detail="the read store does not answer; retry shortly",
        retry_after=RETRY_AFTER_SECONDS,
    )


def install_problem_handlers(app: FastAPI, unavailable: Iterable[type[BaseException]]) -> None:
    """Map errors to problem+json; the read stores' unavailable errors become 503s."""
    install_http_problems(app)

    async def store_down(request: Request, exc: Exception) -> Response:
        return store_unavailable(request, exc)

    for error in set(unavailable):
        if issubclass(error, Exception):
            app.add_exception_handler(error, store_down)
