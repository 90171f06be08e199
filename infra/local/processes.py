"""Server processes on this machine: dying with their parent, and finding the ones left behind.

A process killed with SIGKILL cannot stop its children. On Linux each child asks the kernel
for a signal when its parent dies (PR_SET_PDEATHSIG); elsewhere, and for anything started
before that was in place, the next start finds the leftover by its pid file and stops it.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PR_SET_PDEATHSIG = 1
"""prctl option (linux/prctl.h): the signal a process gets when its parent dies."""
PRCTL = ctypes.CDLL(None).prctl if sys.platform == "linux" else None
"""Looked up before any fork: a child between fork and exec should do as little as it can."""
LEFTOVER_STOP_SECONDS = 60.0
POLL_SECONDS = 0.05


def parent_death_signal(sig: signal.Signals) -> Callable[[], None] | None:
    """A preexec_fn that has the kernel send sig to the child when its parent dies.

    The kernel means the thread that spawned the child: spawn from a thread that lives as long
    as the child should. None where the OS has no such signal.
    """
    if PRCTL is None:
        return None
    number, parent, prctl = int(sig), os.getpid(), PRCTL

    def ask_for_it() -> None:
        prctl(PR_SET_PDEATHSIG, number)
        if os.getppid() != parent:  # the parent died before the request was made
            os.kill(os.getpid(), number)

    return ask_for_it


def alive(pid: int) -> bool:
    """Whether the process runs; a zombie waiting to be reaped counts as gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


def command_line(pid: int) -> str:
    """The process's command line, words joined by spaces; empty if it cannot be read."""
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def working_directory(pid: int) -> Path | None:
    """The process's current directory, if it can be read."""
    try:
        return Path(os.readlink(Path("/proc") / str(pid) / "cwd"))
    except OSError:
        return None


def leftover(pidfile: Path, program: str, directory: Path) -> int | None:
    """The pid in pidfile (its first line) if that process runs, its command line names the
    program and it works in directory (so a reused pid is not taken for the server)."""
    try:
        pid = int(pidfile.read_text().split()[0])
    except (OSError, IndexError, ValueError):
        return None
    if pid == os.getpid() or not alive(pid) or program not in command_line(pid):
        return None
    where = working_directory(pid)
    return pid if where is None or where == directory.resolve() else None


def gone_within(pid: int, seconds: float) -> bool:
    """Poll until the process is gone or seconds have passed; whether it is gone."""
    deadline = time.monotonic() + seconds
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(POLL_SECONDS)
    return True


def environment(pid: int) -> list[str]:
    """The process's environment as NAME=value entries; empty if it cannot be read."""
    try:
        raw = (Path("/proc") / str(pid) / "environ").read_bytes()
    except OSError:
        return []
    return raw.decode(errors="replace").split("\0")


def stop_leftover(
    pid: int,
    sig: signal.Signals,
    seconds: float = LEFTOVER_STOP_SECONDS,
    *,
    group: bool = False,
) -> None:
    """Ask a process that is not our child (with its process group, if group) to stop with
    sig; SIGKILL it if it has not stopped in time."""
    send = os.killpg if group else os.kill
    for attempt in (sig, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            send(pid, attempt)
        if gone_within(pid, seconds):
            return
    raise RuntimeError(f"process {pid} survived SIGKILL")


def stop_child(process: subprocess.Popen[Any], sig: signal.Signals, seconds: float) -> bool:
    """Send sig to our child if it still runs and wait for it; SIGKILL it if it has not
    stopped within seconds. Whether it had to be killed."""
    if process.poll() is not None:
        return False
    process.send_signal(sig)
    try:
        process.wait(seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return True
    return False


@dataclass
class LocalServer:
    """A server run here as a child process, its data under data_dir, on a loopback port."""

    data_dir: Path
    port: int
    durable: bool = True
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def returncode(self) -> int | None:
        """How the last server started here ended (negative: the signal), None while it runs."""
        return self._process.poll() if self._process else None
