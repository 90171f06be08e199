"""The command API's app factory."""

from __future__ import annotations

import re

from fastapi import FastAPI
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response

from infra.apps import BARE, Serving, add_guards, api_app
from infra.openapi import READY_RESPONSES
from infra.readiness import Probe, probe_all, readiness_response
from writeapi.deps import WriteApiDeps
from writeapi.middleware import BodySizeLimitMiddleware
from writeapi.problems import RETRY_AFTER_SECONDS, install_problem_handlers
from writeapi.routers import carts, images, orders, products, sellers
from writeapi.sold_out_gate import SoldOutGate

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

**Limits.** Cart changes and checkout each have a budget per caller and per client IP.
Answers carry `RateLimit-Policy` and `RateLimit` (draft-ietf-httpapi-ratelimit-headers:
`"checkout-user";q=30;w=60` and `"checkout-user";r=29;t=60`); past a budget the answer is
429 with `Retry-After`. A process at its cap of requests in flight answers 503 with
`Retry-After` at once; its last slots are kept for checkout.

**Deadlines.** Every store call has a deadline this API enforces itself: a command whose
store does not answer is answered 503 with `Retry-After` within about 2 s. Its outcome is then
unknown (it may still commit); retry it with the same `Idempotency-Key`, which answers 409
while the first attempt's outcome is pending.
"""

RATE_LIMITED = ("cart", "checkout")
"""The budgets the command API spends (see request_category)."""
CHECKOUT_PATH = re.compile(r"^/v1/carts/[^/]+/checkout$")
CHANGES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
UPLOAD_PATH = re.compile(r"/v1/products/[^/]+/images")
MULTIPART_ROOM = 64 * 1024
"""Bytes an upload's body may have beside the file: the multipart boundaries and headers."""


def request_category(method: str, path: str) -> str | None:
    """The budget a request spends: checkout, a cart change, or none."""
    if method == "POST" and CHECKOUT_PATH.match(path):
        return "checkout"
    if method in CHANGES and (path == "/v1/carts" or path.startswith("/v1/carts/")):
        return "cart"
    return None


def is_checkout(method: str, path: str) -> bool:
    """Checkout requests may take the slots kept back from everything else."""
    return request_category(method, path) == "checkout"


def create_app(deps: WriteApiDeps, serving: Serving = BARE) -> FastAPI:
    """Build the command API around its dependencies, with the guards given; its lifespan
    closes what it owns (the event store, the idempotency pool, the limiter) when it stops."""
    app = api_app(
        "Marketplace command API",
        DESCRIPTION,
        ("sellers and customers", "products and stock", "carts", "orders", "health"),
        (module.router for module in (sellers, products, images, carts, orders)),
        deps,
        serving.owned,
        serving.warmed,
    )
    install_problem_handlers(app)

    @app.get("/health/ready", tags=["health"], responses=READY_RESPONSES)
    async def ready(request: Request) -> Response:
        """The stores answer: each log's head. Otherwise 503 with Retry-After, naming each
        store that does not answer; either way within twice the store timeout."""
        logs = [context.log_name for context in deps.commands.applications]
        probes = [
            Probe(context.log_name, deps.event_store, context.recorder.max_notification_id)
            for context in deps.commands.applications
        ]
        probes.append(Probe("idempotency-keys", "postgres", deps.idempotency.ping))
        answers, down = await probe_all(probes, 2 * deps.store_timeout_seconds)
        positions = {log: answers.get(log) or 0 for log in logs}
        return readiness_response(request, down, {"positions": positions}, RETRY_AFTER_SECONDS)

    # Request ids, shedding and rate limits run first, then the body cap.
    upload_limit = deps.images.max_upload_bytes + MULTIPART_ROOM
    app.add_middleware(
        BodySizeLimitMiddleware,
        max_bytes=deps.max_body_bytes,
        larger=[("POST", UPLOAD_PATH, upload_limit)],
    )
    add_guards(
        app,
        serving,
        classify=request_category,
        tokens=deps.tokens,
        reserved=is_checkout,
        unshed=[
            Middleware(
                SoldOutGate, commands=deps.commands, tokens=deps.tokens, claims=deps.cart_claims
            )
        ],
    )
    return app
