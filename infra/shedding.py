"""Load shedding: a cap on one process's requests in flight, with a share kept for checkout.

Past the cap a request is answered 503 with Retry-After at once, never queued into a
timeout. The last `reserved_share` of the slots only admits requests the app names as
reserved (checkout on the command API), so a flood of other requests cannot starve them.
Health endpoints are neither counted nor shed.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from prometheus_client import REGISTRY, Counter, Gauge
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from infra.metric_set import MetricSet, metric
from infra.web import problem_response

UNGUARDED_PREFIXES = ("/health/", "/metrics")


def unguarded(path: str) -> bool:
    """Health and metrics endpoints: never rate limited, counted or shed."""
    return path.startswith(UNGUARDED_PREFIXES)


def nothing_reserved(method: str, path: str) -> bool:
    """No request may take the slots kept back: the default for an app that reserves none."""
    return False


@dataclass(frozen=True)
class SheddingMetrics(MetricSet):
    """Requests in flight and requests shed, per API."""

    in_flight: Gauge = metric(
        "api_requests_in_flight",
        "Requests this API process is serving now",
        ["api"],
        multiprocess_mode="livesum",
    )
    shed: Counter = metric(
        "api_requests_shed_total",
        "Requests answered 503 at once because the process was at its cap",
        ["api", "kind"],
    )


DEFAULT_METRICS = SheddingMetrics.on(REGISTRY)


class LoadShedder:
    """Admits a request while this process has a slot for it; one per API process."""

    def __init__(
        self,
        max_in_flight: int,
        *,
        reserved_share: float = 0.0,
        retry_after_seconds: int = 1,
        api: str = "api",
        metrics: SheddingMetrics = DEFAULT_METRICS,
    ) -> None:
        if max_in_flight < 1 or not 0 <= reserved_share < 1:
            raise ValueError("max_in_flight must be at least 1 and reserved_share in [0, 1)")
        self.max_in_flight = max_in_flight
        reserved = math.ceil(max_in_flight * reserved_share) if reserved_share else 0
        self.general_slots = max(1, max_in_flight - reserved)
        self.retry_after_seconds = retry_after_seconds
        self.in_flight = 0
        self._in_flight_gauge = metrics.in_flight.labels(api)
        self._in_flight_gauge.set(0)
        self._shed_reserved = metrics.shed.labels(api, "reserved")
        self._shed_general = metrics.shed.labels(api, "general")

    def admit(self, reserved: bool) -> bool:
        """Take a slot (from the whole cap if reserved, else from the general share)."""
        if self.in_flight >= (self.max_in_flight if reserved else self.general_slots):
            (self._shed_reserved if reserved else self._shed_general).inc()
            return False
        self.in_flight += 1
        self._in_flight_gauge.inc()
        return True

    def release(self) -> None:
        """Give back a slot taken by admit."""
        self.in_flight -= 1
        self._in_flight_gauge.dec()


class LoadSheddingMiddleware:
    """Pure ASGI: answer 503 problem+json with Retry-After when the process is at its cap."""

    def __init__(
        self,
        app: ASGIApp,
        shedder: LoadShedder,
        reserved: Callable[[str, str], bool] = nothing_reserved,
    ) -> None:
        self.app = app
        self.shedder = shedder
        self.reserved = reserved

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(UNGUARDED_PREFIXES):
            await self.app(scope, receive, send)
            return
        if not self.shedder.admit(self.reserved(scope["method"], scope["path"])):
            retry_after = str(self.shedder.retry_after_seconds)
            response = problem_response(
                Request(scope),
                503,
                "overloaded",
                "Service overloaded",
                "too many requests in flight; retry after the delay",
                headers={"Retry-After": retry_after, "Cache-Control": "no-store"},
            )
            await response(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            self.shedder.release()
