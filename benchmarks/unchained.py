"""The command API with its appends unchained, to measure what the audit chain and the
correlation index cost.

`python -m benchmarks.unchained PORT WORKERS` serves what `marketplace serve-write` serves,
except that each log's recorder appends as it did before the chain: the same table lock, one
round trip and insert, without reading the chain's head or writing links. Nothing of it is in
production.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any, cast

from eventsourcing.persistence import StoredEvent
from fastapi import FastAPI
from psycopg.sql import SQL, Identifier

from commands.base import ContextApplication
from commands.stream_batch import BatchedWritePath
from infra.postgres_recorder import ArrayInsertPostgresRecorder
from marketplace import bootstrap
from marketplace.cli.platform import serve


class UnchainedRecorder(ArrayInsertPostgresRecorder):
    """The platform's recorder without the chain or the correlation index: the same lock,
    notify and one round trip, inserting the events alone (no head read, no links, no
    correlation rows)."""

    def unchain(self) -> None:
        """Append with the plain insert from now on."""
        self.append_statement = SQL(
            "INSERT INTO {}.{} (originator_id, originator_version, topic, state) "
            "SELECT * FROM unnest(%s::uuid[], %s::bigint[], %s::text[], %s::bytea[]) "
            "RETURNING notification_id"
        ).format(Identifier(self.datastore.schema), Identifier(self.events_table_name))

    def append_parameters(self, stored_events: Sequence[StoredEvent]) -> tuple[list[Any], ...]:
        """The plain insert's parameters: the events' columns, no digests or correlation keys."""
        return (
            [e.originator_id for e in stored_events],
            [e.originator_version for e in stored_events],
            [e.topic for e in stored_events],
            [e.state for e in stored_events],
        )


def unchained_write_path(app: ContextApplication) -> BatchedWritePath:
    """The production write path, on the application's recorder turned UnchainedRecorder
    (the settings choose the recorder's class, so the benchmark swaps it here)."""
    recorder = app.recorder
    assert type(recorder) is ArrayInsertPostgresRecorder
    recorder.__class__ = UnchainedRecorder
    cast(UnchainedRecorder, recorder).unchain()
    return BatchedWritePath(app)


def write_app() -> FastAPI:
    """The command API with unchained appends (a uvicorn factory)."""
    return bootstrap.write_app(unchained_write_path)


def unchained_command(port: int, workers: int) -> list[str]:
    """The command line that serves write_app()."""
    return [sys.executable, "-m", "benchmarks.unchained", str(port), str(workers)]


if __name__ == "__main__":
    serve("command-api", "benchmarks.unchained:write_app", int(sys.argv[1]), int(sys.argv[2]))
