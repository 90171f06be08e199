"""Only an HS256 token we issued, unexpired, for us, naming a UUID and a known role passes."""

from __future__ import annotations

import base64
import time
from typing import Any
from uuid import uuid4

import jwt
import orjson
import pytest

from tests.api.conftest import AUDIENCE, ISSUER, JWT_SECRET, Api, seller_body
from tests.api.test_validation import assert_problem

pytestmark = pytest.mark.postgres


@pytest.fixture
def api(shared_api: Api) -> Api:
    return shared_api


def claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {
        "sub": str(uuid4()),
        "role": "seller",
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + 600,
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def signed(key: str = JWT_SECRET, algorithm: str = "HS256", **changes: Any) -> str:
    return jwt.encode(claims(**changes), key, algorithm=algorithm)


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(data)).rstrip(b"=").decode()


def unsigned() -> str:
    """An alg=none token, built by hand the way an attacker would."""
    return f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims())}."


def resigned_payload() -> str:
    """A valid token whose payload is swapped for one naming the admin role."""
    header, _, signature = signed().split(".")
    return f"{header}.{b64(claims(role='admin'))}.{signature}"


TAMPERED = {
    "alg-none": unsigned,
    "alg-none-library": lambda: jwt.encode(claims(), None, algorithm="none"),
    "wrong-key": lambda: signed(key=JWT_SECRET[::-1]),
    "hs512-right-key": lambda: signed(algorithm="HS512"),
    "hs384-right-key": lambda: signed(algorithm="HS384"),
    "payload-swapped": resigned_payload,
    "expired": lambda: signed(iat=int(time.time()) - 7200, exp=int(time.time()) - 3600),
    "no-exp": lambda: signed(exp=None),
    "no-iat": lambda: signed(iat=None),
    "issued-in-future": lambda: signed(iat=int(time.time()) + 3600),
    "wrong-audience": lambda: signed(aud="someone-else"),
    "no-audience": lambda: signed(aud=None),
    "wrong-issuer": lambda: signed(iss="evil"),
    "no-issuer": lambda: signed(iss=None),
    "no-role": lambda: signed(role=None),
    "unknown-role": lambda: signed(role="superuser"),
    "role-list": lambda: signed(role=["admin"]),
    "no-sub": lambda: signed(sub=None),
    "non-uuid-sub": lambda: signed(sub="alice"),
    "garbage": lambda: "not-a-jwt",
    "three-garbage-parts": lambda: "abc.def.ghi",
    "empty-signature": lambda: signed().rsplit(".", 1)[0] + ".",
}


@pytest.mark.parametrize("make", TAMPERED.values(), ids=TAMPERED.keys())
async def test_tampered_token_is_401(api: Api, make: Any) -> None:
    before = api.positions()
    response = await api.client.post(
        "/v1/sellers", json=seller_body(), headers={"Authorization": f"Bearer {make()}"}
    )
    problem = assert_problem(response, 401)
    assert problem["type"] == "urn:marketplace:problem:unauthenticated"
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    assert api.positions() == before


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Token abc", "bearer"],
)
async def test_missing_or_other_scheme_is_401(api: Api, authorization: str | None) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}
    response = await api.client.post("/v1/sellers", json=seller_body(), headers=headers)
    assert_problem(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_a_well_formed_token_passes(api: Api) -> None:
    sub = uuid4()
    response = await api.client.post(
        "/v1/sellers",
        json=seller_body(),
        headers={"Authorization": f"bearer {signed(sub=str(sub))}"},
    )
    assert response.status_code == 201, response.text
    assert response.json()["id"] == str(sub)


async def test_issued_tokens_round_trip(api: Api) -> None:
    sub = uuid4()
    principal = api.deps.tokens.verify(api.token(sub, "auditor"))
    assert (principal.sub, principal.role) == (sub, "auditor")
    with pytest.raises(ValueError, match="unknown role"):
        api.deps.tokens.issue(sub, "root")  # type: ignore[arg-type]
