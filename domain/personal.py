"""Which events carry personal data, in which fields, and whose data it is.

The event classes keep their fields: the event store's mapper seals these fields with the
person's data key (infra.personal), and once the key is erased every reader gets ERASED in
their place. A path names a field, or one key of a field that holds a dict (an address).
"""

from __future__ import annotations

from dataclasses import dataclass

from domain.customer import ERASED, Customer
from domain.fulfilment import Fulfilment
from domain.order import Order
from domain.seller import Seller

ADDRESS_LINES = ("name", "line1", "line2", "city", "postal_code")
"""A postal address's personal parts: the country stays, for shipping and sales figures."""


@dataclass(frozen=True)
class Personal:
    """The paths of an event that hold the personal data of the person named by `person`.

    `person` is the event's field holding the person's id ("originator_id" for their own
    stream); each path is "field" or "field.key" (one key of a dict field, when present).
    """

    person: str
    paths: tuple[str, ...]


def _address(field: str) -> tuple[str, ...]:
    return tuple(f"{field}.{key}" for key in ADDRESS_LINES)


PERSONAL_DATA: dict[type, tuple[Personal, ...]] = {
    Customer.Registered: (Personal("originator_id", ("name", "email")),),
    Customer.AddressAdded: (Personal("originator_id", ("line1", "line2", "city", "postal_code")),),
    Order.Placed: (Personal("customer_id", _address("ship_to")),),
    Fulfilment.Opened: (
        Personal("customer_id", _address("ship_to")),
        Personal("seller_id", ("ship_from.name",)),
    ),
    Seller.Registered: (Personal("originator_id", ("email",)),),
    Seller.ProfileUpdated: (Personal("originator_id", ("email",)),),
    Seller.AddressSet: (Personal("originator_id", ("address.name",)),),
}
"""Every event class that carries personal data, with whose it is and where."""

ERASURES: dict[type, str] = {Customer.Erased: "originator_id"}
"""The events that record an erasure, with the field naming the person erased: a reader that
decodes one forgets any copy of that person's key it holds."""


@dataclass(frozen=True)
class PersonalDataPolicy:
    """What the event store's mapper seals (fields) and which events end a key (erasures)."""

    fields: dict[type, tuple[Personal, ...]]
    erasures: dict[type, str]


POLICY = PersonalDataPolicy(PERSONAL_DATA, ERASURES)
"""The policy the event store's environment names (infra.eventstore)."""

__all__ = ["ADDRESS_LINES", "ERASED", "PERSONAL_DATA", "POLICY", "Personal"]
