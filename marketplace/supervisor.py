"""A small supervisor: components start in order, are watched, and stop in reverse order.

A component is anything with start/alive/stop; ChildProcess runs a platform process in its
own session and waits for its readiness URL. Adding a process to a stack is one more
ChildProcess in the list.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import httpx

READY_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 15.0
WATCH_INTERVAL_SECONDS = 0.2
PR_SET_PDEATHSIG = 1
"""prctl option (linux/prctl.h): the signal a process gets when its parent dies."""
PRCTL = ctypes.CDLL(None).prctl if sys.platform == "linux" else None
"""Looked up before any fork: a child between fork and exec should do as little as it can."""


class Interrupted(Exception):
    """A stop was requested (SIGINT or SIGTERM) while the stack was starting."""


class StartFailed(Exception):
    """A component could not start or never became ready."""


class Component(Protocol):
    """Something the supervisor starts, watches and stops."""

    name: str

    def start(self, stopping: threading.Event) -> None:
        """Start and return once ready; raise Interrupted when stopping is set meanwhile."""

    def alive(self) -> bool:
        """Whether it still runs."""

    def stop(self) -> None:
        """Stop it; safe to call when it never started or already exited."""

    def exit_note(self) -> str:
        """How it ended, for the message about an unexpected exit."""


def die_with_parent() -> None:
    """In a child about to exec: have the kernel send it SIGTERM when its parent dies.

    A supervisor killed with SIGKILL cannot stop its children; this way they stop anyway
    instead of living on as orphans holding ports and stores.
    """
    if PRCTL is not None:
        PRCTL(PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class ChildProcess:
    """A platform process run in its own session, ready once ready_url answers 200."""

    name: str
    argv: Sequence[str]
    env: Mapping[str, str]
    ready_url: str | None = None
    ready_timeout: float = READY_TIMEOUT_SECONDS
    process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    def start(self, stopping: threading.Event) -> None:
        """Spawn the process and wait until it is ready, it exits, or a stop is requested."""
        self.process = subprocess.Popen(
            list(self.argv),
            env=dict(self.env),
            start_new_session=True,
            preexec_fn=die_with_parent if PRCTL is not None else None,
        )
        deadline = time.monotonic() + self.ready_timeout
        while self.ready_url is not None:
            if stopping.is_set():
                raise Interrupted(self.name)
            if self.process.poll() is not None:
                raise StartFailed(f"{self.name} {self.exit_note()} before it was ready")
            if self._answers():
                return
            if time.monotonic() > deadline:
                raise StartFailed(f"{self.name} not ready after {self.ready_timeout:.0f}s")
            stopping.wait(WATCH_INTERVAL_SECONDS)

    def alive(self) -> bool:
        """Whether the process has not exited."""
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after a grace period; then kill leftovers of its group."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                print(f"{self.name} did not stop in time; killing it", flush=True)
                self.process.kill()
                self.process.wait()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)

    def exit_note(self) -> str:
        """The exit code or signal of the process."""
        code = self.process.poll() if self.process else None
        if code is None:
            return "is running"
        if code < 0:
            return f"was killed by {signal.Signals(-code).name}"
        return f"exited with code {code}"

    def _answers(self) -> bool:
        assert self.ready_url is not None
        try:
            return httpx.get(self.ready_url, timeout=2.0).status_code == 200
        except httpx.HTTPError:
            return False


@dataclass
class Supervisor:
    """Starts components in order, watches them, and stops the started ones in reverse."""

    components: list[Component]
    stopping: threading.Event = field(default_factory=threading.Event)
    started: list[Component] = field(default_factory=list)

    def start(self) -> None:
        """Start every component in order; raise Interrupted or StartFailed."""
        for component in self.components:
            if self.stopping.is_set():
                raise Interrupted(component.name)
            print(f"starting {component.name} ...", flush=True)
            self.started.append(component)
            component.start(self.stopping)
            if self.stopping.is_set():
                raise Interrupted(component.name)

    def watch(self) -> Component | None:
        """Block until a stop is requested (None) or a component dies (that component)."""
        while not self.stopping.wait(WATCH_INTERVAL_SECONDS):
            for component in self.started:
                if not component.alive():
                    return component
        return None

    def stop(self) -> None:
        """Stop the started components in reverse order, reporting but surviving failures."""
        for component in reversed(self.started):
            print(f"stopping {component.name} ...", flush=True)
            try:
                component.stop()
            except Exception as error:
                print(f"could not stop {component.name}: {error}", file=sys.stderr, flush=True)
        self.started.clear()
