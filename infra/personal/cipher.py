"""AES-256-GCM sealing of one person's data, bound to that person's id."""

from __future__ import annotations

import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32
NONCE_BYTES = 12


def new_data_key() -> bytes:
    """A fresh random 256-bit data key."""
    return AESGCM.generate_key(bit_length=KEY_BYTES * 8)


def seal(key: bytes, person: str, plaintext: bytes) -> bytes:
    """The nonce and ciphertext of plaintext under key, authenticated with the person's id."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, person.encode())


def unseal(key: bytes, person: str, sealed: bytes) -> bytes:
    """The plaintext sealed for this person; raises InvalidTag if anything was changed."""
    return AESGCM(key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], person.encode())
