"""Checkout end to end, over HTTP, with every process of `marketplace up` running for real."""

from __future__ import annotations

import email
import time
import uuid
from collections.abc import Callable
from email.message import Message
from typing import Any

import httpx
import pytest

from tests.e2e.stack import Stack

pytestmark = pytest.mark.e2e

WAIT_SECONDS = 60.0
ADDRESS = {"line1": "1 Loop Rd", "city": "Lyon", "postal_code": "69001", "country": "FR"}


def answer(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json() if response.content else {}
    return body


def eventually(probe: Callable[[], Any], what: str) -> Any:
    """probe()'s first truthy result within WAIT_SECONDS."""
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"{what} did not happen within {WAIT_SECONDS} s")


def mails(stack: Stack) -> list[Message]:
    """Every message the local mail sink kept."""
    folder = stack.data_dir / "mail"
    files = sorted(folder.glob("*.eml")) if folder.exists() else []
    return [email.message_from_bytes(path.read_bytes()) for path in files]


def mails_to(stack: Stack, address: str) -> list[str]:
    return [str(m["Subject"]) for m in mails(stack) if address in str(m["To"])]


def test_a_shopper_buys_a_seller_ships_mail_goes_out_and_the_label_downloads(
    stack: Stack,
) -> None:
    stack.start()
    seller_id, shopper_id = uuid.uuid4(), uuid.uuid4()
    seller = {"Authorization": f"Bearer {stack.token('seller', seller_id)}"}
    shopper = {"Authorization": f"Bearer {stack.token('shopper', shopper_id)}"}
    write = httpx.Client(base_url=stack.url, timeout=30.0)
    read = httpx.Client(base_url=f"http://127.0.0.1:{stack.read_port}", timeout=30.0)
    with write, read:
        answer(
            write.post(
                "/v1/sellers", json={"name": "Ada", "email": "ada@shop.test"}, headers=seller
            ),
            201,
        )
        ship_from = {"name": "Ada's Lamps", **ADDRESS, "city": "Ghent", "country": "BE"}
        answer(write.put(f"/v1/sellers/{seller_id}/address", json=ship_from, headers=seller), 200)
        listing = {
            "title": "Walnut Desk Lamp",
            "category": "Home & Kitchen",
            "price": {"amount_minor": 4999, "currency": "EUR"},
        }
        product_id = answer(write.post("/v1/products", json=listing, headers=seller), 201)["id"]
        receipt = {"quantity": 10}
        answer(
            write.post(f"/v1/products/{product_id}/stock/receipts", json=receipt, headers=seller),
            200,
        )

        customer = {"name": "Grace Hopper", "email": "grace@home.test"}
        answer(write.post("/v1/customers", json=customer, headers=shopper), 201)
        address_id = uuid.uuid4()
        address_path = f"/v1/customers/{shopper_id}/addresses/{address_id}"
        answer(write.post(address_path, json=ADDRESS, headers=shopper), 201)
        cart_id = answer(write.post("/v1/carts", headers=shopper), 201)["id"]
        item = {"product_id": product_id, "quantity": 2}
        answer(write.post(f"/v1/carts/{cart_id}/items", json=item, headers=shopper), 200)

        checkout = write.post(
            f"/v1/carts/{cart_id}/checkout",
            json={"address_id": str(address_id)},
            headers={**shopper, "Idempotency-Key": "grace-checkout-1"},
        )
        accepted = answer(checkout, 202)
        order_id = accepted["order_id"]
        location = checkout.headers["location"]
        assert location == f"http://127.0.0.1:{stack.read_port}/v1/me/orders/{order_id}"

        def my_order() -> dict[str, Any] | None:
            response = read.get(location, headers=shopper)
            if response.status_code != 200:
                return None
            body: dict[str, Any] = response.json()
            return body if body["status"] == "confirmed" else None

        confirmed = eventually(my_order, "order confirmation")
        assert confirmed["total"]["amount_minor"] == 2 * 4999

        shipped = write.post(f"/v1/orders/{order_id}/shipments", json={}, headers=seller)
        answer(shipped, 200)

        def my_shipped_order() -> bool:
            response = read.get(f"/v1/me/orders/{order_id}", headers=shopper)
            return response.status_code == 200 and response.json()["status"] == "shipped"

        eventually(my_shipped_order, "the shipment in the shopper's view")

        label_path = f"/v1/sellers/{seller_id}/orders/{order_id}/label"

        def label() -> httpx.Response | None:
            response = read.get(label_path, headers=seller)
            return response if response.status_code == 200 else None

        pdf = eventually(label, "the shipping label")
        assert pdf.headers["content-type"] == "application/pdf"
        assert pdf.content.startswith(b"%PDF")
        assert b"Ghent" in pdf.content and b"Lyon" in pdf.content
        assert read.get(label_path, headers=shopper).status_code == 403

        seller_orders = answer(read.get(f"/v1/sellers/{seller_id}/orders", headers=seller), 200)
        assert order_id in str(seller_orders)

    to_shopper = eventually(
        lambda: len(mails_to(stack, "grace@home.test")) >= 2, "the shopper's mail"
    )
    to_seller = eventually(lambda: mails_to(stack, "ada@shop.test"), "the seller's mail")
    assert to_shopper
    time.sleep(1.0)  # a duplicate, if any, would have arrived by now
    assert len(mails_to(stack, "grace@home.test")) == 2
    assert len(to_seller) == 1
    gateway = f"http://127.0.0.1:{stack.gateway_port}"

    def captured() -> list[dict[str, Any]]:
        charges = httpx.get(f"{gateway}/admin/charges", timeout=10).json()
        return [c for c in charges if c["reference"] == order_id and c["state"] == "captured"]

    charged = eventually(captured, "the capture of the payment")
    assert len(charged) == 1
    assert charged[0]["captured_minor"] == 2 * 4999
    assert stack.interrupt() == 0
