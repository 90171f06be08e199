"""Stock counters: how each inventory event moves a stock item's received, reserved and sold.

Read models that show units available (received - reserved - sold) take the inventory
events through StockCounting, so each event's effect on the counters is written once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, NamedTuple, Protocol, TypeVar
from uuid import UUID

from domain.inventory import StockItem
from projections.handlers import handles, nearest
from projections.runtime import Projection, Unit


class StockMove(NamedTuple):
    """Deltas to add to a stock item's counters."""

    received: int = 0
    reserved: int = 0
    sold: int = 0


StockMoved = (
    StockItem.StockReceived
    | StockItem.StockAdjusted
    | StockItem.UnitsReserved
    | StockItem.ReservationReleased
    | StockItem.ReservationCommitted
    | StockItem.SaleCancelled
)
"""An inventory event that moves a stock item's counters."""

STOCK_MOVES: Mapping[type, Callable[[Any], StockMove]] = MappingProxyType(
    {
        StockItem.StockReceived: lambda e: StockMove(received=e.quantity),
        StockItem.StockAdjusted: lambda e: StockMove(received=e.delta),
        StockItem.UnitsReserved: lambda e: StockMove(reserved=e.quantity),
        StockItem.ReservationReleased: lambda e: StockMove(reserved=-e.quantity),
        StockItem.ReservationCommitted: lambda e: StockMove(reserved=-e.quantity, sold=e.quantity),
        StockItem.SaleCancelled: lambda e: StockMove(sold=-e.quantity),
    }
)
"""Each inventory event that moves counters, and its deltas: received units and
adjustments count as received, a reservation is reserved until released or committed,
a committed reservation moves its units from reserved to sold, a cancelled sale unsells."""


def stock_move(event: StockMoved) -> StockMove:
    """The deltas an inventory event (of a class in STOCK_MOVES, or a subclass) adds."""
    return nearest(STOCK_MOVES, type(event))(event)


class StockCountersUnit(Unit, Protocol):
    """The stock-counter writes of a batch; version is the stock item's aggregate version."""

    def open_stock(self, stock_id: UUID, product_id: UUID, version: int) -> None:
        """Start counting a product's stock item at zero."""

    def move_stock(
        self, stock_id: UUID, version: int, *, received: int = 0, reserved: int = 0, sold: int = 0
    ) -> None:
        """Add deltas to a stock item's received, reserved and sold counters."""


S = TypeVar("S", bound=StockCountersUnit)


class StockCounting(Projection[S]):
    """A projection that keeps stock counters: its handlers of the inventory events."""

    @handles(StockItem.Opened)
    def open_stock(self, event: StockItem.Opened, unit: S) -> None:
        """Start counting a product's stock at zero."""
        unit.open_stock(event.originator_id, event.product_id, event.originator_version)

    @handles(*STOCK_MOVES)
    def move_stock(self, event: StockMoved, unit: S) -> None:
        """Add the deltas the event means to its stock item's counters."""
        move = stock_move(event)
        unit.move_stock(event.originator_id, event.originator_version, **move._asdict())
