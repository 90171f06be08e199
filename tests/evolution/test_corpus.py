"""Every event class ever stored can still be read: the corpus against today's code."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from uuid import UUID

import pytest
from eventsourcing import utils
from eventsourcing.persistence import Mapper
from eventsourcing.utils import get_topic

from domain.base import MarketplaceAggregate
from domain.cart import Cart
from domain.customer import Customer
from domain.inventory import StockItem
from tests.evolution.checks import decoding_problems, fingerprint_problems
from tests.evolution.samples import (
    Sample,
    class_version,
    corpus_mapper,
    event_classes,
    load_corpus,
    sample_of,
)


@pytest.fixture(scope="module")
def classes() -> dict[str, type[Any]]:
    return event_classes()


@pytest.fixture(scope="module")
def mapper() -> Mapper[UUID]:
    return corpus_mapper()


def test_event_classes_are_found_without_a_list(classes: dict[str, type[Any]]) -> None:
    assert classes["domain.inventory:StockItem.UnitsReserved"] is StockItem.UnitsReserved
    assert classes["domain.cart:Cart.Created"] is Cart.Created
    assert get_topic(Customer.Created) not in classes  # derived by the library, never stored
    assert get_topic(StockItem.Event) not in classes
    assert get_topic(MarketplaceAggregate.Event) not in classes


def test_every_event_class_carries_a_version(classes: dict[str, type[Any]]) -> None:
    unversioned = [t for t, cls in classes.items() if not isinstance(cls.class_version, int)]
    assert unversioned == []
    assert all(class_version(cls) >= 1 for cls in classes.values())


def test_every_event_class_has_a_sample_of_its_current_fields(
    classes: dict[str, type[Any]],
) -> None:
    problems = fingerprint_problems(classes, load_corpus())
    assert problems == [], "\n\n".join(problems)


def test_the_whole_corpus_decodes_with_todays_code(
    classes: dict[str, type[Any]], mapper: Mapper[UUID]
) -> None:
    samples = load_corpus()
    assert len(samples) >= len(classes)
    problems = decoding_problems(classes, samples, mapper)
    assert problems == [], "\n\n".join(problems)


def forget_throwaway_topics() -> None:
    """Let the library register Gadget's topics anew (it refuses a second class for one)."""
    for topic in [t for t in utils._topic_cache if ":throwaway.<locals>.Gadget" in t]:
        del utils._topic_cache[topic]


@pytest.fixture(autouse=True)
def no_throwaway_left() -> Iterator[None]:
    yield
    forget_throwaway_topics()


def throwaway(shape: str) -> type[Any]:
    """Gadget.Tuned, the event of a throwaway aggregate, as first written ("v1"), with a
    field added and nothing else ("changed"), or with the field added properly ("v2").
    Its topic resolves to the shape made last, as if the code had been edited."""
    forget_throwaway_topics()
    if shape == "v1":

        class Gadget(MarketplaceAggregate):
            class Tuned(MarketplaceAggregate.Event):
                level: int

    elif shape == "changed":

        class Gadget(MarketplaceAggregate):  # type: ignore[no-redef]
            class Tuned(MarketplaceAggregate.Event):
                level: int
                unit: str

    else:

        class Gadget(MarketplaceAggregate):  # type: ignore[no-redef]
            class Tuned(MarketplaceAggregate.Event):
                class_version = 2
                level: int
                unit: str

                @staticmethod
                def upcast_v1_v2(state: dict[str, Any]) -> None:
                    state["unit"] = "dB"

    utils.register_topic(get_topic(Gadget.Tuned), Gadget.Tuned)
    return Gadget.Tuned


@pytest.fixture
def v1_sample(mapper: Mapper[UUID]) -> Sample:
    tuned = throwaway("v1")
    return sample_of(get_topic(tuned), tuned, mapper)


def test_a_field_added_without_a_version_bump_fails_and_says_what_to_do(
    v1_sample: Sample, mapper: Mapper[UUID]
) -> None:
    changed = throwaway("changed")

    (problem,) = fingerprint_problems({v1_sample.topic: changed}, [v1_sample])

    assert "its fields changed but its class_version is still 1" in problem
    assert "added ['unit: str']" in problem
    assert "class_version = 2" in problem
    assert "upcast_v1_v2(state: dict)" in problem
    assert f"python -m tests.evolution.samples write {v1_sample.topic}" in problem
    (unreadable,) = decoding_problems({v1_sample.topic: changed}, [v1_sample], mapper)
    assert "decodes without ['unit']" in unreadable


def test_a_bumped_version_with_its_upcaster_and_sample_passes(
    v1_sample: Sample, mapper: Mapper[UUID]
) -> None:
    v2 = throwaway("v2")
    (missing,) = fingerprint_problems({v1_sample.topic: v2}, [v1_sample])
    assert "has no sample" in missing

    samples = [v1_sample, sample_of(v1_sample.topic, v2, mapper)]

    assert fingerprint_problems({v1_sample.topic: v2}, samples) == []
    assert decoding_problems({v1_sample.topic: v2}, samples, mapper) == []
    old = mapper.to_domain_event(v1_sample.stored())
    assert (type(old), old.level, old.unit) == (v2, 7, "dB")  # type: ignore[attr-defined]


def test_a_lost_sample_of_an_older_version_is_reported(
    v1_sample: Sample, mapper: Mapper[UUID]
) -> None:
    v2 = throwaway("v2")

    (problem,) = fingerprint_problems(
        {v1_sample.topic: v2}, [sample_of(v1_sample.topic, v2, mapper)]
    )

    assert "no sample at class_version 1" in problem


def test_a_version_1_release_gets_the_cause_of_its_reason(mapper: Mapper[UUID]) -> None:
    (v1,) = [
        s
        for s in load_corpus()
        if s.topic == get_topic(StockItem.ReservationReleased) and s.class_version == 1
    ]

    event = mapper.to_domain_event(v1.stored())

    assert isinstance(event, StockItem.ReservationReleased)
    assert (event.reason, event.cause, event.quantity) == ("order expired", "expired", 7)
