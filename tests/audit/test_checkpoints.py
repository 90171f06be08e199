"""Checkpoints are signed with the configured key, kept in the blob store, and checked."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from infra.audit.chain import Head
from infra.audit.checkpoints import (
    CheckpointBook,
    DevelopmentKey,
    ForgedCheckpoint,
    NoSigningKey,
    signing_key,
    verify_key,
)
from infra.audit.verify import Checkpoint
from infra.blobs import LocalBlobStore
from infra.settings import DEV_AUDIT_SIGNING_KEY, Settings

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
OWN_KEY = "ab" * 32


def book(folder: Path, history: int = 1000) -> CheckpointBook:
    return CheckpointBook(LocalBlobStore(folder), signing_key(Settings()), None, history)


def test_a_head_is_written_once_until_it_moves(tmp_path: Path) -> None:
    checkpoints = book(tmp_path)

    first = checkpoints.write("orders", Head(7, b"\x01" * 32), NOW)
    again = checkpoints.write("orders", Head(7, b"\x01" * 32), NOW)
    moved = checkpoints.write("orders", Head(9, b"\x02" * 32), NOW)
    empty = checkpoints.write("carts", Head(), NOW)

    assert first is not None and moved is not None
    assert (again, empty) == (None, None)
    assert checkpoints.checkpoints("orders") == [
        Checkpoint(7, b"\x01" * 32),
        Checkpoint(9, b"\x02" * 32),
    ]
    assert checkpoints.checkpoints("carts") == []


def test_only_the_newest_are_kept(tmp_path: Path) -> None:
    checkpoints = book(tmp_path, history=2)
    for position in (1, 2, 3):
        checkpoints.write("orders", Head(position, bytes([position]) * 32), NOW)

    assert [c.position for c in checkpoints.checkpoints("orders")] == [2, 3]


def test_a_checkpoint_edited_in_the_blob_store_is_refused(tmp_path: Path) -> None:
    checkpoints = book(tmp_path)
    checkpoints.write("orders", Head(7, b"\x01" * 32), NOW)
    checkpoints.write("orders", Head(9, b"\x02" * 32), NOW)
    path = tmp_path / CheckpointBook.blob_key("orders")
    document = json.loads(path.read_text())
    document["checkpoints"][1]["hash"] = "03" * 32
    path.write_text(json.dumps(document))

    with pytest.raises(ForgedCheckpoint) as refused:
        checkpoints.checkpoints("orders")

    assert refused.value.position == 9


def test_another_key_does_not_vouch_for_our_checkpoints(tmp_path: Path) -> None:
    book(tmp_path).write("orders", Head(7, b"\x01" * 32), NOW)
    other = CheckpointBook(LocalBlobStore(tmp_path), Ed25519PrivateKey.generate())

    with pytest.raises(ForgedCheckpoint):
        other.checkpoints("orders")


def test_a_verifier_needs_only_the_public_key(tmp_path: Path) -> None:
    book(tmp_path).write("orders", Head(7, b"\x01" * 32), NOW)
    public = signing_key(Settings()).public_key().public_bytes_raw().hex()
    production = Settings(
        environment="production",
        auth={"jwks_url": "https://idp.example/k"},
        audit={"verify_key": public},
    )
    checking = CheckpointBook(LocalBlobStore(tmp_path), None, verify_key(production))

    assert checking.checkpoints("orders") == [Checkpoint(7, b"\x01" * 32)]
    with pytest.raises(NoSigningKey):
        checking.write("orders", Head(8, b"\x02" * 32), NOW)


def test_production_refuses_the_development_key() -> None:
    production = Settings(environment="production", auth={"jwks_url": "https://idp.example/k"})

    with pytest.raises(DevelopmentKey, match="MARKETPLACE_AUDIT_SIGNING_KEY"):
        signing_key(production)
    own = production.updated(audit={"signing_key": OWN_KEY})
    assert signing_key(own).public_key() != signing_key(Settings()).public_key()
    assert signing_key(Settings(environment="test")) is not None
    assert DEV_AUDIT_SIGNING_KEY != OWN_KEY
