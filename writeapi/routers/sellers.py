"""Seller and customer registration and profiles."""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

from fastapi import APIRouter
from starlette.responses import Response

from commands.base import Outcome
from domain.base import Context
from writeapi.deps import AdminCall, SellerCall, ShopperCall
from writeapi.execution import Call, Reply
from writeapi.openapi import ERASURE_REFUSED, NOT_FOUND, command
from writeapi.schemas import (
    AddAddress,
    Contact,
    RegisterCustomer,
    RegisterSeller,
    SellerAddress,
    SuspendSeller,
    UpdateSellerProfile,
)

router = APIRouter(prefix="/v1", tags=["sellers and customers"])


@router.post("/sellers", **command(status=201))
def register_seller(body: RegisterSeller, call: SellerCall) -> Response:
    """Register the calling seller (an admin may name another seller id)."""
    register = call.commands.catalog.register_seller
    return registered(call, body, body.seller_id, register, "/v1/sellers")


@router.patch("/sellers/{seller_id}", **command(NOT_FOUND, if_match=True))
def update_seller_profile(seller_id: UUID, body: UpdateSellerProfile, call: SellerCall) -> Response:
    """Change a seller's name and contact email. Honors If-Match."""
    catalog = call.commands.catalog
    return call.update(
        body,
        lambda ctx, version: catalog.update_seller_profile(
            seller_id, body.name, body.email, ctx, version
        ),
    )


@router.put("/sellers/{seller_id}/address", **command(NOT_FOUND, if_match=True))
def set_seller_address(seller_id: UUID, body: SellerAddress, call: SellerCall) -> Response:
    """Set the address a seller ships from, printed on its labels. Honors If-Match."""
    catalog = call.commands.catalog
    return call.update(
        body,
        lambda ctx, version: catalog.set_seller_address(seller_id, body.model_dump(), ctx, version),
    )


@router.post("/sellers/{seller_id}/suspension", **command(NOT_FOUND))
def suspend_seller(seller_id: UUID, body: SuspendSeller, call: AdminCall) -> Response:
    """Suspend a seller (admins only)."""
    catalog = call.commands.catalog
    return call.run(body, lambda ctx: Reply(catalog.suspend_seller(seller_id, body.reason, ctx)))


@router.post("/customers", **command(status=201))
def register_customer(body: RegisterCustomer, call: ShopperCall) -> Response:
    """Register the calling shopper as a customer."""
    register = call.commands.customers.register_customer
    return registered(call, body, body.customer_id, register, "/v1/customers")


@router.post(
    "/customers/{customer_id}/addresses/{address_id}",
    **command(NOT_FOUND, if_match=True, status=201),
)
def add_address(
    customer_id: UUID, address_id: UUID, body: AddAddress, call: ShopperCall
) -> Response:
    """Add a delivery address under a client-chosen address id."""
    version = call.expected_version()
    customers = call.commands.customers
    return call.create(
        body,
        lambda ctx: customers.add_address(customer_id, address_id, body.model_dump(), ctx, version),
    )


@router.post("/customers/{customer_id}/erasure", **command(NOT_FOUND, ERASURE_REFUSED))
def erase_customer(customer_id: UUID, call: ShopperCall) -> Response:
    """Erase a customer's personal data for good (the customer themself, or an admin).

    Their data key is deleted: their name, email and addresses read `erased` in every event,
    view and rebuild from then on, while their orders and every total stay. An event that
    holds no personal data records it. Refused with 409 `unshipped-orders` while an order of
    theirs is not yet shipped or closed; erasing again changes nothing.
    """
    commands = call.commands
    return call.run(None, lambda ctx: Reply(commands.erase_customer(customer_id, ctx)))


def registered(
    call: Call,
    body: Contact,
    named: UUID | None,
    register: Callable[[UUID, str, str, Context], Outcome],
    under: str,
) -> Response:
    """Register the caller, or the id an admin named, with the body's name and email: a 201
    located under/<id>."""
    registrant = named or call.principal.sub
    return call.create(body, lambda ctx: register(registrant, body.name, body.email, ctx), under)
