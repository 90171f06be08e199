"""The benchmarks' shared rule: figures from served answers only, none past 1 % unserved."""

from __future__ import annotations

import pytest

from benchmarks.loadgen import wrk_result
from benchmarks.verdict import Verdict, ratio, show_ratio


@pytest.mark.parametrize(
    ("requests", "served", "failed"),
    [
        (1000, 1000, False),
        (1000, 990, False),
        (1000, 989, True),
        (100, 99, False),
        (100, 98, True),
        (1, 0, True),
        (0, 0, True),
    ],
)
def test_a_run_fails_past_one_percent_unserved(requests: int, served: int, failed: bool) -> None:
    verdict = Verdict(requests, served, 10.0)
    assert verdict.failed is failed
    assert verdict.unserved == requests - served
    assert (verdict.rate is None) is failed


def test_the_rate_counts_served_answers_only() -> None:
    assert Verdict(1000, 995, 5.0).rate == pytest.approx(199.0)


def test_a_failed_run_says_how_many_were_not_served() -> None:
    assert Verdict(200, 150, 1.0).describe() == "FAILED (50 of 200 not served)"
    assert Verdict(200, 200, 1.0).describe() == ""


def test_a_ratio_needs_a_figure_on_both_sides() -> None:
    good, refused = Verdict(1000, 1000, 1.0), Verdict(1000, 100, 1.0)
    assert ratio(good.rate, Verdict(500, 500, 1.0).rate) == pytest.approx(2.0)
    assert ratio(refused.rate, good.rate) is None
    assert ratio(good.rate, refused.rate) is None
    assert ratio(1.0, 0.0) is None
    assert show_ratio(None) == "FAILED"
    assert show_ratio(2.345) == "2.35x"


def wrk_figures(ok: int, non2xx: int, socket_errors: int) -> dict[str, object]:
    """What benchmarks/rotate.lua prints for a 10 s run."""
    return {
        "requests": ok + non2xx,
        "duration_us": 10_000_000,
        "ok": ok,
        "non2xx": non2xx,
        "socket_errors": socket_errors,
        "p50_us": 1000,
        "p90_us": 2000,
        "p99_us": 3000,
        "max_us": 4000,
        "statuses": {"429": non2xx} if non2xx else {},
        "first_error": "",
    }


def test_a_wrk_run_of_429s_gives_no_figure() -> None:
    refused = wrk_result(wrk_figures(ok=94, non2xx=56_694, socket_errors=0))
    assert refused.failed
    assert refused.figure is None
    assert refused.rate == pytest.approx(9.4)


def test_socket_errors_count_against_a_wrk_run() -> None:
    assert wrk_result(wrk_figures(ok=9_900, non2xx=0, socket_errors=200)).failed
    served = wrk_result(wrk_figures(ok=9_950, non2xx=50, socket_errors=0))
    assert served.figure == pytest.approx(995.0)
