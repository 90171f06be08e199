"""The run's verdict: invariants, `report.md`, `summary.json` and the stdout summary."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from loadtest.charts import transition_counts
from loadtest.journal import SwarmOutcome
from loadtest.ledger import Ledger
from loadtest.plan import LoadOptions
from loadtest.sampling import Samples
from loadtest.stats import GOALS_MS, SUSTAINED_SECONDS, Latencies, RunStats


@dataclass(frozen=True)
class Invariant:
    """A property the run must keep; ok None means it could not be checked."""

    name: str
    ok: bool | None
    detail: str


def invariants(ledger: Ledger) -> list[Invariant]:
    """The flash sale's invariants, as the event store (and then the view) shows them."""
    rows = ledger.products
    oversold = sum(r.oversold for r in rows)
    over_stock = [r.product_id for r in rows if r.sold > r.stock]
    unbalanced = [r.product_id for r in rows if r.sold + r.held + r.left != r.stock]
    over_limit = [
        r.product_id
        for r in rows
        if r.purchase_limit is not None and r.most_by_one_buyer > r.purchase_limit
    ]
    found = [
        Invariant("no flash-sale unit oversold", oversold == 0, f"oversold {oversold}"),
        Invariant(
            "the flash sale sold at most its stock",
            not over_stock,
            f"{sum(r.sold for r in rows)} sold of {sum(r.stock for r in rows)}",
        ),
        Invariant(
            "units sold + held + left == stock (event store)",
            not unbalanced,
            ", ".join(unbalanced) or "every product",
        ),
        Invariant(
            "no buyer above the purchase limit",
            not over_limit,
            ", ".join(over_limit) or f"most by one buyer: {max_bought(ledger)}",
        ),
    ]
    mismatched = [r.product_id for r in rows if r.sold != r.confirmed_units]
    found.append(
        Invariant(
            "units sold == units in confirmed orders",
            not mismatched if ledger.settled else None,
            ", ".join(mismatched) or "every product"
            if ledger.settled
            else f"orders not settled within {ledger.settle_seconds:.0f} s",
        )
    )
    unread = [r for r in rows if r.view_units is None]
    disagree = [r.product_id for r in rows if r.view_units is not None and r.view_units != r.left]
    found.append(
        Invariant(
            "product-detail view shows the units left",
            None if unread else not disagree,
            ", ".join(disagree) or ("view not fresh" if unread else "every product"),
        )
    )
    return found


def max_bought(ledger: Ledger) -> int:
    """The most units of one flash product held or bought by one buyer."""
    return max((r.most_by_one_buyer for r in ledger.products), default=0)


def failed(found: list[Invariant]) -> list[Invariant]:
    """The invariants that were checked and do not hold."""
    return [i for i in found if i.ok is False]


def endpoint_row(stats: RunStats, latencies: Latencies) -> dict[str, float]:
    """One endpoint's figures."""
    return {
        "requests": latencies.count,
        "rate": round(stats.rate(latencies), 2),
        "p50_ms": round(latencies.p(0.50), 1),
        "p95_ms": round(latencies.p(0.95), 1),
        "p99_ms": round(latencies.p(0.99), 1),
        "max_ms": round(latencies.ms[-1] if latencies.ms else 0.0, 1),
        "errors": latencies.errors,
        "status_429": latencies.status(429),
        "status_503": latencies.status(503),
    }


def class_rows(stats: RunStats) -> dict[str, dict[str, float]]:
    """views, cart and checkout figures over the whole run."""
    rows = {}
    for name, series in stats.per_class.items():
        merged = Latencies(ms=[ms for bucket in series for ms in bucket.ms]).done()
        rows[name] = {
            "requests": merged.count,
            "p50_ms": round(merged.p(0.5), 1),
            "p99_ms": round(merged.p(0.99), 1),
        }
    return rows


def lag_maxima(samples: Samples) -> dict[str, dict[str, float]]:
    """The worst lag seen per projection and log."""
    worst: dict[str, dict[str, float]] = {}
    for s in samples.lag:
        row = worst.setdefault(f"{s.projection}/{s.log}", {"events": 0, "seconds": 0.0})
        row["events"] = max(row["events"], s.events)
        row["seconds"] = round(max(row["seconds"], s.seconds), 2)
    return worst


def summary_data(
    options: LoadOptions,
    stats: RunStats,
    outcome: SwarmOutcome,
    samples: Samples,
    ledger: Ledger,
    found: list[Invariant],
    charts: Mapping[str, Path],
) -> dict[str, Any]:
    """Everything the report says, as JSON-ready data."""
    everything = stats.all_requests
    sustained = stats.sustained()
    cached = everything.cache
    return {
        "options": asdict(options),
        "started": outcome.started,
        "ended": outcome.ended,
        "peak_users": max((n for _, n in outcome.users), default=0),
        "flash_crowd": options.flash_crowd,
        "flash_at": options.flash_start,
        "requests": everything.count,
        "rate": round(stats.rate(everything), 2),
        "endpoints": {name: endpoint_row(stats, lat) for name, lat in stats.total.items()},
        "classes": class_rows(stats),
        "errors": dict(everything.kinds.most_common()),
        "connection_errors": sum(
            n for kind, n in everything.kinds.items() if not kind[:1].isdigit()
        ),
        "status_429": everything.status(429),
        "status_503": everything.status(503),
        "sustained": None
        if sustained is None
        else {
            "rate": round(sustained[0], 1),
            "from_second": sustained[1] * stats.bucket,
            "seconds": stats.window * stats.bucket,
        },
        "cache": None
        if not cached
        else {"counts": dict(cached), "hit_ratio": round(cached["HIT"] / sum(cached.values()), 3)},
        "flash": [{**asdict(r), "oversold": r.oversold} for r in ledger.products],
        "orders": ledger.order_statuses,
        "orders_placed": len(outcome.orders),
        "settled": ledger.settled,
        "lag": lag_maxima(samples),
        "lag_samples": len(samples.lag),
        "breaker": {
            "samples": len(samples.breaker),
            "transitions": transition_counts(samples),
            "error": samples.breaker_error,
        },
        "user_exceptions": outcome.user_exceptions,
        "invariants": [asdict(i) for i in found],
        "charts": {name: path.name for name, path in charts.items()},
    }


def verdict(ok: bool | None) -> str:
    """PASS, FAIL or not checked."""
    return {True: "PASS", False: "**FAIL**", None: "not checked"}[ok]


def stdout_summary(data: Mapping[str, Any], folder: Path) -> str:
    """A few lines for the terminal."""
    classes = data["classes"]
    flash = data["flash"]
    sold = sum(r["sold"] for r in flash)
    stock = sum(r["stock"] for r in flash)
    lines = [
        f"load run: {data['requests']} requests in {data['options']['duration']:.0f} s "
        f"({data['rate']:.0f}/s), peak {data['peak_users']} users",
        f"  p99  views {classes['views']['p99_ms']:.0f} ms  cart {classes['cart']['p99_ms']:.0f} "
        f"ms  checkout {classes['checkout']['p99_ms']:.0f} ms",
        f"  errors {sum(data['errors'].values())}  (429: {data['status_429']}, 503: "
        f"{data['status_503']}, no answer: {data['connection_errors']})",
        f"  flash sale: {sold} sold of {stock}, oversold "
        f"{sum(r['oversold'] for r in flash)}; orders {data['orders_placed']} placed, "
        f"{'settled' if data['settled'] else 'NOT settled'}",
    ]
    if data["sustained"]:
        lines.append(
            f"  sustained {data['sustained']['rate']:.0f} req/s with p99 views < "
            f"{GOALS_MS['views']:.0f} ms and checkout < {GOALS_MS['checkout']:.0f} ms"
        )
    for invariant in data["invariants"]:
        lines.append(f"  {verdict(invariant['ok']).strip('*'):11s} {invariant['name']}")
    lines.append(f"report: {folder / 'report.md'}")
    return "\n".join(lines)


def write_summary(data: Mapping[str, Any], folder: Path) -> Path:
    """summary.json beside the report."""
    path = folder / "summary.json"
    path.write_text(json.dumps(data, indent=2, default=str))
    return path


def sustained_line(data: Mapping[str, Any]) -> str:
    """The sustained-rate sentence of the report."""
    if not data["sustained"]:
        return (
            f"No {SUSTAINED_SECONDS:.0f} s window kept p99 under the goals "
            f"(views {GOALS_MS['views']:.0f} ms, checkout {GOALS_MS['checkout']:.0f} ms)."
        )
    return (
        f"Highest rate held for {data['sustained']['seconds']:.0f} s with p99 of views under "
        f"{GOALS_MS['views']:.0f} ms and of checkout under {GOALS_MS['checkout']:.0f} ms: "
        f"**{data['sustained']['rate']:.0f} req/s** (from second "
        f"{data['sustained']['from_second']:.0f})."
    )
