"""Checkout's sold-out gate: a flash sale's tail answered before the app's cap and its routes."""

from __future__ import annotations

import re

import anyio.to_thread
import structlog
from anyio import CapacityLimiter
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from commands.errors import SoldOut
from commands.services import Commands
from domain.cart import cart_id_for
from infra.auth import InvalidToken, KeysUnavailable, TokenCodec
from infra.web import principal_of, problem_response
from writeapi.execution import IDEMPOTENCY_KEY

CHECKOUT = re.compile(r"^/v1/carts/([^/]+)/checkout$")
CHECKED = "sold_out_checked"
"""scope["state"] key: the gate found nothing sold out, so the route need not look again."""
CALLERS = frozenset({"shopper", "admin"})
log = structlog.get_logger()


class SoldOutGate:
    """Pure ASGI: answer 409 sold-out to a checkout the projection shows sold out, at once.

    It runs outside the load shedder, so a refusal (two event-store reads and one Redis read,
    Commands.refuse_if_sold_out) takes no in-flight slot: the tail of a flash sale waits for
    one of `threads` threads instead of being shed and retried. It only looks at a checkout
    of the caller's own cart with a valid token and Idempotency-Key, as the route would take
    it; with `max_waiting` checks waiting already (so that none waits long: a queue of
    thousands made single requests wait over a minute on a loaded machine), and for anything
    else, the request goes on to the shedder and the route unchanged, which check again.
    The checks are counted as they enter, not by the limiter's queue: anyio's to_thread
    yields before it queues, so a burst of a thousand found that queue empty and all waited.
    """

    def __init__(
        self,
        app: ASGIApp,
        commands: Commands,
        tokens: TokenCodec,
        threads: int = 8,
        max_waiting: int = 64,
    ) -> None:
        self.app = app
        self.commands = commands
        self.tokens = tokens
        self.limiter = CapacityLimiter(threads)
        self.max_checks = threads + max_waiting
        self.checking = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self._looks(scope):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        self.checking += 1
        try:
            refusal = await self._refusal(request)
        finally:
            self.checking -= 1
        if refusal is None:
            await self.app(scope, receive, send)
            return
        response = problem_response(request, 409, "sold-out", "Sold out", str(refusal))
        await response(scope, receive, send)

    def _looks(self, scope: Scope) -> bool:
        """Whether this is a checkout the gate may answer, with room to wait for a thread."""
        return (
            self.commands.availability is not None
            and scope["type"] == "http"
            and scope["method"] == "POST"
            and CHECKOUT.match(scope["path"]) is not None
            and self.checking < self.max_checks
        )

    async def _refusal(self, request: Request) -> SoldOut | None:
        """The sold-out refusal of this checkout, or None to let the route decide."""
        key = request.headers.get("idempotency-key")
        if key is None or not IDEMPOTENCY_KEY.match(key):
            return None
        try:
            caller = principal_of(request, self.tokens)
        except (InvalidToken, KeysUnavailable):
            return None
        match = CHECKOUT.match(request.url.path)
        if caller.role not in CALLERS or match is None:
            return None
        if match.group(1) != str(cart_id_for(caller.sub)):
            return None
        try:
            await anyio.to_thread.run_sync(
                self.commands.refuse_if_sold_out, caller.sub, key, limiter=self.limiter
            )
        except SoldOut as refused:
            return refused
        except Exception:
            log.warning("sold_out_gate_failed", exc_info=True)
            return None
        request.state.sold_out_checked = True
        return None
