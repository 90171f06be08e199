"""Bearer JWTs: HS256 only, with exp, iss and aud always verified."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal, cast, get_args
from uuid import UUID

import jwt

Role = Literal["shopper", "seller", "admin", "auditor"]
ROLES: tuple[Role, ...] = get_args(Role)
ALGORITHMS = ["HS256"]
VERIFIED_CACHE_SIZE = 100_000
DEFAULT_LEEWAY_SECONDS = 60.0
"""How far the issuing host's clock may run ahead of ours (iat, nbf) or behind (exp)."""


class InvalidToken(Exception):
    """The bearer token is missing, malformed, expired, or not ours."""


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: a UUID subject and one role."""

    sub: UUID
    role: Role


class TokenCodec:
    """Issues and verifies the platform's access tokens."""

    def __init__(
        self,
        secret: str,
        issuer: str,
        audience: str,
        ttl_seconds: int = 3600,
        *,
        leeway_seconds: float = DEFAULT_LEEWAY_SECONDS,
    ) -> None:
        if len(secret) < 32:
            raise ValueError("the JWT secret must be at least 32 characters")
        self._secret = secret
        self._issuer = issuer
        self._audience = audience
        self._ttl = ttl_seconds
        self._leeway = leeway_seconds
        self._verified: dict[str, tuple[Principal, float]] = {}

    def issue(self, sub: UUID, role: Role, *, ttl_seconds: int | None = None) -> str:
        """A signed token for sub in role, valid for ttl_seconds."""
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}")
        now = int(time.time())
        claims = {
            "sub": str(sub),
            "role": role,
            "iss": self._issuer,
            "aud": self._audience,
            "iat": now,
            "exp": now + (self._ttl if ttl_seconds is None else ttl_seconds),
        }
        return jwt.encode(claims, self._secret, algorithm=ALGORITHMS[0])

    def verify(self, token: str) -> Principal:
        """The principal a valid token names; raises InvalidToken otherwise.

        Clocks differ between hosts: iat and nbf may lie up to the leeway in our future, and
        exp up to the leeway in our past.

        Verified tokens are remembered until they expire, so a client's repeated
        requests skip the signature check.
        """
        known = self._verified.get(token)
        if known is not None and known[1] > time.time():
            return known[0]
        principal, expires = self._verify(token)
        if len(self._verified) >= VERIFIED_CACHE_SIZE:
            self._verified.clear()
        self._verified[token] = (principal, expires)
        return principal

    def _verify(self, token: str) -> tuple[Principal, float]:
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=ALGORITHMS,
                audience=self._audience,
                issuer=self._issuer,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
                leeway=self._leeway,
            )
            role = claims.get("role")
            if role not in ROLES:
                raise InvalidToken("token has no valid role")
            return Principal(UUID(claims["sub"]), cast(Role, role)), float(claims["exp"])
        except (jwt.PyJWTError, ValueError) as error:
            raise InvalidToken(str(error)) from None
