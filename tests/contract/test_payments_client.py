"""The payments client against the sandbox gateway running as a real `marketplace gateway`.

Each test resets the gateway and builds a client with its own breaker, metrics registry and
an httpx client that counts the requests it sends.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry

from commands.payments import PaymentGateway
from infra.payments.breaker import BreakerMetrics, BreakerState, CircuitBreaker
from infra.payments.client import ClientMetrics, GatewayAnswer, PaymentsClient
from infra.settings import BreakerSettings, HttpSettings, PaymentSettings, Settings
from tests.conftest import free_port

pytestmark = pytest.mark.e2e

NEVER_OPENS = {"failure_rate": 1.0, "window_calls": 1000, "min_calls": 1000}


def wait_until(check: Callable[[], bool], seconds: float = 10.0) -> None:
    """Poll check until it holds; fail after seconds."""
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not true after {seconds} s")
        time.sleep(0.02)


@contextmanager
def gateway_process(*flags: str) -> Iterator[str]:
    """Run `marketplace gateway` on a free port; yield its URL; stop it on exit."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MARKETPLACE_")}
    env["MARKETPLACE_LOG_LEVEL"] = "WARNING"
    command = [sys.executable, "-m", "marketplace.cli", "gateway", "--port", str(port), *flags]
    process = subprocess.Popen(command, env=env)
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        assert process.poll() is None, f"the gateway exited with {process.returncode}"
        try:
            return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_until(healthy, 30)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def gateway_url() -> Iterator[str]:
    with gateway_process("--seed", "11") as url:
        yield url


@dataclass
class Rig:
    """A client with its own breaker and metrics, and the gateway's admin endpoints."""

    url: str
    client: PaymentsClient
    breaker: CircuitBreaker
    registry: CollectorRegistry
    http: httpx.Client
    sent: list[httpx.Request] = field(default_factory=list)

    def faults(self, **faults: Any) -> None:
        httpx.put(f"{self.url}/admin/faults", json=faults, timeout=5).raise_for_status()

    def charges(self) -> list[dict[str, Any]]:
        """Every authorisation, declined ones too."""
        params = {"include_declined": "true"}
        return list(httpx.get(f"{self.url}/admin/charges", params=params, timeout=5).json())

    def gateway_requests(self) -> int:
        return int(httpx.get(f"{self.url}/admin/stats", timeout=5).json()["requests"])

    def calls(self, outcome: str, operation: str = "authorise") -> float:
        labels = {"operation": operation, "outcome": outcome}
        return self.registry.get_sample_value("payment_gateway_calls_total", labels) or 0.0

    def transitions(self, from_state: str, to_state: str) -> float:
        labels = {"from_state": from_state, "to_state": to_state}
        return self.registry.get_sample_value("payment_breaker_transitions_total", labels) or 0.0

    def state_gauge(self) -> float | None:
        return self.registry.get_sample_value("payment_breaker_state")


@pytest.fixture
def make_rig(gateway_url: str) -> Iterator[Callable[..., Rig]]:
    httpx.post(f"{gateway_url}/admin/reset", timeout=5).raise_for_status()
    made: list[Rig] = []

    def make(*, attempts: int = 3, timeout_seconds: float = 2.0, **breaker_config: float) -> Rig:
        registry = CollectorRegistry()
        config: dict[str, float] = {
            "failure_rate": 0.5,
            "window_calls": 10,
            "min_calls": 4,
            "open_seconds": 0.5,
            "half_open_calls": 2,
        } | breaker_config
        breaker = CircuitBreaker(
            failure_rate=config["failure_rate"],
            window_calls=int(config["window_calls"]),
            min_calls=int(config["min_calls"]),
            open_seconds=config["open_seconds"],
            half_open_calls=int(config["half_open_calls"]),
            metrics=BreakerMetrics.on(registry),
        )
        sent: list[httpx.Request] = []
        lock = threading.Lock()

        def count(request: httpx.Request) -> None:
            with lock:
                sent.append(request)

        http = httpx.Client(event_hooks={"request": [count]})
        client = PaymentsClient(
            gateway_url,
            timeout_seconds=timeout_seconds,
            attempts=attempts,
            breaker=breaker,
            wait_initial_seconds=0.01,
            wait_max_seconds=0.05,
            http=http,
            metrics=ClientMetrics.on(registry),
        )
        rig = Rig(gateway_url, client, breaker, registry, http, sent)
        made.append(rig)
        return rig

    yield make
    for rig in made:
        rig.http.close()


def test_the_client_is_a_payment_gateway(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(**NEVER_OPENS)
    gateway: PaymentGateway = rig.client
    authorised = gateway.authorise("o1:authorise", 4200, "GBP", reference="o1")
    assert authorised == GatewayAnswer("approved", authorised.payment_id, "")
    assert authorised.payment_id is not None
    payment_id = authorised.payment_id
    assert gateway.capture(payment_id, "o1:capture", 4200, "GBP").payment_id == payment_id
    assert gateway.refund(payment_id, "o1:refund", 200, "GBP").status == "approved"
    assert gateway.void(payment_id, "o1:void") == GatewayAnswer("declined", None, "invalid_state")
    unknown = gateway.capture("pay_unknown", "x:capture", 1, "GBP")
    assert unknown == GatewayAnswer("declined", None, "payment_not_found")
    rig.faults(decline_rate=1.0)
    declined = gateway.authorise("o2:authorise", 100, "GBP", reference="o2")
    assert declined == GatewayAnswer("declined", None, "card_declined")
    assert rig.calls("declined") == 1
    assert rig.calls("rejected", "void") == 1
    (charge, _) = sorted(rig.charges(), key=lambda c: c["reference"])
    assert (charge["reference"], charge["state"]) == ("o1", "captured")
    assert (charge["captured_minor"], charge["refunded_minor"]) == (4200, 200)


def test_from_settings_finds_the_local_gateway_by_port(gateway_url: str) -> None:
    httpx.post(f"{gateway_url}/admin/reset", timeout=5).raise_for_status()
    port = httpx.URL(gateway_url).port
    assert port is not None
    settings = Settings(
        payments=PaymentSettings(gateway_url=None, gateway_port=port, attempts=2),
        http=HttpSettings(host="127.0.0.1"),
    )
    registry = CollectorRegistry()
    with PaymentsClient.from_settings(
        settings, breaker_metrics=BreakerMetrics.on(registry), metrics=ClientMetrics.on(registry)
    ) as client:
        assert client.authorise("s1", 100, "EUR").status == "approved"
        assert client.breaker.window_calls == settings.breaker.window_calls
    labels = {"operation": "authorise", "outcome": "approved"}
    assert registry.get_sample_value("payment_gateway_calls_total", labels) == 1
    assert (
        registry.get_sample_value("payment_gateway_call_seconds_count", {"operation": "authorise"})
        == 1
    )


def test_lost_replies_are_retried_with_one_key_and_charge_once(
    make_rig: Callable[..., Rig],
) -> None:
    rig = make_rig(attempts=3, **NEVER_OPENS)
    rig.faults(lost_reply_rate=1.0)
    lost = rig.client.authorise("o1:authorise", 1000, "EUR", reference="o1")
    assert lost.status == "unavailable"
    assert [r.headers["Idempotency-Key"] for r in rig.sent] == ["o1:authorise"] * 3
    assert rig.calls("server_error") == 3
    (charge,) = rig.charges()
    rig.faults(lost_reply_rate=0.0)
    answer = rig.client.authorise("o1:authorise", 1000, "EUR", reference="o1")
    assert answer == GatewayAnswer("approved", charge["payment_id"], "")
    assert len(rig.charges()) == 1


def test_concurrent_orders_under_random_faults_are_charged_once_each(
    make_rig: Callable[..., Rig],
) -> None:
    rig = make_rig(attempts=4, **NEVER_OPENS)
    rig.faults(lost_reply_rate=0.3, error_rate=0.2, decline_rate=0.1)
    orders = [f"order-{n}" for n in range(40)]

    def pay(order: str) -> GatewayAnswer:
        return rig.client.authorise(f"{order}:authorise", 1500, "EUR", reference=order)

    with ThreadPoolExecutor(8) as pool:
        first = dict(zip(orders, pool.map(pay, orders), strict=True))
    assert rig.calls("server_error") > 0
    rig.faults(lost_reply_rate=0.0, error_rate=0.0)
    with ThreadPoolExecutor(8) as pool:
        second = dict(zip(orders, pool.map(pay, orders), strict=True))

    assert {a.status for a in second.values()} <= {"approved", "declined"}
    for order in orders:
        if first[order].status != "unavailable":
            assert second[order] == first[order]
    charges = rig.charges()
    assert Counter(c["reference"] for c in charges) == Counter(orders)
    by_reference = {c["reference"]: c for c in charges}
    for order, answer in second.items():
        charge = by_reference[order]
        if answer.status == "approved":
            assert (charge["state"], charge["payment_id"]) == ("authorised", answer.payment_id)
        else:
            assert charge["state"] == "declined"


def test_a_timed_out_call_is_retried_and_the_held_work_is_not_repeated(
    make_rig: Callable[..., Rig],
) -> None:
    rig = make_rig(attempts=3, timeout_seconds=0.2, **NEVER_OPENS)
    rig.faults(timeout_rate=1.0, hang_seconds=1.5)
    answer = rig.client.authorise("o1:authorise", 700, "EUR", reference="o1")
    assert answer.status == "unavailable"
    assert rig.calls("timeout") >= 1
    assert rig.calls("in_progress") >= 1  # a retry found the first request still held

    def done() -> bool:
        found = httpx.get(f"{rig.url}/v1/payments", params={"idempotency_key": "o1:authorise"})
        return found.status_code == 200

    wait_until(done)
    (charge,) = rig.charges()
    again = rig.client.authorise("o1:authorise", 700, "EUR", reference="o1")
    assert again == GatewayAnswer("approved", charge["payment_id"], "")
    assert len(rig.charges()) == 1


def test_the_breaker_opens_refuses_without_the_network_and_recovers(
    make_rig: Callable[..., Rig],
) -> None:
    rig = make_rig(attempts=2, failure_rate=0.5, window_calls=10, min_calls=4, half_open_calls=2)
    rig.faults(error_rate=1.0)
    assert rig.client.authorise("k1", 100, "EUR").status == "unavailable"
    assert rig.breaker.state is BreakerState.CLOSED
    assert rig.client.authorise("k2", 100, "EUR").status == "unavailable"
    assert rig.breaker.state is BreakerState.OPEN
    assert rig.state_gauge() == 1
    assert rig.calls("server_error") == 4

    sent, received = len(rig.sent), rig.gateway_requests()
    refused = rig.client.authorise("k3", 100, "EUR")
    assert refused == GatewayAnswer("unavailable", None, "circuit_open")
    assert (len(rig.sent), rig.gateway_requests()) == (sent, received)
    assert rig.calls("refused") == 1

    wait_until(lambda: rig.breaker.state is BreakerState.HALF_OPEN)
    assert rig.state_gauge() == 2
    assert rig.client.authorise("k4", 100, "EUR").reason == "circuit_open"  # its trial failed
    assert rig.transitions("half_open", "open") == 1
    assert rig.breaker.state is BreakerState.OPEN

    rig.faults(error_rate=0.0)
    wait_until(lambda: rig.breaker.state is BreakerState.HALF_OPEN)
    assert rig.client.authorise("k5", 100, "EUR").status == "approved"
    assert rig.breaker.state is BreakerState.HALF_OPEN
    assert rig.client.authorise("k6", 100, "EUR").status == "approved"
    assert rig.breaker.state is BreakerState.CLOSED
    assert rig.state_gauge() == 0
    assert rig.transitions("closed", "open") == 1
    assert rig.transitions("open", "half_open") == 2
    assert rig.transitions("half_open", "closed") == 1
    assert sorted(c["idempotency_key"] for c in rig.charges()) == ["k5", "k6"]


def test_fault_flags_configure_the_gateway_at_start() -> None:
    flags = ["--decline-rate", "1", "--latency-ms", "5", "--hang-seconds", "2", "--seed", "3"]
    with gateway_process(*flags) as url:
        faults = httpx.get(f"{url}/admin/faults", timeout=5).json()
        assert (faults["decline_rate"], faults["latency_ms"], faults["hang_seconds"]) == (1, 5, 2)
        response = httpx.post(
            f"{url}/v1/authorisations",
            json={"amount_minor": 1, "currency": "EUR", "reference": "o"},
            headers={"Idempotency-Key": "k"},
            timeout=5,
        )
        assert response.status_code == 402


def test_the_api_key_from_settings_goes_out_as_a_bearer_token() -> None:
    seen: list[str | None] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("authorization"))
        return httpx.Response(402, json={"status": "declined", "reason": "test"})

    registry = CollectorRegistry()
    client = PaymentsClient(
        "http://gateway.test",
        timeout_seconds=1.0,
        attempts=1,
        breaker=CircuitBreaker.from_settings(
            BreakerSettings(), metrics=BreakerMetrics.on(registry)
        ),
        http=httpx.Client(transport=httpx.MockTransport(answer)),
        metrics=ClientMetrics.on(registry),
        api_key="k-123",
    )
    assert client.authorise("key", 100, "EUR").status == "declined"
    assert seen == ["Bearer k-123"]
