"""The event store's mapper with personal data sealed per person (crypto-shredding).

Before an event is encoded, each personal path the policy names for its class is taken out
of its state and sealed, with the person's data key, into the `_personal_` list of the
stored state: `{"person": id, "paths": [...], "sealed": base64}`. Decoding puts them back
before upcasting, so upcasters see whole events; once the person's key is erased, each path
reads ERASED. An event written for a person already erased is stored with ERASED in place.

With keys_in_append, the first event of a person's own stream is sealed with a key made
here, carried to the recorder on the stored event (SealedStoredEvent.new_keys) and stored
in the append's transaction (infra.personal.keys), at no extra round trip.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from eventsourcing.domain import AggregateCreated
from eventsourcing.persistence import Mapper, StoredEvent, Transcoder

from infra.personal.cipher import new_data_key, seal, unseal
from infra.personal.keys import KeyStore

ENVELOPE = "_personal_"
ERASED = "erased"
OWN_STREAM = "originator_id"


@dataclass(frozen=True)
class SealedStoredEvent(StoredEvent):
    """A stored event with the keys made to seal it: (person, key) pairs to store with it."""

    new_keys: tuple[tuple[str, bytes], ...] = ()


class PersonalFields(Protocol):
    """Whose personal data an event holds (the field naming the person) and where (paths)."""

    @property
    def person(self) -> str:
        """The event's field that holds the person's id."""

    @property
    def paths(self) -> tuple[str, ...]:
        """The fields ("field") or dict keys ("field.key") that hold their personal data."""


class Policy(Protocol):
    """Which event classes carry whose personal data, and which record an erasure."""

    @property
    def fields(self) -> Mapping[type, Sequence[PersonalFields]]:
        """The personal fields of each event class that has some."""

    @property
    def erasures(self) -> Mapping[type, str]:
        """Each erasure event class, with its field naming the person erased."""


class PersonalTranscoder(Transcoder):
    """The inner transcoder, whose decode puts sealed personal data back (or ERASED)."""

    def __init__(self, inner: Transcoder, keys: KeyStore) -> None:
        self.inner = inner
        self.keys = keys

    def encode(self, obj: Any) -> bytes:
        """The inner transcoder's encoding."""
        return self.inner.encode(obj)

    def decode(self, data: bytes) -> Any:
        """The inner decoding, with each sealed group opened, or ERASED once its key is gone."""
        state = self.inner.decode(data)
        if type(state) is dict and ENVELOPE in state:
            for group in state.pop(ENVELOPE):
                self._open(state, group)
        return state

    def _open(self, state: dict[str, Any], group: dict[str, Any]) -> None:
        key = self.keys.key_for_reading(group["person"])
        if key is None:
            values = dict.fromkeys(group["paths"], ERASED)
        else:
            sealed = base64.b64decode(group["sealed"])
            values = self.inner.decode(unseal(key, group["person"], sealed))
        for path, value in values.items():
            _put(state, path, value)


class PersonalDataMapper(Mapper[Any]):
    """A mapper that seals the personal paths of the policy's event classes (see the module)."""

    def __init__(
        self,
        transcoder: Transcoder,
        keys: KeyStore,
        policy: Policy,
        *,
        keys_in_append: bool = False,
        **kwargs: Any,
    ):
        super().__init__(PersonalTranscoder(transcoder, keys), **kwargs)
        self.keys = keys
        self.keys_in_append = keys_in_append
        self.policy = {cls: tuple(groups) for cls, groups in policy.fields.items()}
        self.erasures = dict(policy.erasures)

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        """The stored event, with the personal paths sealed for their persons."""
        groups = self.policy.get(type(domain_event))
        if not groups:
            return super().to_stored_event(domain_event)
        new_keys: list[tuple[str, bytes]] = []
        stored = super().to_stored_event(self._sealed(domain_event, groups, new_keys))
        if not new_keys:
            return stored
        return SealedStoredEvent(
            stored.originator_id,
            stored.originator_version,
            stored.topic,
            stored.state,
            new_keys=tuple(new_keys),
        )

    def key_rows_exist(self, domain_events: Iterable[Any]) -> None:
        """Note that the persons new in these events have key rows (an append found them)."""
        for event in domain_events:
            for group in self.policy.get(type(event), ()):
                if group.person == OWN_STREAM:
                    self.keys.has_row(str(event.originator_id))

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        """The domain event; an erasure also makes this process forget the person's key."""
        event = super().to_domain_event(stored_event)
        field = self.erasures.get(type(event))
        if field is not None:
            self.keys.forget(str(getattr(event, field)))
        return event

    def erase(self, person: str) -> None:
        """Erase the person's key: their personal data reads ERASED from now on, everywhere."""
        self.keys.erase(person)

    def forget(self, person: str) -> None:
        """Drop this process's copy of the person's key (erased through another mapper)."""
        self.keys.forget(person)

    def _key(
        self, event: Any, group: PersonalFields, new_keys: list[tuple[str, bytes]]
    ) -> bytes | None:
        person = str(getattr(event, group.person))
        if (
            self.keys_in_append
            and group.person == OWN_STREAM
            and isinstance(event, AggregateCreated)
            and self.keys.may_be_new(person)
        ):
            key = new_data_key()
            new_keys.append((person, key))
            return key
        return self.keys.key_for_writing(person)

    def _sealed(
        self, event: Any, groups: tuple[PersonalFields, ...], new_keys: list[tuple[str, bytes]]
    ) -> Any:
        state = dict(vars(event))
        self.seal_state(state, groups, lambda group: self._key(event, group, new_keys))
        copy = object.__new__(type(event))
        object.__setattr__(copy, "__dict__", state)
        return copy

    def seal_state(
        self,
        state: dict[str, Any],
        groups: Sequence[PersonalFields],
        key_of: Callable[[PersonalFields], bytes | None] | None = None,
    ) -> bool:
        """Seal the groups' paths of an event's state in place, each with its person's key
        (ERASED where the person is erased); whether any path held a value."""
        held = False
        envelope = []
        for group in groups:
            person = str(state[group.person])
            values = {path: _take(state, path) for path in group.paths}
            present = {path: value for path, value in values.items() if value is not None}
            held = held or bool(present)
            key = key_of(group) if key_of else self.keys.key_for_writing(person)
            if key is None:
                for path in present:
                    _put(state, path, ERASED)
                continue
            sealed = seal(key, person, self.transcoder.encode(present))
            envelope.append(
                {
                    "person": person,
                    "paths": list(present),
                    "sealed": base64.b64encode(sealed).decode(),
                }
            )
        if envelope:
            state[ENVELOPE] = envelope
        return held


def _take(state: dict[str, Any], path: str) -> Any:
    """Remove and return the value at path ("field" or "field.key"); None when absent."""
    field, _, key = path.partition(".")
    if not key:
        return state.pop(field, None)
    inner = state.get(field)
    if not isinstance(inner, dict) or key not in inner:
        return None
    state[field] = rest = dict(inner)
    return rest.pop(key)


def _put(state: dict[str, Any], path: str, value: Any) -> None:
    field, _, key = path.partition(".")
    if not key:
        state[field] = value
    elif isinstance(state.get(field), dict):
        state[field][key] = value
