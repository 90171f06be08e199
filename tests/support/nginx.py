"""A local nginx caching the query API: the binary from PATH or the Debian package, no root.

Without nginx on PATH, `apt-get download` fetches the Debian package (verified by apt against
the signed archive) into a cache folder and `dpkg-deb -x` unpacks it there; shared libraries
the system lacks are fetched the same way. nginx then runs as a foreground child with its
config, pid, logs, cache and temporary files under one folder of its own.
"""

from __future__ import annotations

import fcntl
import grp
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import httpx

import infra
from infra.local.wheels import traversable_parents

TEMPLATE = Path(infra.__file__).resolve().parent / "nginx" / "query-api-cache.conf.template"
"""The configuration the deploy ships (infra/nginx/), rendered for this local nginx."""
DEFAULT_CACHE_DIR = Path.home() / ".cache" / "marketplace" / "nginx"
PACKAGES = ("nginx", "nginx-light", "nginx-core")
"""Tried in order until one holds usr/sbin/nginx: since Debian 12 that is `nginx` itself;
before, `nginx` was a metapackage and the binary came with `nginx-light` or `nginx-core`."""
SBIN_PATH = "/usr/local/sbin:/usr/sbin:/sbin"
PLACEHOLDER = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")
COMMAND_TIMEOUT = 300.0


@dataclass(frozen=True)
class NginxBinary:
    """An nginx executable and the folders of any libraries unpacked beside it."""

    path: Path
    library_dirs: tuple[Path, ...] = ()

    def env(self) -> dict[str, str]:
        """The environment to run it in."""
        env = dict(os.environ)
        if self.library_dirs:
            dirs = [str(d) for d in self.library_dirs]
            env["LD_LIBRARY_PATH"] = os.pathsep.join([*dirs, env.get("LD_LIBRARY_PATH", "")])
        return env

    def version(self) -> str:
        """`nginx -v` (written to stderr), e.g. `nginx version: nginx/1.22.1`."""
        result = subprocess.run(
            [str(self.path), "-v"], capture_output=True, text=True, env=self.env(), timeout=30
        )
        if result.returncode != 0:
            raise RuntimeError(f"{self.path} does not run: {result.stderr.strip()}")
        return result.stderr.strip()


def find_nginx() -> NginxBinary | None:
    """nginx on PATH, or in the sbin folders that a user's PATH often leaves out."""
    found = shutil.which("nginx") or shutil.which("nginx", path=SBIN_PATH)
    return NginxBinary(Path(found)) if found else None


def ensure_nginx(cache_dir: Path = DEFAULT_CACHE_DIR) -> NginxBinary:
    """nginx from PATH if there is one, else the Debian package (fetched once into cache_dir)."""
    return find_nginx() or ensure_debian_nginx(cache_dir)


def ensure_debian_nginx(cache_dir: Path = DEFAULT_CACHE_DIR) -> NginxBinary:
    """The nginx binary of the Debian package, unpacked (without root) under cache_dir."""
    root = cache_dir / "root"
    cached = _unpacked(root)
    if cached is not None:
        return cached
    cache_dir.mkdir(parents=True, exist_ok=True)
    with _locked(cache_dir / ".lock"):
        cached = _unpacked(root)
        if cached is not None:
            return cached
        for tool in ("apt-get", "dpkg-deb", "dpkg-query"):
            if shutil.which(tool) is None:
                raise RuntimeError(f"nginx is not on PATH and there is no {tool} to fetch it")
        staging = Path(tempfile.mkdtemp(prefix=".fetch-", dir=cache_dir))
        try:
            _fetch_into(staging / "root", cache_dir)
            shutil.rmtree(root, ignore_errors=True)
            (staging / "root").rename(root)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    found = _unpacked(root)
    if found is None:
        raise RuntimeError(f"nginx unpacked under {root} does not run")
    return found


def render_config(template: str, values: Mapping[str, str]) -> str:
    """The template with every ${NAME} replaced; a name without a value is an error."""
    missing = sorted({name for name in PLACEHOLDER.findall(template) if name not in values})
    if missing:
        raise ValueError(f"no value for {', '.join(missing)}")
    return PLACEHOLDER.sub(lambda match: values[match.group(1)], template)


@dataclass
class LocalNginx:
    """One nginx caching the query API at upstream (host:port), listening on loopback.

    Its config, pid, logs, cache and temporary files all live in run_dir. Under root the
    workers run as `nobody`, which must reach run_dir: its parents are made traversable.
    """

    run_dir: Path
    port: int
    upstream: str
    status_port: int
    worker_processes: str = "2"
    cache_extra: str = ""
    """Directives added to the cached routes (a test shortens how long entries stay fresh)."""
    cache_dir: Path = DEFAULT_CACHE_DIR
    binary: NginxBinary | None = None
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def url(self) -> str:
        """The URL clients use."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def status_url(self) -> str:
        """stub_status: active connections and the requests being read and written."""
        return f"http://127.0.0.1:{self.status_port}/nginx_status"

    @property
    def access_log(self) -> Path:
        """One JSON object per request, with its cache status and upstream contact."""
        return self.run_dir / "logs" / "access.log"

    @property
    def error_log(self) -> Path:
        """nginx's error log."""
        return self.run_dir / "logs" / "error.log"

    @property
    def cache_path(self) -> Path:
        """Where cached answers are stored."""
        return self.run_dir / "cache"

    @property
    def config_path(self) -> Path:
        """The rendered nginx.conf."""
        return self.run_dir / "nginx.conf"

    def render(self) -> str:
        """This server's nginx.conf."""
        values = {
            "LISTEN": f"127.0.0.1:{self.port}",
            "STATUS_LISTEN": f"127.0.0.1:{self.status_port}",
            "UPSTREAM": self.upstream,
            "CACHE_PATH": str(self.cache_path),
            "RUN_DIR": str(self.run_dir / "run"),
            "ACCESS_LOG": str(self.access_log),
            "ERROR_LOG": str(self.error_log),
            "WORKER_PROCESSES": self.worker_processes,
            "CACHE_EXTRA": self.cache_extra,
        }
        config = render_config(TEMPLATE.read_text(), values)
        if os.geteuid() == 0:
            user = pwd.getpwnam("nobody")
            config = f"user {user.pw_name} {grp.getgrgid(user.pw_gid).gr_name};\n{config}"
        return config

    def start(self, timeout: float = 30.0) -> str:
        """Start nginx and return its URL once it answers."""
        binary = self.binary or ensure_nginx(self.cache_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.run_dir = self.run_dir.resolve()
        for sub in ("logs", "run"):
            (self.run_dir / sub).mkdir(exist_ok=True)
        if os.geteuid() == 0:
            traversable_parents(self.run_dir / "run")
            for folder in (self.run_dir, self.run_dir / "run"):
                folder.chmod(0o755)
        self.config_path.write_text(self.render())
        command = [str(binary.path), "-p", f"{self.run_dir}/", "-c", str(self.config_path)]
        command += ["-e", str(self.error_log), "-g", "daemon off;"]
        check = subprocess.run(
            [*command, "-t", "-q"], capture_output=True, text=True, env=binary.env(), timeout=30
        )
        if check.returncode != 0:
            raise RuntimeError(f"nginx rejects {self.config_path}:\n{check.stderr}")
        with (self.run_dir / "logs" / "console.log").open("wb") as out:
            # A session of its own: a terminal's Ctrl-C must not stop it before its clients.
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=binary.env(),
                cwd=self.run_dir,
                start_new_session=True,
            )
        self._wait_answering(timeout)
        return self.url

    def stop(self, timeout: float = 10.0) -> None:
        """Stop nginx (SIGTERM to its process group, then SIGKILL) and wait for it."""
        process, self._process = self._process, None
        if process is None:
            return
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)

    @property
    def pid(self) -> int | None:
        """The master process's id, while it runs."""
        return self._process.pid if self._process and self._process.poll() is None else None

    def _wait_answering(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=2.0) as client:
            while True:
                if self._process is None or self._process.poll() is not None:
                    code = self._process.returncode if self._process else None
                    self._process = None
                    raise RuntimeError(f"nginx exited with {code}:\n{self._log_tail()}")
                with suppress(httpx.TransportError):
                    if client.get(self.status_url).status_code == 200:
                        return
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"nginx did not answer within {timeout:.0f}s")
                time.sleep(0.05)

    def _log_tail(self, lines: int = 40) -> str:
        texts = []
        for log in (self.run_dir / "logs" / "console.log", self.error_log):
            with suppress(FileNotFoundError):
                texts.extend(log.read_text(errors="replace").splitlines()[-lines:])
        return "\n".join(texts) or "(no log)"


def _unpacked(root: Path) -> NginxBinary | None:
    """The nginx unpacked under root, if it is there and runs."""
    path = root / "usr" / "sbin" / "nginx"
    if not path.is_file():
        return None
    binary = NginxBinary(path, _library_dirs(root))
    try:
        binary.version()
    except (RuntimeError, OSError, subprocess.TimeoutExpired):
        return None
    return binary


def _library_dirs(root: Path) -> tuple[Path, ...]:
    folders = [root / "lib", root / "usr" / "lib"]
    folders += [path for folder in list(folders) for path in folder.glob("*-linux-gnu")]
    return tuple(path for path in folders if path.is_dir() and any(path.glob("*.so*")))


def _fetch_into(root: Path, cache_dir: Path) -> None:
    """Download and unpack the first package holding nginx, and any libraries it lacks."""
    downloads = root.parent / "debs"
    downloads.mkdir()
    for package in PACKAGES:
        deb = _download(package, downloads, cache_dir)
        _run(["dpkg-deb", "-x", str(deb), str(root)])
        if (root / "usr" / "sbin" / "nginx").is_file():
            break
    else:
        raise RuntimeError(f"none of {', '.join(PACKAGES)} holds usr/sbin/nginx")
    for library in _missing_libraries(deb):
        _run(["dpkg-deb", "-x", str(_download(library, downloads, cache_dir)), str(root)])


def _missing_libraries(deb: Path) -> list[str]:
    """The library packages deb depends on that this system has not installed."""
    depends = _run(["dpkg-deb", "-f", str(deb), "Depends"]).strip()
    names = [re.split(r"[\s(:]", choice.split("|")[0].strip())[0] for choice in depends.split(",")]
    libraries = [name for name in names if name.startswith(("lib", "zlib"))]
    query = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Package} ${db:Status-Status}\n", *libraries],
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT,
    )
    installed = {
        line.split()[0] for line in query.stdout.splitlines() if line.endswith(" installed")
    }
    return [name for name in libraries if name not in installed]


def _download(package: str, folder: Path, cache_dir: Path) -> Path:
    """`apt-get download` the package into folder, using a private copy of the package lists
    when the system's are missing (a fresh image before `apt-get update`)."""
    before = set(folder.glob("*.deb"))
    try:
        _run(["apt-get", "download", package], cwd=folder)
    except RuntimeError:
        options = _private_lists(cache_dir)
        _run(["apt-get", *options, "download", package], cwd=folder)
    [deb] = set(folder.glob("*.deb")) - before
    return deb


def _private_lists(cache_dir: Path) -> list[str]:
    """apt options pointing at package lists under cache_dir, refreshed by this user."""
    lists, apt_cache = cache_dir / "apt" / "lists", cache_dir / "apt" / "cache"
    (lists / "partial").mkdir(parents=True, exist_ok=True)
    (apt_cache / "archives" / "partial").mkdir(parents=True, exist_ok=True)
    options = ["-o", f"Dir::State::Lists={lists}", "-o", f"Dir::Cache={apt_cache}"]
    _run(["apt-get", *options, "-o", "Debug::NoLocking=1", "update"])
    return options


def _run(command: list[str], cwd: Path | None = None) -> str:
    result = subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, timeout=COMMAND_TIMEOUT
    )
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stderr.strip()}")
    return result.stdout


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
