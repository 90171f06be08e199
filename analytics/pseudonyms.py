"""Pseudonyms: a keyed hash stands in for an id, so rows join without saying whose they are."""

from __future__ import annotations

import hashlib
import hmac
from uuid import UUID

from analytics.projection import AnalyticProjection


class KeyedProjection(AnalyticProjection):
    """An analytic projection that keeps pseudonyms (HMAC-SHA256 under its key), never ids.

    The same key gives the same pseudonyms; a replay continues only under the key it began
    with (identity carries a fingerprint of it, never the key).
    """

    def __init__(self, key: bytes) -> None:
        if not key:
            raise ValueError("the analytics key is empty")
        self.key = key

    def pseudonym(self, id_: UUID) -> str:
        """The keyed hash that stands for id_ (32 hex digits)."""
        return hmac.new(self.key, id_.bytes, hashlib.sha256).hexdigest()[:32]

    def identity(self) -> str:
        """The name and a fingerprint of the key."""
        mark = hmac.new(self.key, b"analytics-key-fingerprint", hashlib.sha256).hexdigest()
        return f"{self.name} key:{mark[:12]}"
