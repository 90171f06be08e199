"""One checkout traced end to end: from the HTTP request through payment, confirmation, the
stock commit, the label and the mail, every event shares the request's correlation id and
the causation links form one tree rooted at the request; the mails name the flow and the
event that caused them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import Message

import httpx
import pytest

from commands.services import Commands
from infra.eventstore import eventsourcing_env
from infra.mail import message_id_header
from infra.settings import Settings
from tests.e2e.stack import Stack
from tests.e2e.test_checkout_happy_path import ADDRESS, answer, eventually, mails
from tests.support.causation import (
    CHECKOUT_CAUSES,
    Logged,
    assert_one_tree,
    causes,
    every_event,
    flow_of,
)
from workers.notify.mails import CUSTOMER, SELLER, mail_id

pytestmark = pytest.mark.e2e

REQUEST_ID = "checkout-grace-1"
CORRELATION_ID = "trace-grace-1"


def place_one_order(stack: Stack, seller_id: uuid.UUID, shopper_id: uuid.UUID) -> str:
    """Open a shop with one lamp, and check out a cart of two as one traced request."""
    seller = {"Authorization": f"Bearer {stack.token('seller', seller_id)}"}
    shopper = {"Authorization": f"Bearer {stack.token('shopper', shopper_id)}"}
    with httpx.Client(base_url=stack.url, timeout=30.0) as write:
        sellers = {"name": "Ada", "email": "ada@shop.test"}
        answer(write.post("/v1/sellers", json=sellers, headers=seller), 201)
        ship_from = {"name": "Ada's Lamps", **ADDRESS, "city": "Ghent", "country": "BE"}
        answer(write.put(f"/v1/sellers/{seller_id}/address", json=ship_from, headers=seller), 200)
        listing = {
            "title": "Walnut Desk Lamp",
            "category": "Home & Kitchen",
            "price": {"amount_minor": 4999, "currency": "EUR"},
        }
        product_id = answer(write.post("/v1/products", json=listing, headers=seller), 201)["id"]
        receipt = f"/v1/products/{product_id}/stock/receipts"
        answer(write.post(receipt, json={"quantity": 10}, headers=seller), 200)
        customer = {"name": "Grace Hopper", "email": "grace@home.test"}
        answer(write.post("/v1/customers", json=customer, headers=shopper), 201)
        address_id = uuid.uuid4()
        answer(
            write.post(
                f"/v1/customers/{shopper_id}/addresses/{address_id}", json=ADDRESS, headers=shopper
            ),
            201,
        )
        cart_id = answer(write.post("/v1/carts", headers=shopper), 201)["id"]
        item = {"product_id": product_id, "quantity": 2}
        answer(write.post(f"/v1/carts/{cart_id}/items", json=item, headers=shopper), 200)
        traced = {"X-Request-ID": REQUEST_ID, "X-Correlation-ID": CORRELATION_ID}
        checkout = write.post(
            f"/v1/carts/{cart_id}/checkout",
            json={"address_id": str(address_id)},
            headers={**shopper, **traced, "Idempotency-Key": "grace-trace-1"},
        )
        order_id: str = answer(checkout, 202)["order_id"]
        assert checkout.headers["x-correlation-id"] == CORRELATION_ID
    return order_id


@contextmanager
def event_store(stack: Stack) -> Iterator[Commands]:
    """The running stack's event store, read from this process."""
    commands = Commands(eventsourcing_env(Settings(), stack.postgres_url))
    try:
        yield commands
    finally:
        commands.close()


def labelled(commands: Commands) -> list[Logged] | None:
    """The checkout's flow once its label is attached, else None."""
    flow = flow_of(every_event(commands), CORRELATION_ID)
    return flow if any(e.kind == "Fulfilment.LabelAttached" for e in flow) else None


def mails_by_id(stack: Stack) -> dict[str, Message]:
    return {str(m["Message-ID"]): m for m in mails(stack)}


def test_one_checkout_is_one_tree_from_the_request_to_the_label_and_the_mail(
    stack: Stack,
) -> None:
    stack.start()
    seller_id, shopper_id = uuid.uuid4(), uuid.uuid4()
    order_id = place_one_order(stack, seller_id, shopper_id)

    with event_store(stack) as store:
        eventually(lambda: labelled(store), "the label of the traced checkout")
        everything = every_event(store)
    flow = flow_of(everything, CORRELATION_ID)

    assert_one_tree(flow, REQUEST_ID, everything)
    assert causes(flow) == CHECKOUT_CAUSES | {("Fulfilment.LabelAttached", "Fulfilment.Opened")}
    orders = {str(e.event.originator_id) for e in flow if e.kind.startswith("Order.")}
    assert orders == {order_id}
    every_meta_is_complete(flow)

    (confirmed,) = [e.event for e in flow if e.kind == "Order.Confirmed"]
    expected = {
        message_id_header(str(mail_id(confirmed, CUSTOMER, shopper_id))): "grace@home.test",
        message_id_header(str(mail_id(confirmed, SELLER, seller_id))): "ada@shop.test",
    }

    def confirmation_mails() -> dict[str, Message] | None:
        found = {k: m for k, m in mails_by_id(stack).items() if k in expected}
        return found if len(found) == len(expected) else None

    sent = eventually(confirmation_mails, "the mails the confirmation caused")
    assert all(expected[k] in str(m["To"]) for k, m in sent.items())
    for mail in sent.values():
        assert mail["X-Correlation-ID"] == CORRELATION_ID
        assert mail["X-Causation-ID"] == confirmed.meta["event_id"]
    assert stack.interrupt() == 0


def every_meta_is_complete(flow: list[Logged]) -> None:
    """Every event names who acted, in which role, and which request and cause it answers."""
    for logged in flow:
        meta = logged.meta
        keys = ("actor", "role", "request_id", "correlation_id", "causation_id", "event_id")
        assert all(meta.get(key) for key in keys), (logged.kind, meta)
