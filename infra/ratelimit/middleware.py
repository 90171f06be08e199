"""The ASGI middleware that spends a request's budgets before the app answers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from infra.auth import InvalidToken, TokenCodec
from infra.ratelimit.limiter import RateLimiter
from infra.ratelimit.verdict import Verdict
from infra.shedding import unguarded
from infra.web import principal_of, problem_response


def with_headers(send: Send, extra: list[tuple[bytes, bytes]]) -> Send:
    """send, adding the extra headers to the response's start."""

    async def send_with_limits(message: Message) -> None:
        if message["type"] == "http.response.start":
            _add_headers(message, extra)
        await send(message)

    return send_with_limits


def _add_headers(message: Message, extra: list[tuple[bytes, bytes]]) -> None:
    message["headers"] = [*message.get("headers", []), *extra]


def _retrieve(spending: asyncio.Future[Verdict]) -> None:
    """Mark the outcome of a spend nobody awaited any more as seen."""
    if not spending.cancelled():
        spending.exception()


@dataclass(eq=False)
class RateLimitMiddleware:
    """Pure ASGI: spend a request's budgets before the app answers; 429 past any of them.

    A request speculate(method, path) names runs while its budgets are spent, and its
    answer waits for the verdict (a 429 replaces it): the spend and the app's own store
    read then share one round trip on a pipelined client. Only for cheap reads that change
    nothing, since a refused one still costs its work. Any other request reaches the app
    only once its budgets allow it.
    """

    app: ASGIApp
    limiter: RateLimiter
    classify: Callable[[str, str], str | None]
    tokens: TokenCodec
    speculate: Callable[[str, str], bool] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        category = (
            self.classify(scope["method"], scope["path"])
            if scope["type"] == "http" and not unguarded(scope["path"])
            else None
        )
        if category is None or not self.limiter.covers(category):
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        principal, ip = self._principal(scope), client[0] if client else "unknown"
        leased = self.limiter.spend_locally(category, principal, ip)
        if leased is not None:
            await self.app(scope, receive, with_headers(send, leased.raw_headers()))
            return
        spending = self.limiter.spend(category, principal, ip)
        if self.speculate is not None and self.speculate(scope["method"], scope["path"]):
            await self._speculate(asyncio.ensure_future(spending), category, scope, receive, send)
            return
        verdict = await spending
        if not verdict.spent:
            await self.app(scope, receive, send)
            return
        if not verdict.allowed:
            await self._refuse(verdict, category, scope, receive, send)
            return
        await self.app(scope, receive, with_headers(send, verdict.raw_headers()))

    async def _speculate(
        self,
        spending: asyncio.Future[Verdict],
        category: str,
        scope: Scope,
        receive: Receive,
        send: Send,
    ) -> None:
        refused = False

        async def send_after_verdict(message: Message) -> None:
            nonlocal refused
            if message["type"] == "http.response.start":
                verdict = await spending
                if not verdict.allowed:
                    refused = True
                    await self._refuse(verdict, category, scope, receive, send)
                    return
                if verdict.spent:
                    _add_headers(message, verdict.raw_headers())
            if not refused:
                await send(message)

        try:
            await self.app(scope, receive, send_after_verdict)
        finally:
            if not spending.done():
                spending.add_done_callback(_retrieve)

    async def _refuse(
        self, verdict: Verdict, category: str, scope: Scope, receive: Receive, send: Send
    ) -> None:
        response = problem_response(
            Request(scope),
            429,
            "rate-limited",
            "Too many requests",
            f"the {category} budget is spent; retry after {verdict.retry_after} s",
            headers={**verdict.headers(), "Retry-After": str(verdict.retry_after)},
            **{"violated-policies": verdict.violated},
        )
        await response(scope, receive, send)

    def _principal(self, scope: Scope) -> str | None:
        if not any(name == b"authorization" for name, _ in scope["headers"]):
            return None
        try:
            return str(principal_of(Request(scope), self.tokens).sub)
        except InvalidToken:
            return None
