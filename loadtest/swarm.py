"""The Locust process of a load run: `python -m loadtest.swarm PLAN.json`.

Importing Locust monkey-patches the standard library with gevent, so the load runs in a
process of its own: the shoppers, the load shape and a local runner, headless, driven as a
library. It records every request to a CSV file and its orders and user counts to JSON.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import gevent
from locust.env import Environment
from locust.runners import Runner

from loadtest.journal import RequestRecord, RequestWriter, SwarmOutcome, error_kind
from loadtest.plan import SwarmPlan
from loadtest.shape import BlackFridayShape
from loadtest.users import BlackFridayShopper

PROGRESS_EVERY_SECONDS = 10.0
GRACE_SECONDS = 60.0
"""How long past the planned duration the run may take before it is stopped anyway."""


class Recorder:
    """Listens to Locust's request event and writes each request down."""

    def __init__(self, writer: RequestWriter) -> None:
        self.writer = writer
        self.requests = 0
        self.failures = 0

    def on_request(
        self,
        request_type: str,
        name: str,
        response_time: float,
        response_length: int,
        response: Any = None,
        context: Any = None,
        exception: BaseException | None = None,
        start_time: float | None = None,
        url: str | None = None,
        **more: Any,
    ) -> None:
        """Record one request."""
        status = int(getattr(response, "status_code", 0) or 0)
        body = getattr(response, "content", None) if status >= 400 else None
        kind = error_kind(status, body, exception)
        if not kind and exception is not None:
            kind = type(exception).__name__
        headers = getattr(response, "headers", None)
        cache = str(headers.get("x-cache-status", "")) if headers else ""
        at = start_time if start_time is not None else time.time() - response_time / 1000
        self.writer.write(RequestRecord(at, name, status, float(response_time), kind, cache))
        self.requests += 1
        self.failures += 1 if kind else 0


def watch(runner: Runner, outcome: SwarmOutcome, recorder: Recorder) -> None:
    """Note the user count every second and print progress now and then."""
    last_print = time.monotonic()
    while True:
        outcome.users.append((time.time(), runner.user_count))
        if time.monotonic() - last_print >= PROGRESS_EVERY_SECONDS:
            last_print = time.monotonic()
            elapsed = time.time() - outcome.started
            print(
                f"  {elapsed:5.0f} s  {runner.user_count:4d} users  "
                f"{recorder.requests:7d} requests  {recorder.failures:6d} non-2xx/3xx",
                flush=True,
            )
        gevent.sleep(1.0)


def run(plan: SwarmPlan) -> SwarmOutcome:
    """Run the planned load to its end and return what happened."""
    outcome = SwarmOutcome()
    BlackFridayShopper.configure(plan, outcome)
    shape = BlackFridayShape(plan.options)
    env = Environment(user_classes=[BlackFridayShopper], shape_class=shape)
    with open(plan.requests_csv, "w", newline="", buffering=1 << 20) as out:
        recorder = Recorder(RequestWriter(out))
        env.events.request.add_listener(recorder.on_request)
        runner = env.create_local_runner()
        outcome.started = time.time()
        outcome.flash_opened = outcome.started + plan.options.flash_start
        BlackFridayShopper.sale_opens_at = outcome.flash_opened
        watcher = gevent.spawn(watch, runner, outcome, recorder)
        runner.start_shape()
        shape_greenlet = runner.shape_greenlet
        if shape_greenlet is not None:
            shape_greenlet.join(timeout=plan.options.duration + GRACE_SECONDS)
        runner.quit()
        watcher.kill()
        outcome.ended = time.time()
    outcome.user_exceptions = {
        str(row["msg"]): int(row["count"]) for row in runner.exceptions.values()
    }
    return outcome


def main(argv: list[str]) -> int:
    """Run the plan named on the command line; write the outcome where it says."""
    if len(argv) != 1:
        print("usage: python -m loadtest.swarm PLAN.json", file=sys.stderr)
        return 2
    plan = SwarmPlan.read(Path(argv[0]))
    outcome = run(plan)
    outcome.write(Path(plan.swarm_json))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
