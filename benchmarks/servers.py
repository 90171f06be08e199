"""Start and stop the HTTP servers under test as subprocesses on loopback."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
START_SECONDS = 180.0
"""How long a server may take to answer its probe: on a busy shared machine two workers
importing the app and opening their pools took over a minute."""
STRIPPED_PREFIXES = ("MARKETPLACE_", "POSTGRES_", "PERSISTENCE_", "KURRENTDB_")


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def clean_env(extra: Mapping[str, str]) -> dict[str, str]:
    """This process's environment without store settings, plus the given ones."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(STRIPPED_PREFIXES)}
    env.update(extra)
    return env


def naive_command(port: int, workers: int) -> list[str]:
    """The uvicorn command line of the baseline app."""
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "benchmarks.naive_app:app",
        "--host",
        HOST,
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--log-level",
        "warning",
        "--no-access-log",
    ]


def marketplace_command(port: int, workers: int) -> list[str]:
    """The `marketplace serve-write` command line (the console script of this venv)."""
    script = Path(sys.executable).parent / "marketplace"
    program = [str(script)] if script.exists() else [sys.executable, "-m", "marketplace.cli"]
    return [*program, "serve-write", "--port", str(port), "--workers", str(workers)]


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (loopback)
            return bool(response.status == 200)
    except urllib.error.HTTPError as error:
        return error.code == 404
    except (OSError, ValueError):
        return False


@contextmanager
def serving(
    command: list[str], env: Mapping[str, str], port: int, probe: str, log: Path
) -> Iterator[str]:
    """Run a server until the block ends; yields its base URL once probe answers."""
    base = f"http://{HOST}:{port}"
    with log.open("ab") as sink:
        process = subprocess.Popen(
            command,
            cwd=REPO,
            env=dict(env),
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + START_SECONDS
        while not _answers(base + probe):
            if process.poll() is not None:
                raise RuntimeError(f"server exited with {process.returncode}; see {log}")
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"server did not answer {probe} in {START_SECONDS:.0f} s; see {log}"
                )
            time.sleep(0.2)
        yield base
    finally:
        _stop(process)


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server's process group (it started it), then SIGKILL after 20 s."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
