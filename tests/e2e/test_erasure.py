"""Erasure end to end: a customer orders, a seller ships, the label is made; the customer is
erased. Every store's raw contents hold the name and email before, and nowhere after, nor
after every view is rebuilt; every figure stays the same."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.e2e.erasure_stores import (
    file_hits,
    opensearch_hits,
    postgres_hits,
    redis_hits,
)
from tests.e2e.stack import Stack, marketplace
from tests.e2e.test_checkout_happy_path import ADDRESS, answer, eventually

pytestmark = pytest.mark.e2e

VIEWS = (
    "product-detail",
    "carts",
    "catalog-search",
    "orders",
    "seller-sales",
    "marketplace-figures",
)
NOT_OURS = ("postgres", "redis", "mail", "opensearch")
"""Data-dir folders read through their servers instead (the stores), or the shoppers' own
inboxes (the local mail sink's delivered mails)."""
REBUILD_TIMEOUT = 300


@pytest.fixture
def searched_stack(stack: Stack, opensearch_server: str) -> Iterator[Stack]:
    prefix = f"erasure-{uuid.uuid4().hex[:8]}-"
    stack.settings = {
        "MARKETPLACE_OPENSEARCH_URL": opensearch_server,
        "MARKETPLACE_OPENSEARCH_INDEX_PREFIX": prefix,
    }
    yield stack


def everywhere(stack: Stack, needle: str) -> dict[str, list[str]]:
    """Where needle is in the stack's stores, blobs and logs."""
    settings = stack.settings
    return {
        "postgres": postgres_hits(stack.postgres_url, needle),
        "redis": redis_hits(f"redis://127.0.0.1:{stack.redis_port}/0", needle),
        "opensearch": opensearch_hits(
            settings["MARKETPLACE_OPENSEARCH_URL"],
            settings["MARKETPLACE_OPENSEARCH_INDEX_PREFIX"],
            needle,
        ),
        "files": file_hits(stack.data_dir, needle, skip=NOT_OURS),
        "up log": [str(stack.log)] if needle in stack.log.read_text(errors="replace") else [],
    }


def nowhere(stack: Stack, *needles: str) -> bool:
    return not any(any(everywhere(stack, needle).values()) for needle in needles)


def rebuild_every_view(stack: Stack) -> None:
    env = {
        **stack.env(),
        "MARKETPLACE_POSTGRES_URL": stack.postgres_url,
        "MARKETPLACE_REDIS_URL": f"redis://127.0.0.1:{stack.redis_port}/0",
    }
    for view in VIEWS:
        done = subprocess.run(
            marketplace("rebuild", view),
            env=env,
            capture_output=True,
            text=True,
            timeout=REBUILD_TIMEOUT,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr


def figures(read: httpx.Client, seller_id: uuid.UUID, seller: Any, days: Any) -> Any:
    """The seller's sales over days and their orders, as the query API answers them."""
    sales = answer(read.get(f"/v1/sellers/{seller_id}/sales", params=days, headers=seller), 200)
    orders = answer(read.get(f"/v1/sellers/{seller_id}/orders", headers=seller), 200)
    return sales, orders


def test_an_erased_customer_is_nowhere_and_every_figure_stays(searched_stack: Stack) -> None:
    stack = searched_stack
    stack.start()
    tag = uuid.uuid4().hex[:10]
    now = datetime.now(UTC)
    days = {
        "from": (now - timedelta(days=1)).isoformat(),
        "to": (now + timedelta(days=1)).isoformat(),
    }
    name, email = f"Ada Erasable {tag}", f"ada.{tag}@erasure.test"
    seller_id, shopper_id, admin_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    seller = {"Authorization": f"Bearer {stack.token('seller', seller_id)}"}
    shopper = {"Authorization": f"Bearer {stack.token('shopper', shopper_id)}"}
    admin = {"Authorization": f"Bearer {stack.token('admin', admin_id)}"}
    write = httpx.Client(base_url=stack.url, timeout=30.0)
    read = httpx.Client(base_url=f"http://127.0.0.1:{stack.read_port}", timeout=30.0)
    with write, read:
        people = People(seller_id, shopper_id, seller, shopper)
        order_id = order_ship_and_label(write, read, people, name, email)
        label = f"/v1/sellers/{seller_id}/orders/{order_id}/label"
        assert name.encode() in answer_bytes(read.get(label, headers=seller))
        eventually(lambda: everywhere(stack, email)["postgres"], "the email in the views")
        found = everywhere(stack, name)
        assert found["postgres"] and found["files"], found
        assert not [table for table in found["postgres"] if table.endswith("_events")], found
        before = figures(read, seller_id, seller, days)
        mine = answer(read.get(f"/v1/me/orders/{order_id}", headers=shopper), 200)

        erased = write.post(f"/v1/customers/{shopper_id}/erasure", headers=admin)
        answer(erased, 200)
        eventually(lambda: nowhere(stack, name, email), "the erasure in every store")
        assert figures(read, seller_id, seller, days) == before
        after = answer(read.get(f"/v1/me/orders/{order_id}", headers=shopper), 200)
        assert after["ship_to"]["name"] == "erased"
        assert {**after, "ship_to": None} == {**mine, "ship_to": None}
        assert answer(read.get(label, headers=seller), 404)["type"].endswith(":label-missing")

        rebuild_every_view(stack)
        assert nowhere(stack, name, email), {n: everywhere(stack, n) for n in (name, email)}
        assert figures(read, seller_id, seller, days) == before
        assert answer(read.get(f"/v1/me/orders/{order_id}", headers=shopper), 200) == after
    assert stack.interrupt() == 0


def answer_bytes(response: httpx.Response) -> bytes:
    assert response.status_code == 200, response.text
    return response.content


@dataclass(frozen=True)
class People:
    seller_id: uuid.UUID
    shopper_id: uuid.UUID
    seller: dict[str, str]
    shopper: dict[str, str]


def order_ship_and_label(
    write: httpx.Client, read: httpx.Client, people: People, name: str, email: str
) -> str:
    """A seller with a product, the customer's order of it, shipped, its label made."""
    seller, shopper = people.seller, people.shopper
    contact = {"name": "Ada's", "email": "lamps@shop.test"}
    answer(write.post("/v1/sellers", json=contact, headers=seller), 201)
    price = {"amount_minor": 4999, "currency": "EUR"}
    listing = {"title": "Lamp", "category": "Home", "price": price}
    product_id = answer(write.post("/v1/products", json=listing, headers=seller), 201)["id"]
    stock = f"/v1/products/{product_id}/stock/receipts"
    answer(write.post(stock, json={"quantity": 5}, headers=seller), 200)
    answer(write.post("/v1/customers", json={"name": name, "email": email}, headers=shopper), 201)
    address_id = uuid.uuid4()
    path = f"/v1/customers/{people.shopper_id}/addresses/{address_id}"
    answer(write.post(path, json=ADDRESS, headers=shopper), 201)
    cart_id = answer(write.post("/v1/carts", headers=shopper), 201)["id"]
    item = {"product_id": product_id, "quantity": 2}
    answer(write.post(f"/v1/carts/{cart_id}/items", json=item, headers=shopper), 200)
    checkout = write.post(
        f"/v1/carts/{cart_id}/checkout",
        json={"address_id": str(address_id)},
        headers={**shopper, "Idempotency-Key": f"erasure-{uuid.uuid4()}"},
    )
    order_id = str(answer(checkout, 202)["order_id"])

    def status_is(status: str) -> Any:
        def probe() -> bool:
            response = read.get(f"/v1/me/orders/{order_id}", headers=shopper)
            return response.status_code == 200 and response.json()["status"] == status

        return probe

    eventually(status_is("confirmed"), "the order's confirmation")
    refused = write.post(f"/v1/customers/{people.shopper_id}/erasure", headers=shopper)
    assert answer(refused, 409)["type"].endswith(":unshipped-orders")
    answer(write.post(f"/v1/orders/{order_id}/shipments", json={}, headers=seller), 200)
    eventually(status_is("shipped"), "the shipment")
    label = f"/v1/sellers/{people.seller_id}/orders/{order_id}/label"
    eventually(lambda: read.get(label, headers=seller).status_code == 200, "the label")
    return order_id
