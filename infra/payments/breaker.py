"""A circuit breaker over a sliding window of call outcomes: closed, open, then half-open trials.

No library fits these exact semantics (failure rate over the last N calls once M are
recorded, a timed open state, a fixed number of half-open trials judged by the same rate),
so this is the one small module. Callers take a Permit per call and record its outcome;
outcomes of permits issued before a transition are ignored, so late answers never
decide a state they did not see.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum

import structlog
from prometheus_client import REGISTRY, Counter, Gauge

from infra.metric_set import MetricSet, metric
from infra.settings import BreakerSettings

log = structlog.get_logger()


class BreakerState(IntEnum):
    """The breaker's state; the value is what the state gauge shows."""

    CLOSED = 0
    OPEN = 1
    HALF_OPEN = 2

    @property
    def label(self) -> str:
        """The name used in logs and metric labels (closed, open, half_open)."""
        return self.name.lower()


@dataclass(frozen=True)
class BreakerMetrics(MetricSet):
    """The breaker's Prometheus metrics, registered once per registry."""

    state: Gauge = metric(
        "payment_breaker_state",
        "Payment gateway circuit breaker state (0 closed, 1 open, 2 half-open)",
    )
    transitions: Counter = metric(
        "payment_breaker_transitions_total",
        "Payment gateway circuit breaker state changes",
        ["from_state", "to_state"],
    )


DEFAULT_METRICS = BreakerMetrics.on(REGISTRY)


@dataclass(frozen=True)
class Permit:
    """Leave to make one call; hand it back to record() with the call's outcome."""

    generation: int


class CircuitBreaker:
    """Opens when the failure rate over the last window_calls calls reaches failure_rate.

    Closed: every call is let through and recorded in a sliding window; once min_calls are
    in the window and failures / calls >= failure_rate, the breaker opens. Open: calls are
    refused for open_seconds. Half-open: half_open_calls trial calls are let through (others
    refused); if their failure rate reaches failure_rate the breaker opens again, otherwise
    it closes with an empty window. The half-open verdict is taken as soon as the remaining
    trials can no longer change it. Thread-safe; the clock is injectable.
    """

    def __init__(
        self,
        *,
        failure_rate: float,
        window_calls: int,
        min_calls: int,
        open_seconds: float,
        half_open_calls: int,
        clock: Callable[[], float] = time.monotonic,
        metrics: BreakerMetrics | None = None,
    ) -> None:
        if not 0 < failure_rate <= 1:
            raise ValueError(f"failure_rate must be in (0, 1], not {failure_rate}")
        if window_calls < 1 or half_open_calls < 1 or min_calls < 1:
            raise ValueError("window_calls, min_calls and half_open_calls must be at least 1")
        if min_calls > window_calls:
            raise ValueError(f"min_calls ({min_calls}) exceeds window_calls ({window_calls})")
        if open_seconds <= 0:
            raise ValueError(f"open_seconds must be positive, not {open_seconds}")
        self.failure_rate = failure_rate
        self.window_calls = window_calls
        self.min_calls = min_calls
        self.open_seconds = open_seconds
        self.half_open_calls = half_open_calls
        self._clock = clock
        self._metrics = metrics or DEFAULT_METRICS
        self._lock = threading.Lock()
        self._state = BreakerState.CLOSED
        self._generation = 0
        self._window: deque[bool] = deque()
        self._failures = 0
        self._opened_at = 0.0
        self._trials_issued = 0
        self._trials_done = 0
        self._trial_failures = 0
        self._metrics.state.set(BreakerState.CLOSED)

    @classmethod
    def from_settings(
        cls,
        breaker: BreakerSettings,
        *,
        clock: Callable[[], float] = time.monotonic,
        metrics: BreakerMetrics | None = None,
    ) -> CircuitBreaker:
        """A breaker with these settings (MARKETPLACE_BREAKER_*)."""
        return cls(
            failure_rate=breaker.failure_rate,
            window_calls=breaker.window_calls,
            min_calls=breaker.min_calls,
            open_seconds=breaker.open_seconds,
            half_open_calls=breaker.half_open_calls,
            clock=clock,
            metrics=metrics,
        )

    @property
    def state(self) -> BreakerState:
        """The current state (an open breaker whose time is up reads as half-open)."""
        with self._lock:
            self._advance()
            return self._state

    def acquire(self) -> Permit | None:
        """A permit for one call, or None when the call must not be made."""
        with self._lock:
            self._advance()
            if self._state is BreakerState.CLOSED:
                return Permit(self._generation)
            if self._state is BreakerState.HALF_OPEN and self._trials_issued < self.half_open_calls:
                self._trials_issued += 1
                return Permit(self._generation)
            return None

    def record(self, permit: Permit, *, success: bool) -> None:
        """Record a permitted call's outcome; every permit must be recorded exactly once."""
        with self._lock:
            if permit.generation != self._generation:
                return
            if self._state is BreakerState.CLOSED:
                self._record_closed(success)
            elif self._state is BreakerState.HALF_OPEN:
                self._record_trial(success)

    def _record_closed(self, success: bool) -> None:
        if len(self._window) == self.window_calls:
            self._failures -= self._window.popleft()
        self._window.append(not success)
        self._failures += not success
        calls = len(self._window)
        if calls >= self.min_calls and self._failures / calls >= self.failure_rate:
            self._transition(BreakerState.OPEN, failures=self._failures, calls=calls)

    def _record_trial(self, success: bool) -> None:
        self._trials_done += 1
        self._trial_failures += not success
        trials = self.half_open_calls
        worst_case = self._trial_failures + (trials - self._trials_done)
        if self._trial_failures / trials >= self.failure_rate:
            self._transition(BreakerState.OPEN, failures=self._trial_failures, calls=trials)
        elif worst_case / trials < self.failure_rate:
            self._transition(BreakerState.CLOSED, failures=self._trial_failures, calls=trials)

    def _advance(self) -> None:
        if self._state is BreakerState.OPEN and (
            self._clock() - self._opened_at >= self.open_seconds
        ):
            self._transition(BreakerState.HALF_OPEN)

    def _transition(self, to: BreakerState, **details: int) -> None:
        was = self._state
        self._state = to
        self._generation += 1
        self._window.clear()
        self._failures = 0
        self._trials_issued = self._trials_done = self._trial_failures = 0
        if to is BreakerState.OPEN:
            self._opened_at = self._clock()
        self._metrics.state.set(to)
        self._metrics.transitions.labels(was.label, to.label).inc()
        log.warning(
            "payment_breaker_transition", from_state=was.label, to_state=to.label, **details
        )
