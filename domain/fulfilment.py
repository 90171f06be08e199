"""Fulfilment: one seller's part of a confirmed order, and the shipping label it needs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID, uuid5

from domain.address import checked_address
from domain.base import Context, MarketplaceAggregate
from domain.errors import InvalidValue
from domain.text import bounded

FULFILMENT_NAMESPACE = UUID("3c2b7e55-1f0a-4d8e-bb61-5a9e2d7c4f10")
LABEL_TYPES = frozenset({"application/pdf", "image/png"})


def fulfilment_id(order_id: UUID, seller_id: UUID) -> UUID:
    """The id of the fulfilment of one seller's part of an order."""
    return uuid5(FULFILMENT_NAMESPACE, f"{order_id}/{seller_id}")


class Fulfilment(MarketplaceAggregate):
    """What a seller must pack and where it goes; the label is attached once it is rendered."""

    class Opened(MarketplaceAggregate.Created):
        order_id: UUID
        seller_id: UUID
        customer_id: UUID
        lines: list[dict[str, Any]]
        ship_to: dict[str, str]
        ship_from: dict[str, str] | None

    class LabelAttached(MarketplaceAggregate.Event):
        blob_key: str
        content_type: str

        def apply(self, fulfilment: Fulfilment) -> None:
            fulfilment.label = (self.blob_key, self.content_type)

    def __init__(
        self,
        order_id: UUID,
        seller_id: UUID,
        customer_id: UUID,
        lines: list[dict[str, Any]],
        ship_to: dict[str, str],
        ship_from: dict[str, str] | None,
    ) -> None:
        self.order_id = order_id
        self.seller_id = seller_id
        self.customer_id = customer_id
        self.lines = lines
        self.ship_to = ship_to
        self.ship_from = ship_from
        self.label: tuple[str, str] | None = None

    @classmethod
    def open(
        cls,
        order_id: UUID,
        seller_id: UUID,
        customer_id: UUID,
        lines: Sequence[Mapping[str, Any]],
        ship_to: Mapping[str, str],
        ship_from: Mapping[str, str] | None,
        ctx: Context,
    ) -> Fulfilment:
        """Open the fulfilment of a seller's lines of an order."""
        if not lines:
            raise InvalidValue("a fulfilment has at least one line")
        return cls._start(
            cls.Opened,
            fulfilment_id(order_id, seller_id),
            ctx,
            order_id=order_id,
            seller_id=seller_id,
            customer_id=customer_id,
            lines=[dict(line) for line in lines],
            ship_to=checked_address(ship_to),
            ship_from=None if ship_from is None else checked_address(ship_from),
        )

    def attach_label(self, blob_key: str, content_type: str, ctx: Context) -> None:
        """Attach the rendered label; attaching the same label again changes nothing."""
        if content_type not in LABEL_TYPES:
            raise InvalidValue(f"a label is one of {sorted(LABEL_TYPES)}")
        blob_key = bounded("blob key", blob_key, 300)
        if self.label != (blob_key, content_type):
            self._emit(self.LabelAttached, ctx, blob_key=blob_key, content_type=content_type)
