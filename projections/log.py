"""Reading one bounded context's event log, as decoded domain events with positions."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import orjson
import psycopg
from eventsourcing.application import Application
from eventsourcing.persistence import (
    InterfaceError,
    JSONTranscoder,
    OperationalError,
    StoredEvent,
    Transcoder,
    TranscodingNotRegisteredError,
)
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.utils import Environment
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Composed, Identifier

TRANSIENT: tuple[type[BaseException], ...] = (
    OperationalError,
    InterfaceError,
    psycopg.OperationalError,
)


@dataclass(frozen=True)
class Positioned:
    """A domain event (or an Undecodable one) and its position in its log."""

    log: str
    position: int
    event: Any


@dataclass(frozen=True)
class Undecodable:
    """A stored event that could not be decoded (an unknown topic, a broken document).

    The log hands it over in its place, so that the worker can apply its projection's failure
    policy to that one event (projections.failures) and status can show it.
    """

    originator_id: UUID | str
    originator_version: int
    topic: str
    error: str
    """The decoding error, as text."""

    @classmethod
    def of(cls, stored: StoredEvent, error: BaseException) -> Undecodable:
        """The stored event that raised error when decoded."""
        return cls(
            stored.originator_id,
            stored.originator_version,
            stored.topic,
            f"{type(error).__name__}: {error}",
        )


DIGITS_AS_ZEROS = bytes.maketrans(b"0123456789", b"0000000000")
LONG_NUMBER = b"0" * 19
"""Nineteen digits in a row (once every digit reads 0): maybe an integer beyond 64 bits."""


UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
"""What no store can hold in its text: NUL (PostgreSQL text and jsonb) and lone surrogates
(anything that must encode to UTF-8: PostgreSQL, Redis, OpenSearch, files)."""
UNSTORABLE_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")
"""How those characters appear in a JSON document (escaped: JSON holds neither raw)."""
REPLACEMENT = "\ufffd"


def storable(value: Any) -> Any:
    """value with NUL and lone surrogates replaced by U+FFFD in every string, keys included."""
    if type(value) is str:
        return UNSTORABLE.sub(REPLACEMENT, value)
    if type(value) is dict:
        return {storable(key): storable(item) for key, item in value.items()}
    if type(value) is list:
        return [storable(item) for item in value]
    return value


class FastJSONTranscoder(JSONTranscoder):
    """Decodes what JSONTranscoder encodes, to the same objects, parsing with orjson.

    The library's decoder calls a Python hook on every JSON object; this one parses in C and
    then revives only the objects that hold a transcoded value ({"_type_", "_data_"}),
    innermost first as the hook does. It stops walking once it has revived as many as the
    document names "_type_" keys (most events hold them all at the top level). A document
    with a number of 19 digits or more (orjson reads an integer beyond 64 bits as a float),
    or one orjson refuses, is parsed by the standard library instead.

    Every string comes out storable: an event may hold text that no store can (a NUL, a lone
    surrogate, written before the command API refused them or by another writer), and one such
    event must not stop a projection for good. Each of those characters becomes U+FFFD, the
    same on every store and in every replay.
    """

    def decode(self, data: bytes) -> Any:
        """The object data encodes, with every string storable."""
        parsed = self._parse(data)
        if UNSTORABLE_ESCAPE.search(data):
            parsed = storable(parsed)
        left = data.count(b'"_type_"')
        return self._revive(parsed, left)[0] if left else parsed

    @staticmethod
    def _parse(data: bytes) -> Any:
        if LONG_NUMBER not in data.translate(DIGITS_AS_ZEROS):
            try:
                return orjson.loads(data)
            except orjson.JSONDecodeError:
                pass
        return json.loads(data)

    def _revive(self, value: Any, left: int) -> tuple[Any, int]:
        """value with its transcoded objects decoded, and how many "_type_" keys are unseen."""
        if type(value) is dict:
            if len(value) == 2 and "_type_" in value and "_data_" in value:
                name, left = self._revive(value["_type_"], left - 1)
                data, left = self._revive(value["_data_"], left)
                return self._transcoding(name).decode(data), left
            for key, item in value.items():
                if not left:
                    break
                if type(item) is dict or type(item) is list:
                    value[key], left = self._revive(item, left)
        elif type(value) is list:
            for index, item in enumerate(value):
                if not left:
                    break
                if type(item) is dict or type(item) is list:
                    value[index], left = self._revive(item, left)
        return value, left

    def _transcoding(self, name: str) -> Any:
        transcoding = self.names.get(name)
        if transcoding is None:
            raise TranscodingNotRegisteredError(f"no transcoding named {name!r}")
        return transcoding


class ContextLog(Application[UUID]):
    """Read-only access to the log named log_name, with the same persistence as the writers."""

    transient_errors = TRANSIENT
    """Errors from reading the log that mean its store is unavailable for now (retried)."""

    def __init__(self, env: Mapping[str, str], log_name: str) -> None:
        self.log_name = log_name
        super().__init__(env=dict(env))
        self._select: Composed | None = None
        if isinstance(self.recorder, PostgresApplicationRecorder):
            self._select = SQL(
                "SELECT notification_id, originator_id, originator_version, topic, state "
                "FROM {}.{} WHERE notification_id > %s ORDER BY notification_id LIMIT %s"
            ).format(
                Identifier(self.recorder.datastore.schema),
                Identifier(self.recorder.events_table_name),
            )

    def construct_env(self, name: str, env: Mapping[str, str] | None = None) -> Environment:
        """Use only the given environment, named for the log (so the same table is read)."""
        values = dict(env or {})
        values["CREATE_TABLE"] = values.get("CREATE_TABLE", "y")
        return Environment(self.log_name, values)

    def construct_transcoder(self) -> Transcoder:
        """The library's JSON transcoder, or FastJSONTranscoder in its place (it only reads)."""
        transcoder = super().construct_transcoder()
        if type(transcoder) is not JSONTranscoder:
            return transcoder
        fast = FastJSONTranscoder()
        self.register_transcodings(fast)
        return fast

    def read(self, after: int, limit: int) -> list[Positioned]:
        """Up to limit events recorded after the given position, oldest first.

        An event that cannot be decoded comes as an Undecodable in its place. On PostgreSQL
        the rows come in binary, as tuples (the library's reader asks for text and builds a
        dict per row, which costs more than decoding the event).
        """
        if self._select is None:
            notifications = self.recorder.select_notifications(
                start=after, limit=limit, inclusive_of_start=False
            )
            return self._decoded([(n.id, n) for n in notifications])
        assert isinstance(self.recorder, PostgresApplicationRecorder)
        with (
            self.recorder.datastore.get_connection() as conn,
            conn.cursor(row_factory=tuple_row, binary=True) as cursor,
        ):
            rows = cursor.execute(self._select, (after, limit), prepare=True).fetchall()
        return self._decoded([(row[0], StoredEvent(*row[1:])) for row in rows])

    def _decoded(self, stored: list[tuple[int, StoredEvent]]) -> list[Positioned]:
        """Each stored event decoded; one that cannot be is handed over as Undecodable."""
        name, to_event = self.log_name, self.mapper.to_domain_event
        try:
            return [Positioned(name, position, to_event(event)) for position, event in stored]
        except self.transient_errors:
            raise
        except Exception:
            return [Positioned(name, position, self._decode(event)) for position, event in stored]

    def _decode(self, stored: StoredEvent) -> Any:
        try:
            return self.mapper.to_domain_event(stored)
        except self.transient_errors:
            raise
        except Exception as error:
            return Undecodable.of(stored, error)

    def head(self) -> int:
        """The position of the last event in the log (0 when empty)."""
        return self.recorder.max_notification_id() or 0
