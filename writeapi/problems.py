"""RFC 9457 problem+json responses, and the one mapping from errors to them."""

from __future__ import annotations

from typing import Any

import orjson
import structlog
from eventsourcing.persistence import RecordConflictError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from commands.errors import Forbidden, StaleVersion, TooMuchContention
from domain.errors import DomainError, InsufficientStock, InvalidValue, NotFound, RuleViolated
from infra.auth import InvalidToken

PROBLEM_JSON = "application/problem+json"
log = structlog.get_logger()


class Problem(Exception):
    """An HTTP problem raised from inside a route."""

    def __init__(
        self,
        status: int,
        slug: str,
        title: str,
        detail: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        self.slug = slug
        self.title = title
        self.detail = detail
        self.headers = headers or {}


def problem_response(
    request: Request,
    status: int,
    slug: str,
    title: str,
    detail: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response:
    """A problem+json response naming the request path and request id."""
    body: dict[str, Any] = {
        "type": f"urn:marketplace:problem:{slug}",
        "title": title,
        "status": status,
        "instance": request.url.path,
    }
    if detail:
        body["detail"] = detail
    request_id = getattr(request.state, "request_id", None)
    if request_id:
        body["request_id"] = request_id
    body.update(extra)
    return Response(orjson.dumps(body), status, headers=headers, media_type=PROBLEM_JSON)


ERROR_MAP: list[tuple[type[Exception], int, str, str]] = [
    (InsufficientStock, 409, "insufficient-stock", "Not enough stock"),
    (NotFound, 404, "not-found", "Not found"),
    (InvalidValue, 422, "invalid-value", "Invalid value"),
    (RuleViolated, 409, "rule-violated", "Business rule violated"),
    (DomainError, 409, "rule-violated", "Business rule violated"),
    (Forbidden, 403, "forbidden", "Forbidden"),
    (StaleVersion, 412, "stale-version", "Precondition failed"),
    (RecordConflictError, 409, "conflict", "Conflict"),
]


def install_problem_handlers(app: FastAPI) -> None:
    """Map every known error to problem+json; unknown errors become a logged 500."""

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> Response:
        return problem_response(request, exc.status, exc.slug, exc.title, exc.detail, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        errors = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        return problem_response(
            request, 422, "validation", "Invalid request", "the request is not valid", errors=errors
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 413:
            return problem_response(
                request, 413, "too-large", "Request body too large", str(exc.detail)
            )
        return problem_response(
            request, exc.status_code, "http", str(exc.detail), headers=dict(exc.headers or {})
        )

    @app.exception_handler(InvalidToken)
    async def _token(request: Request, exc: InvalidToken) -> Response:
        return problem_response(
            request,
            401,
            "unauthenticated",
            "Authentication required",
            "a valid bearer token is required",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )

    @app.exception_handler(TooMuchContention)
    async def _busy(request: Request, exc: TooMuchContention) -> Response:
        return problem_response(
            request, 503, "contention", "Too much contention", headers={"Retry-After": "1"}
        )

    for error, status, slug, title in ERROR_MAP:
        app.add_exception_handler(error, _domain_handler(status, slug, title))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.error("unhandled_error", path=request.url.path, exc_info=exc)
        return problem_response(request, 500, "internal", "Internal error")


def _domain_handler(status: int, slug: str, title: str) -> Any:
    async def handle(request: Request, exc: Exception) -> Response:
        return problem_response(request, status, slug, title, detail_for(exc))

    return handle


def detail_for(exc: Exception) -> str:
    """What a client may read of an error; the store's own message names tables and keys."""
    if isinstance(exc, RecordConflictError):
        return "the resource already exists or another request changed it first"
    return str(exc)


def problem_for(exc: Exception) -> tuple[int, str, str] | None:
    """The (status, slug, title) a known error maps to, or None."""
    for error, status, slug, title in ERROR_MAP:
        if isinstance(exc, error):
            return status, slug, title
    return None
