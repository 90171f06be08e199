"""`marketplace up` as a process supervisor: a process that dies is restarted in place while
the rest serve, `status` shows it, and an `up` killed with SIGKILL leaves nothing in the way
of the next one."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import redis

from infra.local.processes import alive
from marketplace.restarts import STATE_FILE, Row, load
from tests.e2e.stack import COMMAND_TIMEOUT, START_TIMEOUT, Stack, marketplace

pytestmark = pytest.mark.e2e


def components(stack: Stack) -> dict[str, Row]:
    """What `up` last recorded of each process, by name."""
    state = load(stack.data_dir / STATE_FILE)
    assert state is not None, stack.output()
    return {row.name: row for row in state.components}


def wait_for(what: str, done: Callable[[], bool], stack: Stack) -> None:
    """Poll until done() holds; fail, with what `up` printed, after a generous bound."""
    deadline = time.monotonic() + START_TIMEOUT
    while not done():
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} after {START_TIMEOUT}s:\n{stack.output()}")
        time.sleep(0.2)


def restarted(stack: Stack, name: str, old_pid: int | None) -> Callable[[], bool]:
    def check() -> bool:
        row = components(stack)[name]
        return row.state == "running" and row.pid not in (None, old_pid)

    return check


def ok(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


def open_shop(stack: Stack, client: httpx.Client) -> tuple[dict[str, str], str]:
    """A seller with one product; the seller's headers and the product id."""
    seller = {"Authorization": f"Bearer {stack.token('seller', uuid.uuid4())}"}
    ok(client.post("/v1/sellers", json={"name": "Ada", "email": "a@x.test"}, headers=seller), 201)
    price = {"amount_minor": 999, "currency": "EUR"}
    listing = {"title": "Lamp", "category": "Home & Kitchen", "price": price}
    product_id = ok(client.post("/v1/products", json=listing, headers=seller), 201)["id"]
    return seller, str(product_id)


def units(stack: Stack, product_id: str) -> int | None:
    """Units available as the query API shows them (None while it cannot say)."""
    try:
        response = httpx.get(f"http://127.0.0.1:{stack.read_port}/v1/products/{product_id}")
    except httpx.HTTPError:
        return None
    return int(response.json()["units_available"]) if response.status_code == 200 else None


def test_valkey_killed_under_up_is_restarted_in_place_and_no_command_is_lost(
    stack: Stack,
) -> None:
    stack.start()
    with httpx.Client(base_url=stack.url, timeout=30.0) as client:
        seller, product_id = open_shop(stack, client)
        receipts = f"/v1/products/{product_id}/stock/receipts"
        ok(client.post(receipts, json={"quantity": 10}, headers=seller), 200)
        received = 10
        wait_for("product in the view", lambda: units(stack, product_id) == 10, stack)
        valkey = components(stack)["Valkey"]
        assert valkey.pid is not None
        os.kill(valkey.pid, signal.SIGKILL)
        after_restart = 0
        while after_restart < 5:  # commands all along: before, during and after the restart
            ok(client.post(receipts, json={"quantity": 1}, headers=seller), 200)
            received += 1
            after_restart += restarted(stack, "Valkey", valkey.pid)()
            assert received < 1000, f"Valkey not restarted:\n{stack.output()}"
    row = components(stack)["Valkey"]
    assert (row.restarts, row.last_error) == (1, "was killed by SIGKILL")
    assert redis.Redis(port=stack.redis_port).ping()
    wait_for(f"{received} units in the view", lambda: units(stack, product_id) == received, stack)
    assert "Valkey was killed by SIGKILL; restarting in 0.5s" in stack.output()
    assert stack.terminate() == 0
    stack.assert_all_stopped()


def test_a_dead_projector_and_api_are_restarted_while_the_rest_serve(stack: Stack) -> None:
    stack.start()
    before = components(stack)
    victims = ("carts", "command-api")
    for name in victims:
        pid = before[name].pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
    for name in victims:
        wait_for(f"{name} restarted", restarted(stack, name, before[name].pid), stack)
    after = components(stack)
    assert {n: r.pid for n, r in after.items() if n not in victims} == {
        n: r.pid for n, r in before.items() if n not in victims
    }
    wait_for("the command API ready", lambda: ready(stack.url), stack)
    shopper = {"Authorization": f"Bearer {stack.token('shopper', uuid.uuid4())}"}
    with httpx.Client(base_url=stack.url, timeout=30.0) as client:
        cart = ok(client.post("/v1/carts", headers=shopper), 201)
    read = f"http://127.0.0.1:{stack.read_port}/v1/carts/{cart['id']}"
    wait_for("the cart projected", lambda: carted(read, shopper), stack)

    status = subprocess.run(
        marketplace("status", "--data-dir", str(stack.data_dir)),
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
        env=stack.env(),
        check=False,
    )
    assert status.returncode == 0, status.stderr
    table = status.stdout.split("\n\n")[1].splitlines()[2:]
    shown = {line.split()[0]: line.split(maxsplit=4) for line in table}
    for name in victims:
        assert shown[name][1] == "running" and shown[name][3] == "1", status.stdout
        assert shown[name][4].startswith("was killed by SIGKILL"), status.stdout
    assert shown["orders"][1:4] == ["running", str(after["orders"].pid), "0"], status.stdout
    assert stack.terminate() == 0
    stack.assert_all_stopped()


def ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health/ready", timeout=5.0).status_code == 200
    except httpx.HTTPError:
        return False


def carted(url: str, headers: dict[str, str]) -> bool:
    try:
        return httpx.get(url, headers=headers, timeout=5.0).status_code == 200
    except httpx.HTTPError:
        return False


def test_up_killed_with_sigkill_then_started_again_comes_up(stack: Stack) -> None:
    stack.start()
    first = components(stack)
    assert stack.process is not None
    stack.process.send_signal(signal.SIGKILL)
    stack.process.wait(COMMAND_TIMEOUT)

    stack.start()
    second = components(stack)
    for name in ("PostgreSQL", "Valkey", "command-api", "orders"):
        old, new = first[name].pid, second[name].pid
        assert old is not None and not alive(old), name
        assert new is not None and new != old, name
    with httpx.Client(base_url=stack.url, timeout=30.0) as client:
        open_shop(stack, client)
    assert stack.terminate() == 0
    stack.assert_all_stopped()
