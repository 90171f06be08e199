"""Sanctioned rewrites of a log: rows changed on purpose (personal data sealed after the fact),
the chain recomputed from the first of them, and a signed record saying so.

A rewrite record names the log, its sequence number, the positions rewritten, the first
position re-chained (start), the head it re-chained to and that head's new hash, the reason
and the time, signed with the checkpoints' key. Verification then holds the chain against
the checkpoints a rewrite left standing (vouched): checkpoints inside a rewrite's range
[start, head] describe the chain before it, and the rewrite's own signed head stands in for
them unless a later rewrite re-chained past it. The old digests are not kept: they were
digests of the data the rewrite removed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from infra.audit.verify import Checkpoint


@dataclass(frozen=True)
class Rewrite:
    """One sanctioned rewrite of a log, as recorded beside its chain."""

    log: str
    number: int
    start: int
    head: int
    hash: bytes
    positions: tuple[int, ...]
    reason: str
    done_at: str
    signature: bytes = b""

    def message(self) -> bytes:
        """The bytes signed."""
        positions = ",".join(map(str, self.positions))
        return (
            f"rewrite\n{self.log}\n{self.number}\n{self.start}\n{self.head}\n{self.hash.hex()}\n"
            f"{positions}\n{self.reason}\n{self.done_at}"
        ).encode()

    def signed(self, key: Ed25519PrivateKey) -> Rewrite:
        """This record signed with key."""
        return replace(self, signature=key.sign(self.message()))

    def genuine(self, public: Ed25519PublicKey) -> bool:
        """Whether the record is signed by the key public belongs to."""
        try:
            public.verify(self.signature, self.message())
        except InvalidSignature:
            return False
        return True


def vouched(checkpoints: Sequence[Checkpoint], rewrites: Sequence[Rewrite]) -> list[Checkpoint]:
    """The checkpoints that still describe the chain after the rewrites, with the heads of
    the rewrites that no later rewrite re-chained past, in position order."""
    ordered = sorted(rewrites, key=lambda r: r.number)
    kept = [c for c in checkpoints if not any(r.start <= c.position <= r.head for r in ordered)]
    for index, rewrite in enumerate(ordered):
        if not any(later.start <= rewrite.head for later in ordered[index + 1 :]):
            kept.append(Checkpoint(rewrite.head, rewrite.hash))
    return sorted(kept, key=lambda c: c.position)
