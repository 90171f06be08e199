"""Checkout's sold-out gate: a flash sale's tail answered before the app's cap and its routes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol
from uuid import UUID

import anyio.to_thread
import structlog
from anyio import CapacityLimiter
from prometheus_client import REGISTRY, Counter
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from commands.errors import SoldOut
from commands.services import Commands
from domain.cart import cart_id_for
from domain.order import order_id_for
from infra.auth import InvalidToken, KeysUnavailable, Principal, TokenCodec
from infra.metric_set import MetricSet, metric
from infra.web import Problem, principal_of, problem_response
from writeapi.execution import IDEMPOTENCY_KEY, expected_version

CHECKOUT = re.compile(r"^/v1/carts/([^/]+)/checkout$")
CHECKED = "sold_out_checked"
"""scope["state"] key: the gate found nothing sold out, so the route need not look again."""
CALLERS = frozenset({"shopper", "admin"})
log = structlog.get_logger()


@dataclass(frozen=True)
class GateMetrics(MetricSet):
    """What the sold-out gate did with the checkouts it looked at."""

    checks: Counter = metric(
        "sold_out_gate_checks_total",
        "Checkouts the sold-out gate checked, by where (view: the projected cart If-Match "
        "named; store: the cart in the event store; none: passed on unchecked, the store "
        "checks busy or the check failed) and its answer (refused, admitted, passed)",
        ["checked", "answer"],
    )


GATE_METRICS = GateMetrics.on(REGISTRY)


class CartClaims(Protocol):
    """Checkout claims taken from the projected cart, on the event loop (no thread, no store)."""

    async def claim_cart(
        self, order_id: UUID, cart_id: UUID, shopper_id: UUID, version: int
    ) -> set[UUID] | None:
        """Claim the cart's units for the order as the carts view shows it at version, or
        return the products refused; None when the view does not show the cart so."""
        ...

    async def warm(self) -> None:
        """Open the connection before the first burst."""
        ...


class SoldOutGate:
    """Pure ASGI: answer 409 sold-out to a checkout that the projected stock, less other
    checkouts' claims, cannot cover, at once.

    It runs outside the load shedder, so a refusal takes no in-flight slot. It only looks at
    a checkout of the caller's own cart with a valid token and Idempotency-Key, as the route
    would take it. With If-Match naming the cart's version, as the carts view shows it, the
    check is one Redis script on the event loop (CartClaims). Otherwise it reads the cart
    from the event store (Commands.refuse_if_sold_out) on one of `threads` threads, unless
    `max_waiting` checks wait already (so that none waits long: a queue of thousands made
    single requests wait over a minute on a loaded machine); the checks are counted as they
    enter, not by the limiter's queue, since anyio's to_thread yields before it queues.
    Anything else goes on to the shedder and the route unchanged, which check again.
    """

    def __init__(
        self,
        app: ASGIApp,
        commands: Commands,
        tokens: TokenCodec,
        claims: CartClaims | None = None,
        threads: int = 8,
        max_waiting: int = 64,
    ) -> None:
        self.app = app
        self.commands = commands
        self.tokens = tokens
        self.claims = claims
        self.limiter = CapacityLimiter(threads)
        self.max_checks = threads + max_waiting
        self.checking = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self._looks(scope):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        refusal = await self._refusal(request)
        if refusal is None:
            await self.app(scope, receive, send)
            return
        response = problem_response(request, 409, "sold-out", "Sold out", str(refusal))
        await response(scope, receive, send)

    def _looks(self, scope: Scope) -> bool:
        """Whether this is a checkout the gate may answer."""
        return (
            self.commands.availability is not None
            and scope["type"] == "http"
            and scope["method"] == "POST"
            and CHECKOUT.match(scope["path"]) is not None
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
        checked = "view"
        try:
            gone = await self._claimed_from_view(request, caller, key)
            if gone is None:
                checked = "store"
                gone = await self._claimed_from_store(caller, key)
        except SoldOut as refused:
            GATE_METRICS.checks.labels(checked, "refused").inc()
            return refused
        except Exception:
            log.warning("sold_out_gate_failed", exc_info=True)
            gone = None
        if gone is None:
            GATE_METRICS.checks.labels("none", "passed").inc()
            return None
        GATE_METRICS.checks.labels(checked, "admitted").inc()
        request.state.sold_out_checked = True
        return None

    async def _claimed_from_view(
        self, request: Request, caller: Principal, key: str
    ) -> set[UUID] | None:
        """Claim from the projected cart at the If-Match version: SoldOut, or set() when
        claimed, or None when the view cannot tell (or no If-Match, or no claims)."""
        try:
            version = expected_version(request)
        except Problem:
            return None
        if version is None or self.claims is None:
            return None
        order_id = order_id_for(caller.sub, key)
        gone = await self.claims.claim_cart(order_id, cart_id_for(caller.sub), caller.sub, version)
        if gone:
            raise SoldOut.of(gone)
        return gone

    async def _claimed_from_store(self, caller: Principal, key: str) -> set[UUID] | None:
        """Claim from the cart in the event store on a thread: SoldOut, or set() when claimed,
        or None when too many checks wait already."""
        if self.checking >= self.max_checks:
            return None
        self.checking += 1
        try:
            await anyio.to_thread.run_sync(
                self.commands.refuse_if_sold_out, caller.sub, key, limiter=self.limiter
            )
        finally:
            self.checking -= 1
        return set()
