"""Read every event a flow left in the logs and check its causation links form one tree."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from commands.services import Commands

PAGE = 500


@dataclass(frozen=True)
class Logged:
    """An event with the log and position it was recorded at."""

    log: str
    position: int
    event: Any

    @property
    def meta(self) -> dict[str, str]:
        """The event's audit metadata."""
        meta: dict[str, str] = self.event.meta
        return meta

    @property
    def kind(self) -> str:
        """The event's class, as Aggregate.Event (Order.Placed)."""
        return type(self.event).__qualname__


def every_event(commands: Commands) -> list[Logged]:
    """Every event of every context's log, each log in order of position."""
    logged: list[Logged] = []
    for app in commands.applications:
        after: int | None = None
        while True:
            page = app.recorder.select_notifications(
                start=after, limit=PAGE, inclusive_of_start=False
            )
            for stored in page:
                event = app.mapper.to_domain_event(stored)
                logged.append(Logged(app.log_name, stored.id, event))
            if len(page) < PAGE:
                break
            after = page[-1].id
    return logged


def flow_of(events: list[Logged], correlation_id: str) -> list[Logged]:
    """The events that carry the correlation id."""
    return [e for e in events if e.meta.get("correlation_id") == correlation_id]


def assert_one_tree(flow: list[Logged], root: str, everything: list[Logged]) -> None:
    """Assert the flow's causation links form one tree rooted at root (the request id).

    Every causation id is root or the id of another event of the flow, and following the
    links from any event reaches root without a cycle; a cause in the same log was recorded
    before what it caused. No event outside the flow (of all events) answers to one inside.
    """
    assert flow, "the flow has no events"
    by_id = {e.meta["event_id"]: e for e in flow}
    assert len(by_id) == len(flow), "two events of the flow share an event id"
    for logged in flow:
        cause = logged.meta["causation_id"]
        assert cause == root or cause in by_id, f"{logged.kind} answers to unknown {cause!r}"
        parent = by_id.get(cause)
        if parent is not None and parent.log == logged.log:
            assert parent.position < logged.position, f"{logged.kind} precedes its cause"
        assert_reaches(logged, root, by_id)
    strays = [
        e.kind
        for e in everything
        if e.meta.get("causation_id") in by_id and e.meta["event_id"] not in by_id
    ]
    assert strays == [], f"caused by the flow but outside its correlation: {strays}"


def assert_reaches(logged: Logged, root: str, by_id: dict[str, Logged]) -> None:
    """Assert that the chain of causes from the event ends at root, visiting no event twice."""
    seen: set[str] = set()
    cause = logged.meta["causation_id"]
    while cause != root:
        assert cause not in seen, f"a causation cycle through {cause}"
        seen.add(cause)
        cause = by_id[cause].meta["causation_id"]


def causes(flow: list[Logged]) -> set[tuple[str, str]]:
    """Each (event kind, kind of its cause) pair of the flow; the request is "request"."""
    kinds = {e.meta["event_id"]: e.kind for e in flow}
    return {(e.kind, kinds.get(e.meta["causation_id"], "request")) for e in flow}


CHECKOUT_CAUSES = {
    ("Cart.Cleared", "request"),
    ("Order.Placed", "request"),
    ("StockItem.UnitsReserved", "Order.Placed"),
    ("Order.StockReserved", "Order.Placed"),
    ("Order.PaymentAuthorised", "Order.StockReserved"),
    ("Order.Confirmed", "Order.PaymentAuthorised"),
    ("StockItem.ReservationCommitted", "Order.Confirmed"),
    ("Fulfilment.Opened", "Order.Confirmed"),
}
"""What causes what in a checkout that is paid and confirmed (the request is the root)."""
