"""A one-line progress bar on stderr: work done of the total (log positions, commands), rate
and ETA."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO

WIDTH = 30
TTY_REDRAW_SECONDS = 0.1
LINE_SECONDS = 1.0
"""Not on a terminal (a log file, a pipe), a new line at most this often instead of redraws."""


@dataclass(eq=False)
class ProgressBar:
    """Draws `label |####....|  52%  3120/6000 events  2850 events/s  ETA 1s` as work goes on.

    On a terminal the line is redrawn in place; elsewhere a line is written now and then.
    """

    label: str
    total: int
    stream: TextIO
    clock: Callable[[], float] = time.monotonic
    unit: str = "events"
    done: int = field(default=0, init=False)
    started: float = field(init=False)
    tty: bool = field(init=False)
    _drawn: float = field(default=float("-inf"), init=False)

    def __post_init__(self) -> None:
        self.started = self.clock()
        self.tty = self.stream.isatty()

    def update(self, done: int, total: int | None = None) -> None:
        """Record progress (done of total); redraw if it is time to."""
        self.done = done
        self.total = max(total if total is not None else self.total, done)
        now = self.clock()
        if now - self._drawn >= (TTY_REDRAW_SECONDS if self.tty else LINE_SECONDS):
            self._draw(now)

    def close(self) -> None:
        """Draw the final state and end the line."""
        self._draw(self.clock())
        if self.tty:
            self.stream.write("\n")
        self.stream.flush()

    def line(self, now: float) -> str:
        """The bar as text, at time now."""
        fraction = self.done / self.total if self.total else 1.0
        filled = int(fraction * WIDTH)
        elapsed = max(now - self.started, 1e-9)
        rate = self.done / elapsed
        left = self.total - self.done
        eta = f"{left / rate:.0f}s" if rate > 0 else "?"
        return (
            f"{self.label} |{'#' * filled}{'.' * (WIDTH - filled)}| {fraction:4.0%}  "
            f"{self.done}/{self.total} {self.unit}  {rate:.0f} {self.unit}/s  ETA {eta}"
        )

    def _draw(self, now: float) -> None:
        self._drawn = now
        if self.tty:
            self.stream.write(f"\r{self.line(now)}\x1b[K")
        else:
            self.stream.write(f"{self.line(now)}\n")
        self.stream.flush()
