"""Tokens from an identity provider: RS256 and ES256, checked against the keys its JWKS serves.

The provider is outside our system, so the test serves its JWKS itself, over real HTTP.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from uuid import uuid4

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from infra.auth import InvalidToken, JwksKeys, KeysUnavailable, TokenCodec
from tests.api.conftest import AUDIENCE, BASE_URL, ISSUER, JWT_SECRET, Api, seller_body
from tests.api.test_validation import assert_problem
from tests.conftest import free_port
from writeapi.app import create_app

pytestmark = pytest.mark.postgres

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


@dataclasses.dataclass(frozen=True)
class SigningKey:
    """A provider's private key, its key id and algorithm."""

    kid: str
    algorithm: str
    private: PrivateKey

    @classmethod
    def rsa(cls, kid: str) -> SigningKey:
        return cls(kid, "RS256", rsa.generate_private_key(public_exponent=65537, key_size=2048))

    @classmethod
    def ec(cls, kid: str) -> SigningKey:
        return cls(kid, "ES256", ec.generate_private_key(ec.SECP256R1()))

    def jwk(self) -> dict[str, Any]:
        """The public half as the JWKS publishes it."""
        public = self.private.public_key()
        if isinstance(public, rsa.RSAPublicKey):
            jwk = RSAAlgorithm.to_jwk(public, as_dict=True)
        else:
            jwk = ECAlgorithm.to_jwk(public, as_dict=True)
        return {**jwk, "kid": self.kid, "alg": self.algorithm, "use": "sig"}

    def token(self, role: str = "seller", **changes: Any) -> str:
        now = int(time.time())
        claims = {"sub": str(uuid4()), "role": role, "iss": ISSUER, "aud": AUDIENCE}
        claims |= {"iat": now, "exp": now + 600, **changes}
        return jwt.encode(claims, self.private, self.algorithm, headers={"kid": self.kid})


class Provider:
    """A JWKS endpoint on loopback whose key set the test changes; it counts its fetches."""

    def __init__(self, keys: list[SigningKey]) -> None:
        self.keys = keys
        self.fetches = 0
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                provider.fetches += 1
                body = json.dumps({"keys": [key.jwk() for key in provider.keys]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/.well-known/jwks.json"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def rsa_key() -> SigningKey:
    return SigningKey.rsa("rsa-1")


@pytest.fixture
def ec_key() -> SigningKey:
    return SigningKey.ec("ec-1")


@pytest.fixture
def provider(rsa_key: SigningKey, ec_key: SigningKey) -> Iterator[Provider]:
    served = Provider([rsa_key, ec_key])
    yield served
    served.stop()


def codec(url: str, **jwks: Any) -> TokenCodec:
    return TokenCodec(JWT_SECRET, ISSUER, AUDIENCE, jwks=JwksKeys(url, **jwks))


def test_rs256_and_es256_tokens_of_the_provider_are_accepted(
    provider: Provider, rsa_key: SigningKey, ec_key: SigningKey
) -> None:
    verifier = codec(provider.url)
    assert verifier.verify(rsa_key.token(role="admin")).role == "admin"
    assert verifier.verify(ec_key.token(role="shopper")).role == "shopper"
    assert provider.fetches == 1


def test_a_rotated_key_is_fetched_when_a_token_first_names_it(
    provider: Provider, rsa_key: SigningKey
) -> None:
    verifier = codec(provider.url, refresh_cooldown_seconds=0)
    verifier.verify(rsa_key.token())
    rotated = SigningKey.rsa("rsa-2")
    provider.keys = [rotated]
    assert verifier.verify(rotated.token(role="auditor")).role == "auditor"
    assert provider.fetches == 2


def test_a_token_signed_by_a_key_outside_the_set_is_refused(
    provider: Provider, rsa_key: SigningKey
) -> None:
    verifier = codec(provider.url, refresh_cooldown_seconds=0)
    impostor = SigningKey.rsa(rsa_key.kid)
    with pytest.raises(InvalidToken, match="Signature verification failed"):
        verifier.verify(impostor.token())
    with pytest.raises(InvalidToken, match="Unable to find a signing key"):
        verifier.verify(SigningKey.ec("not-published").token())


def test_unknown_key_ids_refetch_the_set_at_most_once_per_cooldown(
    provider: Provider, rsa_key: SigningKey
) -> None:
    verifier = codec(provider.url, refresh_cooldown_seconds=3600)
    verifier.verify(rsa_key.token())
    for n in range(20):
        with pytest.raises(InvalidToken):
            verifier.verify(SigningKey.ec(f"made-up-{n}").token())
    assert provider.fetches == 1


def test_shared_secret_tokens_are_refused_once_a_provider_is_configured(
    provider: Provider, rsa_key: SigningKey
) -> None:
    verifier = codec(provider.url)
    own = TokenCodec(JWT_SECRET, ISSUER, AUDIENCE).issue(uuid4(), "admin")
    with pytest.raises(InvalidToken):
        verifier.verify(own)
    public_pem = rsa_key.private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    confused = hs256(rsa_key.token(), secret=public_pem, kid=rsa_key.kid)
    with pytest.raises(InvalidToken):
        verifier.verify(confused)


def hs256(token: str, secret: bytes, kid: str) -> str:
    """token's claims signed HS256 with secret: what PyJWT itself refuses to make from a PEM."""
    claims = jwt.decode(token, options={"verify_signature": False})
    header = {"alg": "HS256", "typ": "JWT", "kid": kid}
    signing_input = b".".join(base64url(json.dumps(part).encode()) for part in (header, claims))
    signature = hmac.new(secret, signing_input, hashlib.sha256).digest()
    return (signing_input + b"." + base64url(signature)).decode()


def base64url(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def test_the_last_fetched_keys_serve_while_the_provider_is_down(
    provider: Provider, rsa_key: SigningKey
) -> None:
    verifier = codec(provider.url, lifespan_seconds=0.2)
    verifier.verify(rsa_key.token())
    provider.stop()
    time.sleep(0.5)
    assert verifier.verify(rsa_key.token(role="shopper")).role == "shopper"


def test_no_keys_fetched_yet_is_unavailable_not_unauthenticated(rsa_key: SigningKey) -> None:
    verifier = codec(f"http://127.0.0.1:{free_port()}/jwks.json")
    with pytest.raises(KeysUnavailable):
        verifier.verify(rsa_key.token())


async def test_the_command_api_takes_provider_tokens_and_answers_503_without_keys(
    shared_api: Api, provider: Provider, ec_key: SigningKey
) -> None:
    async def register(verifier: TokenCodec, token: str) -> httpx.Response:
        app = create_app(dataclasses.replace(shared_api.deps, tokens=verifier))
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url=BASE_URL
        ) as client:
            headers = {"Authorization": f"Bearer {token}"}
            return await client.post("/v1/sellers", json=seller_body(), headers=headers)

    accepted = await register(codec(provider.url), ec_key.token())
    assert accepted.status_code == 201, accepted.text
    unreachable = codec(f"http://127.0.0.1:{free_port()}/jwks.json")
    refused = await register(unreachable, ec_key.token())
    assert assert_problem(refused, 503)["title"] == "Token keys unavailable"
    assert refused.headers["Retry-After"] == "5"
