"""The circuit breaker's state machine, on a fake clock and a registry of its own."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

import pytest
from prometheus_client import CollectorRegistry
from structlog.testing import capture_logs

from infra.payments.breaker import BreakerMetrics, BreakerState, CircuitBreaker, Permit
from infra.settings import BreakerSettings

S, F = True, False


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Harness:
    """A breaker with its own clock and metrics registry."""

    def __init__(self, **config: float) -> None:
        self.clock = FakeClock()
        self.registry = CollectorRegistry()
        params: dict[str, float] = {
            "failure_rate": 0.5,
            "window_calls": 10,
            "min_calls": 4,
            "open_seconds": 30.0,
            "half_open_calls": 4,
        } | config
        self.breaker = CircuitBreaker(
            failure_rate=params["failure_rate"],
            window_calls=int(params["window_calls"]),
            min_calls=int(params["min_calls"]),
            open_seconds=params["open_seconds"],
            half_open_calls=int(params["half_open_calls"]),
            clock=self.clock,
            metrics=BreakerMetrics.on(self.registry),
        )

    def calls(self, outcomes: Iterable[bool]) -> None:
        for success in outcomes:
            permit = self.breaker.acquire()
            assert permit is not None
            self.breaker.record(permit, success=success)

    def trials(self, count: int) -> list[Permit]:
        permits = [self.breaker.acquire() for _ in range(count)]
        assert all(permits)
        return [p for p in permits if p is not None]

    def gauge(self) -> float | None:
        return self.registry.get_sample_value("payment_breaker_state")

    def transitions(self, from_state: str, to_state: str) -> float:
        labels = {"from_state": from_state, "to_state": to_state}
        return self.registry.get_sample_value("payment_breaker_transitions_total", labels) or 0.0

    def open_then_wait(self) -> None:
        self.calls([F] * self.breaker.min_calls)
        assert self.breaker.state is BreakerState.OPEN
        self.clock.advance(self.breaker.open_seconds)


def test_stays_closed_until_min_calls_are_recorded() -> None:
    h = Harness(min_calls=5)
    h.calls([F, F, F, F])
    assert h.breaker.state is BreakerState.CLOSED
    assert h.gauge() == 0
    h.calls([F])
    assert h.breaker.state is BreakerState.OPEN
    assert h.gauge() == 1
    assert h.transitions("closed", "open") == 1


@pytest.mark.parametrize(
    ("outcomes", "expected"),
    [
        ([S, S, S, F], BreakerState.CLOSED),
        ([S, F, S, S, S, F], BreakerState.CLOSED),
        ([S, F, S, F], BreakerState.OPEN),
        ([S, S, S, S, S, F, F, F, F], BreakerState.CLOSED),
        ([S, S, S, S, S, F, F, F, F, F], BreakerState.OPEN),
    ],
)
def test_opens_when_the_failure_rate_reaches_the_threshold(
    outcomes: list[bool], expected: BreakerState
) -> None:
    h = Harness(failure_rate=0.5, window_calls=10, min_calls=4)
    h.calls(outcomes)
    assert h.breaker.state is expected


def test_the_window_forgets_calls_older_than_its_size() -> None:
    h = Harness(failure_rate=0.5, window_calls=4, min_calls=4)
    h.calls([S] * 10 + [F])
    assert h.breaker.state is BreakerState.CLOSED
    h.calls([F])  # the last four calls are S, S, F, F; over all twelve it would be 2/12
    assert h.breaker.state is BreakerState.OPEN


def test_a_failure_rate_of_one_needs_a_window_of_failures() -> None:
    h = Harness(failure_rate=1.0, window_calls=3, min_calls=3)
    h.calls([F, F, S, F, F, S, F, F])
    assert h.breaker.state is BreakerState.CLOSED
    h.calls([F])
    assert h.breaker.state is BreakerState.OPEN


def test_open_refuses_until_its_time_is_up_then_turns_half_open() -> None:
    h = Harness(open_seconds=30.0)
    h.calls([F] * 4)
    assert h.breaker.acquire() is None
    h.clock.advance(29.9)
    assert h.breaker.acquire() is None
    assert h.breaker.state is BreakerState.OPEN
    h.clock.advance(0.1)
    assert h.breaker.state is BreakerState.HALF_OPEN
    assert h.gauge() == 2
    assert h.transitions("open", "half_open") == 1


def test_half_open_lets_only_the_trial_calls_through() -> None:
    h = Harness(half_open_calls=3)
    h.open_then_wait()
    permits = [h.breaker.acquire() for _ in range(5)]
    assert [p is not None for p in permits] == [True, True, True, False, False]


def test_successful_trials_close_the_breaker_with_an_empty_window() -> None:
    h = Harness(failure_rate=0.5, half_open_calls=4, min_calls=4)
    h.open_then_wait()
    trials = h.trials(4)
    h.breaker.record(trials[0], success=True)
    h.breaker.record(trials[1], success=False)
    h.breaker.record(trials[2], success=True)
    assert h.breaker.state is BreakerState.HALF_OPEN  # one more failure would make 2/4
    h.breaker.record(trials[3], success=True)
    assert h.breaker.state is BreakerState.CLOSED
    assert h.gauge() == 0
    assert h.transitions("half_open", "closed") == 1
    h.calls([F, F, F])  # a fresh window: three failures are below min_calls
    assert h.breaker.state is BreakerState.CLOSED


def test_failing_trials_open_it_again_for_another_full_period() -> None:
    h = Harness(failure_rate=0.5, half_open_calls=4, open_seconds=30.0)
    h.open_then_wait()
    trials = h.trials(4)
    h.breaker.record(trials[0], success=False)
    assert h.breaker.state is BreakerState.HALF_OPEN
    h.breaker.record(trials[1], success=False)  # 2/4 fail whatever the others say
    assert h.breaker.state is BreakerState.OPEN
    assert h.transitions("half_open", "open") == 1
    h.breaker.record(trials[2], success=True)  # late trials are ignored
    h.breaker.record(trials[3], success=True)
    assert h.breaker.state is BreakerState.OPEN
    h.clock.advance(29.0)
    assert h.breaker.acquire() is None
    h.clock.advance(1.0)
    assert h.breaker.state is BreakerState.HALF_OPEN
    assert h.transitions("open", "half_open") == 2


def test_the_verdict_waits_for_the_trials_that_could_change_it() -> None:
    h = Harness(failure_rate=0.5, half_open_calls=4)
    h.open_then_wait()
    trials = h.trials(4)
    h.breaker.record(trials[0], success=True)
    h.breaker.record(trials[1], success=True)
    assert h.breaker.state is BreakerState.HALF_OPEN
    assert h.breaker.acquire() is None  # all four trials are out
    h.breaker.record(trials[2], success=False)
    h.breaker.record(trials[3], success=False)
    assert h.breaker.state is BreakerState.OPEN


def test_the_verdict_comes_as_soon_as_it_is_certain() -> None:
    h = Harness(failure_rate=0.5, half_open_calls=4)
    h.open_then_wait()
    trials = h.trials(4)
    for permit in trials[:3]:
        h.breaker.record(permit, success=True)
    assert h.breaker.state is BreakerState.CLOSED  # 1/4 at worst is below the threshold
    h.breaker.record(trials[3], success=False)
    assert h.breaker.state is BreakerState.CLOSED


def test_outcomes_of_permits_from_before_a_transition_are_ignored() -> None:
    h = Harness(min_calls=4, half_open_calls=2)
    stale = [h.breaker.acquire() for _ in range(3)]
    h.calls([F] * 4)
    assert h.breaker.state is BreakerState.OPEN
    h.clock.advance(h.breaker.open_seconds)
    assert h.breaker.state is BreakerState.HALF_OPEN
    for permit in stale:
        assert permit is not None
        h.breaker.record(permit, success=True)
    assert h.breaker.state is BreakerState.HALF_OPEN
    h.calls([S, S])
    assert h.breaker.state is BreakerState.CLOSED
    h.breaker.record(Permit(generation=0), success=False)
    h.calls([F, F, F])
    assert h.breaker.state is BreakerState.CLOSED  # the stale failure did not count


def test_transitions_are_logged() -> None:
    h = Harness()
    with capture_logs() as logs:
        h.calls([F] * 4)
    events = [e for e in logs if e["event"] == "payment_breaker_transition"]
    assert events == [
        {
            "event": "payment_breaker_transition",
            "log_level": "warning",
            "from_state": "closed",
            "to_state": "open",
            "failures": 4,
            "calls": 4,
        }
    ]


def test_concurrent_records_are_all_counted() -> None:
    threads, per_thread = 8, 250
    h = Harness(failure_rate=1.0, window_calls=threads * per_thread, min_calls=threads * per_thread)
    barrier = threading.Barrier(threads)

    def fail_many(_: int) -> None:
        barrier.wait()
        for _ in range(per_thread):
            permit = h.breaker.acquire()
            assert permit is not None
            h.breaker.record(permit, success=False)

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(fail_many, range(threads)))
    assert h.breaker.state is BreakerState.OPEN  # a lost update would leave it closed
    assert h.transitions("closed", "open") == 1


def test_racing_callers_get_exactly_the_half_open_trials() -> None:
    threads = 32
    h = Harness(half_open_calls=5)
    h.open_then_wait()
    barrier = threading.Barrier(threads)

    def try_acquire(_: int) -> Permit | None:
        barrier.wait()
        return h.breaker.acquire()

    with ThreadPoolExecutor(threads) as pool:
        permits = list(pool.map(try_acquire, range(threads)))
    assert sum(p is not None for p in permits) == 5
    assert h.transitions("open", "half_open") == 1


def test_settings_configure_it_and_nonsense_is_refused() -> None:
    settings = BreakerSettings(
        failure_rate=0.25, window_calls=8, min_calls=2, open_seconds=3.0, half_open_calls=1
    )
    breaker = CircuitBreaker.from_settings(settings, metrics=BreakerMetrics.on(CollectorRegistry()))
    assert (breaker.failure_rate, breaker.window_calls, breaker.min_calls) == (0.25, 8, 2)
    assert (breaker.open_seconds, breaker.half_open_calls) == (3.0, 1)
    with pytest.raises(ValueError, match="exceeds window_calls"):
        Harness(min_calls=11, window_calls=10)
    with pytest.raises(ValueError, match="failure_rate"):
        Harness(failure_rate=0.0)


def test_defaults_are_the_documented_ones_and_the_breaker_behaves_by_them() -> None:
    clock = [0.0]
    breaker = CircuitBreaker.from_settings(
        BreakerSettings(), clock=lambda: clock[0], metrics=BreakerMetrics.on(CollectorRegistry())
    )
    assert (breaker.failure_rate, breaker.window_calls, breaker.min_calls) == (0.5, 100, 20)
    assert (breaker.open_seconds, breaker.half_open_calls) == (60.0, 10)
    for n in range(100):
        permit = breaker.acquire()
        assert permit is not None
        breaker.record(permit, success=n % 2 == 1 or n < 60)
    assert breaker.state is BreakerState.CLOSED  # 20 failures in the last 100 calls
    for _ in range(30):
        permit = breaker.acquire()
        assert permit is not None
        breaker.record(permit, success=False)
    assert breaker.state is BreakerState.OPEN  # 50 failures in the last 100
    clock[0] += 59.9
    assert breaker.acquire() is None
    clock[0] += 0.2
    trials = [breaker.acquire() for _ in range(11)]
    assert sum(trial is not None for trial in trials) == 10
