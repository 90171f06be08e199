"""The chain of a context log, whatever store holds it: its hashes, its head, its verification.

Only the PostgreSQL recorder chains its appends so far; a log in another store has no
chain (chain_hashes answers nothing, chain_head and verify_log raise Unchained).
"""

from __future__ import annotations

from collections.abc import Sequence

from eventsourcing.persistence import ApplicationRecorder

from infra.audit.chain import Head
from infra.audit.verify import Checkpoint, Progress, Verdict, verify
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
) -> Verdict:
    """Recompute the recorder's chain against checkpoints, on one snapshot of the log."""
    chained = _chained(recorder)
    with chained.datastore.get_connection() as conn, conn.transaction():
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        return verify(
            log,
            chained.chain.walk(conn),
            checkpoints,
            lambda digest: chained.chain.find_digest(conn, digest),
            progress,
        )
