"""The caller's own reads: private, never stored by caches."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from readapi.caching import private_json
from readapi.deps import Caller
from readapi.openapi import READS, UNAUTHENTICATED
from readapi.schemas import Me

router = APIRouter(tags=["me"], responses=READS)


@router.get(
    "/v1/me",
    response_model=None,
    responses={
        200: {"model": Me, "headers": {"Cache-Control": {"description": "private, no-store"}}},
        401: UNAUTHENTICATED,
    },
)
async def me(caller: Caller) -> Response:
    """Who the bearer token names: its subject and role."""
    return private_json({"sub": str(caller.sub), "role": caller.role})
