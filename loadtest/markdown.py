"""`report.md`: the run's figures, charts and verdict as Markdown."""

from __future__ import annotations

import os
import platform
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from loadtest.report import sustained_line, verdict


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    """A Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return lines


def endpoint_table(data: Mapping[str, Any]) -> list[str]:
    """Requests, rate and latency per endpoint."""
    header = ("endpoint", "requests", "req/s", "p50 ms", "p95 ms", "p99 ms", "max ms", "errors")
    rows = [
        (
            f"`{name}`",
            e["requests"],
            f"{e['rate']:.1f}",
            e["p50_ms"],
            e["p95_ms"],
            e["p99_ms"],
            e["max_ms"],
            e["errors"],
        )
        for name, e in data["endpoints"].items()
    ]
    return table(header, rows)


def flash_table(data: Mapping[str, Any]) -> list[str]:
    """The flash sale per product, from the event store."""
    header = (
        "product",
        "stock",
        "sold",
        "held",
        "left",
        "oversold",
        "in confirmed orders",
        "limit",
        "most by one buyer",
        "view shows left",
        "orders by status",
    )
    rows = [
        (
            f"door buster {i + 1} `{r['product_id'][:8]}`",
            r["stock"],
            r["sold"],
            r["held"],
            r["left"],
            r["oversold"],
            r["confirmed_units"],
            r["purchase_limit"],
            r["most_by_one_buyer"],
            "not read" if r["view_units"] is None else r["view_units"],
            ", ".join(f"{k} {v}" for k, v in sorted(r["orders"].items())) or "none",
        )
        for i, r in enumerate(data["flash"])
    ]
    return table(header, rows)


def run_section(data: Mapping[str, Any], command: str) -> list[str]:
    """When, where, with what."""
    options = data["options"]
    started = datetime.fromtimestamp(data["started"], UTC).isoformat(timespec="seconds")
    load = os.getloadavg()
    return [
        "# Load run report",
        "",
        f"- started {started}, {options['duration']:.0f} s of load, peak "
        f"{data['peak_users']} users ({options['users']} plus {data['flash_crowd']} "
        f"flash-sale buyers), think time about {options['think']} s",
        f"- command API {options['write_url']}, query API {options['read_url']}",
        f"- flash sale opens at {data['flash_at']:.0f} s on {options['flash_products']} products "
        f"of {options['flash_stock']} units, at most {options['flash_limit']} per buyer",
        f"- seed {options['seed']}; command: `{command}`",
        f"- machine: {os.cpu_count()} CPUs, {platform.python_implementation()} "
        f"{platform.python_version()}, load average at the end {load[0]:.1f} / {load[1]:.1f} "
        "(1 / 5 min). The load generator, the servers and the stores share these CPUs, so "
        "figures are noisy: compare runs on the same machine, not absolute values.",
        "",
    ]


def markdown(data: Mapping[str, Any], command: str) -> str:
    """The whole report."""
    lines = run_section(data, command)
    lines += verdict_section(data)
    lines += throughput_section(data)
    lines += errors_section(data)
    lines += lag_section(data)
    lines += flash_section(data)
    lines += breaker_section(data)
    lines += reproduce_section()
    return "\n".join(lines) + "\n"


def verdict_section(data: Mapping[str, Any]) -> list[str]:
    """Each invariant: passed, failed or not checked."""
    rows = [(i["name"], verdict(i["ok"]), i["detail"]) for i in data["invariants"]]
    return ["## Verdict", "", *table(("invariant", "result", "detail"), rows)]


def throughput_section(data: Mapping[str, Any]) -> list[str]:
    """Rate and latency overall and per endpoint, with the cache's hit ratio if one was in front."""
    classes = data["classes"]
    lines = [
        "",
        "## Throughput and latency",
        "",
        f"{data['requests']} requests, {data['rate']:.1f} req/s on average. p99 of views "
        f"{classes['views']['p99_ms']} ms, of cart changes {classes['cart']['p99_ms']} ms, "
        f"of checkout {classes['checkout']['p99_ms']} ms.",
        "",
        sustained_line(data),
        "",
        *endpoint_table(data),
        "",
        f"![throughput]({data['charts']['throughput']})",
        "",
        f"![latency]({data['charts']['latency']})",
        "",
    ]
    if data["cache"]:
        counts = ", ".join(f"{k} {v}" for k, v in sorted(data["cache"]["counts"].items()))
        lines += [f"Cache in front: hit ratio {data['cache']['hit_ratio']:.1%} ({counts}).", ""]
    return lines


def errors_section(data: Mapping[str, Any]) -> list[str]:
    """Errors by kind, overload answers, and exceptions in the load generator itself."""
    errors = data["errors"]
    lines = ["## Errors", ""]
    lines += table(("kind", "requests"), list(errors.items())) if errors else ["No errors."]
    lines += [
        "",
        f"429 (rate limited): {data['status_429']}; 503 (shed, or a store did not answer): "
        f"{data['status_503']}; requests with no answer: {data['connection_errors']}. "
        "`409 sold-out` is the expected answer once the flash sale is sold out.",
        "",
        f"![errors]({data['charts']['errors']})",
        "",
        f"![429 and 503]({data['charts']['overload']})",
        "",
    ]
    if data["user_exceptions"]:
        lines += ["Exceptions in the load generator's own code:", ""]
        lines += [f"- {msg} ({n})" for msg, n in data["user_exceptions"].items()] + [""]
    return lines


def lag_section(data: Mapping[str, Any]) -> list[str]:
    """How far each projection fell behind its log."""
    rows = [(k, v["events"], v["seconds"]) for k, v in sorted(data["lag"].items())]
    header = ("projection/log", "most events behind", "most seconds behind")
    return ["## Projection lag", "", *table(header, rows), "", f"![lag]({data['charts']['lag']})"]


def flash_section(data: Mapping[str, Any]) -> list[str]:
    """The flash sale per product, and whether every order of the run settled."""
    statuses = ", ".join(f"{k} {v}" for k, v in sorted(data["orders"].items()))
    return [
        "",
        "## Flash sale",
        "",
        *flash_table(data),
        "",
        f"All orders of the run: {data['orders_placed']} placed ({statuses}); "
        + ("all settled." if data["settled"] else "**not all settled** by the report."),
        "",
        f"![flash sale]({data['charts']['flash_sale']})",
        "",
    ]


def breaker_section(data: Mapping[str, Any]) -> list[str]:
    """The payment breaker's transitions, or why they were not sampled."""
    breaker = data["breaker"]
    if breaker["samples"]:
        moves = ", ".join(f"{k} {v:.0f}" for k, v in breaker["transitions"].items())
        summary = f"{breaker['samples']} samples; transitions: {moves or 'none'}."
    else:
        summary = (
            "Not sampled"
            + (f" ({breaker['error']})" if breaker["error"] else "")
            + ". Run the checkout worker with `--metrics-port N` and pass "
            "`--checkout-metrics http://127.0.0.1:N/metrics`."
        )
    return ["## Payment breaker", "", summary, "", f"![breaker]({data['charts']['breaker']})", ""]


def reproduce_section() -> list[str]:
    """How to run this again, with two command and two query workers."""
    return [
        "## Reproducing",
        "",
        "`marketplace up` runs 2 command API and 2 query API worker processes by default "
        "(`MARKETPLACE_WRITE_API_WORKERS` or `up --workers`, `MARKETPLACE_READ_API_WORKERS`). "
        "With the stack up, `marketplace loadtest` prepares its own data and runs; "
        "`python -m benchmarks.mixed_load` starts such a stack itself (optionally behind the "
        "nginx cache) and steps the users up to find the highest rate within the p99 goals.",
    ]


def write_markdown(data: Mapping[str, Any], command: str, folder: Path) -> Path:
    """Write report.md into folder."""
    path = folder / "report.md"
    path.write_text(markdown(data, command))
    return path
