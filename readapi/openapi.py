"""OpenAPI text the query API's routes share: answer headers, parameters and common answers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from infra.openapi import RATE_LIMITED, VALIDATION, unavailable
from infra.openapi import UNAUTHENTICATED as UNAUTHENTICATED
from readapi.caching import PRIVATE, STALE
from readapi.consistency import HEADERS_DOC, parameters, positions_pattern
from readapi.deps import ReadApiDeps

PRIVATE_HEADERS: dict[str, Any] = {
    "Cache-Control": {"description": f"`{PRIVATE}`"},
    **HEADERS_DOC,
}
IF_NONE_MATCH_DOC = {
    "name": "If-None-Match",
    "in": "header",
    "required": False,
    "description": "An ETag you hold: 304 if it is still current.",
    "schema": {"type": "string"},
}
NOT_MODIFIED = {"description": "Not modified: the If-None-Match tag is current"}
UNAVAILABLE = unavailable(
    "The read store does not answer (store-unavailable), the view is being rebuilt from "
    "empty (view-incomplete), or the server is at its cap; see Retry-After"
)
READS: dict[int | str, dict[str, Any]] = {422: VALIDATION, 429: RATE_LIMITED, 503: UNAVAILABLE}
"""What any read may answer besides its own answers."""


def public_headers(cache_control: str) -> dict[str, Any]:
    """The headers of a public, cacheable answer kept for cache_control."""
    return {
        "ETag": {"description": "Strong tag of the body; send it as If-None-Match."},
        "Cache-Control": {"description": f"`{cache_control}`, or `{STALE}` when stale."},
        **HEADERS_DOC,
    }


def private_read(
    answer: dict[str, Any], views: Sequence[str], errors: dict[int | str, dict[str, Any]]
) -> dict[str, Any]:
    """The route keywords of a private read: its answer with the private headers, then 401,
    its own errors and 503 (unless errors names its own), and the views X-Min-Position may
    name."""
    responses = {200: {**answer, "headers": PRIVATE_HEADERS}, 401: UNAUTHENTICATED, **errors}
    return _read(responses, parameters(*views))


def public_read(
    model: type, cache_control: str, views: Sequence[str], errors: dict[int | str, dict[str, Any]]
) -> dict[str, Any]:
    """The route keywords of a public read: its answer, kept for cache_control, then 304, its
    own errors and 503 (unless errors names its own); X-Min-Position may name the views, and
    If-None-Match a tag."""
    answer: dict[str, Any] = {"model": model, "headers": public_headers(cache_control)}
    responses = {200: answer, 304: NOT_MODIFIED, **errors}
    return _read(responses, [*parameters(*views), IF_NONE_MATCH_DOC])


def _read(
    responses: dict[int | str, dict[str, Any]], documented: list[dict[str, Any]]
) -> dict[str, Any]:
    responses.setdefault(503, UNAVAILABLE)
    return {
        "response_model": None,
        "responses": responses,
        "openapi_extra": {"parameters": documented},
    }


def name_followed_logs(deps: ReadApiDeps) -> Callable[[dict[str, Any]], None]:
    """Completes a document: each X-Min-Position may name only the logs its route's views
    follow (readapi.consistency.parameters marks them with `x-views`)."""

    def finish(document: dict[str, Any]) -> None:
        for operations in document["paths"].values():
            for operation in operations.values():
                for parameter in operation.get("parameters", ()):
                    views = parameter.pop("x-views", None)
                    if views is not None:
                        logs = {log for name in views for log in getattr(deps, name).logs}
                        parameter["schema"]["pattern"] = positions_pattern(logs)

    return finish
