"""Signed checkpoints of each log's chain head, kept outside the database in the blob store.

A checkpoint says: at this position, this log's chain hash was this, at this time; it is
signed with the platform's Ed25519 key (AuditSettings.signing_key). Each log keeps its last
checkpoints (AuditSettings.checkpoint_history) in one blob, `audit/checkpoints/<log>.json`;
a verification checks every signature first, then holds the chain against them. Someone
with the database but not the key can neither truncate the newest events nor rewrite a
whole chain unseen.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from infra.audit.chain import Head
from infra.audit.verify import Checkpoint
from infra.blobs import BlobNotFound, BlobStore
from infra.settings import DEV_AUDIT_SIGNING_KEY, Settings, production_key
from infra.settings import DevelopmentKey as DevelopmentKey

CONTENT_TYPE = "application/json"


class ForgedCheckpoint(ValueError):
    """A stored checkpoint whose signature is not the platform key's."""

    def __init__(self, log: str, position: int) -> None:
        super().__init__(f"the checkpoint of {log} at {position} is not signed by this key")
        self.log, self.position = log, position


def signing_key(settings: Settings) -> Ed25519PrivateKey:
    """The checkpoints' key; production refuses the development key."""
    secret = production_key(
        settings,
        settings.audit.signing_key,
        DEV_AUDIT_SIGNING_KEY,
        "MARKETPLACE_AUDIT_SIGNING_KEY",
        "anyone can sign the checkpoint of a rewritten log",
    )
    return Ed25519PrivateKey.from_private_bytes(bytes.fromhex(secret))


def verify_key(settings: Settings) -> Ed25519PublicKey:
    """The key that checks checkpoints: AuditSettings.verify_key, else the signing key's."""
    if settings.audit.verify_key:
        return Ed25519PublicKey.from_public_bytes(bytes.fromhex(settings.audit.verify_key))
    return signing_key(settings).public_key()


class NoSigningKey(ValueError):
    """A checkpoint to write where only the verify key is configured."""


@dataclass(frozen=True)
class SignedCheckpoint:
    """One checkpoint as stored: the head, when it was taken, and the signature over both."""

    log: str
    position: int
    hash: bytes
    taken_at: str
    signature: bytes = b""

    def message(self) -> bytes:
        """The bytes signed."""
        return (
            f"checkpoint\n{self.log}\n{self.position}\n{self.hash.hex()}\n{self.taken_at}".encode()
        )

    def as_json(self) -> dict[str, object]:
        """The stored form."""
        return {
            "position": self.position,
            "hash": self.hash.hex(),
            "taken_at": self.taken_at,
            "signature": self.signature.hex(),
        }


class CheckpointBook:
    """Each log's signed checkpoints in the blob store: written under the private key (None
    where a process only verifies), checked against the public one."""

    def __init__(
        self,
        blobs: BlobStore,
        key: Ed25519PrivateKey | None,
        public: Ed25519PublicKey | None = None,
        history: int = 1000,
    ) -> None:
        if public is None:
            assert key is not None, "a book needs a key to check checkpoints with"
            public = key.public_key()
        self.blobs, self.key, self.public, self.history = blobs, key, public, history

    @staticmethod
    def blob_key(log: str) -> str:
        """Where a log's checkpoints are kept."""
        return f"audit/checkpoints/{log}.json"

    def stored(self, log: str) -> list[SignedCheckpoint]:
        """The log's checkpoints as stored, oldest first (none yet: an empty list)."""
        try:
            data, _ = self.blobs.get(self.blob_key(log))
        except BlobNotFound:
            return []
        return [
            SignedCheckpoint(
                log,
                int(each["position"]),
                bytes.fromhex(each["hash"]),
                str(each["taken_at"]),
                bytes.fromhex(each["signature"]),
            )
            for each in json.loads(data)["checkpoints"]
        ]

    def checkpoints(self, log: str) -> list[Checkpoint]:
        """The log's checkpoints, each signature checked (ForgedCheckpoint otherwise)."""
        checked = []
        for each in self.stored(log):
            try:
                self.public.verify(each.signature, each.message())
            except InvalidSignature:
                raise ForgedCheckpoint(log, each.position) from None
            checked.append(Checkpoint(each.position, each.hash))
        return checked

    def write(self, log: str, head: Head, now: datetime) -> SignedCheckpoint | None:
        """Sign and store the log's head, unless the log is empty or its last checkpoint
        is already at that head; the checkpoint written."""
        if self.key is None:
            raise NoSigningKey(
                "only the verify key is configured: set MARKETPLACE_AUDIT_SIGNING_KEY"
            )
        kept = self.stored(log)
        if head.position == 0 or (kept and kept[-1].position == head.position):
            return None
        unsigned = SignedCheckpoint(log, head.position, head.hash, now.isoformat())
        signed = SignedCheckpoint(
            log, head.position, head.hash, unsigned.taken_at, self.key.sign(unsigned.message())
        )
        kept = [*kept, signed][-self.history :]
        document = {"log": log, "checkpoints": [each.as_json() for each in kept]}
        self.blobs.put(self.blob_key(log), json.dumps(document).encode(), CONTENT_TYPE)
        return signed
