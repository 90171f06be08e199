"""The mixed Black Friday load, stepped up until the p99 goals break (`benchmarks.mixed_load`).

Starts the whole platform as `marketplace up` does (2 command API and 2 query API worker
processes, embedded PostgreSQL and Valkey, every projector and worker) on free loopback
ports in a temporary folder, with the checkout worker's Prometheus metrics on (for the
payment breaker). With --nginx it puts the nginx cache (tests/support/nginx.py) in front of
the query API. Then it runs `marketplace loadtest` once per user count in --steps, each with its
own report, and prints per step the request rate, p99 of views and of checkout, 429/503s,
the cache hit ratio, and the highest rate held for 15 s within the goals (p99 views under
250 ms, checkout under 1 s), after a warm-up run. Stepping stops after two steps in a row
with no such 15 s. Exit status 1 if a run's invariants failed, 2 if the stack could not start.

Everything shares this machine's CPUs (the load generator too): figures are noisy.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.servers import clean_env, free_port
from benchmarks.verdict import Verdict
from infra.settings import load_settings
from loadtest.plan import LoadOptions
from loadtest.run import loadtest
from loadtest.stats import GOALS_MS
from marketplace.cli.tooling import StackRoot
from marketplace.registry import api_url
from marketplace.stack import build_stack
from marketplace.supervisor import ChildProcess, StartFailed, Supervisor
from tests.support.nginx import LocalNginx, ensure_nginx

WARM_UP_SECONDS = 15.0


def stack_environment(folder: Path) -> dict[str, str]:
    """MARKETPLACE_* settings for a stack of its own on free ports in folder."""
    ports = {
        "WRITE_API_PORT": free_port(),
        "READ_API_PORT": free_port(),
        "EMBEDDED_POSTGRES_PORT": free_port(),
        "EMBEDDED_REDIS_PORT": free_port(),
        "GATEWAY_PORT": free_port(),
        "SMTP_PORT": free_port(),
    }
    env = {f"MARKETPLACE_{name}": str(port) for name, port in ports.items()}
    env["MARKETPLACE_DATA_DIR"] = str(folder / "data")
    env["MARKETPLACE_WRITE_API_WORKERS"] = "2"
    env["MARKETPLACE_READ_API_WORKERS"] = "2"
    env["MARKETPLACE_LOG_LEVEL"] = "WARNING"
    return env


def with_gateway_faults(supervisor: Supervisor, gateway_args: list[str]) -> None:
    """Add fault options to the sandbox gateway's command line."""
    for component in supervisor.components:
        if isinstance(component, ChildProcess) and component.name == "sandbox gateway":
            component.argv = [*component.argv, *gateway_args]


def step_row(users: int, summary: dict[str, Any]) -> dict[str, Any]:
    """One step's figures from its summary.json."""
    classes = summary["classes"]
    return {
        "users": users,
        "rate": summary["rate"],
        "views_p99": classes["views"]["p99_ms"],
        "checkout_p99": classes["checkout"]["p99_ms"],
        "errors": sum(summary["errors"].values()),
        "verdict": Verdict(
            summary["requests"],
            summary["requests"] - sum(summary["errors"].values()),
            summary["options"]["duration"],
        ),
        "429": summary["status_429"],
        "503": summary["status_503"],
        "hit_ratio": summary["cache"]["hit_ratio"] if summary["cache"] else None,
        "sustained": summary["sustained"]["rate"] if summary["sustained"] else None,
        "breaker": summary["breaker"]["transitions"],
    }


def print_table(rows: list[dict[str, Any]]) -> None:
    """The steps as an aligned table."""
    print(
        f"{'users':>6} {'req/s':>8} {'p99 views':>10} {'p99 checkout':>13} {'errors':>7} "
        f"{'429':>5} {'503':>5} {'hit ratio':>10} {'sustained':>10}"
    )
    print("(a step with over 1 % of its requests refused or failed is FAILED: it gives no figure)")
    for r in rows:
        hit = "-" if r["hit_ratio"] is None else f"{r['hit_ratio']:.1%}"
        held = "-" if r["sustained"] is None else f"{r['sustained']:.0f}/s"
        if r["verdict"].failed:
            print(f"{r['users']:>6} {r['verdict'].describe()}")
            continue
        print(
            f"{r['users']:>6} {r['rate']:>8.1f} {r['views_p99']:>8.0f}ms {r['checkout_p99']:>11.0f}"
            f"ms {r['errors']:>7} {r['429']:>5} {r['503']:>5} {hit:>10} {held:>10}"
        )


def step_options(
    args: argparse.Namespace, users: int, duration: float, read_url: str
) -> LoadOptions:
    """The load run of one step."""
    settings = load_settings()
    return LoadOptions(
        write_url=api_url(settings, settings.http.write_api_port),
        read_url=read_url,
        duration=duration,
        users=users,
        ramp=min(5.0, duration / 4),
        flash_users=max(users // 4, 1),
        think=args.think,
        seed=args.seed,
        checkout_metrics=f"http://127.0.0.1:{args.metrics_port}/metrics",
    )


def run_steps(args: argparse.Namespace, folder: Path, read_url: str) -> tuple[int, list[Any]]:
    """A warm-up, then each step's load run; the worst exit status and the steps' rows.

    A step passes when some 15 s of it kept both p99 goals; stepping stops after two steps
    in a row that did not (one may be noise on a shared machine).
    """
    settings = load_settings()
    warm_up = step_options(args, min(args.steps), WARM_UP_SECONDS, read_url)
    code = loadtest(warm_up, folder / "warm-up", settings, "warm-up", StackRoot())
    if code == 2:
        return code, []
    worst, rows, misses = 0, [], 0
    for users in args.steps:
        options = step_options(args, users, args.step_seconds, read_url)
        out = folder / f"users-{users}"
        command = f"python -m benchmarks.mixed_load (step of {users} users)"
        code = loadtest(options, out, settings, command, StackRoot())
        worst = max(worst, code)
        if code == 2:
            break
        row = step_row(users, json.loads((out / "summary.json").read_text()))
        rows.append(row)
        misses = 0 if row["sustained"] is not None else misses + 1
        if misses == 2:
            break
    return worst, rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--steps", default="20,40,80,120,160,240", help="users per step")
    parser.add_argument("--step-seconds", type=float, default=40.0)
    parser.add_argument("--think", type=float, default=0.5, help="mean pause of a shopper")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--nginx", action="store_true", help="the nginx cache in front")
    parser.add_argument("--gateway-error-rate", type=float, default=0.0)
    parser.add_argument("--out", type=Path, default=Path(".marketplace/mixed-load"))
    args = parser.parse_args(argv)
    args.steps = [int(n) for n in args.steps.split(",")]
    args.metrics_port = free_port()
    folder = Path(tempfile.mkdtemp(prefix="marketplace-mixed-"))
    env = clean_env(stack_environment(folder))
    env["MARKETPLACE_CHECKOUT_METRICS_PORT"] = str(args.metrics_port)
    os.environ.clear()
    os.environ.update(env)
    settings = load_settings()
    supervisor, _ = build_stack(settings, dict(os.environ))
    gateway = ["--error-rate", str(args.gateway_error_rate)] if args.gateway_error_rate else []
    with_gateway_faults(supervisor, gateway)
    nginx: LocalNginx | None = None
    try:
        supervisor.start()
        read_url = api_url(settings, settings.http.read_api_port)
        if args.nginx:
            upstream = read_url.removeprefix("http://")
            nginx = LocalNginx(folder / "nginx", free_port(), upstream, free_port())
            nginx.binary = ensure_nginx()
            read_url = nginx.start()
        print(f"stack up (2 command + 2 query workers); query API for the load: {read_url}")
        code, rows = run_steps(args, args.out / ("nginx" if args.nginx else "direct"), read_url)
    except StartFailed as error:
        print(f"could not start the stack: {error}", file=sys.stderr)
        return 2
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if nginx is not None:
            nginx.stop()
        supervisor.stop()
        shutil.rmtree(folder, ignore_errors=True)
    print()
    print_table(rows)
    passing = [
        r["sustained"] for r in rows if r["sustained"] is not None and not r["verdict"].failed
    ]
    if passing:
        print(
            f"highest rate held for 15 s with p99 views < {GOALS_MS['views']:.0f} ms and checkout "
            f"< {GOALS_MS['checkout']:.0f} ms: {max(passing):.0f} req/s"
        )
    return code


if __name__ == "__main__":
    sys.exit(main())
