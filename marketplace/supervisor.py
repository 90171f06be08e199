"""A small process supervisor: components start in order, are kept running, stop in reverse.

A component is anything with start/restart/alive/stop; ChildProcess runs a platform process in
its own session and waits for its readiness URL. Once everything has started, a component that
dies is reported and started again after a backoff delay (marketplace.restarts), while the
others keep running; only a stop request (SIGINT/SIGTERM) stops them all, in reverse order.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Protocol

import httpx

from infra.local.processes import parent_death_signal, stop_child
from marketplace.restarts import Backoff, Record, State, UpState, publish, rows

READY_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 15.0
WATCH_INTERVAL_SECONDS = 0.2
TAIL_LINES = 20
"""Lines of a child's stderr kept to say why it died."""
TAIL_WAIT_SECONDS = 2.0


class Interrupted(Exception):
    """A stop was requested (SIGINT or SIGTERM) while the stack was starting."""


class StartFailed(Exception):
    """A component could not start or never became ready."""


class Component(Protocol):
    """Something the supervisor starts, keeps running and stops."""

    name: str

    def start(self, stopping: threading.Event) -> None:
        """Start and return once ready; raise Interrupted when stopping is set meanwhile."""

    def restart(self) -> None:
        """Start again after it died, in place (same data, same port); need not wait until ready."""

    def alive(self) -> bool:
        """Whether it still runs."""

    def pid(self) -> int | None:
        """Its process id while it runs, if it is a process of its own."""

    def stop(self) -> None:
        """Stop it, and what it left (its process group); safe when it never started or died."""

    def exit_note(self) -> str:
        """How it ended and, where known, the last thing it said."""


def describe_exit(code: int | None) -> str:
    """An exit code as words: how a process ended."""
    if code is None:
        return "is running"
    if code < 0:
        return f"was killed by {signal.Signals(-code).name}"
    return f"exited with code {code}"


def last_words(lines: Sequence[str]) -> str:
    """What went wrong, from a process's last lines of output: the last error or traceback line
    (of a JSON log line, its event and the exception's last line), else the last line."""
    for line in reversed(lines):
        try:
            record = json.loads(line)
        except ValueError:
            return line
        if not isinstance(record, dict):
            return line
        exception = str(record.get("exception", "")).strip()
        if exception:
            return f"{record.get('event', '')}: {exception.splitlines()[-1]}"
        if record.get("level") in ("error", "critical"):
            return str(record.get("event", line))
    return lines[-1] if lines else ""


def tee(pipe: IO[bytes], tail: deque[str], log_file: Path | None = None) -> None:
    """Copy a child's stderr line by line to log_file (appended to), else to our stderr,
    keeping its last lines in tail."""
    with contextlib.ExitStack() as held:
        held.enter_context(pipe)
        terminal = getattr(sys.stderr, "buffer", None)
        out = held.enter_context(open(log_file, "ab")) if log_file else terminal
        for line in iter(pipe.readline, b""):
            with contextlib.suppress(OSError, ValueError):
                if out is not None:
                    out.write(line)
                    out.flush()
            if line.strip():
                tail.append(line.decode(errors="replace").rstrip())


@dataclass
class ChildProcess:
    """A platform process run in its own session, ready once ready_url answers 200.

    Its stderr (its JSON log lines) goes to log_file, or to ours when there is none, through
    a thread that keeps its last lines for exit_note.
    """

    name: str
    argv: Sequence[str]
    env: Mapping[str, str]
    ready_url: str | None = None
    ready_timeout: float = READY_TIMEOUT_SECONDS
    log_file: Path | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    tail: deque[str] = field(default_factory=lambda: deque(maxlen=TAIL_LINES), repr=False)
    reader: threading.Thread | None = field(default=None, init=False, repr=False)

    def start(self, stopping: threading.Event) -> None:
        """Spawn the process and wait until it is ready, it exits, or a stop is requested."""
        process = self.launch()
        deadline = time.monotonic() + self.ready_timeout
        while self.ready_url is not None:
            if stopping.is_set():
                raise Interrupted(self.name)
            if process.poll() is not None:
                raise StartFailed(f"{self.name} {self.exit_note()} before it was ready")
            if self._answers():
                return
            if time.monotonic() > deadline:
                raise StartFailed(f"{self.name} not ready after {self.ready_timeout:.0f}s")
            stopping.wait(WATCH_INTERVAL_SECONDS)

    def restart(self) -> None:
        """Spawn it again; readiness is its own business from here."""
        self.launch()

    def launch(self) -> subprocess.Popen[bytes]:
        """Spawn the process, which gets SIGTERM if this one dies."""
        self.tail = deque(maxlen=TAIL_LINES)
        self.process = subprocess.Popen(
            list(self.argv),
            env=dict(self.env),
            stderr=subprocess.PIPE,
            start_new_session=True,
            preexec_fn=parent_death_signal(signal.SIGTERM),
        )
        assert self.process.stderr is not None
        self.reader = threading.Thread(
            target=tee,
            args=(self.process.stderr, self.tail, self.log_file),
            name=f"{self.name} stderr",
        )
        self.reader.daemon = True
        self.reader.start()
        return self.process

    def alive(self) -> bool:
        """Whether the process has not exited."""
        return self.process is not None and self.process.poll() is None

    def pid(self) -> int | None:
        """The process id while it runs."""
        return self.process.pid if self.alive() and self.process else None

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after a grace period; then kill leftovers of its group."""
        if self.process is None:
            return
        if stop_child(self.process, signal.SIGTERM, STOP_TIMEOUT_SECONDS):
            print(f"{self.name} did not stop in time; killed it", flush=True)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)

    def exit_note(self) -> str:
        """The exit code or signal of the process, and the last error it wrote."""
        note = describe_exit(self.process.poll() if self.process else None)
        if self.reader is not None:
            self.reader.join(TAIL_WAIT_SECONDS)
        words = last_words(list(self.tail))
        return f"{note}: {words}" if words else note

    def _answers(self) -> bool:
        assert self.ready_url is not None
        try:
            return httpx.get(self.ready_url, timeout=2.0).status_code == 200
        except httpx.HTTPError:
            return False


def say(message: str) -> None:
    """A line of the supervisor's own on stdout."""
    print(message, flush=True)


@dataclass
class Supervisor:
    """Starts components in order, restarts those that die, stops the started ones in reverse.

    state_file, when given, is rewritten on every change of state (marketplace.restarts).
    """

    components: list[Component]
    stopping: threading.Event = field(default_factory=threading.Event)
    started: list[Component] = field(default_factory=list)
    policy: Backoff = field(default_factory=Backoff)
    state_file: Path | None = None
    clock: Callable[[], float] = time.monotonic
    records: dict[str, Record] = field(default_factory=dict)

    def record(self, component: Component) -> Record:
        """The component's restart record."""
        if component.name not in self.records:
            self.records[component.name] = Record(component.name, self.policy)
        return self.records[component.name]

    def start(self) -> None:
        """Start every component in order; raise Interrupted or StartFailed."""
        for component in self.components:
            if self.stopping.is_set():
                raise Interrupted(component.name)
            say(f"starting {component.name} ...")
            self.started.append(component)
            component.start(self.stopping)
            self.record(component).started(self.clock(), component.pid())
            if self.stopping.is_set():
                raise Interrupted(component.name)
        self.publish()

    def run(self) -> None:
        """Keep the started components running until a stop is requested."""
        while not self.stopping.wait(WATCH_INTERVAL_SECONDS):
            self.tick()

    def tick(self) -> None:
        """One look at every component: report the dead, restart those whose delay is over."""
        changed = [self.keep(component) for component in list(self.started)]
        if any(changed):
            self.publish()

    def keep(self, component: Component) -> bool:
        """Look after one component; whether its record changed."""
        record, now = self.record(component), self.clock()
        if record.retry_at is None:
            if component.alive():
                return record.steady(now)
            self._died(component, record, component.exit_note)
            return True
        if record.due(now):
            self._restart(component, record)
            return True
        return False

    def _died(self, component: Component, record: Record, why: Callable[[], str]) -> None:
        try:
            component.stop()  # what it left (a process group, a pipe) goes before a restart
        except Exception as error:
            say(f"could not clean up after {component.name}: {error}")
        note = why()
        delay = record.died(self.clock(), note)
        if record.state is State.FAILING:
            say(
                f"{component.name} keeps failing ({record.quick_deaths} exits in a row): "
                f"{note}; trying again in {delay:.1f}s"
            )
        else:
            say(f"{component.name} {note}; restarting in {delay:.1f}s")

    def _restart(self, component: Component, record: Record) -> None:
        record.restarts += 1
        say(f"restarting {component.name} (restart {record.restarts}) ...")
        try:
            component.restart()
        except Exception as error:
            reason = f"could not restart: {error}"
            self._died(component, record, lambda: reason)
        else:
            record.started(self.clock(), component.pid())

    def stop(self) -> None:
        """Stop the started components in reverse order, reporting but surviving failures."""
        for component in reversed(self.started):
            say(f"stopping {component.name} ...")
            try:
                component.stop()
            except Exception as error:
                print(f"could not stop {component.name}: {error}", file=sys.stderr, flush=True)
            record = self.record(component)
            record.stopped, record.pid = True, None
        self.publish()
        self.started.clear()

    def publish(self) -> None:
        """Write the state file, if there is one; a failure to write is reported, not raised."""
        if self.state_file is None:
            return
        now, wall = self.clock(), datetime.now(UTC)
        started = [self.record(component) for component in self.started]
        state = UpState(os.getpid(), wall.isoformat(), rows(started, now, wall))
        try:
            publish(self.state_file, state)
        except OSError as error:
            say(f"could not write {self.state_file}: {error}")
