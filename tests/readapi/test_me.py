"""Private reads: a bearer token names the caller, and no cache may keep the answer."""

from __future__ import annotations

import uuid
from typing import Annotated

import httpx
import pytest
from fastapi import APIRouter, Depends
from starlette.responses import Response

from infra.auth import Principal, TokenCodec
from readapi.app import create_app
from readapi.caching import private_json
from readapi.deps import caller_as
from tests.readapi.conftest import BASE_URL, Reader

pytestmark = pytest.mark.postgres


async def test_me_needs_a_valid_bearer_token(reader: Reader) -> None:
    other = TokenCodec("someone-else-" + "x" * 32, "marketplace", "marketplace-api")
    forged = other.issue(uuid.uuid4(), "admin")

    for headers in ({}, {"Authorization": "Basic abc"}, {"Authorization": f"Bearer {forged}"}):
        response = await reader.client.get("/v1/me", headers=headers)

        assert response.status_code == 401, headers
        assert response.json()["type"] == "urn:marketplace:problem:unauthenticated"
        assert response.headers["www-authenticate"].startswith("Bearer")


async def test_me_names_the_caller_and_is_never_stored(reader: Reader) -> None:
    shopper = uuid.uuid4()

    response = await reader.client.get("/v1/me", headers=reader.auth(shopper, "shopper"))

    assert response.status_code == 200, response.text
    assert response.json() == {"sub": str(shopper), "role": "shopper"}
    assert response.headers["cache-control"] == "private, no-store"


async def test_a_route_for_some_roles_refuses_the_others(reader: Reader) -> None:
    router = APIRouter()

    @router.get("/test-only/audit")
    async def audit(
        caller: Annotated[Principal, Depends(caller_as("admin", "auditor"))],
    ) -> Response:
        return private_json({"role": caller.role})

    app = create_app(reader.deps)
    app.router.routes.extend(router.routes)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
        answers = {
            role: await client.get("/test-only/audit", headers=reader.auth(uuid.uuid4(), role))
            for role in ("shopper", "seller", "admin", "auditor")
        }
        anonymous = await client.get("/test-only/audit")

    assert {role: r.status_code for role, r in answers.items()} == {
        "shopper": 403,
        "seller": 403,
        "admin": 200,
        "auditor": 200,
    }
    assert answers["shopper"].json()["type"] == "urn:marketplace:problem:forbidden"
    assert answers["auditor"].json() == {"role": "auditor"}
    assert anonymous.status_code == 401
