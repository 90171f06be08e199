"""Every snapshot shape ever stored is still read, and a changed shape bumps its version."""

from __future__ import annotations

from typing import Any

from commands.snapshots import restored
from domain.inventory import StockItem
from tests.evolution.samples import COMMAND, Sample, corpus_mapper
from tests.evolution.snapshot_samples import (
    BUILDERS,
    snapshot_path,
    snapshot_sample,
    snapshotted,
)

WRITE = f"{COMMAND.replace('samples', 'snapshot_samples')} write --missing"


def test_stock_items_and_carts_are_snapshotted_and_each_has_an_example() -> None:
    kinds = snapshotted()
    assert StockItem in kinds
    missing = [cls.__qualname__ for cls in kinds if cls not in BUILDERS]
    assert missing == [], f"add an example of {missing} to BUILDERS in snapshot_samples.py"


def stored(cls: type[Any]) -> list[Sample]:
    folder = snapshot_path(cls, 1).parent
    return [
        Sample.from_json(path.read_text())
        for path in sorted(folder.glob(f"{cls.__module__}.{cls.__qualname__}.v*.json"))
    ]


def test_each_snapshotted_aggregate_keeps_the_state_shape_of_its_class_version() -> None:
    problems = []
    for cls in snapshotted():
        now = snapshot_sample(BUILDERS[cls]())
        kept = {s.class_version: s for s in stored(cls)}.get(now.class_version)
        if kept is None:
            problems.append(f"{cls.__qualname__}: no snapshot sample; run `{WRITE}`")
        elif kept.fingerprint != now.fingerprint:
            problems.append(
                f"{cls.__qualname__}.snapshot_state() changed its keys (was {kept.fingerprint}, "
                f"now {now.fingerprint}) but class_version is still {now.class_version}: set "
                f"class_version = {now.class_version + 1} on {cls.__qualname__}, add "
                f"upcast_v{now.class_version}_v{now.class_version + 1}(state) to it so stored "
                f"snapshots stay useful, and run `{WRITE}`."
            )
    assert problems == [], "\n\n".join(problems)


def test_every_stored_snapshot_shape_restores_with_todays_code() -> None:
    mapper = corpus_mapper()
    for cls in snapshotted():
        for sample in stored(cls):
            snapshot = mapper.to_domain_event(sample.stored())
            again = restored(snapshot)
            assert again is not None, (
                f"{cls.__qualname__} v{sample.class_version} no longer restores"
            )
            assert isinstance(again.aggregate, cls)
            assert again.aggregate.version == sample.originator_version
