"""What the command API needs, and the one dependency each route takes: an authorised call."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import Depends, Request

from commands.services import Commands
from infra.auth import Principal, Role, TokenCodec
from infra.blobs import BlobStore
from infra.idempotency import IdempotencyStore
from infra.settings import ImageSettings
from infra.web import caller_in
from writeapi.execution import Call
from writeapi.sold_out_gate import CartClaims


@dataclass
class WriteApiDeps:
    """The command API's dependencies, built by the composition root."""

    commands: Commands
    tokens: TokenCodec
    idempotency: IdempotencyStore
    max_body_bytes: int = 64 * 1024
    checkout_expiry_seconds: int = 900
    """How long a placed order may wait for payment (settings.checkout.expiry_seconds)."""
    read_api_url: str = "http://127.0.0.1:8001"
    """The query API's base URL as clients reach it: Location headers point into it."""
    event_store: str = "postgres"
    """The event store's kind (settings.events.store), as readiness names it."""
    store_timeout_seconds: float = 1.0
    """Each store call's bound (settings.deadlines.write_store_timeout_seconds); readiness answers
    within twice it."""
    blobs: BlobStore | None = None
    """Where uploaded originals go; without one, uploads answer 503."""
    images: ImageSettings = field(default_factory=ImageSettings)
    """What an upload may be: bytes, pixels, images per product."""
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    """The time commands are decided at, payment deadlines included: the database's clock
    (infra.clock), which the checkout worker enforcing the deadlines reads too."""
    cart_claims: CartClaims | None = None
    """The sold-out gate's check from the projected cart, for a checkout naming its version."""


def call_as(*roles: Role) -> Callable[..., Coroutine[Any, Any, Call]]:
    """A dependency giving an authorised call to callers in one of the roles; 403 for others."""
    caller = caller_in(roles, "do this")

    async def authorise(request: Request, principal: Principal = Depends(caller)) -> Call:
        deps: WriteApiDeps = request.app.state.deps
        return Call(
            request, principal, deps.commands, deps.idempotency, deps.read_api_url, deps.clock
        )

    return authorise


def checkout_expiry(request: Request) -> timedelta:
    """How long after checkout a placed order expires unless paid and confirmed."""
    deps: WriteApiDeps = request.app.state.deps
    return timedelta(seconds=deps.checkout_expiry_seconds)


SellerCall = Annotated[Call, Depends(call_as("seller", "admin"))]
ShopperCall = Annotated[Call, Depends(call_as("shopper", "admin"))]
AdminCall = Annotated[Call, Depends(call_as("admin"))]
CheckoutExpiry = Annotated[timedelta, Depends(checkout_expiry)]
