"""Postal addresses: where an order ships to and where a seller ships from."""

from __future__ import annotations

from collections.abc import Mapping

from domain.errors import InvalidValue
from domain.text import bounded, iso_country

ADDRESS_FIELDS = {"name": 120, "line1": 200, "line2": 200, "city": 100, "postal_code": 20}


def checked_address(address: Mapping[str, str]) -> dict[str, str]:
    """A delivery address with exactly the known fields, each bounded, and an ISO country code."""
    if set(address) != {*ADDRESS_FIELDS, "country"}:
        raise InvalidValue(
            f"an address has exactly the fields {sorted({*ADDRESS_FIELDS, 'country'})}"
        )
    checked = {
        field: bounded(field, address[field], limit, allow_empty=field == "line2")
        for field, limit in ADDRESS_FIELDS.items()
    }
    return {**checked, "country": iso_country(address["country"])}
