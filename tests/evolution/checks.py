"""What the corpus must say about today's event classes, as messages that say what to do."""

from __future__ import annotations

from dataclasses import fields
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Mapper
from eventsourcing.utils import resolve_topic

from tests.evolution.samples import COMMAND, Sample, class_version, digest, fingerprint

README = "tests/evolution/README.md"


def fingerprint_problems(classes: dict[str, type[Any]], samples: list[Sample]) -> list[str]:
    """Classes whose current version has no sample, or whose fields differ from it."""
    by_key = {(s.topic, s.class_version): s for s in samples}
    problems = []
    for topic, cls in classes.items():
        version = class_version(cls)
        sample = by_key.get((topic, version))
        if sample is None:
            problems.append(_no_sample(topic, version))
        elif sample.fingerprint != fingerprint(cls):
            problems.append(_changed(topic, version, sample.fingerprint, fingerprint(cls)))
        for older in range(1, version):
            if (topic, older) not in by_key:
                problems.append(
                    f"{topic}: no sample at class_version {older}. Every version ever stored "
                    f"keeps its sample: restore {topic.replace(':', '.')}.v{older}.json from "
                    f"git history (samples are never deleted). See {README}."
                )
    return problems


def _no_sample(topic: str, version: int) -> str:
    return (
        f"{topic} (class_version {version}) has no sample in tests/evolution/corpus/. "
        f"Run `{COMMAND} write {topic}` and commit the file it writes. See {README}."
    )


def _changed(topic: str, version: int, was: list[str], now: list[str]) -> str:
    added = [line for line in now if line not in was]
    removed = [line for line in was if line not in now]
    return (
        f"{topic}: its fields changed but its class_version is still {version} "
        f"(fingerprint {digest(was)} in the corpus, {digest(now)} now; "
        f"added {added or 'nothing'}, removed {removed or 'nothing'}). Events already "
        f"stored keep the old fields. Either undo the change, or: (1) set "
        f"class_version = {version + 1} on the event class; (2) add a static method "
        f"upcast_v{version}_v{version + 1}(state: dict) that turns a v{version} event's "
        f"state into v{version + 1} in place (fill, rename or drop fields); (3) run "
        f"`{COMMAND} write {topic}` to store the v{version + 1} sample, and keep the "
        f"v{version} sample. See {README}."
    )


def decoding_problems(
    classes: dict[str, type[Any]], samples: list[Sample], mapper: Mapper[UUID]
) -> list[str]:
    """Samples that today's code cannot read into a whole event of today's class."""
    problems = []
    for sample in samples:
        cls = classes.get(sample.topic)
        if cls is None:
            problems.append(_gone(sample))
            continue
        if sample.class_version > class_version(cls):
            problems.append(
                f"{sample.path.name}: class_version {sample.class_version} is newer than "
                f"the code's {class_version(cls)}; a version is never taken back."
            )
            continue
        problems.extend(_decode(sample, cls, mapper))
    return problems


def _gone(sample: Sample) -> str:
    try:
        resolve_topic(sample.topic)
    except Exception:
        return (
            f"{sample.path.name}: {sample.topic} no longer names an event class, but the "
            f"log still holds such events. Keep the class, or register its new place with "
            f"eventsourcing.utils.register_topic(old_topic, NewClass). See {README}."
        )
    return (
        f"{sample.path.name}: {sample.topic} is no longer declared on a concrete aggregate "
        f"of the packages searched (tests/evolution/samples.py PACKAGES)."
    )


def _decode(sample: Sample, cls: type[Any], mapper: Mapper[UUID]) -> list[str]:
    try:
        event = mapper.to_domain_event(sample.stored())
    except Exception as error:
        return [
            f"{sample.path.name} does not decode with today's code ({error!r}). If its "
            f"class changed, its upcasters must turn this state into today's fields."
        ]
    if type(event) is not cls:
        return [f"{sample.path.name} decodes to {type(event)!r}, not {cls!r}"]
    lacking = [field.name for field in fields(cls) if field.name not in vars(event)]
    if lacking:
        return [
            f"{sample.path.name} decodes without {lacking}: the upcaster from "
            f"v{sample.class_version} must set every field of class_version "
            f"{class_version(cls)}."
        ]
    return []
