"""How the event store's factories build the personal-data mapper from the environment.

PERSONAL_DATA_POLICY names (as a topic) the policy of which events carry whose personal
data; unset, events are stored as they are. The keys live in the event store's PostgreSQL
schema, or, on another event store, in the PostgreSQL that PERSONAL_DATA_KEYS_URL names
(in the schema PERSONAL_DATA_KEYS_SCHEMA, public unless set).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable
from typing import Any

from eventsourcing.domain import TAggregateID
from eventsourcing.persistence import (
    InfrastructureFactory,
    Mapper,
    Transcoder,
    TTrackingRecorder,
)
from eventsourcing.utils import resolve_topic
from psycopg_pool import ConnectionPool

from infra.personal.keys import KeyStore, PostgresKeyStore
from infra.personal.mapper import PersonalDataMapper

POLICY = "PERSONAL_DATA_POLICY"
KEYS_URL = "PERSONAL_DATA_KEYS_URL"
KEYS_SCHEMA = "PERSONAL_DATA_KEYS_SCHEMA"
KEYS_POOL_SIZE = 2


def personal_mapper(
    factory: InfrastructureFactory[Any],
    transcoder: Transcoder | None,
    keys: Callable[[], KeyStore],
) -> Mapper[Any] | None:
    """The personal-data mapper the factory's environment asks for; None if it asks for none."""
    topic = factory.env.get(POLICY)
    if not topic:
        return None
    return PersonalDataMapper(
        transcoder or factory.transcoder(),
        keys(),
        resolve_topic(topic),
        cipher=factory.cipher(),
        compressor=factory.compressor(),
    )


class PersonalDataFactory(InfrastructureFactory[TTrackingRecorder]):
    """An event store's factory whose mapper seals personal data when the environment asks."""

    @abstractmethod
    def key_store(self) -> KeyStore:
        """Where this event store keeps the data keys."""

    def mapper(
        self,
        transcoder: Transcoder | None = None,
        mapper_class: type[Mapper[TAggregateID]] | None = None,
    ) -> Mapper[TAggregateID]:
        """The personal-data mapper when the environment asks; the library's otherwise."""
        mapper = personal_mapper(self, transcoder, self.key_store)
        return mapper or super().mapper(transcoder, mapper_class)


def url_key_store(url: str, schema: str) -> KeyStore:
    """Keys in the PostgreSQL at url (for event stores other than PostgreSQL)."""
    pool: ConnectionPool[Any] = ConnectionPool(
        url, min_size=1, max_size=KEYS_POOL_SIZE, kwargs={"autocommit": True}, open=True
    )
    return PostgresKeyStore(pool.connection, schema)
