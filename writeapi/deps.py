"""What the command API needs, bound once per app, and the Annotated dependencies over it."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request

from commands.services import Commands
from infra.auth import InvalidToken, Principal, Role, TokenCodec
from infra.idempotency import IdempotencyStore
from writeapi.problems import Problem


@dataclass
class WriteApiDeps:
    """The command API's dependencies, built by the composition root."""

    commands: Commands
    tokens: TokenCodec
    idempotency: IdempotencyStore
    max_body_bytes: int = 64 * 1024
    reservation_minutes: int = 15


async def get_deps(request: Request) -> WriteApiDeps:
    """The dependencies bound to this app."""
    deps: WriteApiDeps = request.app.state.deps
    return deps


async def get_commands(request: Request) -> Commands:
    """The command side."""
    deps: WriteApiDeps = request.app.state.deps
    return deps.commands


async def get_principal(request: Request) -> Principal:
    """The caller named by a valid bearer token; 401 otherwise."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise InvalidToken("missing bearer token")
    deps: WriteApiDeps = request.app.state.deps
    return deps.tokens.verify(token.strip())


def require_roles(*roles: Role) -> Callable[[Principal], Coroutine[Any, Any, Principal]]:
    """A dependency that lets only the given roles through; 403 for the others."""

    async def check(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        if principal.role not in roles:
            raise Problem(
                403, "forbidden", "Forbidden", f"the {principal.role} role cannot do this"
            )
        return principal

    return check


CommandsDep = Annotated[Commands, Depends(get_commands)]
Seller = Annotated[Principal, Depends(require_roles("seller", "admin"))]
Shopper = Annotated[Principal, Depends(require_roles("shopper", "admin"))]
Admin = Annotated[Principal, Depends(require_roles("admin"))]
