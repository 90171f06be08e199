"""OpenAPI text the query API's routes share: answer headers, parameters and common answers."""

from __future__ import annotations

from typing import Any

from readapi.caching import PRIVATE, STALE
from readapi.consistency import HEADERS_DOC

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
UNAUTHENTICATED = {"description": "No valid bearer token"}
UNAVAILABLE = {
    "description": "The read store does not answer (store-unavailable), or the view is being "
    "rebuilt from empty (view-incomplete); see Retry-After"
}


def public_headers(cache_control: str) -> dict[str, Any]:
    """The headers of a public, cacheable answer kept for cache_control."""
    return {
        "ETag": {"description": "Strong tag of the body; send it as If-None-Match."},
        "Cache-Control": {"description": f"`{cache_control}`, or `{STALE}` when stale."},
        **HEADERS_DOC,
    }
