"""A pure-ASGI fast path for the hottest read: `GET /v1/products/{id}` without X-Min-Position.

Redis renders the public document (RedisProductDetailView.product_json_async), and this
answers with those bytes as they come: no decoding, no re-encoding, no FastAPI routing,
validation or dependency handling. It answers exactly as the route in readapi.routers.products
does (same headers, 304 for a matching If-None-Match, 404 and 503 problem+json, an
incomplete view's included), and hands every other request to the app: another path or
method, an id that is not a canonical UUID (the route answers 422), and any X-Min-Position
(the route waits for it) or X-Max-Wait-Ms (the route checks it).
"""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from infra.web import problem_response
from projections.completeness import ViewIncomplete
from readapi.caching import PUBLIC, none_match, strong_etag
from readapi.deps import ReadApiDeps
from readapi.problems import store_unavailable, view_incomplete

PREFIX = "/v1/products/"
CANONICAL_LENGTH = 36
CANONICAL = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")
"""A UUID as str(UUID) writes it: the only form the fast path answers."""
CACHING_HEADERS = [(b"cache-control", PUBLIC.encode()), (b"vary", b"X-Min-Position")]


def product_id_of(scope: Scope) -> str | None:
    """The product id of a GET /v1/products/{id} the fast path may answer, else None."""
    path: str = scope["path"]
    if (
        scope["method"] != "GET"
        or len(path) != len(PREFIX) + CANONICAL_LENGTH
        or not path.startswith(PREFIX)
    ):
        return None
    candidate = path[len(PREFIX) :]
    return candidate if CANONICAL.match(candidate) else None


class ProductDetailFastPath:
    """Answers canonical product-detail reads itself; everything else goes to app."""

    def __init__(self, app: ASGIApp, deps: ReadApiDeps) -> None:
        self.app = app
        self.view = deps.product_detail.view
        self.transient = tuple(deps.product_detail.view.transient_errors)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        product_id = product_id_of(scope) if scope["type"] == "http" else None
        if product_id is None:
            await self.app(scope, receive, send)
            return
        if_none_match = None
        for name, value in scope["headers"]:
            if name in (b"x-min-position", b"x-max-wait-ms"):
                await self.app(scope, receive, send)
                return
            if name == b"if-none-match":
                if_none_match = value.decode("latin-1")
        try:
            body = await self.view.product_json_async(product_id)
        except self.transient as error:
            await store_unavailable(Request(scope), error)(scope, receive, send)
            return
        except ViewIncomplete as incomplete:
            await view_incomplete(Request(scope), incomplete)(scope, receive, send)
            return
        if body is None:
            request = Request(scope)
            response = problem_response(request, 404, "not-found", "Not found", "no such product")
            await response(scope, receive, send)
            return
        etag = strong_etag(body)
        headers = [(b"etag", etag.encode()), *CACHING_HEADERS]
        if none_match(if_none_match, etag):
            await send({"type": "http.response.start", "status": 304, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return
        headers.append((b"content-length", str(len(body)).encode()))
        headers.append((b"content-type", b"application/json"))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})
