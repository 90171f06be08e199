"""The frame both APIs are built in: the app with liveness and metrics, and its guards in order."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

import structlog
from fastapi import APIRouter, FastAPI
from starlette.middleware import Middleware

from infra import openapi
from infra.auth import TokenCodec
from infra.metrics import install_metrics
from infra.ratelimit.limiter import RateLimiter
from infra.ratelimit.middleware import RateLimitMiddleware
from infra.shedding import LoadShedder, LoadSheddingMiddleware, nothing_reserved
from infra.web import RequestContextMiddleware, add_liveness

log = structlog.get_logger()


Closer = Callable[[], object]
"""Releases something the app owns; may return an awaitable, which is awaited."""


@dataclass(frozen=True)
class Serving:
    """What the serving process gives an app: the guards to put in front of it, and what
    the app owns (its lifespan closes them)."""

    rate_limiter: RateLimiter | None = None
    shedder: LoadShedder | None = None
    owned: Sequence[Closer] = ()
    warmed: Sequence[Closer] = ()
    """Called (and awaited) as the app starts, to open connections before the first burst;
    one that fails is logged and left to open on first use."""


BARE = Serving()
"""No guards, nothing owned."""


def api_app(
    title: str,
    description: str,
    tags: Sequence[str],
    routers: Iterable[APIRouter],
    deps: object,
    owned: Sequence[Closer] = (),
    warmed: Sequence[Closer] = (),
) -> FastAPI:
    """A version 1 API holding deps as app.state.deps: the routers' routes, liveness, metrics.

    Its lifespan warms what it is given as it starts (Serving.warmed), and closes what it owns
    when the server shuts down, last opened first.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await call_all(warmed, "warm_failed")
        try:
            yield
        finally:
            await call_all(reversed(owned), "close_failed")

    app = FastAPI(
        title=title,
        version="1",
        description=description,
        openapi_tags=[{"name": tag} for tag in tags],
        lifespan=lifespan,
    )
    app.state.deps = deps
    for router in routers:
        app.router.routes.extend(router.routes)
    add_liveness(app)
    install_metrics(app)
    openapi.install(app)
    return app


async def call_all(calls: Iterable[Closer], failed: str) -> None:
    """Call each, awaiting what it returns; one that fails is logged as failed, the rest run."""
    for call in calls:
        try:
            result = call()
            if inspect.isawaitable(result):
                await result
        except Exception:
            log.exception(failed, closer=getattr(call, "__qualname__", repr(call)))


def add_guards(
    app: FastAPI,
    serving: Serving,
    *,
    classify: Callable[[str, str], str | None],
    tokens: TokenCodec,
    speculate: Callable[[str, str], bool] | None = None,
    reserved: Callable[[str, str], bool] = nothing_reserved,
    unshed: Sequence[Middleware] = (),
) -> None:
    """Put the guards serving gives in front of the app's middleware so far.

    The last added runs first: request ids, then unshed (answers cheap enough to give before
    any cap), then shedding (a counter), then rate limits (a Redis round trip), then what the
    app added before.
    """
    if serving.rate_limiter is not None:
        app.add_middleware(
            RateLimitMiddleware,
            limiter=serving.rate_limiter,
            classify=classify,
            tokens=tokens,
            speculate=speculate,
        )
    if serving.shedder is not None:
        app.add_middleware(LoadSheddingMiddleware, shedder=serving.shedder, reserved=reserved)
    for middleware in reversed(unshed):
        app.add_middleware(middleware.cls, *middleware.args, **middleware.kwargs)
    app.add_middleware(RequestContextMiddleware)
