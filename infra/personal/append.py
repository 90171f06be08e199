"""The event store that stores new persons' keys in the append that seals their data."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import EventStore, IntegrityError, Notification, Recording

from infra.personal.keys import key_taken
from infra.personal.mapper import PersonalDataMapper, SealedStoredEvent


class SealingEventStore(EventStore[Any]):
    """Puts events as the library does, in one append that also stores the keys made to
    seal them; when it finds a new person's key row already there (key_taken), it notes
    the rows and puts them again, sealed with the stored keys. Keys that committed are
    cached."""

    def put(self, domain_events: Sequence[Any], **kwargs: Any) -> list[Recording[Any]]:
        """Store the events in one append (two when a person thought new had a key row)."""
        mapper = self.mapper
        assert isinstance(mapper, PersonalDataMapper)
        stored = [mapper.to_stored_event(e) for e in domain_events]
        try:
            ids = self.recorder.insert_events(stored, **kwargs)
        except IntegrityError as error:
            if not key_taken(error):
                raise
            mapper.key_rows_exist(domain_events)
            stored = [mapper.to_stored_event(e) for e in domain_events]
            ids = self.recorder.insert_events(stored, **kwargs)
        for event in stored:
            if isinstance(event, SealedStoredEvent):
                for person, key in event.new_keys:
                    mapper.keys.remember(person, key)
        if not ids:
            return []
        return [
            Recording(d, Notification(s.originator_id, s.originator_version, s.topic, s.state, n))
            for d, s, n in zip(domain_events, stored, ids, strict=True)
        ]
