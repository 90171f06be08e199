"""Samples taken while the load runs: every projection's lag, and the payment breaker.

Lag is read the way `marketplace status` reads it, by the probes the composition root hands
in (`Root.lag_probes`: each projector's logs and view, opened once for the run). The
breaker's state and transitions come from the checkout worker's Prometheus endpoint, when
one is given.
"""

from __future__ import annotations

import threading
import time
import urllib.request
from collections.abc import Sequence
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass, field

import structlog
from prometheus_client.parser import text_string_to_metric_families

from loadtest.root import LagProbe

log = structlog.get_logger()


@dataclass(frozen=True)
class LagSample:
    """One projection's lag behind one log at one instant (epoch seconds)."""

    t: float
    projection: str
    log: str
    events: int
    seconds: float


@dataclass(frozen=True)
class BreakerSample:
    """The breaker's state and its transition counters at one instant."""

    t: float
    state: int
    transitions: dict[str, float]
    """Cumulative count per `from->to`."""


@dataclass
class Samples:
    """Everything sampled during a run."""

    lag: list[LagSample] = field(default_factory=list)
    breaker: list[BreakerSample] = field(default_factory=list)
    lag_failures: int = 0
    breaker_failures: int = 0
    breaker_error: str = ""


def breaker_reading(text: str, at: float) -> BreakerSample | None:
    """The breaker sample in a Prometheus exposition, or None if it has no breaker metrics."""
    state: float | None = None
    transitions: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name == "payment_breaker_state":
            state = family.samples[0].value if family.samples else None
        elif family.name == "payment_breaker_transitions":
            for sample in family.samples:
                if sample.name.endswith("_total"):
                    key = f"{sample.labels['from_state']}->{sample.labels['to_state']}"
                    transitions[key] = sample.value
    if state is None:
        return None
    return BreakerSample(at, int(state), transitions)


class Sampler:
    """Samples lag and the breaker every interval on a thread, until stopped."""

    def __init__(
        self,
        lag_probes: AbstractContextManager[Sequence[LagProbe]],
        interval: float,
        checkout_metrics: str | None = None,
    ) -> None:
        self.lag_probes = lag_probes
        self.interval = interval
        self.checkout_metrics = checkout_metrics
        self.samples = Samples()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._resources = ExitStack()
        self._probes: Sequence[LagProbe] = ()

    def start(self) -> None:
        """Open every projector's logs and view, then start sampling."""
        self._probes = self._resources.enter_context(self.lag_probes)
        self.sample_once()
        self._thread = threading.Thread(target=self._loop, name="loadtest-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> Samples:
        """Stop sampling, take a last sample, close what start() opened; the samples."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self.sample_once()
        self._resources.close()
        return self.samples

    def sample_once(self) -> None:
        """Take one sample of each kind."""
        now = time.time()
        for probe in self._probes:
            try:
                rows = probe()
            except Exception as error:
                self.samples.lag_failures += 1
                log.warning("lag_sample_failed", error=str(error))
                continue
            self.samples.lag.extend(
                LagSample(now, row.projection, row.log, row.events, row.seconds) for row in rows
            )
        if self.checkout_metrics:
            self._sample_breaker(now)

    def _sample_breaker(self, now: float) -> None:
        url = self.checkout_metrics or ""
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (given URL)
                reading = breaker_reading(response.read().decode(), now)
        except (OSError, ValueError) as error:
            self.samples.breaker_failures += 1
            self.samples.breaker_error = str(error)
            return
        if reading is None:
            self.samples.breaker_error = f"no payment_breaker metrics at {url}"
        else:
            self.samples.breaker.append(reading)

    def _loop(self) -> None:
        next_at = time.monotonic() + self.interval
        while not self._stop.wait(max(next_at - time.monotonic(), 0.0)):
            self.sample_once()
            next_at += self.interval
