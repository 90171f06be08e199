"""Bearer JWTs with exp, iss and aud always verified.

Development signs and verifies with a shared secret (HS256). Production verifies tokens from
an identity provider (RS256 or ES256) against its JWKS URL; shared-secret tokens are then
refused, so the secret cannot mint an identity.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal, cast, get_args
from uuid import UUID

import jwt
import structlog
from jwt import PyJWK, PyJWKClient, PyJWKClientConnectionError, PyJWKSet

Role = Literal["shopper", "seller", "admin", "auditor", "analyst"]
ROLES: tuple[Role, ...] = get_args(Role)
ALGORITHMS = ["HS256"]
JWKS_ALGORITHMS = ["RS256", "ES256"]
VERIFIED_CACHE_SIZE = 100_000
DEFAULT_LEEWAY_SECONDS = 60.0
"""How far the issuing host's clock may run ahead of ours (iat, nbf) or behind (exp)."""


log = structlog.get_logger()


class InvalidToken(Exception):
    """The bearer token is missing, malformed, expired, or not ours."""


class KeysUnavailable(Exception):
    """The identity provider's keys could not be fetched, and none are known yet."""


class _LastGoodKeys(PyJWKClient):
    """A JWKS client that keeps the last key set it fetched while the endpoint is down."""

    _last: PyJWKSet | None = None

    def get_jwk_set(self, refresh: bool = False) -> PyJWKSet:
        try:
            self._last = super().get_jwk_set(refresh)
        except PyJWKClientConnectionError as error:
            if self._last is None:
                raise KeysUnavailable(str(error)) from None
            log.warning("jwks_unreachable_using_last_keys", url=self.uri, error=str(error))
        return self._last


class JwksKeys:
    """An identity provider's signing keys, from its JWKS URL.

    The key set is cached for lifespan_seconds. A token naming a key id the set lacks (the
    provider rotated its keys) refetches the set at most once per refresh_cooldown_seconds,
    so tokens with made-up key ids cannot flood the provider. While the URL is unreachable
    the last fetched set is used.
    """

    def __init__(
        self,
        url: str,
        *,
        lifespan_seconds: float = 300,
        refresh_cooldown_seconds: float = 30,
        timeout_seconds: float = 2,
    ) -> None:
        self._client = _LastGoodKeys(
            url,
            lifespan=lifespan_seconds,
            cooldown_duration=refresh_cooldown_seconds,
            timeout=timeout_seconds,
        )

    def key_for(self, token: str) -> PyJWK:
        """The key that signed token, by its `kid` header; raises jwt.PyJWTError if unknown."""
        return self._client.get_signing_key_from_jwt(token)


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
        jwks: JwksKeys | None = None,
    ) -> None:
        if len(secret) < 32:
            raise ValueError("the JWT secret must be at least 32 characters")
        self._secret = secret
        self._issuer = issuer
        self._audience = audience
        self._ttl = ttl_seconds
        self._leeway = leeway_seconds
        self._jwks = jwks
        self._verified: dict[str, tuple[Principal, float]] = {}

    def issue(self, sub: UUID, role: Role, *, ttl_seconds: int | None = None) -> str:
        """A token for sub in role, valid for ttl_seconds, signed with the shared secret.

        With a JWKS configured, verify refuses it: tokens then come from the provider.
        """
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
        requests skip the signature check. Raises KeysUnavailable when a JWKS is configured
        and its keys have never been fetched.
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
            key: str | PyJWK = self._secret
            algorithms = ALGORITHMS
            if self._jwks is not None:
                key, algorithms = self._jwks.key_for(token), JWKS_ALGORITHMS
            claims = jwt.decode(
                token,
                key,
                algorithms=algorithms,
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
