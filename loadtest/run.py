"""One load run from start to verdict: prepare, swarm, sample, settle, check, report."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx

from infra.settings import Settings
from loadtest.charts import draw_all
from loadtest.journal import SwarmOutcome, read_requests
from loadtest.ledger import read_ledger
from loadtest.markdown import write_markdown
from loadtest.plan import LoadOptions, SwarmPlan
from loadtest.prepare import PrepareFailed, prepare
from loadtest.report import (
    failed,
    invariants,
    stdout_summary,
    summary_data,
    write_summary,
)
from loadtest.root import Root
from loadtest.sampling import Sampler
from loadtest.stats import run_stats

SWARM_GRACE_SECONDS = 180.0
"""How long past its duration the Locust process may take before it is killed."""


def default_folder(settings: Settings) -> Path:
    """`<data dir>/loadtest/<UTC timestamp>`."""
    return settings.data_dir / "loadtest" / time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())


def reachable(options: LoadOptions) -> str | None:
    """Why the stack cannot be load-tested, or None if both APIs answer ready."""
    for name, url in (("command API", options.write_url), ("query API", options.read_url)):
        try:
            answer = httpx.get(f"{url.rstrip('/')}/health/ready", timeout=10.0)
        except httpx.HTTPError as error:
            return f"the {name} at {url} does not answer ({error}); is `marketplace up` running?"
        if answer.status_code != 200:
            return f"the {name} at {url} is not ready ({answer.status_code})"
    return None


def swarm(plan: SwarmPlan, folder: Path) -> int:
    """Run the Locust process on the plan; its exit status."""
    path = plan.write(folder / ".plan.json")
    try:
        command = [sys.executable, "-m", "loadtest.swarm", str(path)]
        process = subprocess.Popen(command)
        try:
            return process.wait(plan.options.duration + SWARM_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            return -9
        except KeyboardInterrupt:
            process.terminate()
            process.wait(30)
            raise
    finally:
        path.unlink(missing_ok=True)


def loadtest(
    options: LoadOptions, folder: Path, settings: Settings, command: str, root: Root
) -> int:
    """Run the load and write the report; 0, 1 if an invariant failed, 2 if it could not run."""
    problem = reachable(options)
    if problem:
        print(f"marketplace loadtest: {problem}", file=sys.stderr)
        return 2
    folder.mkdir(parents=True, exist_ok=True)
    print(f"preparing sellers, products and shoppers through {options.write_url}", flush=True)
    try:
        fixture = prepare(options, root.token_codec(settings), lambda line: print(f"  {line}"))
    except (PrepareFailed, httpx.HTTPError) as error:
        print(f"marketplace loadtest: preparing failed: {error}", file=sys.stderr)
        return 2
    plan = SwarmPlan(options, fixture, str(folder / "requests.csv"), str(folder / "swarm.json"))
    sampler = Sampler(root.lag_probes(settings), options.sample_every, options.checkout_metrics)
    sampler.start()
    try:
        print(
            f"load: {options.duration:.0f} s, up to {options.max_users} users, flash sale at "
            f"{options.flash_start:.0f} s",
            flush=True,
        )
        status = swarm(plan, folder)
        if status != 0:
            print(f"marketplace loadtest: the Locust process failed ({status})", file=sys.stderr)
            return 2
        outcome = SwarmOutcome.read(Path(plan.swarm_json))
        print(f"settling {len(outcome.orders)} orders in the event store", flush=True)
        settling = time.monotonic()
        ledger = read_ledger(
            settings,
            root.postgres_url(settings),
            outcome.orders,
            fixture.flash_products,
            timeout=options.settle,
            read_url=options.read_url,
            write_url=options.write_url,
        )
        print(
            f"  {'settled' if ledger.settled else 'NOT settled'} after "
            f"{time.monotonic() - settling:.1f} s; writing the report",
            flush=True,
        )
    finally:
        samples = sampler.stop()
    records = read_requests(Path(plan.requests_csv))
    stats = run_stats(records, outcome.started, options.bucket_seconds)
    found = invariants(ledger)
    charts = draw_all(stats, outcome, samples, ledger, folder)
    data = summary_data(options, stats, outcome, samples, ledger, found, charts)
    write_summary(data, folder)
    write_markdown(data, command, folder)
    print(stdout_summary(data, folder), flush=True)
    return 1 if failed(found) else 0
