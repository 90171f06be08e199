"""The chain of a context log, whatever store holds it: its hashes, its head, its verification.

Only the PostgreSQL recorder chains its appends so far; a log in another store has no
chain (chain_hashes answers nothing, chain_head and verify_log raise Unchained).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from eventsourcing.persistence import ApplicationRecorder

from infra.audit.chain import Head
from infra.audit.rewrites import vouched
from infra.audit.verify import Break, Checkpoint, Progress, Verdict, verify
from infra.postgres_recorder import ArrayInsertPostgresRecorder


class Unchained(Exception):
    """The log's store keeps no hash chain."""


def chain_hashes(recorder: ApplicationRecorder, positions: Sequence[int]) -> dict[int, str]:
    """The chain hash (hex) of each event at positions in the recorder's log; none when
    its store keeps no chain."""
    if not isinstance(recorder, ArrayInsertPostgresRecorder) or not positions:
        return {}
    return {p: h.hex() for p, h in recorder.chain_hashes(positions).items()}


def _chained(recorder: ApplicationRecorder) -> ArrayInsertPostgresRecorder:
    if not isinstance(recorder, ArrayInsertPostgresRecorder):
        raise Unchained(f"{type(recorder).__name__} keeps no hash chain")
    return recorder


def chain_head(recorder: ApplicationRecorder) -> Head:
    """The position and hash of the last link of the recorder's log."""
    chained = _chained(recorder)
    with chained.datastore.get_connection() as conn:
        return chained.chain.head_link(conn)


def verify_log(
    log: str,
    recorder: ApplicationRecorder,
    checkpoints: Sequence[Checkpoint],
    progress: Progress | None = None,
    public: Ed25519PublicKey | None = None,
) -> Verdict:
    """Recompute the recorder's chain against checkpoints, on one snapshot of the log; with
    public (the checkpoints' key), against what its signed rewrite records leave standing
    (infra.audit.rewrites), naming the positions they rewrote."""
    chained = _chained(recorder)
    with chained.datastore.get_connection() as conn, conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        rewrites = chained.chain.recorded_rewrites(conn, log) if public else []
        for rewrite in rewrites:
            if public is not None and not rewrite.genuine(public):
                detail = f"rewrite record {rewrite.number} is not signed by this key"
                return Verdict(log, 0, 0, Break.CHECKPOINT_FORGED, rewrite.head, detail)
        verdict = verify(
            log,
            chained.chain.walk(conn),
            vouched(checkpoints, rewrites),
            lambda digest: chained.chain.find_digest(conn, digest),
            progress,
        )
    return replace(
        verdict,
        rewritten=tuple(p for r in rewrites for p in r.positions),
        reasons=tuple(dict.fromkeys(r.reason for r in rewrites)),
    )
