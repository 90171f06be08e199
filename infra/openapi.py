"""OpenAPI text both APIs share: the bearer scheme and the problem+json answers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.security import HTTPBearer

PROBLEM_JSON = "application/problem+json"
BEARER = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    bearerFormat="JWT",
    description="A token naming the caller (`sub`) and one role: shopper, seller or admin.",
)
"""The security scheme of every call that names its caller; the routes check the token
themselves, so a missing one is a 401 problem like an invalid one."""
PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "type": "object",
    "description": "RFC 9457 problem details.",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string", "description": "`urn:marketplace:problem:<slug>`"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "instance": {"type": "string", "description": "The request path."},
        "request_id": {"type": "string"},
        "errors": {
            "type": "array",
            "description": "With a 422 for an invalid request: what was wrong, and where.",
            "items": {
                "type": "object",
                "required": ["loc", "msg", "type"],
                "properties": {
                    "loc": {
                        "type": "array",
                        "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
                    },
                    "msg": {"type": "string"},
                    "type": {"type": "string"},
                },
            },
        },
    },
}
RETRY_AFTER = {"description": "Seconds to wait before retrying.", "schema": {"type": "integer"}}


def problem(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    """An answer documented as a problem+json body, with the headers it carries."""
    answer: dict[str, Any] = {
        "description": description,
        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    if headers:
        answer["headers"] = headers
    return answer


UNAUTHENTICATED = problem(
    "No valid bearer token",
    {
        "WWW-Authenticate": {
            "description": 'Bearer error="invalid_token"',
            "schema": {"type": "string"},
        }
    },
)
RATE_LIMITED = problem(
    "A budget of this caller or client IP is spent",
    {
        "Retry-After": RETRY_AFTER,
        "RateLimit-Policy": {"schema": {"type": "string"}},
        "RateLimit": {"schema": {"type": "string"}},
    },
)
VALIDATION = problem("The request does not match this document; `errors` says where")


def unavailable(description: str) -> dict[str, Any]:
    """A 503 problem with Retry-After."""
    return problem(description, {"Retry-After": RETRY_AFTER})


def install(app: FastAPI, finish: Callable[[dict[str, Any]], None] | None = None) -> None:
    """Generate the app's document with the Problem schema it refers to, once; finish, if
    given, completes it with what only the app's dependencies know."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
                tags=app.openapi_tags,
            )
            schemas = document.setdefault("components", {}).setdefault("schemas", {})
            schemas["Problem"] = PROBLEM_SCHEMA
            for unused in ("HTTPValidationError", "ValidationError"):
                schemas.pop(unused, None)
            if finish is not None:
                finish(document)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


READY_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Every store answers",
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["status"],
                    "properties": {"status": {"const": "ready"}},
                }
            }
        },
    },
    503: unavailable("A store does not answer; `down` names each"),
}
"""The answers of /health/ready."""
