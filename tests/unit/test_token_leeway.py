"""Tokens from a host whose clock differs from ours by less than the leeway are accepted."""

from __future__ import annotations

import time
from typing import Any
from uuid import uuid4

import jwt
import pytest

from infra.auth import DEFAULT_LEEWAY_SECONDS, InvalidToken, TokenCodec

SECRET = "s" * 40
ISSUER, AUDIENCE = "marketplace", "marketplace-api"


def token(skew_seconds: float, **extra: Any) -> str:
    """A token as a host whose clock runs skew_seconds ahead of ours issues it."""
    now = int(time.time() + skew_seconds)
    claims = {"sub": str(uuid4()), "role": "shopper", "iss": ISSUER, "aud": AUDIENCE}
    claims |= {"iat": now, "exp": now + 600, **extra}
    return jwt.encode(claims, SECRET, algorithm="HS256")


def codec(**kwargs: Any) -> TokenCodec:
    return TokenCodec(SECRET, ISSUER, AUDIENCE, **kwargs)


@pytest.mark.parametrize("skew", [-30, 0, 30, DEFAULT_LEEWAY_SECONDS - 5])
def test_a_clock_ahead_or_behind_within_the_leeway_is_accepted(skew: float) -> None:
    assert codec().verify(token(skew)).role == "shopper"


@pytest.mark.parametrize("skew", [DEFAULT_LEEWAY_SECONDS + 30, 300])
def test_a_clock_further_ahead_than_the_leeway_is_refused(skew: float) -> None:
    with pytest.raises(InvalidToken, match="not yet valid"):
        codec().verify(token(skew))


def test_the_leeway_is_configurable() -> None:
    assert codec(leeway_seconds=600).verify(token(300)).role == "shopper"
    with pytest.raises(InvalidToken):
        codec(leeway_seconds=0).verify(token(30))


def test_nbf_gets_the_same_leeway() -> None:
    now = int(time.time())
    assert codec().verify(token(0, nbf=now + 30)).role == "shopper"
    with pytest.raises(InvalidToken, match="not yet valid"):
        codec().verify(token(0, nbf=now + 300))


def test_an_expired_token_is_refused_once_past_the_leeway() -> None:
    now = int(time.time())
    assert codec().verify(token(-700, exp=now - 10)).role == "shopper"
    with pytest.raises(InvalidToken, match="expired"):
        codec().verify(token(-900, exp=now - 300))
