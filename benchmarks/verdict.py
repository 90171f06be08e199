"""The one rule every benchmark applies before it prints a figure.

A run gives a figure only from successful (2xx, or an answer the scenario counts as served,
such as a flash sale's 409 sold-out) answers, and gives none at all when more than 1 % of
its requests were not served: such a run measured refusals (429, 503, errors), not the path
it names, and is reported as FAILED. Ratios are taken only between two runs that both gave
a figure.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_UNSERVED_SHARE = 0.01
"""More than this share of unserved requests fails the run."""


@dataclass(frozen=True)
class Verdict:
    """The outcome of one timed run: how many requests, how many served, over what time."""

    requests: int
    served: int
    seconds: float

    @property
    def unserved(self) -> int:
        """Requests that got no successful answer (non-2xx, socket errors, timeouts)."""
        return max(self.requests - self.served, 0)

    @property
    def failed(self) -> bool:
        """True when nothing was asked, or more than 1 % of the requests were not served."""
        return self.requests <= 0 or self.unserved > self.requests * MAX_UNSERVED_SHARE

    @property
    def rate(self) -> float | None:
        """Served answers per second, or None when the run failed (it gives no figure)."""
        if self.failed or self.seconds <= 0:
            return None
        return self.served / self.seconds

    def describe(self) -> str:
        """`FAILED (n of m not served)` or an empty string."""
        if not self.failed:
            return ""
        return f"FAILED ({self.unserved} of {self.requests} not served)"


def ratio(top: float | None, bottom: float | None) -> float | None:
    """top / bottom when both are figures and bottom is positive; None otherwise."""
    if top is None or bottom is None or bottom <= 0:
        return None
    return top / bottom


def show_ratio(value: float | None, digits: int = 2) -> str:
    """A ratio as `1.23x`, or `FAILED` when one side gave no figure."""
    return "FAILED" if value is None else f"{value:.{digits}f}x"
