"""A local OpenSearch node from the integ-test zip on Maven Central, listening on loopback."""

from __future__ import annotations

import fcntl
import hashlib
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from infra.local.wheels import traversable_parents

DEFAULT_VERSION = "2.19.6"
DEFAULT_CACHE_DIR = Path.home() / ".cache" / "marketplace" / "opensearch"
MAVEN_URL = "https://repo1.maven.org/maven2/org/opensearch/distribution/integ-test-zip/opensearch"
SERVICE_USER = "marketplace-os"
CHECKSUMS = (("sha512", hashlib.sha512), ("sha1", hashlib.sha1))


def find_java_home() -> Path | None:
    """The home of the java found on PATH (its realpath, two levels up), if any."""
    java = shutil.which("java")
    return Path(java).resolve().parent.parent if java else None


def ensure_distribution(
    version: str = DEFAULT_VERSION, cache_dir: Path = DEFAULT_CACHE_DIR
) -> Path:
    """Download, verify and unpack the integ-test zip once; return its home folder."""
    folder = cache_dir / version
    home = folder / f"opensearch-{version}"
    if home.is_dir():
        return home
    folder.mkdir(parents=True, exist_ok=True)
    with _locked(folder / ".lock"):
        if home.is_dir():
            return home
        archive = folder / f"opensearch-{version}.zip"
        if not archive.exists():
            _download(f"{MAVEN_URL}/{version}/opensearch-{version}.zip", archive)
        staging = Path(tempfile.mkdtemp(prefix=".unpack-", dir=folder))
        try:
            _unzip(archive, staging)
            (staging / f"opensearch-{version}").rename(home)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return home


@dataclass
class LocalOpenSearch:
    """Runs one single-node OpenSearch cluster with its config, data and logs under data_dir.

    OpenSearch refuses to run as root, so under root it runs as a dedicated system user
    from a hard-linked view of the cached install inside data_dir: the cache's parents
    (such as /root) stay closed to other users.
    """

    data_dir: Path
    port: int
    heap: str = "256m"
    version: str = DEFAULT_VERSION
    cache_dir: Path = DEFAULT_CACHE_DIR
    java_home: Path | None = None
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def url(self) -> str:
        """The node's HTTP URL."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def console_log(self) -> Path:
        """The node's stdout and stderr (its log also goes to logs/ under data_dir)."""
        return self.data_dir / "console.log"

    def start(self, timeout: float = 120.0) -> str:
        """Start the node and return its URL once the cluster is yellow or green."""
        java_home = self.java_home or find_java_home()
        if java_home is None:
            raise RuntimeError("OpenSearch needs Java 11+; no java found on PATH")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir = self.data_dir.resolve()
        home = ensure_distribution(self.version, self.cache_dir)
        user = _service_user()
        if user is not None:
            home = _linked_view(home, self.data_dir / home.name)
        config = self._write_config(home)
        for sub in ("data", "logs", "tmp"):
            (self.data_dir / sub).mkdir(exist_ok=True)
        if user is not None:
            self._own(user)
        env = {
            **os.environ,
            "JAVA_HOME": str(java_home),
            "OPENSEARCH_JAVA_HOME": str(java_home),
            "OPENSEARCH_PATH_CONF": str(config),
            "OPENSEARCH_JAVA_OPTS": f"-Xms{self.heap} -Xmx{self.heap}",
            "OPENSEARCH_TMPDIR": str(self.data_dir / "tmp"),
            "HOME": str(self.data_dir),
        }
        with self.console_log.open("wb") as out:
            # A session of its own: a terminal's Ctrl-C must not stop it before its clients.
            self._process = subprocess.Popen(
                [str(home / "bin" / "opensearch")],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=self.data_dir,
                user=user.pw_uid if user else None,
                group=user.pw_gid if user else None,
                extra_groups=[] if user else None,
                start_new_session=True,
            )
        self._wait_healthy(timeout)
        return self.url

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the node (SIGTERM, then SIGKILL after timeout) and wait for it to exit."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    @property
    def pid(self) -> int | None:
        """The node's process id, while it runs."""
        return self._process.pid if self._process and self._process.poll() is None else None

    def _write_config(self, home: Path) -> Path:
        config = self.data_dir / "config"
        shutil.rmtree(config, ignore_errors=True)
        shutil.copytree(home / "config", config)
        settings = {
            "cluster.name": "marketplace-local",
            "node.name": "local",
            "discovery.type": "single-node",
            "network.host": "127.0.0.1",
            "http.port": str(self.port),
            "transport.port": "0",
            "path.data": str(self.data_dir / "data"),
            "path.logs": str(self.data_dir / "logs"),
            "bootstrap.memory_lock": "false",
            "cluster.routing.allocation.disk.threshold_enabled": "false",
        }
        lines = [f'{key}: "{value}"' for key, value in settings.items()]
        (config / "opensearch.yml").write_text("\n".join(lines) + "\n")
        # The launcher runs from the (shared, read-only) install: keep GC logs and dumps here.
        options = config / "jvm.options"
        logs = self.data_dir / "logs"
        text = re.sub(r"(?<=[=:])logs/", f"{logs}/", options.read_text())
        options.write_text(text.replace("HeapDumpPath=data", f"HeapDumpPath={logs}"))
        return config

    def _wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with httpx.Client(base_url=self.url, timeout=5.0) as client:
            while True:
                if self._process is None or self._process.poll() is not None:
                    code = self._process.returncode if self._process else None
                    self._process = None
                    raise RuntimeError(f"OpenSearch exited with {code}:\n{self._log_tail()}")
                try:
                    health = client.get("/_cluster/health").json()
                    if health.get("status") in ("yellow", "green"):
                        return
                except (httpx.TransportError, ValueError):
                    pass
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(
                        f"OpenSearch was not healthy within {timeout:.0f}s:\n{self._log_tail()}"
                    )
                time.sleep(0.25)

    def _log_tail(self, lines: int = 40) -> str:
        try:
            text = self.console_log.read_text(errors="replace")
        except FileNotFoundError:
            return "(no console log)"
        return "\n".join(text.splitlines()[-lines:])

    def _own(self, user: pwd.struct_passwd) -> None:
        traversable_parents(self.data_dir / "config")
        os.chown(self.data_dir, user.pw_uid, user.pw_gid)
        for sub in ("config", "data", "logs", "tmp"):
            root = self.data_dir / sub
            for path in [root, *root.rglob("*")]:
                os.lchown(path, user.pw_uid, user.pw_gid)


def _service_user() -> pwd.struct_passwd | None:
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(SERVICE_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", SERVICE_USER], check=True)
        return pwd.getpwnam(SERVICE_USER)


def _linked_view(home: Path, view: Path) -> Path:
    """A copy of the install made of hard links (plain copies across file systems)."""
    _readable_by_all(home)
    if not view.is_dir():
        staging = view.with_name(view.name + ".part")
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(home, staging, symlinks=True, copy_function=_link_or_copy)
        staging.rename(view)
    return view


def _readable_by_all(root: Path) -> None:
    """Make a tree readable (and its programs runnable) by all, leaving its parents alone."""
    for path in [root, *root.rglob("*")]:
        mode = path.stat().st_mode
        wanted = 0o555 if path.is_dir() or mode & 0o100 else 0o444
        if mode & wanted != wanted:
            path.chmod(mode | wanted)


def _link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _download(url: str, target: Path) -> None:
    """Fetch url into target, verified against the strongest checksum published beside it."""
    with httpx.Client(timeout=60.0, follow_redirects=True) as client:
        name, expected, digest = "", "", None
        for name, factory in CHECKSUMS:
            response = client.get(f"{url}.{name}")
            if response.status_code == 200:
                expected, digest = response.text.split()[0].lower(), factory()
                break
        if digest is None:
            raise RuntimeError(f"no .sha512 or .sha1 published for {url}")
        partial = target.with_name(target.name + ".part")
        with client.stream("GET", url) as response, partial.open("wb") as out:
            response.raise_for_status()
            for chunk in response.iter_bytes(1 << 20):
                digest.update(chunk)
                out.write(chunk)
    if digest.hexdigest() != expected:
        partial.unlink()
        raise RuntimeError(f"{name} mismatch for {url}: got {digest.hexdigest()}, want {expected}")
    partial.rename(target)


def _unzip(archive: Path, target: Path) -> None:
    """Extract archive, keeping the Unix permission bits (zipfile drops them)."""
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            path = Path(zf.extract(info, target))
            mode = (info.external_attr >> 16) & 0o777
            if mode:
                path.chmod(mode)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
