"""A pending key whose request is gone is taken over at once, and its command applied once.

The claimant here is a claim made through the API's own store, whose connection (holding the
key's lock) is then killed, as a crash of its process would; when the claimant is said to
have committed, its command ran with its request id before the kill.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID, uuid4

import psycopg
import pytest

from domain.base import Context
from domain.inventory import StockItem, stock_item_id
from infra.idempotency import Lease, StoredResponse
from tests.api.conftest import Api
from writeapi.execution import request_fingerprint
from writeapi.schemas import ReceiveStock

pytestmark = pytest.mark.postgres


@dataclass
class Receipts:
    """A seller's product with 3 units received, and how to send a keyed receipt of 5."""

    api: Api
    seller: UUID
    product: UUID

    @property
    def path(self) -> str:
        return f"/v1/products/{self.product}/stock/receipts"

    def claim(self, key: str, request_id: str) -> Lease:
        """Claim the key as a receipt of 5 would, holding its lease."""
        fingerprint = request_fingerprint("POST", self.path, "", ReceiveStock(quantity=5))
        claim = self.api.deps.idempotency.claim(str(self.seller), key, fingerprint, request_id)
        assert claim.verdict == "new" and claim.lease is not None
        return claim.lease

    async def send(self, key: str):  # type: ignore[no-untyped-def]
        headers = self.api.auth(self.seller, "seller", idempotency_key=key)
        return await self.api.client.post(self.path, json={"quantity": 5}, headers=headers)

    def receipts(self) -> list[str]:
        """The request ids of the receipts in the stock item's log."""
        store = self.api.deps.commands.inventory.repository.event_store
        return [
            event.meta["request_id"]
            for event in store.get(stock_item_id(self.product))
            if isinstance(event, StockItem.StockReceived)
        ]

    def received(self) -> int:
        item = self.api.deps.commands.inventory.load(stock_item_id(self.product), StockItem)
        return item.received


@pytest.fixture
async def stock(api: Api) -> Receipts:
    seller = uuid4()
    await api.register_seller(seller)
    product = await api.list_product(seller)
    await api.receive(seller, product, 3)
    return Receipts(api, seller, product)


def crash(api: Api, lease: Lease) -> None:
    """Kill the lease's connection from outside, as the death of its process would."""
    with psycopg.connect(api.url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (lease.conn.info.backend_pid,))
    with pytest.raises(psycopg.OperationalError):
        lease.conn.execute("SELECT 1")


async def test_a_crashed_claimant_that_committed_nothing_is_taken_over_at_once(
    stock: Receipts,
) -> None:
    lease = stock.claim("crashed-early", "request-that-died")
    crash(stock.api, lease)

    retry = await stock.send("crashed-early")
    again = await stock.send("crashed-early")

    assert retry.status_code == 200, retry.text
    assert "idempotent-replayed" not in retry.headers
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == retry.json()
    assert len(stock.receipts()) == 2
    assert stock.received() == 3 + 5
    stock.api.deps.idempotency.release(lease)


async def test_an_append_that_committed_before_the_crash_is_answered_not_applied_again(
    stock: Receipts,
) -> None:
    lease = stock.claim("crashed-late", "request-that-died")
    ctx = Context(datetime.now(UTC), str(stock.seller), "seller", "request-that-died", "c", "c")
    committed = stock.api.deps.commands.receive_stock(stock.product, 5, ctx)
    crash(stock.api, lease)

    retry = await stock.send("crashed-late")
    again = await stock.send("crashed-late")

    assert retry.status_code == 200, retry.text
    assert retry.headers["idempotent-replayed"] == "true"
    body = retry.json()
    assert (body["stock_item_id"], body["version"]) == (
        str(committed.aggregate_id),
        committed.version,
    )
    assert (body["position"], body["product_id"]) == (committed.position, str(stock.product))
    assert retry.headers["etag"] == f'"{committed.version}"'
    assert again.json() == body
    assert stock.receipts().count("request-that-died") == 1
    assert stock.received() == 3 + 5
    stock.api.deps.idempotency.release(lease)


async def test_a_request_still_running_is_never_taken_over(stock: Receipts) -> None:
    lease = stock.claim("still-running", "request-running")

    answers = [await stock.send("still-running") for _ in range(3)]
    stock.api.deps.idempotency.complete(lease, StoredResponse(200, {}, b'{"done": true}'))
    after = await stock.send("still-running")

    assert {answer.status_code for answer in answers} == {409}
    assert all(
        answer.json()["type"] == "urn:marketplace:problem:idempotency-in-progress"
        for answer in answers
    )
    assert (after.status_code, after.content) == (200, b'{"done": true}')
    assert stock.received() == 3


async def test_a_claimant_taken_over_cannot_record_its_response(stock: Receipts) -> None:
    lease = stock.claim("fenced", "request-cut-off")
    crash(stock.api, lease)
    retry = await stock.send("fenced")

    stock.api.deps.idempotency.complete(lease, StoredResponse(201, {}, b'{"stale": true}'))
    again = await stock.send("fenced")

    assert retry.status_code == 200, retry.text
    assert again.json() == retry.json()
    assert stock.received() == 3 + 5
