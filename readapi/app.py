"""The query API's app factory."""

from __future__ import annotations

import orjson
from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from infra.web import RequestContextMiddleware, add_liveness
from readapi.deps import ReadApiDeps
from readapi.problems import install_problem_handlers
from readapi.routers import carts, me, orders, products, search, sellers

DESCRIPTION = """
Queries read views that projections keep from the event logs, so they trail the commands
by a little.

**Read your writes.** Send the command API's `X-Log-Position` values back as
`X-Min-Position: <log>:<position>` (comma-separated for several). The answer then waits
until the view has reached them, for at most the server's bound (2 s unless configured, at
most 10 s; ask for less with `X-Max-Wait-Ms`), and says which it got:

* `X-Consistency: fresh`: the view reached every position asked for.
* `X-Consistency: stale`: the bound passed first. The answer is the view as it stands,
  `X-View-Position` says how far it had got, and `Cache-Control: no-store` keeps it out of
  caches. Retry, or read again later.

A malformed `X-Min-Position`, or a log the view does not follow, is a 422.

**Caching.** Public answers carry `Cache-Control: public, max-age=60` (search answers,
which every listing, price and stock move can change, `public, max-age=30`), a strong
`ETag` (answered with 304 to a matching `If-None-Match`) and `Vary: X-Min-Position`.
Private answers (the caller, a cart, a shopper's orders, a seller's orders, labels and
sales) carry `Cache-Control: private, no-store` and need a bearer token.

**Errors** are RFC 9457 `application/problem+json`; while a read store is down the reads
that need it answer 503 with `Retry-After`.
"""


def create_app(deps: ReadApiDeps) -> FastAPI:
    """Build the query API around its dependencies."""
    app = FastAPI(
        title="Marketplace query API",
        version="1",
        description=DESCRIPTION,
        openapi_tags=[
            {"name": "products"},
            {"name": "search"},
            {"name": "carts"},
            {"name": "me"},
            {"name": "orders"},
            {"name": "sellers"},
            {"name": "health"},
        ],
    )
    app.state.deps = deps
    install_problem_handlers(
        app, (error for followed in deps.views() for error in followed.view.transient_errors)
    )
    for module in (products, search, carts, me, orders, sellers):
        app.router.routes.extend(module.router.routes)

    add_liveness(app)

    @app.get("/health/ready", tags=["health"])
    async def ready() -> Response:
        """Every read store answers: each view's positions, or 503 with Retry-After."""
        views = {
            followed.name: await run_in_threadpool(followed.view.positions)
            for followed in deps.views()
        }
        return Response(
            orjson.dumps({"status": "ready", "views": views}), media_type="application/json"
        )

    app.add_middleware(RequestContextMiddleware)
    return app
