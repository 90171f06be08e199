"""PostgreSQL frozen (SIGSTOP) under the command API, for longer than the store deadline.

Every request is answered within its bound: 503 problem+json with Retry-After while the store
hangs. Readiness answers within its own bound and names postgres. Routes that need no store
keep serving. Once the server continues, commands work again, every acknowledged write is in
the log, and none is in it twice (retries reuse their Idempotency-Key).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from uuid import UUID, uuid4

import httpx
import psycopg
import pytest

from domain.inventory import StockItem, stock_item_id
from infra.local.postgres import LocalPostgres
from marketplace.bootstrap import build_write_deps
from tests.api.conftest import BASE_URL, Api, api_settings, open_api, product_body, seller_body
from tests.conftest import free_port
from tests.support.freeze import frozen, process_tree
from writeapi.app import create_app

pytestmark = pytest.mark.postgres

DEADLINE = 1.0
"""The documented default store deadline, which these tests hold the API to."""

FREEZE_SECONDS = 6.0
SLACK_SECONDS = 3.0
"""Margin over a documented bound, for a loaded machine."""
WRITERS = 6
RECOVERY_SECONDS = 60.0


@dataclass
class Receipt:
    """One stock receipt a client sends, with its key, and every answer it got."""

    key: str
    quantity: int
    answers: list[httpx.Response] = field(default_factory=list)

    @property
    def acknowledged(self) -> bool:
        return any(answer.is_success for answer in self.answers)


@dataclass
class Client:
    """A seller's client of the command API, timing every answer."""

    http: httpx.AsyncClient
    auth: dict[str, str]
    product: UUID | None = None
    took: list[tuple[float, float, int]] = field(default_factory=list)
    """(started, seconds, status) of every receipt sent."""

    async def send(self, receipt: Receipt) -> httpx.Response:
        headers = {**self.auth, "Idempotency-Key": receipt.key, "X-Request-Id": receipt.key}
        started = time.monotonic()
        answer = await self.http.post(
            f"/v1/products/{self.product}/stock/receipts",
            json={"quantity": receipt.quantity},
            headers=headers,
        )
        self.took.append((started, time.monotonic() - started, answer.status_code))
        receipt.answers.append(answer)
        return answer


async def timed(call: Awaitable[httpx.Response]) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    answer = await call
    return answer, time.monotonic() - started


async def keep_writing(client: Client, receipts: list[Receipt], stop: asyncio.Event) -> None:
    """Send new receipts, each with a key of its own, until stopped."""
    while not stop.is_set():
        receipt = Receipt(f"r-{uuid4().hex}", 1 + len(receipts) % 5)
        receipts.append(receipt)
        await client.send(receipt)
        await asyncio.sleep(0.05)


async def answered(client: Client, receipt: Receipt) -> httpx.Response:
    """Resend a receipt with its key after each 503, as a client would, for a bounded time."""
    deadline = time.monotonic() + RECOVERY_SECONDS
    while True:
        answer = await client.send(receipt)
        if answer.status_code != 503 or time.monotonic() > deadline:
            return answer
        await asyncio.sleep(float(answer.headers["retry-after"]))


async def ready_again(http: httpx.AsyncClient) -> httpx.Response:
    deadline = time.monotonic() + RECOVERY_SECONDS
    while True:
        answer = await http.get("/health/ready")
        if answer.status_code == 200 or time.monotonic() > deadline:
            return answer
        await asyncio.sleep(0.5)


def assert_unavailable(answer: httpx.Response) -> None:
    assert answer.status_code == 503, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["type"] == "urn:marketplace:problem:store-unavailable"
    assert int(answer.headers["retry-after"]) >= 1


async def test_a_frozen_postgres_gets_prompt_503s_and_loses_no_acknowledged_write(
    services_dir: Path,
) -> None:
    server = LocalPostgres(services_dir / f"frozen-{uuid4().hex[:6]}", free_port(), durable=False)
    server.start()
    settings = api_settings(server.url).updated(deadlines={"write_store_timeout_seconds": DEADLINE})
    bound = 2 * settings.deadlines.write_store_timeout_seconds
    deps = build_write_deps(settings)
    transport = httpx.ASGITransport(app=create_app(deps))
    receipts: list[Receipt] = []
    try:
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as http:
            seller = uuid4()
            client = Client(
                http, {"Authorization": f"Bearer {deps.tokens.issue(seller, 'seller')}"}
            )
            assert (
                await http.post("/v1/sellers", json=seller_body(), headers=client.auth)
            ).is_success
            listed = await http.post("/v1/products", json=product_body(), headers=client.auth)
            client.product = UUID(listed.json()["id"])

            stop = asyncio.Event()
            writers = [
                asyncio.create_task(keep_writing(client, receipts, stop)) for _ in range(WRITERS)
            ]
            while sum(r.acknowledged for r in receipts) < WRITERS:
                await asyncio.sleep(0.05)
            pid = server.pid()
            assert pid is not None
            with frozen(process_tree(pid)):
                frozen_at = time.monotonic()
                ready, ready_took = await timed(http.get("/health/ready"))
                live, live_took = await timed(http.get("/health/live"))
                invalid = await http.post(
                    f"/v1/products/{client.product}/stock/receipts",
                    json={"quantity": 0},
                    headers=client.auth,
                )
                await asyncio.sleep(max(0.0, frozen_at + FREEZE_SECONDS - time.monotonic()))
            thawed_at = time.monotonic()
            stop.set()
            await asyncio.gather(*writers)
            retried = [await answered(client, r) for r in receipts if not r.acknowledged]
            back = await ready_again(http)
            log = deps.commands.inventory.repository.event_store.get(stock_item_id(client.product))
            item = deps.commands.inventory.load(stock_item_id(client.product), StockItem)
    finally:
        deps.commands.close()
        deps.idempotency.close()
        server.stop()

    while_frozen = [
        status
        for started, took, status in client.took
        if frozen_at <= started and started + took < thawed_at
    ]
    cut_off = [r for r in receipts if r.answers[0].status_code == 503]
    assert while_frozen and set(while_frozen) == {503}
    assert all(took < bound + SLACK_SECONDS for _, took, _ in client.took), max(client.took)
    assert {a.status_code for r in receipts for a in r.answers} <= {200, 409, 503}
    for receipt in cut_off:
        assert_unavailable(receipt.answers[0])

    assert_unavailable(ready)
    assert "postgres" in ready.json()["down"]
    assert ready_took < bound + SLACK_SECONDS
    assert (live.status_code, invalid.status_code) == (200, 422)
    assert live_took < SLACK_SECONDS

    assert back.status_code == 200, back.text
    assert all(answer.status_code in (200, 409) for answer in retried), retried
    assert any(answer.status_code == 200 for answer in retried)
    in_log = Counter(
        event.meta["request_id"] for event in log if isinstance(event, StockItem.StockReceived)
    )
    assert max(in_log.values()) == 1, "a receipt was applied twice"
    assert {r.key for r in receipts if r.acknowledged} <= set(in_log)
    quantities = {r.key: r.quantity for r in receipts}
    assert item.received == sum(quantities[key] for key in in_log)


@pytest.fixture
async def api(postgres_url: str) -> AsyncIterator[Api]:
    """A command API held to the documented default deadline."""
    async for built in open_api(postgres_url, deadlines={"write_store_timeout_seconds": DEADLINE}):
        yield built


async def test_an_append_past_its_deadline_is_answered_503_and_never_applied_or_run_twice(
    api: Api,
) -> None:
    """The append waits on a table lock held elsewhere (the server answers nothing): the
    client's deadline cuts it off before COMMIT, and the key stays pending, so a retry is
    refused while the cut-off append is still open in the server; once it has ended (never
    committed), the next retry takes the key over and runs the receipt, once."""
    seller = uuid4()
    await api.register_seller(seller)
    product = await api.list_product(seller)
    await api.receive(seller, product, 3)
    bound = 2 * api.deps.store_timeout_seconds
    client = Client(api.client, api.auth(seller, "seller"), product)
    cut_off, later = Receipt("r-cut-off", 5), Receipt("r-later", 7)

    with psycopg.connect(api.url) as locker:
        locker.execute("LOCK TABLE inventory_events IN EXCLUSIVE MODE")
        first, took = await timed(client.send(cut_off))
        retry = await client.send(cut_off)
    back = await settled(client, cut_off)
    await client.send(later)
    log = api.deps.commands.inventory.repository.event_store.get(stock_item_id(product))
    item = api.deps.commands.inventory.load(stock_item_id(product), StockItem)

    assert_unavailable(first)
    assert took < bound + SLACK_SECONDS
    assert retry.status_code == 409
    assert retry.json()["type"] == "urn:marketplace:problem:idempotency-in-progress"
    assert back.status_code == 200, back.text
    assert later.acknowledged
    received = [e.meta["request_id"] for e in log if isinstance(e, StockItem.StockReceived)]
    assert received.count(cut_off.key) == 1 and later.key in received
    assert item.received == 3 + 5 + 7


async def settled(client: Client, receipt: Receipt) -> httpx.Response:
    """Resend a receipt with its key while it is refused as in progress, for a bounded time."""
    deadline = time.monotonic() + RECOVERY_SECONDS
    while True:
        answer = await client.send(receipt)
        if answer.status_code != 409 or time.monotonic() > deadline:
            return answer
