"""The query API's problem+json answers, including 503 while a read store is down or a view is
incomplete (rebuilding from empty, projections.completeness)."""

from __future__ import annotations

from collections.abc import Iterable

from fastapi import FastAPI, Request
from starlette.responses import Response

from infra.web import install_http_problems, problem_response, unavailable_problem
from projections.completeness import ViewIncomplete
from projections.metrics import VIEW_INCOMPLETE

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


def view_incomplete(request: Request, exc: ViewIncomplete) -> Response:
    """The 503 problem (with Retry-After, never stored) of a read whose view is incomplete.

    Never a 404 or a partial answer: a cache in front may serve its last good copy instead.
    """
    VIEW_INCOMPLETE.labels(exc.view, "query-api").inc()
    return problem_response(
        request,
        503,
        "view-incomplete",
        "View incomplete",
        f"the {exc.view} view is being rebuilt; retry shortly",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS), "Cache-Control": "no-store"},
        view=exc.view,
    )


def install_problem_handlers(app: FastAPI, unavailable: Iterable[type[BaseException]]) -> None:
    """Map errors to problem+json; the read stores' unavailable errors become 503s."""
    install_http_problems(app)

    async def store_down(request: Request, exc: Exception) -> Response:
        return store_unavailable(request, exc)

    async def incomplete(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ViewIncomplete)
        return view_incomplete(request, exc)

    for error in set(unavailable):
        if issubclass(error, Exception):
            app.add_exception_handler(error, store_down)
    app.add_exception_handler(ViewIncomplete, incomplete)
