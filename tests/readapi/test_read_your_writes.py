"""X-Min-Position: a read waits, within a bound, for the view to reach the client's write."""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import replace
from typing import Any

import pytest
import redis
import redis.asyncio

from projections.product_detail.redis_view import RedisProductDetailView
from tests.readapi.conftest import Reader, http_client, open_reader, read_settings

pytestmark = pytest.mark.postgres


class WatchedView(RedisProductDetailView):
    """Notes each read of the positions, and when one found a log short of a target."""

    def __init__(
        self,
        client: redis.Redis,
        prefix: str,
        log: str,
        target: int,
        async_client: redis.asyncio.Redis | None = None,
    ) -> None:
        super().__init__(client, prefix, async_client)
        self.log, self.target = log, target
        self.polls = 0
        self.behind = threading.Event()

    def positions(self) -> dict[str, int]:
        seen = super().positions()
        self.polls += 1
        if seen.get(self.log, 0) < self.target:
            self.behind.set()
        return seen


def view_position(header: str) -> dict[str, int]:
    pairs = (part.split(":") for part in header.split(","))
    return {log: int(position) for log, position in pairs}


def wait_for(log: str, position: int | None, max_wait_ms: int | None = None) -> dict[str, str]:
    assert position is not None
    headers = {"X-Min-Position": f"{log}:{position}"}
    if max_wait_ms is not None:
        headers["X-Max-Wait-Ms"] = str(max_wait_ms)
    return headers


async def test_a_request_waits_while_a_worker_projects_then_answers_fresh(
    reader: Reader,
) -> None:
    seller, product = reader.stocked_product(units=10)
    reader.project()
    outcome = reader.receive(seller, product, 5)
    assert outcome.log == "inventory" and outcome.position is not None
    view = reader.deps.product_detail.view
    watched = WatchedView(
        view.client, view.keys.prefix, "inventory", outcome.position, view.async_client
    )
    deps = replace(
        reader.deps,
        product_detail=replace(reader.deps.product_detail, view=watched),
        max_wait_seconds=10.0,
    )
    stop = threading.Event()
    projector = threading.Thread(target=reader.worker.run, args=(stop,))

    async with http_client(deps) as client:
        request = asyncio.create_task(
            client.get(f"/v1/products/{product}", headers=wait_for("inventory", outcome.position))
        )
        assert await asyncio.to_thread(watched.behind.wait, 10.0)
        assert not request.done()
        projector.start()
        try:
            response = await asyncio.wait_for(request, 10.0)
        finally:
            stop.set()
            projector.join(10.0)

    assert response.status_code == 200, response.text
    assert response.headers["x-consistency"] == "fresh"
    assert response.json()["units_available"] == 15
    assert view_position(response.headers["x-view-position"])["inventory"] >= outcome.position
    assert response.headers["cache-control"] == "public, max-age=60"
    assert watched.polls >= 2


async def test_with_no_worker_the_answer_after_the_clients_bound_says_stale(
    reader: Reader,
) -> None:
    seller, product = reader.stocked_product(units=10)
    reader.project()
    before = reader.deps.product_detail.view.positions()
    outcome = reader.receive(seller, product, 5)

    started = time.monotonic()
    response = await reader.client.get(
        f"/v1/products/{product}", headers=wait_for("inventory", outcome.position, 150)
    )
    waited = time.monotonic() - started

    assert response.status_code == 200, response.text
    assert response.headers["x-consistency"] == "stale"
    assert view_position(response.headers["x-view-position"]) == before
    assert response.json()["units_available"] == 10
    assert response.headers["cache-control"] == "no-store"
    assert 0.15 <= waited < 1.5


async def test_the_servers_bound_caps_the_wait(
    postgres_url: str, redis_server: str, reader: Reader
) -> None:
    settings = read_settings(postgres_url, redis_server, deadlines={"read_wait_max_seconds": 0.3})
    async with open_reader(settings, reader.commands) as bounded:
        seller, product = bounded.stocked_product()
        bounded.project()
        outcome = bounded.receive(seller, product, 1)
        path = f"/v1/products/{product}"
        timings = []
        for headers in (
            wait_for("inventory", outcome.position),
            wait_for("inventory", outcome.position, 60_000),
        ):
            started = time.monotonic()
            response = await bounded.client.get(path, headers=headers)
            timings.append(time.monotonic() - started)
            assert response.headers["x-consistency"] == "stale"

    assert all(0.3 <= waited < 1.8 for waited in timings), timings


async def test_positions_already_reached_answer_fresh_without_waiting(reader: Reader) -> None:
    _, product = reader.stocked_product()
    reader.project()
    positions = reader.deps.product_detail.view.positions()
    asked = (
        f"catalog:1, inventory:1,catalog:{positions['catalog']},inventory:{positions['inventory']}"
    )

    started = time.monotonic()
    response = await reader.client.get(f"/v1/products/{product}", headers={"X-Min-Position": asked})

    assert time.monotonic() - started < 0.5
    assert response.headers["x-consistency"] == "fresh"
    assert view_position(response.headers["x-view-position"]) == positions


async def test_a_product_not_yet_projected_is_a_404_that_says_stale(reader: Reader) -> None:
    reader.stocked_product()
    reader.project()
    _, product = reader.stocked_product()
    listed = reader.commands.catalog.recorder.max_notification_id()

    response = await reader.client.get(
        f"/v1/products/{product}", headers=wait_for("catalog", listed, 50)
    )

    assert response.status_code == 404
    assert response.headers["x-consistency"] == "stale"


@pytest.mark.parametrize(
    "header", ["inventory", "inventory:", "inventory:x", ":5", "inventory:-1", "a;b:1", ""]
)
async def test_a_malformed_min_position_is_a_422_problem(reader: Reader, header: str) -> None:
    response = await reader.client.get(
        f"/v1/products/{reader.stocked_product()[1]}", headers={"X-Min-Position": header}
    )

    assert response.status_code == 422, response.text
    assert response.json()["type"] == "urn:marketplace:problem:bad-min-position"


async def test_a_log_the_view_does_not_follow_is_a_422_problem(reader: Reader) -> None:
    response = await reader.client.get(
        f"/v1/products/{reader.stocked_product()[1]}", headers={"X-Min-Position": "carts:3"}
    )

    assert response.status_code == 422
    body = response.json()
    assert body["type"] == "urn:marketplace:problem:unknown-log"
    assert "catalog, inventory" in body["detail"]


@pytest.mark.parametrize("header", ["soon", "-1", "1.5", ""])
async def test_a_malformed_max_wait_is_a_422_problem(reader: Reader, header: str) -> None:
    response = await reader.client.get(
        f"/v1/products/{reader.stocked_product()[1]}",
        headers={"X-Min-Position": "inventory:1", "X-Max-Wait-Ms": header},
    )

    assert response.status_code == 422
    assert response.json()["type"] == "urn:marketplace:problem:bad-max-wait"


async def test_the_openapi_document_describes_waiting_and_staleness(reader: Reader) -> None:
    schema: dict[str, Any] = (await reader.client.get("/openapi.json")).json()
    operation = schema["paths"]["/v1/products/{product_id}"]["get"]

    parameters = {p["name"] for p in operation["parameters"] if p["in"] == "header"}
    assert {"X-Min-Position", "X-Max-Wait-Ms", "If-None-Match"} <= parameters
    assert {"X-Consistency", "X-View-Position", "ETag"} <= set(
        operation["responses"]["200"]["headers"]
    )
    assert "`X-Consistency: stale`" in schema["info"]["description"]
