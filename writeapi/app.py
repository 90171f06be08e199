"""The command API's app factory."""

from __future__ import annotations

import orjson
from fastapi import FastAPI
from starlette.responses import Response

from infra.web import RequestContextMiddleware, add_liveness
from writeapi.deps import WriteApiDeps
from writeapi.middleware import BodySizeLimitMiddleware
from writeapi.problems import install_problem_handlers
from writeapi.routers import carts, orders, products, sellers

DESCRIPTION = """
Commands change the marketplace. Every successful answer carries:

* `ETag`: the aggregate's version; send it back as `If-Match` to refuse lost updates (412).
* `X-Log-Position`: `<log>:<position>` of the last event written, for read-your-writes
  against the query API.

Send an `Idempotency-Key` header with any change to make retries safe: the same key and
body returns the first answer (`Idempotent-Replayed: true`), a different body is a 422 and a
concurrent duplicate a 409. Checkout requires the key (400 without it): the order id derives
from it, so a retried checkout never places a second order. Errors are RFC 9457
`application/problem+json`.
"""


def create_app(deps: WriteApiDeps) -> FastAPI:
    """Build the command API around its dependencies."""
    app = FastAPI(
        title="Marketplace command API",
        version="1",
        description=DESCRIPTION,
        openapi_tags=[
            {"name": "sellers and customers"},
            {"name": "products and stock"},
            {"name": "carts"},
            {"name": "orders"},
            {"name": "health"},
        ],
    )
    app.state.deps = deps
    install_problem_handlers(app)
    for module in (sellers, products, carts, orders):
        app.router.routes.extend(module.router.routes)

    add_liveness(app)

    @app.get("/health/ready", tags=["health"])
    def ready() -> Response:
        """The event store answers: each log's head, or 503 with Retry-After."""
        positions = {
            context.log_name: context.recorder.max_notification_id() or 0
            for context in deps.commands.applications
        }
        return Response(
            orjson.dumps({"status": "ready", "positions": positions}),
            media_type="application/json",
        )

    app.add_middleware(BodySizeLimitMiddleware, max_bytes=deps.max_body_bytes)
    app.add_middleware(RequestContextMiddleware)
    return app
