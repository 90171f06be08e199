"""`marketplace up`: the whole platform on one machine, supervised by one process.

Components start in order and stop in reverse: the embedded Valkey and PostgreSQL (unless
real ones are configured), the local mail sink (unless an SMTP server is), then every process
of the registry (marketplace.registry) that the settings want, in its order. Once all are up,
one that dies is restarted in place with backoff while the rest serve; `up` writes what it
sees to a state file in the data directory, which `marketplace status` shows, and each
process's JSON log lines to a file of its own there (LOGS_FOLDER), unless they are wanted on
the terminal (logs_on_terminal). One `up` runs
per data directory (a lock), and it first stops what a killed one left running.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from urllib.parse import urlsplit, urlunsplit

from infra.local.postgres import LocalPostgres
from infra.local.processes import alive, environment, stop_leftover
from infra.local.redis import LocalRedis
from infra.mail import MailSink, local_sink
from infra.settings import Settings, load_settings
from marketplace.ports import ports_in_use
from marketplace.registry import PROCESSES, Kind, Process, api_url, read_api_public_url
from marketplace.restarts import LOCK_FILE, STATE_FILE, hold_lock, load
from marketplace.supervisor import (
    STOP_TIMEOUT_SECONDS,
    ChildProcess,
    Component,
    Interrupted,
    StartFailed,
    Supervisor,
    describe_exit,
)

LOGS_FOLDER = "logs"
"""Where, in the data directory, each process's log lines go: <process>.log."""


def log_tail(path: Path, lines: int = 3) -> str:
    """The last lines of a server log, indented on new lines, or nothing."""
    try:
        tail = path.read_text(errors="replace").strip().splitlines()[-lines:]
    except OSError:
        return ""
    return "".join(f"\n    {line}" for line in tail)


def server_exit(code: int | None, log: Path) -> str:
    """How an embedded server ended; if it gave up with an error, the last line of its log."""
    last = log_tail(log, 1).strip() if code is not None and code > 0 else ""
    return f"{describe_exit(code)}: {last}" if last else describe_exit(code)


class EmbeddedServer(ABC):
    """An embedded store server as a component: restarted on the same data and port, its log
    in its data directory."""

    server: LocalPostgres | LocalRedis
    log: str
    """The log file's name in the server's data directory."""

    def start(self, stopping: threading.Event) -> None:
        """Initialise on first use, start, and wait until it answers."""
        try:
            self.server.start()
        except RuntimeError as error:
            raise StartFailed(f"{error}{log_tail(self.server.data_dir / self.log)}") from None

    def restart(self) -> None:
        """Spawn the server again; it recovers from its own log or append-only file."""
        self.server.launch()

    def alive(self) -> bool:
        """Whether the server runs."""
        return self.pid() is not None

    @abstractmethod
    def pid(self) -> int | None:
        """The server's process id, while it runs."""

    def stop(self) -> None:
        """Stop the server cleanly (PostgreSQL rolls running transactions back, Valkey flushes
        its append-only file)."""
        self.server.stop()

    def exit_note(self) -> str:
        """How the server ended, and the last line of its log."""
        return server_exit(self.server.returncode, self.server.data_dir / self.log)


@dataclass
class EmbeddedPostgres(EmbeddedServer):
    """The embedded PostgreSQL server as a component."""

    server: LocalPostgres
    name: str = "PostgreSQL"
    log: str = "postgres.log"

    def pid(self) -> int | None:
        """The postmaster's process id."""
        return self.server.pid()


@dataclass
class EmbeddedRedis(EmbeddedServer):
    """The embedded Valkey server as a component."""

    server: LocalRedis
    name: str = "Valkey"
    log: str = "valkey.log"

    def pid(self) -> int | None:
        """valkey-server's process id."""
        return self.server.pid


@dataclass
class LocalMail:
    """The local mail sink as a component: mail the platform sends lands in a folder."""

    sink: MailSink
    name: str = "mail sink"

    def start(self, stopping: threading.Event) -> None:
        """Listen for SMTP."""
        try:
            self.sink.start()
        except OSError as error:
            raise StartFailed(f"mail sink on port {self.sink.port}: {error}") from None

    def restart(self) -> None:
        """Listen again."""
        self.sink.start()

    def alive(self) -> bool:
        """Whether it listens (it runs in this process)."""
        return True

    def pid(self) -> int | None:
        """None: it runs in this process."""
        return None

    def stop(self) -> None:
        """Stop listening."""
        self.sink.stop()

    def exit_note(self) -> str:
        """Where the mail went."""
        return f"stopped (mail kept in {self.sink.folder})"


def cli_child(
    name: str,
    args: list[str],
    env: Mapping[str, str],
    ready_url: str | None = None,
    logs: Path | None = None,
) -> ChildProcess:
    """A `marketplace <args>` child run by this interpreter; ready once ready_url answers.

    With logs, a folder, its log lines go to <logs>/<name>.log; else to our stderr.
    """
    argv = [sys.executable, "-m", "marketplace.cli", *args]
    log_file = logs / f"{name}.log" if logs is not None else None
    return ChildProcess(name, argv, env, ready_url, log_file=log_file)


def redact(url: str) -> str:
    """The URL with its password, if any, hidden."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def build_stack(
    settings: Settings, base_env: Mapping[str, str]
) -> tuple[Supervisor, dict[str, str]]:
    """The supervisor for the configured stack, and the addresses to announce."""
    data_dir = settings.data_dir.resolve()
    components: list[Component] = []
    postgres_url, redis_url = settings.postgres.url or None, settings.redis.url or None
    where = {"data dir": str(data_dir)}
    if redis_url is None:
        redis = LocalRedis(data_dir / "redis", settings.redis.embedded_port, durable=True)
        components.append(EmbeddedRedis(redis))
        redis_url = redis.url
    if postgres_url is None:
        postgres = LocalPostgres(data_dir / "postgres", settings.postgres.embedded_port)
        components.append(EmbeddedPostgres(postgres))
        postgres_url = postgres.url
    where["postgres"] = (
        postgres_url + "  (embedded)" if not settings.postgres.url else redact(postgres_url)
    )
    where["redis"] = redis_url + "  (embedded)" if not settings.redis.url else redact(redis_url)
    env = {
        **base_env,
        "MARKETPLACE_DATA_DIR": str(data_dir),
        "MARKETPLACE_POSTGRES_URL": postgres_url,
        "MARKETPLACE_REDIS_URL": redis_url,
        "MARKETPLACE_READ_API_PUBLIC_URL": read_api_public_url(settings),
    }
    components.extend(local_services(settings, env, where))
    logs = None if settings.logs_on_terminal else data_dir / LOGS_FOLDER
    if logs is not None:
        logs.mkdir(parents=True, exist_ok=True)
        where["logs"] = f"{logs}/<process>.log  (--logs-on-terminal to see them here)"
    for known in PROCESSES:
        if known.wanted(settings):
            ready = known.ready_url(settings)
            components.append(cli_child(known.name, known.args(settings), env, ready, logs))
            where.update(announced(known, settings, ready))
    return Supervisor(components, state_file=data_dir / STATE_FILE), where


def local_services(
    settings: Settings, env: dict[str, str], where: dict[str, str]
) -> list[Component]:
    """The mail sink, when none is configured; env gains the gateway's address, so the
    workers started after it use the sandbox gateway (a registered process) when none is set."""
    components: list[Component] = []
    sink = local_sink(settings.updated(data_dir=settings.data_dir.resolve()))
    if sink is not None:
        components.append(LocalMail(sink))
        where["mail"] = f"smtp://{sink.host}:{sink.port}  (kept in {sink.folder})"
    env["MARKETPLACE_PAYMENT_GATEWAY_URL"] = settings.payments.gateway_url or api_url(
        settings, settings.payments.gateway_port
    )
    return components


def announced(known: Process, settings: Settings, ready: str | None) -> dict[str, str]:
    """What the banner says of a process: where an HTTP one answers, and its docs."""
    if ready is None or known.port is None:
        return {}
    url = api_url(settings, known.port(settings))
    if known.kind is Kind.API:
        return {known.name: url, f"{known.name} docs": f"{url}/docs"}
    return {known.name: f"{url}  ({known.kind})"}


def ready_block(where: Mapping[str, str]) -> str:
    """The announcement printed once everything is ready."""
    width = max(len(key) for key in where)
    lines = [f"  {key.ljust(width)}  {value}" for key, value in where.items()]
    rule = "-" * 72
    return "\n".join([rule, "marketplace is up", *lines, "Press Ctrl-C to stop.", rule])


def stop_leftovers(supervisor: Supervisor, data_dir: Path) -> None:
    """Stop the children that a killed `up` on this data directory left running.

    Its state file names them; a pid counts only if that process still has this data
    directory in its environment. The embedded servers find their own by their pid files.
    """
    last = load(data_dir / STATE_FILE)
    children = {c.name for c in supervisor.components if isinstance(c, ChildProcess)}
    mark = f"MARKETPLACE_DATA_DIR={data_dir}"
    for row in reversed(last.components if last else []):
        if row.name in children and row.pid and alive(row.pid) and mark in environment(row.pid):
            print(f"stopping {row.name} (pid {row.pid}), left by an earlier `up`", flush=True)
            stop_leftover(row.pid, signal.SIGTERM, STOP_TIMEOUT_SECONDS, group=True)


def supervise(supervisor: Supervisor, where: Mapping[str, str]) -> int:
    """Start everything, then keep it running until a stop is requested; the exit code."""
    try:
        supervisor.start()
        print(ready_block(where), flush=True)
        supervisor.run()
    except Interrupted:
        print("stop requested while starting", flush=True)
    except (StartFailed, RuntimeError, OSError) as error:
        if supervisor.stopping.is_set():
            print("stop requested while starting", flush=True)
        else:
            print(f"could not start: {error}", file=sys.stderr, flush=True)
            return 1
    return 0


def run_stack(settings: Settings, base_env: Mapping[str, str]) -> int:
    """Run the stack until SIGINT/SIGTERM (exit 0), or until it cannot start (exit 1).

    A component that dies once everything is up is restarted; it never stops the others.
    """
    supervisor, where = build_stack(settings, base_env)
    data_dir = settings.data_dir.resolve()
    lock = hold_lock(data_dir / LOCK_FILE)
    if lock is None:
        print(f"could not start: another `up` runs on {data_dir}", file=sys.stderr, flush=True)
        return 1

    def request_stop(signum: int, frame: FrameType | None) -> None:
        supervisor.stopping.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        stop_leftovers(supervisor, data_dir)
        busy = ports_in_use(settings)
        for line in busy:
            print(f"could not start: {line}", file=sys.stderr, flush=True)
        code = 1 if busy else supervise(supervisor, where)
    finally:
        supervisor.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        lock.close()
    print("marketplace stopped" if code == 0 else "marketplace stopped after a failure", flush=True)
    return code


def up(
    data_dir: Path | None = None,
    write_port: int | None = None,
    workers: int | None = None,
    read_port: int | None = None,
    logs_on_terminal: bool | None = None,
) -> int:
    """Settings from the environment plus command-line overrides, then run the stack."""
    http = {"write_api_port": write_port, "write_api_workers": workers, "read_api_port": read_port}
    overrides: dict[str, object] = {"http": {k: v for k, v in http.items() if v is not None}}
    if logs_on_terminal:
        overrides["logs_on_terminal"] = True
    if data_dir is not None:
        overrides["data_dir"] = data_dir
    return run_stack(load_settings(**overrides), dict(os.environ))
