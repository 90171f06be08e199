"""The query API's app factory."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response

from infra import openapi
from infra.apps import BARE, Serving, add_guards, api_app
from infra.openapi import READY_RESPONSES
from infra.readiness import Probe, probe_all, readiness_response
from readapi.deps import ReadApiDeps
from readapi.fastpath import ProductDetailFastPath
from readapi.openapi import name_followed_logs
from readapi.problems import RETRY_AFTER_SECONDS, install_problem_handlers
from readapi.routers import analytics, carts, images, me, orders, products, search, sellers

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

**Errors** are RFC 9457 `application/problem+json`; while a read store is down or hangs the
reads that need it answer 503 with `Retry-After`, within about 2 s. A view being built or
rebuilt from empty answers 503 `view-incomplete` with `Retry-After` until it has caught up
with every log it follows, rather than a 404 or a partial answer; `/health/ready` shows each
view's completeness.

**Limits.** Reads have a budget per caller (with a bearer token) and per client IP.
Answers carry `RateLimit-Policy` and `RateLimit` (draft-ietf-httpapi-ratelimit-headers:
`"browse-ip";q=6000;w=60` and `"browse-ip";r=5999;t=60`); past a budget the answer is 429
with `Retry-After`. A process at its cap of requests in flight answers 503 with
`Retry-After` at once.
"""

RATE_LIMITED = ("browse",)
"""The budgets the query API spends (see request_category)."""


def request_category(method: str, path: str) -> str | None:
    """The budget a request spends: every read of /v1 is browsing."""
    return "browse" if method in ("GET", "HEAD") and path.startswith("/v1/") else None


def cheap_read(method: str, path: str) -> bool:
    """A product-detail read: one Redis round trip, worth running while its budgets are spent."""
    return method == "GET" and path.startswith("/v1/products/") and path.count("/") == 3


def create_app(deps: ReadApiDeps, serving: Serving = BARE) -> FastAPI:
    """Build the query API around its dependencies, with the guards given; its lifespan
    closes what it owns (pools, clients, the limiter) when the server stops."""
    app = api_app(
        "Marketplace query API",
        DESCRIPTION,
        ("products", "search", "carts", "me", "orders", "sellers", "health"),
        (
            module.router
            for module in (products, images, search, carts, me, orders, sellers, analytics)
        ),
        deps,
        serving.owned,
        serving.warmed,
    )
    openapi.install(app, name_followed_logs(deps))
    install_problem_handlers(
        app, (error for followed in deps.views() for error in followed.view.transient_errors)
    )

    @app.get("/health/ready", tags=["health"], responses=READY_RESPONSES)
    async def ready(request: Request) -> Response:
        """Every read store answers: each view's positions, and whether it is complete.
        Otherwise 503 with Retry-After, naming each store that does not answer; either way
        within twice the store timeout.

        A view that is incomplete (rebuilding from empty) does not make the API unready: its
        reads answer 503 view-incomplete while the others serve. `completeness` shows it,
        with the target it has left."""
        probes = [Probe(f.name, f.store, f.view.completeness) for f in deps.views()]
        states, down = await probe_all(probes, 2 * deps.store_timeout_seconds)
        body = {
            "views": {name: state.positions for name, state in states.items()},
            "completeness": {name: state.summary() for name, state in states.items()},
        }
        return readiness_response(request, down, body, RETRY_AFTER_SECONDS)

    # Request ids, shedding and rate limits run first, then the product-detail fast path.
    app.add_middleware(ProductDetailFastPath, deps=deps)
    add_guards(
        app,
        serving,
        classify=request_category,
        tokens=deps.tokens,
        speculate=cheap_read,
    )
    return app
