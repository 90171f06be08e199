"""The sandbox card gateway over httpx's ASGI transport: idempotency, transitions and faults."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from infra.payments.sandbox import Faults, create_sandbox_app

Client = httpx.AsyncClient
AUTH = {"amount_minor": 2500, "currency": "EUR", "reference": "order-1"}


@asynccontextmanager
async def sandbox(faults: Faults | None = None, seed: int | None = None) -> AsyncIterator[Client]:
    app = create_sandbox_app(faults, seed=seed)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        yield client


@pytest.fixture
async def gw() -> AsyncIterator[Client]:
    async with sandbox() as client:
        yield client


async def authorise(gw: Client, key: str, **body: Any) -> httpx.Response:
    return await gw.post("/v1/authorisations", json=AUTH | body, headers={"Idempotency-Key": key})


async def act(gw: Client, payment_id: str, action: str, key: str, **body: Any) -> httpx.Response:
    return await gw.post(
        f"/v1/payments/{payment_id}/{action}",
        json=body or None,
        headers={"Idempotency-Key": key},
    )


async def charges(gw: Client) -> list[dict[str, Any]]:
    response = await gw.get("/admin/charges")
    assert response.status_code == 200
    return list(response.json())


async def until(check: Callable[[], Awaitable[bool]]) -> None:
    """Poll check until it holds (bounded, so a bug fails instead of hanging)."""

    async def poll() -> None:
        while not await check():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), 10)


async def stat(gw: Client, name: str) -> int:
    return int((await gw.get("/admin/stats")).json()[name])


async def test_authorisation_is_answered_once_per_key(gw: Client) -> None:
    first = await authorise(gw, "k1")
    assert first.status_code == 201
    body = first.json()
    assert body["status"] == "authorised"
    assert body["payment_id"].startswith("pay_")
    assert {k: body[k] for k in AUTH} == AUTH
    assert "Idempotent-Replayed" not in first.headers

    again = await authorise(gw, "k1")
    assert again.status_code == 201
    assert again.json() == body
    assert again.headers["Idempotent-Replayed"] == "true"

    other = await authorise(gw, "k2")
    assert other.json()["payment_id"] != body["payment_id"]
    assert [c["idempotency_key"] for c in await charges(gw)] == ["k1", "k2"]


async def test_same_key_with_another_body_is_refused(gw: Client) -> None:
    assert (await authorise(gw, "k1")).status_code == 201
    reused = await authorise(gw, "k1", amount_minor=2600)
    assert reused.status_code == 422
    assert reused.json()["reason"] == "idempotency_key_reused"
    payment_id = (await authorise(gw, "k1")).json()["payment_id"]
    capture = await act(gw, payment_id, "captures", "k1", amount_minor=2500, currency="EUR")
    assert capture.json()["reason"] == "idempotency_key_reused"
    assert len(await charges(gw)) == 1


@pytest.mark.parametrize(
    ("headers", "body", "status"),
    [
        ({}, AUTH, 400),
        ({"Idempotency-Key": ""}, AUTH, 400),
        ({"Idempotency-Key": "k"}, AUTH | {"amount_minor": "2500"}, 422),
        ({"Idempotency-Key": "k"}, AUTH | {"amount_minor": 0}, 422),
        ({"Idempotency-Key": "k"}, AUTH | {"amount_minor": 25.0}, 422),
        ({"Idempotency-Key": "k"}, AUTH | {"currency": "eur"}, 422),
        ({"Idempotency-Key": "k"}, AUTH | {"reference": ""}, 422),
        ({"Idempotency-Key": "k"}, AUTH | {"card": "4242"}, 422),
        ({"Idempotency-Key": "k"}, {"amount_minor": 1, "currency": "EUR"}, 422),
    ],
)
async def test_invalid_requests_charge_nothing(
    gw: Client, headers: dict[str, str], body: dict[str, Any], status: int
) -> None:
    response = await gw.post("/v1/authorisations", json=body, headers=headers)
    assert response.status_code == status
    assert response.json()["status"] == "error"
    assert await charges(gw) == []
    assert (await authorise(gw, "k")).status_code == 201  # the key was not used up


async def test_capture_then_refunds_down_to_zero(gw: Client) -> None:
    payment_id = (await authorise(gw, "a")).json()["payment_id"]
    captured = await act(gw, payment_id, "captures", "c", amount_minor=2500, currency="EUR")
    assert captured.status_code == 201
    assert captured.json()["status"] == "captured"
    assert captured.json()["captured_minor"] == 2500

    part = await act(gw, payment_id, "refunds", "r1", amount_minor=1000, currency="EUR")
    assert (part.status_code, part.json()["status"]) == (201, "captured")
    too_much = await act(gw, payment_id, "refunds", "r2", amount_minor=1501, currency="EUR")
    assert (too_much.status_code, too_much.json()["reason"]) == (422, "amount_exceeds_captured")
    rest = await act(gw, payment_id, "refunds", "r3", amount_minor=1500, currency="EUR")
    assert (rest.status_code, rest.json()["refunded_minor"]) == (201, 2500)
    assert rest.json()["status"] == "refunded"
    replay = await act(gw, payment_id, "refunds", "r1", amount_minor=1000, currency="EUR")
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json() == part.json()

    (charge,) = await charges(gw)
    assert charge["state"] == "refunded"
    assert (charge["captured_minor"], charge["refunded_minor"]) == (2500, 2500)
    shown = await gw.get(f"/v1/payments/{payment_id}")
    assert shown.json()["status"] == "refunded"


@pytest.mark.parametrize(
    ("steps", "action", "body", "status", "reason"),
    [
        (["captures"], "captures", {"amount_minor": 100, "currency": "EUR"}, 422, "invalid_state"),
        (["captures"], "voids", {}, 422, "invalid_state"),
        (["voids"], "captures", {"amount_minor": 100, "currency": "EUR"}, 422, "invalid_state"),
        (["voids"], "voids", {}, 422, "invalid_state"),
        ([], "refunds", {"amount_minor": 100, "currency": "EUR"}, 422, "invalid_state"),
        (["voids"], "refunds", {"amount_minor": 100, "currency": "EUR"}, 422, "invalid_state"),
        (
            [],
            "captures",
            {"amount_minor": 2501, "currency": "EUR"},
            422,
            "amount_exceeds_authorised",
        ),
        ([], "captures", {"amount_minor": 2500, "currency": "USD"}, 422, "currency_mismatch"),
        ([], "captures", {"amount_minor": 2500, "currency": "EUR", "x": 1}, 422, "invalid_request"),
        ([], "voids", {}, 201, None),
        ([], "captures", {"amount_minor": 2000, "currency": "EUR"}, 201, None),
    ],
)
async def test_transitions(
    gw: Client,
    steps: list[str],
    action: str,
    body: dict[str, Any],
    status: int,
    reason: str | None,
) -> None:
    payment_id = (await authorise(gw, "a")).json()["payment_id"]
    for n, step in enumerate(steps):
        money = {"amount_minor": 2500, "currency": "EUR"} if step == "captures" else {}
        assert (await act(gw, payment_id, step, f"step-{n}", **money)).status_code == 201
    response = await act(gw, payment_id, action, "last", **body)
    assert response.status_code == status
    assert response.json().get("reason") == reason


async def test_unknown_payments_are_not_found(gw: Client) -> None:
    response = await act(gw, "pay_nope", "voids", "v")
    assert (response.status_code, response.json()["reason"]) == (404, "payment_not_found")
    assert (await gw.get("/v1/payments/pay_nope")).status_code == 404
    assert (await gw.get("/v1/payments", params={"idempotency_key": "nope"})).status_code == 404


async def test_lookup_by_the_authorisation_key(gw: Client) -> None:
    payment_id = (await authorise(gw, "order-1:authorise")).json()["payment_id"]
    found = await gw.get("/v1/payments", params={"idempotency_key": "order-1:authorise"})
    assert found.status_code == 200
    assert found.json()["payment_id"] == payment_id
    assert (await gw.get("/v1/payments")).status_code == 422


async def test_error_rate_answers_503_before_doing_anything(gw: Client) -> None:
    await gw.put("/admin/faults", json={"error_rate": 1.0})
    failed = await authorise(gw, "k")
    assert (failed.status_code, failed.json()["reason"]) == (503, "unavailable")
    assert (await gw.get("/healthz")).status_code == 200
    assert await charges(gw) == []
    await gw.put("/admin/faults", json={"error_rate": 0.0})
    fresh = await authorise(gw, "k")
    assert fresh.status_code == 201
    assert "Idempotent-Replayed" not in fresh.headers


async def test_lost_replies_do_the_work_once(gw: Client) -> None:
    await gw.put("/admin/faults", json={"lost_reply_rate": 1.0})
    for _ in range(3):
        assert (await authorise(gw, "k")).status_code == 500
    (charge,) = await charges(gw)
    await gw.put("/admin/faults", json={"lost_reply_rate": 0.0})
    answered = await authorise(gw, "k")
    assert answered.status_code == 201
    assert answered.headers["Idempotent-Replayed"] == "true"
    assert answered.json()["payment_id"] == charge["payment_id"]


async def test_declines_are_final_and_replayed(gw: Client) -> None:
    await gw.put("/admin/faults", json={"decline_rate": 1.0})
    declined = await authorise(gw, "k")
    assert declined.status_code == 402
    assert (declined.json()["status"], declined.json()["reason"]) == ("declined", "card_declined")
    await gw.put("/admin/faults", json={"decline_rate": 0.0})
    again = await authorise(gw, "k")
    assert again.status_code == 402
    assert again.headers["Idempotent-Replayed"] == "true"
    assert await charges(gw) == []  # a decline holds no money
    listed = await gw.get("/admin/charges", params={"include_declined": "true"})
    assert [c["state"] for c in listed.json()] == ["declined"]


async def test_a_held_request_makes_its_duplicates_wait_with_409(gw: Client) -> None:
    await gw.put("/admin/faults", json={"timeout_rate": 1.0, "hang_seconds": 0.3})
    first = asyncio.create_task(authorise(gw, "k"))

    async def held() -> bool:
        return await stat(gw, "in_progress") == 1

    await until(held)
    duplicate = await authorise(gw, "k")
    assert (duplicate.status_code, duplicate.json()["reason"]) == (409, "request_in_progress")
    lookup = await gw.get("/v1/payments", params={"idempotency_key": "k"})
    assert lookup.status_code == 409
    assert await charges(gw) == []
    done = await first
    assert done.status_code == 201
    replay = await authorise(gw, "k")
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json()["payment_id"] == done.json()["payment_id"]
    assert len(await charges(gw)) == 1


async def test_held_work_completes_when_the_caller_has_gone(gw: Client) -> None:
    await gw.put("/admin/faults", json={"timeout_rate": 1.0, "hang_seconds": 0.2})
    caller = asyncio.create_task(authorise(gw, "k"))

    async def held() -> bool:
        return await stat(gw, "in_progress") == 1

    await until(held)
    caller.cancel()

    async def finished() -> bool:
        return await stat(gw, "in_progress") == 0

    await until(finished)
    (charge,) = await charges(gw)
    replay = await authorise(gw, "k")
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json()["payment_id"] == charge["payment_id"]


async def test_a_stall_holds_calls_until_switched_off_then_503(gw: Client) -> None:
    await gw.put("/admin/faults", json={"stall": True, "hang_seconds": 60})
    stalled = asyncio.create_task(authorise(gw, "k"))

    async def holding() -> bool:
        return await stat(gw, "stalled") == 1

    await until(holding)
    await gw.put("/admin/faults", json={"stall": False})
    response = await asyncio.wait_for(stalled, 10)  # far less than hang_seconds
    assert (response.status_code, response.json()["reason"]) == (503, "stalled")
    assert await charges(gw) == []
    assert (await authorise(gw, "k")).status_code == 201


async def test_a_stall_ends_after_hang_seconds() -> None:
    async with sandbox(Faults(stall=True, hang_seconds=0.05)) as gw:
        response = await authorise(gw, "k")
        assert response.status_code == 503
        assert await stat(gw, "stalled") == 0


async def test_latency_is_added_to_every_call() -> None:
    async with sandbox(Faults(latency_ms=150)) as gw:
        started = time.monotonic()
        assert (await gw.get("/v1/payments", params={"idempotency_key": "x"})).status_code == 404
        assert time.monotonic() - started >= 0.15


async def test_faults_change_field_by_field_and_reset_restores_the_start() -> None:
    async with sandbox(Faults(latency_ms=1)) as gw:
        assert (await gw.put("/admin/faults", json={"error_rate": 0.5})).status_code == 200
        await gw.put("/admin/faults", json={"decline_rate": 0.25})
        faults = (await gw.get("/admin/faults")).json()
        assert (faults["error_rate"], faults["decline_rate"], faults["latency_ms"]) == (
            0.5,
            0.25,
            1,
        )
        for bad in ({"error_rate": 1.5}, {"stall": "yes"}, {"surprise": 1}):
            assert (await gw.put("/admin/faults", json=bad)).status_code == 422
        await gw.put("/admin/faults", json={"error_rate": 0.0})
        await authorise(gw, "k")
        assert (await gw.post("/admin/reset")).status_code == 200
        assert (await gw.get("/admin/faults")).json() == Faults(latency_ms=1).model_dump()
        assert await charges(gw) == []
        assert await stat(gw, "requests") == 0


async def test_seeded_dice_repeat() -> None:
    async def statuses() -> list[int]:
        async with sandbox(Faults(decline_rate=0.5, error_rate=0.2), seed=7) as gw:
            return [(await authorise(gw, f"k{n}")).status_code for n in range(30)]

    first = await statuses()
    assert set(first) == {201, 402, 503}
    assert await statuses() == first
