"""The platform's servers with the naive write path injected, for benchmarks to compare.

`python -m benchmarks.naive_stack up [--data-dir D] [--write-port P] [--read-port P]
[--workers N]` runs what `marketplace up` runs, except that the command API and the checkout
worker (which issues every reservation) are this module's `serve-write` and `checkout`:
the production wiring with benchmarks.naive_write.NaiveWritePath in place of the batched
write path, and no sold-out fast path at checkout. Nothing of it is in production code.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI

    from marketplace.supervisor import Supervisor

# Heavy imports wait for the function that needs them: uvicorn's worker processes are
# spawned, so each imports this module before it can answer its parent's 5 s health check,
# and on a busy machine a slow import had every worker killed and respawned, forever.

NAIVE_SUBCOMMANDS = ("serve-write", "checkout")
PRODUCTION_CLI = ["-m", "marketplace.cli"]
THIS_MODULE = "benchmarks.naive_stack"
READY_SECONDS = 180.0


def write_app() -> FastAPI:
    """The command API on the naive write path, without the sold-out fast path (a factory)."""
    from benchmarks.naive_write import NaiveWritePath
    from marketplace import bootstrap

    return bootstrap.write_app(NaiveWritePath, sold_out_fast_path=False)


def serve_write(port: int | None, workers: int | None) -> int:
    """Serve write_app() as `marketplace serve-write` serves the production one."""
    from marketplace.cli.platform import serve

    serve("command-api", f"{THIS_MODULE}:write_app", port, workers)
    return 0


def run_checkout(metrics_port: int) -> int:
    """The checkout worker, its commands on the naive write path."""
    from benchmarks.naive_write import NaiveWritePath
    from infra.logging import configure_logging
    from infra.settings import load_settings
    from workers.checkout import manager as checkout

    settings = load_settings()
    configure_logging(settings.log_level)
    return checkout.run(settings, metrics_port=metrics_port, write_path=NaiveWritePath)


def use_naive_servers(supervisor: Supervisor) -> None:
    """Have the stack's command API and checkout worker run from this module instead."""
    from marketplace.supervisor import ChildProcess

    swapped = set()
    for component in supervisor.components:
        if not isinstance(component, ChildProcess):
            continue
        argv = list(component.argv)
        if argv[1:3] == PRODUCTION_CLI and argv[3] in NAIVE_SUBCOMMANDS:
            component.argv = [argv[0], "-m", THIS_MODULE, *argv[3:]]
            swapped.add(argv[3])
    if swapped != set(NAIVE_SUBCOMMANDS):
        raise RuntimeError(f"the stack has no {sorted(set(NAIVE_SUBCOMMANDS) - swapped)}")


def be_patient(supervisor: Supervisor) -> None:
    """Give every process READY_SECONDS to get ready (a busy shared machine needs more)."""
    from marketplace.supervisor import ChildProcess

    for component in supervisor.components:
        if isinstance(component, ChildProcess):
            component.ready_timeout = READY_SECONDS


def up(args: argparse.Namespace) -> int:
    """Run the stack, naive servers swapped in (dead ones restarted), until SIGINT/SIGTERM."""
    from infra.settings import load_settings
    from marketplace.stack import build_stack, ready_block
    from marketplace.supervisor import Interrupted, StartFailed

    http = {
        "write_api_port": args.write_port,
        "read_api_port": args.read_port,
        "write_api_workers": args.workers,
    }
    settings = load_settings(
        http={k: v for k, v in http.items() if v is not None},
        **({"data_dir": args.data_dir} if args.data_dir is not None else {}),
    )
    supervisor, where = build_stack(settings, dict(os.environ))
    if not args.production:
        use_naive_servers(supervisor)
    be_patient(supervisor)

    def request_stop(signum: int, frame: FrameType | None) -> None:
        supervisor.stopping.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, request_stop)
    try:
        supervisor.start()
        path = "production" if args.production else "naive (benchmarks.naive_write)"
        print(ready_block({**where, "write path": path}), flush=True)
        supervisor.run()
    except (Interrupted, StartFailed, RuntimeError, OSError) as error:
        print(f"stopped while starting: {error}", file=sys.stderr, flush=True)
        return 0 if supervisor.stopping.is_set() else 1
    finally:
        supervisor.stop()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """up, serve-write or checkout."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.naive_stack", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    stack = sub.add_parser("up")
    stack.add_argument("--production", action="store_true", help="keep the production servers")
    stack.add_argument("--data-dir", type=Path)
    stack.add_argument("--write-port", type=int)
    stack.add_argument("--read-port", type=int)
    stack.add_argument("--workers", type=int)
    serve = sub.add_parser("serve-write")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int)
    worker = sub.add_parser("checkout")
    worker.add_argument("--metrics-port", type=int, default=0)
    args = parser.parse_args(argv)
    if args.command == "up":
        return up(args)
    if args.command == "serve-write":
        return serve_write(args.port, args.workers)
    return run_checkout(args.metrics_port)


if __name__ == "__main__":
    sys.exit(main())
