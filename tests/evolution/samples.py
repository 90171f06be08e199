"""The evolution corpus: one stored sample of every event class at every class_version.

A sample is what the recorder stores for an event: its topic and its state bytes, as the
application's mapper (transcoder) writes them, with the originator id and version the store
keeps beside them, and the fingerprint of the class's fields when it was written.

    python -m tests.evolution.samples missing   # list event classes without a current sample
    python -m tests.evolution.samples write TOPIC [TOPIC ...]   # store their current samples
    python -m tests.evolution.samples write --missing           # store every missing sample

Event classes are found, not listed: every event class declared on an aggregate in the
packages of PACKAGES. See tests/evolution/README.md.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import pkgutil
import sys
import types
import typing
from collections.abc import Iterator
from dataclasses import MISSING, dataclass, fields
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, CanMutateAggregate
from eventsourcing.persistence import Mapper, StoredEvent
from eventsourcing.utils import get_topic

PACKAGES = ("domain", "commands", "workers")
"""The packages whose aggregates' events are stored (and so kept in the corpus)."""
CORPUS = Path(__file__).parent / "corpus"
COMMAND = "python -m tests.evolution.samples"
AT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
ORIGINATOR = UUID("0e0e0e0e-1111-4222-8333-444455556666")
EXAMPLE_UUID = UUID("12345678-9abc-4def-8123-456789abcdef")
META = {
    "event_id": "5a0f7f3c-0000-5000-8000-000000000001",
    "actor": "sample-actor",
    "role": "system",
    "request_id": "sample-request",
    "correlation_id": "sample-correlation",
    "causation_id": "sample-cause",
}
ADDRESS = {
    "name": "Sam Example",
    "line1": "1 Example Street",
    "line2": "",
    "city": "Leeds",
    "postal_code": "LS1 1AA",
    "country": "GB",
}
LINES = [
    {
        "product_id": EXAMPLE_UUID,
        "seller_id": EXAMPLE_UUID,
        "title": "Example",
        "unit_price": {"minor": 1999, "currency": "EUR"},
        "quantity": 2,
    }
]
EXAMPLES: dict[str, dict[str, Any]] = {
    "domain.order:Order.Placed": {"lines": LINES, "ship_to": ADDRESS, "currency": "EUR"},
    "domain.fulfilment:Fulfilment.Opened": {
        "lines": LINES,
        "ship_to": ADDRESS,
        "ship_from": ADDRESS,
    },
    "domain.inventory:StockItem.ReservationReleased": {
        "reason": "order expired",
        "cause": "expired",
    },
}
"""Field values for samples where the generic example of a field's type is not enough,
by topic (e.g. a field whose records must hold certain keys)."""


@dataclass(frozen=True)
class Sample:
    """One stored event of a class at one class_version, as the store holds it."""

    topic: str
    class_version: int
    fingerprint: list[str]
    originator_id: UUID
    originator_version: int
    state: bytes

    @property
    def path(self) -> Path:
        """Where this sample lives in the corpus."""
        return CORPUS / f"{self.topic.replace(':', '.')}.v{self.class_version}.json"

    def stored(self) -> StoredEvent:
        """The sample as the recorder hands it to the mapper."""
        return StoredEvent(self.originator_id, self.originator_version, self.topic, self.state)

    def to_json(self) -> str:
        """The sample's file: readable, with the exact state bytes as text (or base64)."""
        document = {
            "topic": self.topic,
            "class_version": self.class_version,
            "fingerprint": self.fingerprint,
            "originator_id": str(self.originator_id),
            "originator_version": self.originator_version,
            "state": self.state.decode("utf-8"),
        }
        return json.dumps(document, indent=2, ensure_ascii=False) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Sample:
        """A sample read back from its file."""
        document = json.loads(text)
        return cls(
            topic=document["topic"],
            class_version=int(document["class_version"]),
            fingerprint=list(document["fingerprint"]),
            originator_id=UUID(document["originator_id"]),
            originator_version=int(document["originator_version"]),
            state=document["state"].encode("utf-8"),
        )


def class_version(event_class: type[Any]) -> int:
    """The version of the event class's fields (1 unless the class says otherwise)."""
    return int(getattr(event_class, "class_version", 1))


def fingerprint(event_class: type[Any]) -> list[str]:
    """The class's fields as written: name, annotation, and whether it has a default."""
    return [
        f"{field.name}: {field.type}"
        + (" = ..." if field.default is not MISSING or field.default_factory is not MISSING else "")
        for field in fields(event_class)
    ]


def digest(lines: list[str]) -> str:
    """A short hash of a fingerprint, for messages."""
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:12]


def _subclasses(cls: type[Any]) -> Iterator[type[Any]]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def _ours(cls: type[Any]) -> bool:
    return cls.__module__.split(".")[0] in PACKAGES


def _declared(aggregate: type[Any], value: Any) -> bool:
    """Whether value is an event class written in the aggregate's body (not one the library
    derived for it, such as the Event and Created every aggregate gets)."""
    if not isinstance(value, type) or not issubclass(value, CanMutateAggregate):
        return False
    if value.__qualname__.rsplit(".", 1)[0] != aggregate.__qualname__:
        return False
    return any(
        base.__qualname__ == value.__qualname__ and base.__module__ == value.__module__
        for base in value.__mro__[1:]
    )


def import_packages() -> None:
    """Import every module of PACKAGES, so that every aggregate is defined."""
    for name in PACKAGES:
        package = importlib.import_module(name)
        for module in pkgutil.walk_packages(package.__path__, f"{name}."):
            importlib.import_module(module.name)


def event_classes() -> dict[str, type[Any]]:
    """Every stored event class, by topic: the event classes declared on each concrete
    aggregate of PACKAGES (an aggregate that others extend is a base, never stored)."""
    import_packages()
    aggregates = {cls for cls in _subclasses(Aggregate) if _ours(cls)}
    found: dict[str, type[Any]] = {}
    for aggregate in aggregates:
        if any(sub in aggregates for sub in aggregate.__subclasses__()):
            continue
        for value in vars(aggregate).values():
            if _declared(aggregate, value):
                found[get_topic(value)] = value
    return dict(sorted(found.items()))


def example(hint: Any) -> Any:
    """A plain example value of a type hint, as domain events hold them."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return example(next(arg for arg in args if arg is not type(None)))
    if origin in (list, tuple, set, frozenset) or hint in (list, tuple):
        return [example(args[0] if args else str)]
    if origin is dict or hint is dict:
        return {example(args[0]) if args else "key": example(args[1]) if args else "value"}
    simple: dict[Any, Any] = {
        UUID: EXAMPLE_UUID,
        datetime: AT,
        str: "example",
        int: 7,
        bool: True,
        float: 1.5,
        Decimal: Decimal("1.50"),
        Any: "example",
    }
    if hint in simple:
        return simple[hint]
    raise TypeError(f"no example value for {hint!r}: add the field to EXAMPLES in {__name__}")


def build_event(topic: str, event_class: type[Any]) -> Any:
    """An instance of the event class with example values (EXAMPLES first)."""
    hints = typing.get_type_hints(event_class)
    given = EXAMPLES.get(topic, {})
    values: dict[str, Any] = {}
    for field in fields(event_class):
        if field.name in given:
            values[field.name] = given[field.name]
        elif field.name == "originator_id":
            values[field.name] = ORIGINATOR
        elif field.name == "originator_version":
            values[field.name] = 0 if "originator_topic" in hints else 1
        elif field.name == "timestamp":
            values[field.name] = AT
        elif field.name == "meta":
            values[field.name] = dict(META)
        elif field.name == "originator_topic":
            values[field.name] = topic.rsplit(".", 1)[0]
        else:
            values[field.name] = example(hints[field.name])
    return event_class(**values)


def sample_of(topic: str, event_class: type[Any], mapper: Mapper[UUID]) -> Sample:
    """The sample of the event class at its current class_version, stored by mapper."""
    stored = mapper.to_stored_event(build_event(topic, event_class))
    return Sample(
        topic=topic,
        class_version=class_version(event_class),
        fingerprint=fingerprint(event_class),
        originator_id=ORIGINATOR,
        originator_version=stored.originator_version,
        state=stored.state,
    )


def corpus_mapper() -> Mapper[UUID]:
    """The mapper the applications store events with (the same transcodings)."""
    from commands.base import ContextApplication

    app = ContextApplication(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    return app.mapper


def load_corpus() -> list[Sample]:
    """Every sample in the corpus."""
    return [Sample.from_json(path.read_text()) for path in sorted(CORPUS.glob("*.json"))]


def missing(classes: dict[str, type[Any]], samples: list[Sample]) -> list[str]:
    """Topics of classes with no sample at their current class_version."""
    have = {(s.topic, s.class_version) for s in samples}
    return [t for t, cls in classes.items() if (t, class_version(cls)) not in have]


def write(topics: list[str]) -> list[Path]:
    """Store the current sample of each topic's class; an existing sample is never replaced."""
    classes = event_classes()
    mapper = corpus_mapper()
    written = []
    for topic in topics:
        if topic not in classes:
            raise SystemExit(f"{topic} is not a stored event class (see {COMMAND} missing)")
        sample = sample_of(topic, classes[topic], mapper)
        if sample.path.exists():
            raise SystemExit(
                f"{sample.path.name} exists: a stored sample is never rewritten. If the "
                f"fields changed, bump class_version and add an upcaster (see the README)."
            )
        CORPUS.mkdir(exist_ok=True)
        sample.path.write_text(sample.to_json())
        written.append(sample.path)
    return written


def main(argv: list[str]) -> None:
    """The command line (see the module)."""
    if argv[:1] == ["missing"]:
        print("\n".join(missing(event_classes(), load_corpus())) or "none missing")
    elif argv[:1] == ["write"] and argv[1:] == ["--missing"]:
        for path in write(missing(event_classes(), load_corpus())):
            print(f"wrote {path}")
    elif argv[:1] == ["write"] and argv[1:]:
        for path in write(argv[1:]):
            print(f"wrote {path}")
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
