"""The written-aggregate copies: bounded, taken out while in use, bypassed while stale."""

from __future__ import annotations

import random
from uuid import uuid4

from commands.written import STALE_LIMIT, WrittenAggregates


def test_take_removes_and_put_returns() -> None:
    copies = WrittenAggregates(maxsize=2)
    a, b, c = uuid4(), uuid4(), uuid4()
    copies.put(a, "A")
    assert copies.take(a) == "A"
    assert copies.take(a) is None
    copies.put(a, "A")
    copies.put(b, "B")
    copies.put(c, "C")
    assert copies.take(a) is None, "the least recently written copy was not evicted"
    assert (copies.take(b), copies.take(c)) == ("B", "C")


def test_mostly_stale_copies_are_bypassed_and_probed_again() -> None:
    random.seed(7)
    copies = WrittenAggregates()
    for _ in range(200):
        copies.report(stale=True)
    assert copies.stale_rate > STALE_LIMIT
    ids = [uuid4() for _ in range(1000)]
    for aggregate_id in ids:
        copies.put(aggregate_id, "copy")
    handed_out = sum(copies.take(aggregate_id) is not None for aggregate_id in ids)
    assert 0 < handed_out < 100, "stale copies should only be handed out as rare probes"
    for _ in range(300):
        copies.report(stale=False)
    assert copies.stale_rate < STALE_LIMIT
    copies.put(ids[0], "copy")
    assert copies.take(ids[0]) == "copy"
