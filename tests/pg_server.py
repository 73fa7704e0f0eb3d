"""A throwaway PostgreSQL server for the tests: initdb in a temporary folder, started on a free loopback port
with its socket in that folder, trust authentication, stopped and removed at teardown.

The Debian package puts the server binaries in /usr/lib/postgresql/<version>/bin (not on PATH); they are found
there or on PATH. PostgreSQL refuses to run as root, so under root the data folder belongs to the `postgres`
system user (made by the package) and the server runs as that user through `runuser`. Where the binaries (or
the psycopg driver) are absent the tests that need the server skip and say why; under CI=true, where
`scripts/setup.sh dev` installs them, their absence fails the run.

    from pg_server import postgres_url   # a session-scoped fixture yielding a SQLAlchemy URL
"""
from __future__ import annotations

import atexit
import glob
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

START_TIMEOUT = 60  # seconds pg_ctl waits for the server to accept connections
RUN_AS = "postgres"  # the system user of the Debian package, used when the tests run as root
DATABASE = "vitrina"
# A throwaway server: durability buys nothing, and fsync on every commit would dominate the test time.
SERVER_OPTIONS = ("-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c shared_buffers=32MB "
                  "-c max_connections=40")


def _version(path: str) -> tuple[int, ...]:
    m = re.search(r"/postgresql/([\d.]+)/bin", path)
    return tuple(int(x) for x in m.group(1).split(".")) if m else (0,)


def find_bin_dir() -> Path | None:
    """The folder holding initdb and pg_ctl: the newest /usr/lib/postgresql/<ver>/bin, else PATH."""
    found = sorted((p for p in glob.glob("/usr/lib/postgresql/*/bin") if os.access(f"{p}/pg_ctl", os.X_OK)
                    and os.access(f"{p}/initdb", os.X_OK)), key=_version)
    if found:
        return Path(found[-1])
    on_path = shutil.which("pg_ctl")
    if on_path and shutil.which("initdb"):
        return Path(on_path).resolve().parent
    return None


def _unavailable(msg: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(msg + " — required under CI (scripts/setup.sh dev installs it)", pytrace=False)
    pytest.skip(msg)


def require_postgres() -> Path:
    """The server's bin folder, or skip (fail under CI) with the reason it cannot be used."""
    bin_dir = find_bin_dir()
    if bin_dir is None:
        _unavailable("PostgreSQL server binaries (initdb, pg_ctl) not found in /usr/lib/postgresql/*/bin or on "
                     "PATH: apt-get install postgresql")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        _unavailable("the psycopg driver is not installed: pip install 'psycopg[binary]' (requirements.txt)")
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(RUN_AS)
        except KeyError:
            _unavailable(f"running as root, PostgreSQL needs an unprivileged user to run as, and there is no "
                         f"{RUN_AS!r} user (the postgresql package creates it)")
        if shutil.which("runuser") is None:
            _unavailable("running as root, PostgreSQL must run as another user, and runuser is not installed")
    return bin_dir


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _utf8_locale() -> str:
    """A UTF-8 locale for initdb, so lower() / ILIKE fold non-ASCII letters (C folds ASCII only)."""
    try:
        names = subprocess.run(["locale", "-a"], capture_output=True, text=True, timeout=10).stdout.split()
    except (OSError, subprocess.SubprocessError):
        names = []
    for want in ("C.utf8", "C.UTF-8", "en_US.utf8", "en_US.UTF-8"):
        if want in names:
            return want
    return next((n for n in names if n.lower().endswith((".utf8", ".utf-8"))), "C")


class PostgresServer:
    """One PostgreSQL cluster in a temporary folder. `start()` returns self; `url(db)` a SQLAlchemy URL."""

    def __init__(self, bin_dir: Path):
        self.bin_dir = bin_dir
        self.as_root = os.geteuid() == 0
        self.base: Path | None = None
        self.port: int | None = None
        self.locale = "C"
        self.running = False

    # ---- commands ----------------------------------------------------------------------------------
    def _run(self, tool: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        cmd = [str(self.bin_dir / tool), *args]
        if self.as_root:
            cmd = ["runuser", "-u", RUN_AS, "--", *cmd]
        # cwd: the server user may not be allowed into the caller's folder (pg_ctl warns and fails).
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=self.base)

    def _check(self, proc: subprocess.CompletedProcess, what: str) -> None:
        if proc.returncode != 0:
            log = ""
            if self.base is not None and (self.base / "server.log").exists():
                log = (self.base / "server.log").read_text(errors="replace")[-3000:]
            raise RuntimeError(f"{what} failed (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}\n{log}")

    # ---- lifecycle ---------------------------------------------------------------------------------
    def start(self) -> "PostgresServer":
        # mkdtemp in the system temp folder (world-traversable), not under pytest's 0700 tmp tree, which
        # the server user could not enter.
        self.base = Path(tempfile.mkdtemp(prefix="vitrina-pg-"))
        self.locale = _utf8_locale()
        if self.as_root:
            u = pwd.getpwnam(RUN_AS)
            os.chown(self.base, u.pw_uid, u.pw_gid)
        os.chmod(self.base, 0o700)
        atexit.register(self.stop)  # also when the session dies before the fixture's teardown
        data = self.base / "data"
        self._check(self._run("initdb", "-D", str(data), "-U", "postgres", "--auth=trust", "--encoding=UTF8",
                              f"--locale={self.locale}", "--no-sync", "--no-instructions"), "initdb")
        last: Exception | None = None
        for _ in range(3):  # the free port may be taken between the probe and the bind: try another
            self.port = free_port()
            opts = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.base} {SERVER_OPTIONS}"
            proc = self._run("pg_ctl", "-D", str(data), "-l", str(self.base / "server.log"), "-w",
                             "-t", str(START_TIMEOUT), "-o", opts, "start", timeout=START_TIMEOUT + 30)
            if proc.returncode == 0:
                self.running = True
                break
            try:
                self._check(proc, "pg_ctl start")
            except RuntimeError as e:
                last = e
        if not self.running:
            raise last or RuntimeError("pg_ctl start failed")
        self.create_database(DATABASE)
        return self

    def url(self, database: str = DATABASE) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """A new empty database on this server; returns its URL."""
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
            raise ValueError(f"database name {name!r}: lower-case letters, digits and _ only")
        import psycopg

        deadline = time.monotonic() + 30
        while True:
            try:
                with psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres",
                                     autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f"CREATE DATABASE {name}")
                return self.url(name)
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def stop(self) -> None:
        if self.base is None:
            return
        if self.running:
            self._run("pg_ctl", "-D", str(self.base / "data"), "-m", "immediate", "-w", "stop", timeout=60)
            self.running = False
        shutil.rmtree(self.base, ignore_errors=True)
        self.base = None


@pytest.fixture(scope="session")
def postgres_server():
    """A running throwaway server for the whole session (skips where PostgreSQL is not installed)."""
    server = PostgresServer(require_postgres()).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres_url(postgres_server) -> str:
    """SQLAlchemy URL of an empty database on the session's server."""
    return postgres_server.url()
