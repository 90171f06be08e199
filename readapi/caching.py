"""Responses and their caching rules: strong ETags for public reads, no-store for private ones."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
from starlette.responses import Response

from readapi.consistency import Consistency

PUBLIC = "public, max-age=60"
SEARCH = "public, max-age=30"
"""Search answers change with every listing, price and stock move: cached half as long."""
PRIVATE = "private, no-store"
STALE = "no-store"


def strong_etag(body: bytes) -> str:
    """A strong entity tag: a hash of the exact body bytes."""
    return f'"{hashlib.blake2b(body, digest_size=16).hexdigest()}"'


def none_match(if_none_match: str | None, etag: str) -> bool:
    """Whether If-None-Match names the etag (weak comparison, as RFC 9110 asks for GET)."""
    if if_none_match is None:
        return False
    value = if_none_match.strip()
    if value == "*":
        return True
    return any(tag.strip().removeprefix("W/") == etag for tag in value.split(","))


def public_json(
    body: bytes,
    consistency: Consistency,
    if_none_match: str | None,
    cache_control: str = PUBLIC,
) -> Response:
    """A cacheable JSON answer, or 304 when the client holds it already.

    It varies on X-Min-Position so a cache never answers a read-your-writes request with a
    copy made for another position; a stale answer is not stored at all.
    """
    etag = strong_etag(body)
    headers = {
        "ETag": etag,
        "Cache-Control": STALE if consistency.fresh is False else cache_control,
        "Vary": "X-Min-Position",
        **consistency.headers(),
    }
    if none_match(if_none_match, etag):
        return Response(status_code=304, headers=headers)
    return Response(body, 200, headers, media_type="application/json")


def private_json(document: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    """A JSON answer for one caller only, which no cache may keep."""
    return Response(
        orjson.dumps(document),
        200,
        {**(headers or {}), "Cache-Control": PRIVATE},
        media_type="application/json",
    )
