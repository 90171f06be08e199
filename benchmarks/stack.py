"""`marketplace up` on free ports in a scratch folder, for benchmarks that need the whole stack."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from benchmarks.servers import REPO, clean_env, free_port

START_TIMEOUT_SECONDS = 360.0


@dataclass(frozen=True)
class RunningStack:
    """Where a running stack listens, and the settings' environment it was started with."""

    write_url: str
    read_url: str
    postgres_url: str
    redis_url: str
    env: Mapping[str, str]


@contextmanager
def marketplace_up(
    data_dir: Path,
    extra_env: Mapping[str, str],
    workers: int = 2,
    launcher: str = "marketplace.cli",
    launcher_args: Sequence[str] = (),
) -> Iterator[RunningStack]:
    """Start `marketplace up` with workers API processes each; stop the whole group after.

    launcher is the module run as `python -m <launcher> up`: benchmarks.naive_stack runs the
    same stack with the naive write path.
    """
    ports = {
        name: free_port() for name in ("write", "read", "postgres", "redis", "gateway", "smtp")
    }
    env = clean_env(
        {
            "MARKETPLACE_LOG_LEVEL": "WARNING",
            "MARKETPLACE_EMBEDDED_POSTGRES_PORT": str(ports["postgres"]),
            "MARKETPLACE_EMBEDDED_REDIS_PORT": str(ports["redis"]),
            "MARKETPLACE_GATEWAY_PORT": str(ports["gateway"]),
            "MARKETPLACE_SMTP_PORT": str(ports["smtp"]),
            **extra_env,
        }
    )
    command = [sys.executable, "-m", launcher, "up", *launcher_args, "--data-dir", str(data_dir)]
    command += ["--write-port", str(ports["write"]), "--read-port", str(ports["read"])]
    command += ["--workers", str(workers)]
    log = data_dir.with_suffix(".log")
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while "marketplace is up" not in log.read_text(errors="replace"):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"`marketplace up` did not start:\n{log.read_text()}")
            time.sleep(0.2)
        yield RunningStack(
            f"http://127.0.0.1:{ports['write']}",
            f"http://127.0.0.1:{ports['read']}",
            f"postgresql://postgres:local@127.0.0.1:{ports['postgres']}/marketplace",
            f"redis://127.0.0.1:{ports['redis']}/0",
            env,
        )
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)
            try:
                process.wait(90)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(30)
