"""Idempotency keys: one execution per key and principal, kept in PostgreSQL for the TTL."""

from __future__ import annotations

import asyncio
import threading
from typing import Any, cast
from uuid import UUID, uuid4

import httpx
import pytest
from psycopg_pool import ConnectionPool

from infra.idempotency import IdempotencyStore
from tests.api.conftest import BASE_URL, Api, product_body, seller_body
from tests.api.test_validation import assert_problem
from writeapi.execution import request_fingerprint
from writeapi.schemas import RegisterSeller

pytestmark = pytest.mark.postgres


async def list_with_key(api: Api, seller: UUID, key: str, **extra: Any) -> httpx.Response:
    return await api.client.post(
        "/v1/products",
        json=product_body(**extra),
        headers=api.auth(seller, "seller", idempotency_key=key),
    )


async def test_same_key_and_body_replays_the_first_response(api: Api) -> None:
    seller = uuid4()
    await api.register_seller(seller)
    first = await list_with_key(api, seller, "list-1")
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    position = api.position(api.deps.commands.catalog)

    second = await list_with_key(api, seller, "list-1")

    assert second.status_code == 201
    assert second.headers["idempotent-replayed"] == "true"
    assert second.json() == first.json()
    for header in ("etag", "location", "x-log-position"):
        assert second.headers[header] == first.headers[header]
    assert second.headers["content-type"] == "application/json"
    assert api.position(api.deps.commands.catalog) == position
    assert api.sql("SELECT count(*) FROM idempotency_keys") == [(1,)]


async def test_without_a_key_the_same_request_runs_twice(api: Api) -> None:
    seller = uuid4()
    await api.register_seller(seller)
    first = await api.list_product(seller)
    second = await api.list_product(seller)
    assert first != second
    assert api.sql("SELECT count(*) FROM idempotency_keys") == [(0,)]


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"json": product_body(title="Other hammer")}, id="other-body"),
        pytest.param({"headers": {"If-Match": '"0"'}}, id="other-if-match"),
        pytest.param({"url": "/v1/sellers", "json": seller_body()}, id="other-route"),
    ],
)
async def test_same_key_with_another_request_is_422(api: Api, change: dict[str, Any]) -> None:
    seller = uuid4()
    await api.register_seller(seller)
    first = await list_with_key(api, seller, "k")
    assert first.status_code == 201
    before = api.positions()
    headers = {**api.auth(seller, "seller", idempotency_key="k"), **change.get("headers", {})}
    response = await api.client.post(
        change.get("url", "/v1/products"), json=change.get("json", product_body()), headers=headers
    )
    problem = assert_problem(response, 422)
    assert problem["type"] == "urn:marketplace:problem:idempotency-key-reused"
    assert api.positions() == before
    again = await list_with_key(api, seller, "k")
    assert again.json()["id"] == first.json()["id"]


@pytest.mark.parametrize("key", ["", "has space", "x" * 256, "tab\tkey", "caf\u00e9"])
async def test_malformed_key_is_422(api: Api, key: str) -> None:
    seller = uuid4()
    await api.register_seller(seller)
    before = api.positions()
    response = await api.client.post(
        "/v1/products",
        json=product_body(),
        headers={**api.auth(seller, "seller"), "Idempotency-Key": key.encode()},
    )
    problem = assert_problem(response, 422)
    assert problem["type"] == "urn:marketplace:problem:bad-idempotency-key"
    assert api.positions() == before


async def test_concurrent_duplicate_is_409_with_retry_after(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    seller = uuid4()
    await api.register_seller(seller)
    catalog = api.deps.commands.catalog
    started, release = threading.Event(), threading.Event()
    real = catalog.list_product

    def slow_list_product(*args: Any, **kwargs: Any) -> Any:
        started.set()
        assert release.wait(10), "the test never released the first request"
        return real(*args, **kwargs)

    monkeypatch.setattr(catalog, "list_product", slow_list_product)
    position = api.position(catalog)

    first = asyncio.create_task(list_with_key(api, seller, "dup"))
    try:
        assert await asyncio.to_thread(started.wait, 10)
        second = await list_with_key(api, seller, "dup")
        assert not first.done()
    finally:
        release.set()
    first_response = await first

    problem = assert_problem(second, 409)
    assert problem["type"] == "urn:marketplace:problem:idempotency-in-progress"
    assert second.headers["retry-after"] == "1"
    assert first_response.status_code == 201, first_response.text
    assert api.position(catalog) == position + 1
    third = await list_with_key(api, seller, "dup")
    assert third.headers["idempotent-replayed"] == "true"
    assert third.json()["id"] == first_response.json()["id"]


async def test_a_burst_of_duplicates_runs_the_command_once(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    seller = uuid4()
    await api.register_seller(seller)
    catalog = api.deps.commands.catalog
    calls: list[int] = []
    release = threading.Event()
    real = catalog.list_product

    def held(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        assert release.wait(10), "the test never released the request"
        return real(*args, **kwargs)

    monkeypatch.setattr(catalog, "list_product", held)
    pending = {asyncio.create_task(list_with_key(api, seller, "burst")) for _ in range(6)}
    finished: list[asyncio.Task[httpx.Response]] = []
    try:
        while len(finished) < 5:
            done, pending = await asyncio.wait(
                pending, timeout=10, return_when=asyncio.FIRST_COMPLETED
            )
            assert done, "the duplicates did not answer while the first was running"
            finished.extend(done)
    finally:
        release.set()
    duplicates = [task.result() for task in finished]
    (winner,) = await asyncio.gather(*pending)

    assert calls == [1]
    assert winner.status_code == 201, winner.text
    for response in duplicates:
        assert_problem(response, 409)
        assert response.headers["retry-after"] == "1"


async def test_failed_command_is_replayed_as_the_same_problem(api: Api) -> None:
    seller = uuid4()
    await api.register_seller(seller)
    product = await api.list_product(seller)
    await api.receive(seller, product, 10)
    inventory = api.deps.commands.inventory
    url = f"/v1/products/{product}/stock/adjustments"
    body = {"delta": -11, "reason": "count"}
    headers = api.auth(seller, "seller", idempotency_key="adjust-1")

    first = await api.client.post(url, json=body, headers=headers)
    problem = assert_problem(first, 409)
    assert problem["type"] == "urn:marketplace:problem:insufficient-stock"
    await api.receive(seller, product, 5)
    position = api.position(inventory)

    replay = await api.client.post(url, json=body, headers=headers)
    assert replay.status_code == 409
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.headers["content-type"] == "application/problem+json"
    assert replay.json() == first.json()
    assert api.position(inventory) == position

    fresh = await api.client.post(
        url, json=body, headers=api.auth(seller, "seller", idempotency_key="adjust-2")
    )
    assert fresh.status_code == 200, fresh.text
    assert api.position(inventory) == position + 1


async def test_unexpected_error_frees_the_key_for_a_retry(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    seller = uuid4()
    await api.register_seller(seller)
    catalog = api.deps.commands.catalog
    real = catalog.list_product
    failures = [RuntimeError("database went away")]

    def flaky(*args: Any, **kwargs: Any) -> Any:
        if failures:
            raise failures.pop()
        return real(*args, **kwargs)

    monkeypatch.setattr(catalog, "list_product", flaky)
    transport = httpx.ASGITransport(app=api.app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
        headers = api.auth(seller, "seller", idempotency_key="retry-me")
        failed = await client.post("/v1/products", json=product_body(), headers=headers)
        assert failed.status_code == 500
        assert api.sql("SELECT count(*) FROM idempotency_keys") == [(0,)]
        retried = await client.post("/v1/products", json=product_body(), headers=headers)
    assert retried.status_code == 201, retried.text
    assert "idempotent-replayed" not in retried.headers


async def test_keys_are_scoped_per_principal(api: Api) -> None:
    seller_a, seller_b = uuid4(), uuid4()
    body = {"name": "Same Name", "email": "same@sellers.example"}
    answers = [
        await api.client.post(
            "/v1/sellers", json=body, headers=api.auth(who, "seller", idempotency_key="shared")
        )
        for who in (seller_a, seller_b)
    ]
    assert [a.status_code for a in answers] == [201, 201]
    assert [a.json()["id"] for a in answers] == [str(seller_a), str(seller_b)]
    assert all("idempotent-replayed" not in a.headers for a in answers)
    rows = api.sql("SELECT principal, key, state, status FROM idempotency_keys ORDER BY principal")
    assert sorted(rows) == sorted(
        [(str(seller_a), "shared", "done", 201), (str(seller_b), "shared", "done", 201)]
    )


async def test_keys_live_in_postgres_and_expire_after_the_ttl(api: Api) -> None:
    seller = uuid4()
    await api.register_seller(seller)
    first = await list_with_key(api, seller, "ttl")
    rows = api.sql("SELECT principal, key, state, status, headers->>'etag' FROM idempotency_keys")
    assert rows == [(str(seller), "ttl", "done", 201, '"0"')]

    api.sql("UPDATE idempotency_keys SET created_at = now() - interval '23 hours'")
    assert (await list_with_key(api, seller, "ttl")).headers["idempotent-replayed"] == "true"

    api.sql("UPDATE idempotency_keys SET created_at = now() - interval '25 hours'")
    position = api.position(api.deps.commands.catalog)
    again = await list_with_key(api, seller, "ttl", title="Relisted hammer")
    assert again.status_code == 201, again.text
    assert "idempotent-replayed" not in again.headers
    assert again.json()["id"] != first.json()["id"]
    assert api.position(api.deps.commands.catalog) == position + 1
    fresh = api.sql("SELECT created_at > now() - interval '1 minute' FROM idempotency_keys")
    assert fresh == [(True,)]


async def test_purge_deletes_only_expired_keys(api: Api) -> None:
    seller = uuid4()
    await api.register_seller(seller)
    for key in ("old", "new"):
        assert (await list_with_key(api, seller, key)).status_code == 201
    api.sql("UPDATE idempotency_keys SET created_at = now() - interval '25 hours' WHERE key='old'")
    assert api.deps.idempotency.purge_expired() == 1
    assert api.sql("SELECT key FROM idempotency_keys") == [("new",)]


@pytest.mark.parametrize("hours", [0, 1, 23, -24])
def test_store_refuses_a_ttl_under_24_hours(hours: int) -> None:
    with pytest.raises(ValueError, match="24 hours"):
        IdempotencyStore(cast(ConnectionPool, None), ttl_hours=hours)


def test_store_accepts_a_ttl_of_24_hours_or_more() -> None:
    IdempotencyStore(cast(ConnectionPool, None), ttl_hours=24)
    IdempotencyStore(cast(ConnectionPool, None), ttl_hours=24 * 7)


async def test_a_pending_key_whose_claimant_is_gone_is_taken_over_at_once(api: Api) -> None:
    seller = uuid4()
    headers = {**api.auth(seller, "seller"), "Idempotency-Key": "died-mid-request"}
    fingerprint = request_fingerprint("POST", "/v1/sellers", "", RegisterSeller(**seller_body()))
    claim = (
        "INSERT INTO idempotency_keys (principal, key, request_hash, state, request_ids) "
        "VALUES (%s, %s, %s, 'pending', ARRAY['gone'])"
    )
    api.sql(claim, (str(seller), "died-mid-request", fingerprint))
    response = await api.client.post("/v1/sellers", json=seller_body(), headers=headers)
    assert response.status_code == 201, response.text
    assert response.headers["location"].endswith(f"/v1/sellers/{seller}")
