"""The checkout benchmark's report: figures, ratios, per-order times and the invariants."""

from __future__ import annotations

import argparse
import os
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from benchmarks.checkout_measures import Rate
from benchmarks.checkout_outcome import LOGS, Follower, Settled
from benchmarks.checkout_shop import Call, Plan, percentile
from benchmarks.verdict import Verdict
from domain.order import Order


@dataclass
class Figures:
    """Everything the report prints."""

    args: argparse.Namespace
    plan: Plan
    calls: list[Call]
    follower: Follower
    settled: Settled
    first: datetime
    calls_done: datetime
    cpu: tuple[float, float]
    worker_cpu: float
    own_cpu: float
    postgres_cpu: float
    metrics: dict[str, float]
    raw: list[Rate]
    checks: list[tuple[str, bool]]
    load: str


PLACED_TO_CONFIRMED = "placed -> confirmed"


def order_times(figures: Figures) -> dict[str, list[float]]:
    """Per-order durations in seconds, from the orders' event timestamps.

    An event's timestamp is its command's Context time: the moment the process manager
    (StockReserved) or a payment thread (PaymentAuthorised before its gateway call,
    Confirmed after it, appended together) took the order up, so the three phases add up
    to placed -> confirmed.
    """
    stamps: dict[UUID, dict[type, datetime]] = defaultdict(dict)
    for event in figures.follower.events["orders"]:
        if isinstance(event, Order.Event):
            stamps[event.originator_id].setdefault(type(event), event.timestamp)
    returned = {c.order_id: c.returned for c in figures.calls if c.order_id}
    out: dict[str, list[float]] = defaultdict(list)
    for order_id, seen in stamps.items():
        confirmed = seen.get(Order.Confirmed)
        if confirmed is None or Order.Placed not in seen:
            continue
        placed = seen[Order.Placed]
        if order_id in returned:
            out["call returned -> confirmed"].append(
                (confirmed - returned[order_id]).total_seconds()
            )
        out[PLACED_TO_CONFIRMED].append((confirmed - placed).total_seconds())
        reserved = seen.get(Order.StockReserved)
        authorised = seen.get(Order.PaymentAuthorised)
        if reserved and authorised:
            out["  placed -> manager reserves"].append((reserved - placed).total_seconds())
            out["  -> payment thread takes it"].append((authorised - reserved).total_seconds())
            out["  -> gateway answers, confirmed"].append((confirmed - authorised).total_seconds())
    return out


def writers(follower: Follower) -> dict[str, list[datetime]]:
    """The timestamps of the run's events, by who appended them (the actor in their metadata)."""
    by: dict[str, list[datetime]] = defaultdict(list)
    for name in LOGS:
        for event in follower.events[name]:
            actor = (getattr(event, "meta", None) or {}).get("actor", "")
            by[actor if actor in ("checkout", "payments", "deadlines") else "shoppers"].append(
                event.timestamp
            )
    return by


def span_rate(count: int, stamps: Sequence[datetime], since: datetime | None = None) -> float:
    """count over the seconds from since (or the first stamp) to the last stamp."""
    if not stamps:
        return 0.0
    seconds = (max(stamps) - (since or min(stamps))).total_seconds()
    return count / seconds if seconds > 0 else 0.0


@dataclass(frozen=True)
class Rates:
    """The run's end-to-end rates, over the seconds the report prints next to them."""

    wall: float
    settle: float
    placing: float
    confirmed: float
    events: float


def rates_of(figures: Figures) -> Rates:
    """Confirmed orders and events per second from the first call, and the placing time."""
    follower = figures.follower
    confirmations = [e.timestamp for e in follower.of("orders", Order.Confirmed)]
    every = [e.timestamp for name in LOGS for e in follower.events[name]]
    wall = (max(confirmations, default=figures.first) - figures.first).total_seconds()
    settle = (max(every, default=figures.first) - figures.first).total_seconds()
    placing = (figures.calls_done - figures.first).total_seconds()
    rate = figures.settled.confirmed / wall if wall > 0 else 0.0
    event_rate = len(every) / settle if settle > 0 else 0.0
    return Rates(wall, settle, placing, rate, event_rate)


def print_report(figures: Figures) -> None:
    """The table of figures and ratios, then the invariants."""
    rates = rates_of(figures)
    print()
    print_setup(figures)
    by = print_figures(figures, rates)
    print()
    print_ratios(figures, rates, by)
    print()
    print_order_times(figures)
    print()
    print("Invariants")
    for text, ok in figures.checks:
        print(f"  {'ok    ' if ok else 'FAILED'} {text}")


def print_setup(figures: Figures) -> None:
    """What ran: the machine, the shop and the processes."""
    args, plan = figures.args, figures.plan
    n = len(plan.carts)
    lines = sum(len(c) for c in plan.carts.values())
    hot = sum(1 for c in plan.carts.values() if plan.hot in c)
    hot_text = f"1 hot product in {hot} carts" if hot else "no hot product"
    print(
        f"Checkout, {os.cpu_count()} CPUs (load average now {figures.load}), PostgreSQL "
        f"fsync=on; {n} shoppers, {lines} order lines ({lines / n:.2f} per order),\n"
        f"{len(plan.products)} products + {hot_text}, {len(plan.sellers)} sellers; "
        f"check_out from {args.threads} threads in this process (no HTTP);\n"
        f"checkout worker (`marketplace checkout`, {args.payment_workers} payment workers) and "
        f"sandbox gateway (`marketplace gateway`) as processes of their own"
    )
    if args.rate:
        placing = (figures.calls_done - figures.first).total_seconds()
        print(
            f"Steady arrivals: {args.rate:.0f} checkouts/s asked for {n / args.rate:.0f} s; "
            f"{n / placing if placing else 0:.1f}/s kept over {placing:.1f} s"
        )
    else:
        print("One burst: times to confirmation measure how long the burst takes to drain")


def print_figures(figures: Figures, rates: Rates) -> dict[str, list[datetime]]:
    """The table of rates, the events by log and by writer, and the CPU; return the writers."""
    follower, n = figures.follower, len(figures.plan.carts)
    header = f"{'figure':<52}{'rate /s':>10}{'over s':>9}"
    print(header)
    print("-" * len(header))
    placing = rates.placing
    rows = [
        ("check_out calls returned (placing only)", n / placing if placing else 0.0, placing),
        ("confirmed orders, end to end (first call..last)", rates.confirmed, rates.wall),
        ("events appended by the checkout run", rates.events, rates.settle),
    ]
    rows += [(f"raw append, {r.label}", r.per_second, r.seconds) for r in figures.raw]
    verdict = Verdict(n, figures.settled.confirmed, rates.wall)
    for name, value, over in rows:
        if verdict.failed and name.startswith("confirmed"):
            print(f"{name:<52}  {verdict.describe()}")
            continue
        print(f"{name:<52}{value:>10.1f}{over:>9.2f}")
    every = sum(len(follower.events[name]) for name in LOGS)
    per_log = ", ".join(f"{name} {len(follower.events[name])}" for name in LOGS)
    print(f"  events: {every} ({per_log}); {every / n:.2f} per checkout")
    by = writers(follower)
    cells = [
        f"{who} {len(stamps)} ({len(stamps) / n:.2f}/order, {span_rate(len(stamps), stamps):.0f}/s)"
        for who, stamps in sorted(by.items())
    ]
    print("  by writer (/s over its own first..last event): " + ", ".join(cells))
    print_cpu(figures)
    return by


def print_cpu(figures: Figures) -> None:
    """Who used the CPU while the orders were checked out (nothing without /proc/stat)."""
    busy, total = figures.cpu
    tick = float(os.sysconf("SC_CLK_TCK"))
    if total:
        print(
            f"  CPU while checking out: machine {100 * busy / total:.0f}% busy; "
            f"checkout worker {figures.worker_cpu:.1f} s, PostgreSQL {figures.postgres_cpu:.1f} s, "
            f"this process {figures.own_cpu:.1f} s, of {total / tick:.1f} CPU-s "
            f"(the rest: gateway, OS, other load)"
        )


def print_ratios(figures: Figures, rates: Rates, by: dict[str, list[datetime]]) -> None:
    """The run's rates over the raw append rates of the same PostgreSQL."""
    print("Ratios (same run)")
    raw = {r.key: r.per_second for r in figures.raw}
    ours = raw.get("ours", 0.0)
    if ours:
        print(f"  {'confirmed orders/s / raw appends/s (ours)':<52}{rates.confirmed / ours:8.3f}")
        print(f"  {'checkout events/s / raw appends/s (ours)':<52}{rates.events / ours:8.3f}")
    single = raw.get("ours-1", 0.0)
    manager = by.get("checkout", [])
    if single and manager:
        manager_rate = span_rate(len(manager), manager)
        print(
            f"  {'process manager appends/s / raw appends/s, 1 thread':<52}"
            f"{manager_rate / single:8.3f}"
        )
    library = raw.get("library", 0.0)
    if ours and library:
        print(f"  {'raw appends/s: ours / library':<52}{ours / library:8.2f}")


def print_order_times(figures: Figures) -> None:
    """Percentiles of the per-order durations, then the gateway's authorise calls."""
    print("Per order, seconds (event timestamps; the indented phases add up to the line above)")
    head = f"{'':<32}{'p50':>8}{'p95':>8}{'p99':>8}{'max':>8}"
    print(head)
    calls = [c.seconds for c in figures.calls if c.error is None]
    table = {"check_out call": calls, **order_times(figures)}
    for name, values in table.items():
        marks = [percentile(values, p) for p in (50, 95, 99, 100)]
        print(f"{name:<32}" + "".join(f"{v:8.3f}" for v in marks))
    placed = table.get(PLACED_TO_CONFIRMED, [])
    if figures.args.rate and placed:
        p99 = percentile(placed, 99)
        print(
            f"  steady {figures.args.rate:.0f}/s: placed to confirmed p50 "
            f"{percentile(placed, 50):.3f} s, p99 {p99:.3f} s "
            f"(goal p99 < 1 s: {'met' if p99 < 1 else 'missed'})"
        )
    authorise = 'operation="authorise"'
    count = figures.metrics.get(f"payment_gateway_call_seconds_count{{{authorise}}}", 0.0)
    if count:
        total_s = figures.metrics.get(f"payment_gateway_call_seconds_sum{{{authorise}}}", 0.0)
        print(f"  gateway authorise calls: {count:.0f}, mean {1000 * total_s / count:.1f} ms")
