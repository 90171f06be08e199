"""Ownership rules: who may change which aggregate."""

from uuid import UUID

from commands.errors import Forbidden
from domain.base import Context

ADMIN = "admin"


def require_owner(ctx: Context, owner_id: UUID) -> None:
    """Allow an admin, or the actor whose id owns the aggregate."""
    if ctx.role != ADMIN and ctx.actor != str(owner_id):
        raise Forbidden("only the owner may change this")
