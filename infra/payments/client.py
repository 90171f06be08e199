"""The card gateway client: a timeout on every call, bounded retries under one idempotency key,
and a circuit breaker. It never raises for gateway trouble: it answers "unavailable".

Retried (same key, jittered exponential waits): connect errors, timeouts, 5xx, 429, and 409
(the gateway is still working on this key). Any other 4xx is final and answers "declined".
Every HTTP attempt takes a breaker permit and records whether the gateway was healthy (a
decline or another 4xx is a healthy answer); a refused permit answers "unavailable" at once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote

import httpx
import structlog
from prometheus_client import REGISTRY, Counter, Histogram
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from infra.metric_set import MetricSet, metric
from infra.payments.breaker import BreakerMetrics, CircuitBreaker
from infra.settings import Settings

log = structlog.get_logger()

GatewayStatus = Literal["approved", "declined", "unavailable"]
Operation = Literal["authorise", "capture", "void", "refund"]


@dataclass(frozen=True)
class GatewayAnswer:
    """One gateway call's outcome (see commands.payments.GatewayAnswer)."""

    status: GatewayStatus
    payment_id: str | None
    reason: str = ""


@dataclass(frozen=True)
class ClientMetrics(MetricSet):
    """Per-attempt Prometheus metrics of the client, registered once per registry.

    Outcomes: approved, declined, rejected (another final 4xx), in_progress (409),
    rate_limited (429), server_error (5xx), bad_reply, timeout, transport_error, and
    refused (the breaker refused the attempt: no request was sent, no duration observed).
    """

    calls: Counter = metric(
        "payment_gateway_calls_total",
        "Payment gateway HTTP attempts by outcome",
        ["operation", "outcome"],
    )
    seconds: Histogram = metric(
        "payment_gateway_call_seconds",
        "Duration of payment gateway HTTP attempts",
        ["operation"],
        buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    )


DEFAULT_METRICS = ClientMetrics.on(REGISTRY)


class _RetrySafe(Exception):
    """An attempt failed in a way that a retry with the same key may fix."""

    def __init__(self, outcome: str, reason: str, *, healthy: bool = False) -> None:
        super().__init__(reason)
        self.outcome = outcome
        self.reason = reason
        self.healthy = healthy


class _Refused(Exception):
    """The breaker refused the attempt."""


class PaymentsClient:
    """Talks to the card gateway over HTTP; safe to share between threads.

    attempts counts the first try too. http is an httpx.Client to send with (tests pass one
    with event hooks); its base URL and timeout are set here, and close() leaves it open.
    """

    def __init__(
        self,
        base_url: str,
        *,
        timeout_seconds: float,
        attempts: int,
        breaker: CircuitBreaker,
        wait_initial_seconds: float = 0.05,
        wait_max_seconds: float = 0.5,
        http: httpx.Client | None = None,
        metrics: ClientMetrics | None = None,
        api_key: str | None = None,
    ) -> None:
        if attempts < 1:
            raise ValueError(f"attempts must be at least 1, not {attempts}")
        self.breaker = breaker
        self._attempts = attempts
        self._wait = wait_random_exponential(multiplier=wait_initial_seconds, max=wait_max_seconds)
        self._owns_http = http is None
        self._http = http or httpx.Client()
        if api_key:
            self._http.headers["Authorization"] = f"Bearer {api_key}"
        self._http.base_url = httpx.URL(base_url)
        self._http.timeout = httpx.Timeout(timeout_seconds)
        self._http.follow_redirects = False
        self._metrics = metrics or DEFAULT_METRICS

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        breaker_metrics: BreakerMetrics | None = None,
        metrics: ClientMetrics | None = None,
    ) -> PaymentsClient:
        """A client of settings.payments.gateway_url (default: the local sandbox's port)."""
        url = (
            settings.payments.gateway_url
            or f"http://{settings.http.host}:{settings.payments.gateway_port}"
        )
        key = settings.payments.gateway_api_key
        return cls(
            url,
            timeout_seconds=settings.payments.timeout_seconds,
            attempts=settings.payments.attempts,
            breaker=CircuitBreaker.from_settings(settings.breaker, metrics=breaker_metrics),
            api_key=key.get_secret_value() if key else None,
            metrics=metrics,
        )

    def authorise(
        self, key: str, amount_minor: int, currency: str, *, reference: str | None = None
    ) -> GatewayAnswer:
        """Hold amount on the card; reference (default: the key) names the order."""
        body = {"amount_minor": amount_minor, "currency": currency, "reference": reference or key}
        return self._call("authorise", "/v1/authorisations", key, body)

    def capture(self, payment_id: str, key: str, amount_minor: int, currency: str) -> GatewayAnswer:
        """Take held money."""
        body = {"amount_minor": amount_minor, "currency": currency}
        return self._call("capture", _payment_path(payment_id, "captures"), key, body)

    def void(self, payment_id: str, key: str) -> GatewayAnswer:
        """Release an authorisation that was never captured."""
        return self._call("void", _payment_path(payment_id, "voids"), key, None)

    def refund(self, payment_id: str, key: str, amount_minor: int, currency: str) -> GatewayAnswer:
        """Give back captured money."""
        body = {"amount_minor": amount_minor, "currency": currency}
        return self._call("refund", _payment_path(payment_id, "refunds"), key, body)

    def close(self) -> None:
        """Close the HTTP connections (only those of a client this object made)."""
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> PaymentsClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _call(
        self, operation: Operation, path: str, key: str, body: dict[str, Any] | None
    ) -> GatewayAnswer:
        retrying = Retrying(
            stop=stop_after_attempt(self._attempts),
            wait=self._wait,
            retry=retry_if_exception_type(_RetrySafe),
            reraise=True,
        )
        try:
            return retrying(self._attempt, operation, path, key, body)
        except _Refused:
            answer = GatewayAnswer("unavailable", None, "circuit_open")
        except _RetrySafe as trouble:
            answer = GatewayAnswer("unavailable", None, trouble.reason)
        log.warning(
            "payment_gateway_unavailable", operation=operation, key=key, reason=answer.reason
        )
        return answer

    def _attempt(
        self, operation: Operation, path: str, key: str, body: dict[str, Any] | None
    ) -> GatewayAnswer:
        permit = self.breaker.acquire()
        if permit is None:
            self._metrics.calls.labels(operation, "refused").inc()
            raise _Refused
        healthy = False
        try:
            try:
                response = self._send(operation, path, key, body)
                outcome, answer = _classify(response)
            except _RetrySafe as trouble:
                healthy = trouble.healthy
                self._metrics.calls.labels(operation, trouble.outcome).inc()
                log.info(
                    "payment_gateway_retry_safe_failure",
                    operation=operation,
                    key=key,
                    outcome=trouble.outcome,
                    reason=trouble.reason,
                )
                raise
            healthy = True
            self._metrics.calls.labels(operation, outcome).inc()
            return answer
        finally:
            self.breaker.record(permit, success=healthy)

    def _send(
        self, operation: Operation, path: str, key: str, body: dict[str, Any] | None
    ) -> httpx.Response:
        started = time.perf_counter()
        try:
            return self._http.post(path, json=body, headers={"Idempotency-Key": key})
        except httpx.TimeoutException as error:
            raise _RetrySafe("timeout", f"timeout ({type(error).__name__})") from error
        except httpx.HTTPError as error:
            raise _RetrySafe("transport_error", f"transport error ({error!r})") from error
        finally:
            self._metrics.seconds.labels(operation).observe(time.perf_counter() - started)


def _payment_path(payment_id: str, action: str) -> str:
    return f"/v1/payments/{quote(payment_id, safe='')}/{action}"


def _classify(response: httpx.Response) -> tuple[str, GatewayAnswer]:
    """The outcome and answer of a final response; raises _RetrySafe for the others."""
    code = response.status_code
    if code == 409:
        raise _RetrySafe("in_progress", "the gateway is still working on this key", healthy=True)
    if code == 429:
        raise _RetrySafe("rate_limited", "rate limited by the gateway")
    if code >= 500:
        raise _RetrySafe("server_error", f"gateway error {code}")
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        body = {}
    if 200 <= code < 300:
        payment_id = body.get("payment_id")
        if not isinstance(payment_id, str) or not payment_id:
            raise _RetrySafe("bad_reply", f"a {code} reply without a payment id")
        return "approved", GatewayAnswer("approved", payment_id, "")
    reason = body.get("reason")
    reason = reason if isinstance(reason, str) and reason else f"http_{code}"
    outcome = "declined" if code == 402 else "rejected"
    return outcome, GatewayAnswer("declined", None, reason)
