"""The report's PNG charts, drawn with matplotlib's Agg backend (no display needed)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from loadtest.journal import SwarmOutcome
from loadtest.ledger import Ledger
from loadtest.plan import endpoint_class
from loadtest.sampling import Samples
from loadtest.stats import GOALS_MS, RunStats

DPI = 100
STATE_NAMES = {0: "closed", 1: "open", 2: "half-open"}


def save(figure: Figure, path: Path, tight: bool = True) -> Path:
    """Write the figure as PNG (tight layout is slow for many panels: they set margins)."""
    if tight:
        figure.tight_layout()
    figure.savefig(path, dpi=DPI)
    return path


def mark_flash(axes: Axes, outcome: SwarmOutcome) -> None:
    """A dashed line where the flash sale opened."""
    if outcome.flash_opened:
        axes.axvline(outcome.flash_opened - outcome.started, color="crimson", linestyle="--")


def note(axes: Axes, text: str) -> None:
    """Centered text on empty axes."""
    axes.text(0.5, 0.5, text, ha="center", va="center", transform=axes.transAxes, wrap=True)
    axes.set_xticks([])
    axes.set_yticks([])


def throughput(stats: RunStats, outcome: SwarmOutcome, path: Path) -> Path:
    """Requests per second per endpoint, and the users running, over time."""
    figure = Figure(figsize=(11, 5.5))
    axes = figure.subplots()
    palette = matplotlib.colormaps["tab20"]
    axes.set_prop_cycle(color=[palette(i) for i in range(20)])
    times = stats.times()
    for name, series in sorted(stats.per_bucket.items()):
        if any(b.count for b in series):
            axes.plot(times, [b.count / stats.bucket for b in series], label=name, linewidth=1.2)
    axes.set_xlabel("seconds since start")
    axes.set_ylabel("requests / s (by start time)")
    axes.set_title("Throughput per endpoint (dashed: flash sale opens)")
    mark_flash(axes, outcome)
    users = axes.twinx()
    users.plot(
        [t - outcome.started for t, _ in outcome.users],
        [n for _, n in outcome.users],
        color="black",
        linestyle=":",
        label="users",
    )
    users.set_ylabel("users (dotted)")
    axes.legend(fontsize=7, loc="upper left")
    return save(figure, path)


def latency(stats: RunStats, outcome: SwarmOutcome, path: Path) -> Path:
    """p50, p95 and p99 latency per endpoint over time, one panel per endpoint."""
    names = [n for n, series in sorted(stats.per_bucket.items()) if any(b.count for b in series)]
    columns = 3
    rows = max((len(names) + columns - 1) // columns, 1)
    figure = Figure(figsize=(13, 3.2 * rows))
    panels = figure.subplots(rows, columns, squeeze=False).flatten()
    times = stats.times()
    for axes, name in zip(panels, names, strict=False):
        series = stats.per_bucket[name]
        for fraction, style in ((0.5, "-"), (0.95, "--"), (0.99, ":")):
            points = [(t, b.p(fraction)) for t, b in zip(times, series, strict=True) if b.count]
            axes.plot(
                [t for t, _ in points],
                [v for _, v in points],
                style,
                marker=".",
                label=f"p{round(fraction * 100)}",
            )
        goal = GOALS_MS.get(endpoint_class(name))
        if goal:
            axes.axhline(goal, color="grey", linewidth=0.8)
        mark_flash(axes, outcome)
        axes.set_xlim(0, stats.seconds)
        axes.set_yscale("log")
        axes.yaxis.set_minor_formatter(NullFormatter())
        axes.set_title(name, fontsize=9)
        axes.set_ylabel("ms")
        axes.legend(fontsize=7)
    for axes in panels[len(names) :]:
        axes.set_visible(False)
    if not names:
        note(panels[0], "no requests")
        panels[0].set_visible(True)
    figure.suptitle("Latency per endpoint (grey line: p99 goal)")
    figure.subplots_adjust(left=0.06, right=0.98, top=0.93, bottom=0.05, hspace=0.35, wspace=0.2)
    return save(figure, path, tight=False)


def errors(stats: RunStats, path: Path) -> Path:
    """Failed requests by kind (status and problem type, or exception class)."""
    figure = Figure(figsize=(10, 5))
    axes = figure.subplots()
    kinds = stats.all_requests.kinds.most_common(20)
    if kinds:
        labels = [kind for kind, _ in reversed(kinds)]
        axes.barh(labels, [count for _, count in reversed(kinds)], color="indianred")
        axes.set_xlabel("requests")
    else:
        note(axes, "no request failed")
    axes.set_title("Errors by kind")
    return save(figure, path)


def overload(stats: RunStats, outcome: SwarmOutcome, path: Path) -> Path:
    """429 (rate limited) and 503 (shed or store down) answers per second over time."""
    figure = Figure(figsize=(10, 4.5))
    axes = figure.subplots()
    times = stats.times()
    for code, color in ((429, "darkorange"), (503, "purple")):
        counts = [
            sum(series[i].status(code) for series in stats.per_bucket.values())
            for i in range(stats.buckets)
        ]
        axes.plot(times, [c / stats.bucket for c in counts], label=f"{code}", color=color)
    mark_flash(axes, outcome)
    axes.set_xlabel("seconds since start")
    axes.set_ylabel("answers / s")
    axes.set_title("429 and 503 answers over time")
    axes.legend()
    return save(figure, path)


def lag(samples: Samples, outcome: SwarmOutcome, path: Path) -> Path:
    """Each projection's lag behind each log, in events and in seconds, over time."""
    figure = Figure(figsize=(11, 7))
    by_events, by_seconds = figure.subplots(2, 1, sharex=True)
    series: dict[str, list[tuple[float, int, float]]] = defaultdict(list)
    for sample in samples.lag:
        series[f"{sample.projection} / {sample.log}"].append(
            (sample.t - outcome.started, sample.events, sample.seconds)
        )
    for label, points in sorted(series.items()):
        by_events.plot([p[0] for p in points], [p[1] for p in points], label=label)
        by_seconds.plot([p[0] for p in points], [p[2] for p in points], label=label)
    if not series:
        note(by_events, "no lag sample")
    by_events.set_ylabel("events behind")
    by_seconds.set_ylabel("seconds behind")
    by_seconds.set_xlabel("seconds since start")
    by_events.set_title("Projection lag (dashed: flash sale opens)")
    for axes in (by_events, by_seconds):
        mark_flash(axes, outcome)
    if series:
        by_events.legend(fontsize=7, ncol=2)
    return save(figure, path)


def flash_sale(ledger: Ledger, path: Path) -> Path:
    """Per flash-sale product: stock, units sold, held and left, and oversold (must be 0)."""
    figure = Figure(figsize=(10, 4.5))
    axes = figure.subplots()
    rows = ledger.products
    bars: list[tuple[str, Sequence[int], str]] = [
        ("stock", [r.stock for r in rows], "lightgrey"),
        ("sold", [r.sold for r in rows], "seagreen"),
        ("held", [r.held for r in rows], "gold"),
        ("left", [r.left for r in rows], "steelblue"),
        ("oversold", [r.oversold for r in rows], "red"),
    ]
    width = 0.16
    for offset, (label, values, color) in enumerate(bars):
        positions = [i + (offset - 2) * width for i in range(len(rows))]
        bars_drawn = axes.bar(positions, values, width, label=label, color=color)
        axes.bar_label(bars_drawn, fontsize=8)
    axes.set_xticks(range(len(rows)), [f"door buster {i + 1}" for i in range(len(rows))])
    axes.set_ylabel("units")
    axes.set_title("Flash sale: units sold against stock (event store)")
    axes.legend()
    if not rows:
        note(axes, "no flash-sale product")
    return save(figure, path)


def breaker(samples: Samples, outcome: SwarmOutcome, path: Path) -> Path:
    """The payment breaker's state over time, with its transitions."""
    figure = Figure(figsize=(10, 3.5))
    axes = figure.subplots()
    if samples.breaker:
        times = [s.t - outcome.started for s in samples.breaker]
        axes.step(times, [s.state for s in samples.breaker], where="post")
        axes.set_yticks(list(STATE_NAMES), list(STATE_NAMES.values()))
        axes.set_xlabel("seconds since start")
        first = sum(samples.breaker[0].transitions.values())
        counted = axes.twinx()
        counted.plot(
            times,
            [sum(s.transitions.values()) - first for s in samples.breaker],
            color="grey",
            linestyle=":",
        )
        counted.set_ylabel("transitions so far (dotted)")
        counted.set_ylim(bottom=0, top=max(sum(transition_counts(samples).values()), 1) + 0.5)
        moves = transition_counts(samples)
        text = ", ".join(f"{k}: {v:.0f}" for k, v in moves.items()) or "no transition"
        axes.set_title(f"Payment breaker state ({text})")
        mark_flash(axes, outcome)
    else:
        reason = samples.breaker_error or "the checkout worker's metrics were not given"
        note(axes, f"payment breaker not sampled:\n{reason}")
        axes.set_title("Payment breaker state")
    return save(figure, path)


def transition_counts(samples: Samples) -> dict[str, float]:
    """Breaker transitions during the run: last counters minus first."""
    if not samples.breaker:
        return {}
    first, last = samples.breaker[0].transitions, samples.breaker[-1].transitions
    moves = {key: value - first.get(key, 0.0) for key, value in last.items()}
    return {key: value for key, value in sorted(moves.items()) if value > 0}


def draw_all(
    stats: RunStats, outcome: SwarmOutcome, samples: Samples, ledger: Ledger, folder: Path
) -> dict[str, Path]:
    """Every chart of the report, by name."""
    charts: dict[str, Any] = {
        "throughput": throughput(stats, outcome, folder / "throughput.png"),
        "latency": latency(stats, outcome, folder / "latency.png"),
        "errors": errors(stats, folder / "errors.png"),
        "overload": overload(stats, outcome, folder / "overload.png"),
        "lag": lag(samples, outcome, folder / "lag.png"),
        "flash_sale": flash_sale(ledger, folder / "flash_sale.png"),
        "breaker": breaker(samples, outcome, folder / "breaker.png"),
    }
    return charts
