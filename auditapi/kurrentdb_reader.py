"""The audit reader on KurrentDB: every context writes to the one log of all streams, so a
context's log is that log filtered by its event types (the topics of its aggregates' modules).

KurrentDB cannot filter on the payload: actor, time and correlation filters are applied here,
page by page, on events the server has already narrowed to the context.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from kurrentdbclient import DEFAULT_EXCLUDE_FILTER, KurrentDBClient, RecordedEvent
from kurrentdbclient.exceptions import NotFoundError

from auditapi.events import EventDecoder, Recorded, event_type
from auditapi.reader import CONTEXT_OF_MODULE, LogQuery, StreamQuery, TracePoint, context_of

PAGE = 500
"""Events read from the server at a time while a filter is applied here."""
EXCLUDE = (*DEFAULT_EXCLUDE_FILTER, ".*Snapshot")


class KurrentDBEventReader:
    """Reads the contexts' events from one KurrentDB; logs names the contexts (or the one
    shared log, which holds every event)."""

    def __init__(
        self, client: KurrentDBClient, logs: tuple[str, ...], decoder: EventDecoder | None = None
    ) -> None:
        self.client = client
        self.logs = logs
        self.decoder = decoder or EventDecoder()

    def stream(self, stream_id: UUID, query: StreamQuery, limit: int) -> list[Recorded]:
        """Up to limit events of one aggregate that match query, in version order."""
        after = query.after_version
        if query.to_version is not None:
            limit = max(0, min(limit, query.to_version - after))
        if limit == 0:
            return []
        try:
            found = self.client.read_stream(str(stream_id), stream_position=after + 1, limit=limit)
            return [self._recorded(event) for event in found]
        except NotFoundError:
            return []

    def log(self, name: str, query: LogQuery, limit: int) -> list[Recorded]:
        """Up to limit events of the named log matching query, in position order."""
        found: list[Recorded] = []
        for event in self._all(self._include(name), query.after):
            if query.until_position is not None and event.commit_position > query.until_position:
                break
            if _matches(query, event):
                found.append(self._recorded(event))
                if len(found) == limit:
                    break
        return found

    def head(self, name: str) -> int:
        """The commit position of the named log's last event (0 when empty)."""
        return self.client.get_commit_position(
            filter_include=self._include(name), filter_exclude=EXCLUDE
        )

    def chain_hashes(self, log: str, positions: Sequence[int]) -> dict[int, str]:
        """None yet: the KurrentDB appends are not chained (infra.audit chains PostgreSQL's)."""
        return {}

    def correlated(
        self, correlation_id: str, limit: int, after: TracePoint | None = None
    ) -> list[Recorded]:
        """Up to limit events of every context carrying this correlation id, after the point
        given, in trace order. A scan of the log of all streams: the correlation id is inside
        the payload, which KurrentDB does not index; only the flow's events are held."""
        flow: list[tuple[TracePoint, Recorded]] = []
        for event in self._all([], 0):
            document = _document(event)
            if document.get("meta", {}).get("correlation_id") == correlation_id:
                recorded = self._recorded(event)
                at = datetime.fromisoformat(document["timestamp"]["_data_"])
                point = TracePoint(at, recorded.log, recorded.position)
                if after is None or after < point:
                    flow.append((point, recorded))
        flow.sort(key=lambda found: found[0])
        return [recorded for _, recorded in flow[:limit]]

    def close(self) -> None:
        """Close the client."""
        self.client.close()

    def _include(self, name: str) -> list[str]:
        if name not in self.logs:
            raise KeyError(name)
        modules = [module for module, context in CONTEXT_OF_MODULE.items() if context == name]
        return [f"{re.escape(module)}:.*" for module in modules]

    def _all(self, include: list[str], after: int) -> Iterator[RecordedEvent]:
        while True:
            page = [
                event
                for event in self.client.read_all(
                    commit_position=after or None,
                    filter_include=include,
                    filter_exclude=EXCLUDE,
                    limit=PAGE + 1,
                )
                if event.commit_position > after
            ]
            if not page:
                return
            yield from page
            after = page[-1].commit_position

    def _recorded(self, event: RecordedEvent) -> Recorded:
        log = context_of(event.type) if len(self.logs) > 1 else self.logs[0]
        stored = StoredEvent(UUID(event.stream_name), event.stream_position, event.type, event.data)
        return Recorded(log, event.commit_position, stored)


def _document(event: RecordedEvent) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(event.data)
    return document


def _matches(query: LogQuery, event: RecordedEvent) -> bool:
    if query.event_type is not None and event_type(event.type) != query.event_type:
        return False
    if query.stream_id is not None and event.stream_name != str(query.stream_id):
        return False
    if query.actor is None and query.since is None and query.until is None:
        return True
    document = _document(event)
    if query.actor is not None and document.get("meta", {}).get("actor") != query.actor:
        return False
    at = datetime.fromisoformat(document["timestamp"]["_data_"])
    if query.since is not None and at < query.since:
        return False
    return query.until is None or at < query.until
