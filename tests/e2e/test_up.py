"""`marketplace up` as a user runs it: real processes, driven over HTTP, stopped with Ctrl-C."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import uuid
from typing import Any

import httpx
import psycopg
import pytest
from psycopg import sql

from tests.e2e.stack import COMMAND_TIMEOUT, Stack, marketplace

pytestmark = pytest.mark.e2e


def grew(after: dict[str, int], before: dict[str, int], expected: dict[str, int]) -> dict[str, int]:
    """Check each log's position moved by at least the expected number of events.

    Positions are notification ids: an append that lost a race still used up its ids, so a
    position may move further than the number of events it covers, never less.
    """
    for log, events in expected.items():
        assert after[log] - before[log] >= events, (log, before, after)
    return {log: after[log] - before[log] for log in after}


def event_counts(postgres_url: str) -> dict[str, int]:
    """How many events each context's log holds, counted in the store itself."""
    counts = {}
    with psycopg.connect(postgres_url) as conn:
        for log in ("catalog", "inventory", "carts", "customers"):
            query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(f"{log}_events"))
            row = conn.execute(query).fetchone()
            assert row is not None
            counts[log] = int(row[0])
    return counts


def positions(client: httpx.Client) -> dict[str, int]:
    response = client.get("/health/ready")
    assert response.status_code == 200, response.text
    found: dict[str, int] = response.json()["positions"]
    return found


def ok(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert response.headers["etag"] == f'"{body["version"]}"'
    return body


def assert_logged_to_files(stack: Stack, output: str) -> None:
    """Each process logged JSON lines, one object a line, to its own file, none to the
    terminal; a first run logs no missing table."""
    logs = {path.stem: path.read_text() for path in (stack.data_dir / "logs").glob("*.log")}
    assert {"command-api", "query-api", "product-detail", "checkout"} <= set(logs), sorted(logs)
    commands = [json.loads(line) for line in logs["command-api"].splitlines() if line.strip()]
    assert [c["path"] for c in commands if c["event"] == "command"][:2] == [
        "/v1/sellers",
        "/v1/products",
    ]
    for text in logs.values():
        for line in text.splitlines():
            if line.startswith("{"):
                assert isinstance(json.loads(line), dict), line
    assert not [name for name, text in logs.items() if "UndefinedTable" in text]
    assert '"event": "command"' not in output


def test_up_serves_commands_stops_on_ctrl_c_and_keeps_data(stack: Stack) -> None:
    stack.log_level = "INFO"
    banner = stack.start()
    assert stack.postgres_url in banner
    assert f"redis://127.0.0.1:{stack.redis_port}/0" in banner
    assert f"{stack.url}/docs" in banner
    assert f"{stack.data_dir / 'logs'}/<process>.log" in banner

    seller_id, shopper_id = uuid.uuid4(), uuid.uuid4()
    seller = {"Authorization": f"Bearer {stack.token('seller', seller_id)}"}
    shopper = {"Authorization": f"Bearer {stack.token('shopper', shopper_id)}"}
    with httpx.Client(base_url=stack.url, timeout=30.0) as client:
        assert client.get("/docs").status_code == 200
        before = positions(client)
        ok(
            client.post(
                "/v1/sellers", json={"name": "Ada", "email": "ada@example.com"}, headers=seller
            ),
            201,
        )
        listing = {
            "title": "Walnut Desk Lamp",
            "category": "Home & Kitchen",
            "price": {"amount_minor": 4999, "currency": "EUR"},
        }
        product_id = ok(client.post("/v1/products", json=listing, headers=seller), 201)["id"]
        stock_path = f"/v1/products/{product_id}/stock/receipts"
        stocked = ok(client.post(stock_path, json={"quantity": 10}, headers=seller), 200)
        cart_id = ok(client.post("/v1/carts", headers=shopper), 201)["id"]
        item = {"product_id": product_id, "quantity": 2}
        carted = ok(client.post(f"/v1/carts/{cart_id}/items", json=item, headers=shopper), 200)
        first = positions(client)
        exported = client.get("/metrics")
        assert exported.status_code == 200
        assert 'api_requests_in_flight{api="command"}' in exported.text  # summed over 2 workers
        assert "rate_limit_store_up 1.0" in exported.text
    read_metrics = httpx.get(f"http://127.0.0.1:{stack.read_port}/metrics", timeout=30.0)
    assert "rate_limit_store_up 1.0" in read_metrics.text
    grew(first, before, {"catalog": 2, "inventory": 2, "carts": 2, "customers": 0})
    counted = event_counts(stack.postgres_url)
    assert counted == {"catalog": 2, "inventory": 2, "carts": 2, "customers": 0}

    assert stack.interrupt() == 0
    output = stack.output()
    assert_logged_to_files(stack, output)
    assert output.index("stopping command-api") < output.index("stopping PostgreSQL")
    assert output.index("stopping PostgreSQL") < output.index("stopping Valkey")
    assert "marketplace stopped" in output
    stack.assert_all_stopped()

    stack.start()
    with httpx.Client(base_url=stack.url, timeout=30.0) as client:
        assert positions(client) == first
        restocked = ok(client.post(stock_path, json={"quantity": 5}, headers=seller), 200)
        assert restocked["version"] == stocked["version"] + 1
        assert restocked["position"] > first["inventory"]
        stale = client.post(
            f"/v1/carts/{cart_id}/items",
            json=item,
            headers={**shopper, "If-Match": f'"{carted["version"] - 1}"'},
        )
        assert stale.status_code == 412, stale.text
        again = client.post(
            f"/v1/carts/{cart_id}/items",
            json=item,
            headers={**shopper, "If-Match": f'"{carted["version"]}"'},
        )
        assert ok(again, 200)["version"] == carted["version"] + 1
        second = positions(client)

        seeded = subprocess.run(
            marketplace(
                *("seed-demo", "--url", stack.url, "--sellers", "3", "--products", "30"),
                *("--customers", "4", "--seed", "7"),
            ),
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
            env=stack.env(),
            check=False,
        )
        assert seeded.returncode == 0, seeded.stdout + seeded.stderr
        assert "seed-demo |" in seeded.stderr and "37/37 items" in seeded.stderr
        match = re.search(r"customers\s+4 with (\d+) addresses", seeded.stdout)
        assert match, seeded.stdout
        addresses = int(match.group(1))
        third = positions(client)
    seeded_events = {"catalog": 3 + 30, "inventory": 2 * 30, "customers": 4 + addresses, "carts": 0}
    grew(third, second, seeded_events)
    assert event_counts(stack.postgres_url) == {
        "catalog": counted["catalog"] + seeded_events["catalog"],
        "inventory": counted["inventory"] + 1 + seeded_events["inventory"],
        "carts": counted["carts"] + 1,
        "customers": seeded_events["customers"],
    }

    assert stack.terminate() == 0
    stack.assert_all_stopped()


def test_a_port_in_use_is_named_with_its_setting_before_anything_starts(stack: Stack) -> None:
    args = ["up", "--data-dir", str(stack.data_dir), "--write-port", str(stack.write_port)]
    args += ["--read-port", str(stack.read_port)]
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", stack.read_port))
        squatter.listen()
        result = subprocess.run(
            marketplace(*args),
            env=stack.env(),
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
        )
    assert result.returncode == 1, result.stdout + result.stderr
    assert (
        f"port {stack.read_port} (the query API) is already in use;"
        " set MARKETPLACE_READ_API_PORT or --read-port"
    ) in result.stderr
    assert "marketplace is up" not in result.stdout
    assert not (stack.data_dir / "postgres").exists()
    stack.assert_all_stopped()
