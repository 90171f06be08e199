"""HTTP pieces both APIs share: problem+json errors, request ids, and bearer-token callers."""

from __future__ import annotations

import gc
import re
import uuid
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from typing import Annotated, Any

import orjson
import structlog
from fastapi import Depends, FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from infra.auth import InvalidToken, KeysUnavailable, Principal, TokenCodec
from infra.openapi import BEARER

PROBLEM_JSON = "application/problem+json"
KEYS_RETRY_AFTER_SECONDS = 5
SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
log = structlog.get_logger()


@dataclass(eq=False)
class Problem(Exception):
    """An HTTP problem raised from inside a route."""

    status: int
    slug: str
    title: str
    detail: str | None = None
    headers: dict[str, str] | None = None

    def __post_init__(self) -> None:
        super().__init__(self.detail or self.title)


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


def unavailable_problem(
    request: Request, error: BaseException, *, event: str, title: str, detail: str, retry_after: int
) -> Response:
    """The 503 problem (with Retry-After) of a request whose store did not answer, logged."""
    log.warning(event, path=request.url.path, error=repr(error))
    return problem_response(
        request, 503, "store-unavailable", title, detail, headers={"Retry-After": str(retry_after)}
    )


def unavailable_handler(
    *, event: str, title: str, detail: str, retry_after: int
) -> Callable[[Request, Exception], Awaitable[Response]]:
    """An exception handler that answers unavailable_problem() with these words."""

    async def handle(request: Request, exc: Exception) -> Response:
        return unavailable_problem(
            request, exc, event=event, title=title, detail=detail, retry_after=retry_after
        )

    return handle


def install_http_problems(app: FastAPI) -> None:
    """Answer raised Problems, invalid requests, bad tokens and unknown errors as problem+json."""

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
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = allowed_methods(request)
        return problem_response(request, exc.status_code, "http", str(exc.detail), headers=headers)

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

    keys_unavailable = unavailable_handler(
        event="jwks_unavailable",
        title="Token keys unavailable",
        detail="the identity provider's keys could not be fetched; retry shortly",
        retry_after=KEYS_RETRY_AFTER_SECONDS,
    )
    app.add_exception_handler(KeysUnavailable, keys_unavailable)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.error("unhandled_error", path=request.url.path, exc_info=exc)
        return problem_response(request, 500, "internal", "Internal error")


def allowed_methods(request: Request) -> str:
    """Every method some route serves at the request's path: one route answers a 405, but a
    path may have several (PUT and DELETE of a cart line)."""
    path = request.url.path
    methods = {
        method
        for route in request.app.router.routes
        if (regex := getattr(route, "path_regex", None)) is not None and regex.match(path)
        for method in getattr(route, "methods", None) or ()
    }
    return ", ".join(sorted(methods))


def add_liveness(app: FastAPI) -> None:
    """GET /health/live: the process is up (nothing else is checked)."""

    @app.get(
        "/health/live",
        tags=["health"],
        responses={
            200: {
                "description": "Up",
                "content": {"application/json": {"schema": {"type": "object"}}},
            }
        },
    )
    def live() -> Response:
        """The process is up."""
        return Response(b'{"status":"ok"}', media_type="application/json")


def principal_of(request: Request, tokens: TokenCodec) -> Principal:
    """The caller named by the request's bearer token; InvalidToken (401) otherwise."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise InvalidToken("missing bearer token")
    return tokens.verify(token.strip())


def caller_in(roles: Collection[str], refusal: str) -> Callable[..., Awaitable[Principal]]:
    """A dependency naming the caller, by the token codec of the app's deps, if its role is in
    roles: 401 without a valid token, else 403 (cannot refusal). It declares the bearer scheme
    the OpenAPI document shows."""

    async def caller(
        request: Request, _: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)]
    ) -> Principal:
        principal = principal_of(request, request.app.state.deps.tokens)
        if principal.role not in roles:
            detail = f"the {principal.role} role cannot {refusal}"
            raise Problem(403, "forbidden", "Forbidden", detail)
        return principal

    return caller


class RequestContextMiddleware:
    """Give each request a request id and a correlation id, echo them, and bind them to logs."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = correlation_id = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                request_id = _safe(value)
            elif name == b"x-correlation-id":
                correlation_id = _safe(value)
        request_id = request_id or uuid.uuid4().hex
        correlation_id = correlation_id or request_id
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        state["correlation_id"] = correlation_id
        structlog.contextvars.bind_contextvars(request_id=request_id, correlation_id=correlation_id)
        echo = [
            (b"x-request-id", request_id.encode()),
            (b"x-correlation-id", correlation_id.encode()),
        ]

        async def send_with_ids(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *echo]
            await send(message)

        try:
            await self.app(scope, receive, send_with_ids)
        finally:
            structlog.contextvars.unbind_contextvars("request_id", "correlation_id")


def _safe(value: bytes | None) -> str | None:
    if value is None:
        return None
    text = value.decode("latin-1")
    return text if SAFE_ID.match(text) else None


def freeze_startup_heap() -> None:
    """Keep the objects alive at startup out of every later garbage collection.

    An API process holds a few hundred thousand long-lived objects (modules, FastAPI and
    pydantic models, clients). Each full collection walked all of them: 60-140 ms with the
    process stalled, which set the query API's p99. Frozen, they are never scanned again;
    the collector still handles what requests allocate.
    """
    gc.collect()
    gc.freeze()
