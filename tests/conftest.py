"""Suite-wide pytest configuration.

Tests marked ``slow`` run only with --runslow; tests marked ``sandbox`` skip
themselves (with the reason) where bubblewrap or user namespaces are missing.
``hook_servers`` starts real Claude Code hook decision servers and stops them after.
``receiver`` is a real HTTP server on loopback for webhooks and OTLP/HTTP.
``postgres`` is a throwaway PostgreSQL cluster on a Unix socket, one per session;
``db_url`` is a fresh, empty database on SQLite and on PostgreSQL in turn.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
import pwd
import select
import shutil
import signal
import subprocess
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator


@functools.cache
def sandbox_problem() -> str | None:
    """Why no bubblewrap sandbox can run here, or None when one can."""
    from enclosure.errors import SandboxUnavailable  # noqa: PLC0415
    from enclosure.manifest import ComputeSpec  # noqa: PLC0415
    from enclosure.sandbox import BwrapSandbox, SandboxSpec  # noqa: PLC0415

    try:
        BwrapSandbox(SandboxSpec(ComputeSpec())).cleanup()
    except SandboxUnavailable as exc:
        return exc.message
    return None


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--runslow",
        action="store_true",
        default=False,
        help="also run the tests marked slow",
    )


def pytest_collection_modifyitems(
    config: pytest.Config, items: list[pytest.Item]
) -> None:
    runslow = config.getoption("--runslow")
    skip_slow = pytest.mark.skip(reason="slow: run with --runslow")
    for item in items:
        if not runslow and item.get_closest_marker("slow") is not None:
            item.add_marker(skip_slow)
        if item.get_closest_marker("sandbox") is not None and (
            problem := sandbox_problem()
        ):
            if os.environ.get("ENCLOSURE_REQUIRE_SANDBOX") == "1":
                # scripts/test sets this: a CI machine without a sandbox must fail,
                # not pass by skipping every boundary test.
                pytest.fail(f"ENCLOSURE_REQUIRE_SANDBOX=1 but: {problem}")
            item.add_marker(pytest.mark.skip(reason=f"no sandbox here: {problem}"))


def wait_for_exit(pid: int, timeout: float = 30.0) -> bool:
    """Wait on the process's pidfd, without polling; ``True`` once it has exited.

    A child of this process (a server ``spawn_server`` started) is reaped.
    """
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        if not poller.poll(timeout * 1000):
            return False
    finally:
        os.close(fd)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)
    return True


class HookServers:
    """Claude Code hook decision servers of the homes a test uses."""

    exited = staticmethod(wait_for_exit)

    def __init__(self) -> None:
        self.homes: list[Path] = []

    def watch(self, home: Path) -> Path:
        """Stop any server of ``home`` when the test ends."""
        self.homes.append(home)
        return home

    def start(self, home: Path, manifest: Path | None = None) -> int:
        """A listening server for ``home``; its pid."""
        from enclosure.integrations._hook_client import spawn_server  # noqa: PLC0415

        home.mkdir(parents=True, exist_ok=True)
        self.watch(home)
        assert spawn_server(str(home), str(manifest) if manifest else None, wait=True)
        (pid,) = self.pids(home)
        return pid

    @staticmethod
    def pids(home: Path) -> list[int]:
        """The live (not zombie) server processes of ``home``."""
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if (
                b"enclosure.integrations._hookd" in argv
                and os.fsencode(home) in argv
                and state != "Z"
            ):
                found.append(int(entry.name))
        return found

    def stop_all(self) -> None:
        for home in self.homes:
            for pid in self.pids(home):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
                assert wait_for_exit(pid), f"the decision server {pid} did not exit"


@pytest.fixture
def hook_servers() -> Iterator[HookServers]:
    """Start and watch hook decision servers; all are stopped after the test."""
    servers = HookServers()
    yield servers
    servers.stop_all()


class Received(NamedTuple):
    path: str
    headers: dict[str, str]
    body: bytes


class Receiver:
    """A real HTTP server on loopback that records every POST it is sent."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self._cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                with receiver._cond:
                    receiver.requests.append(
                        Received(self.path, dict(self.headers.items()), body)
                    )
                    receiver._cond.notify_all()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def wait_for(self, count: int, path: str | None = None) -> list[Received]:
        """Wait (at most 5 s) until ``count`` requests (to ``path``) arrived."""

        def matching() -> list[Received]:
            return [r for r in self.requests if path is None or r.path == path]

        with self._cond:
            assert self._cond.wait_for(lambda: len(matching()) >= count, 5.0), (
                f"only {len(matching())} of {count} requests arrived"
            )
            return matching()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A loopback HTTP receiver (webhooks, OTLP/HTTP); ``receiver.url``."""
    server = Receiver()
    yield server
    server.close()


# --- PostgreSQL -------------------------------------------------------------------


@functools.cache
def postgres_bin() -> Path | None:
    """The folder of Debian's initdb and pg_ctl (the newest major), if installed."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    return found[-1].parent if found else None


class Postgres:
    """A throwaway cluster on a Unix socket in a temporary folder (trust auth).

    initdb refuses root, so as root the cluster runs as the ``postgres`` user.
    """

    def __init__(self, bin_dir: Path) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="enclosure-pg-"))
        self._bin = bin_dir
        self._user: str | None = None
        if os.geteuid() == 0:
            self._user = "postgres"
            entry = pwd.getpwnam(self._user)
            os.chown(self.folder, entry.pw_uid, entry.pw_gid)
        self.data = self.folder / "data"
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres",
                  "--locale=C.UTF-8", "-E", "UTF8")  # fmt: skip
        options = f"-k {self.folder} -c listen_addresses= -c fsync=off"
        log = str(self.folder / "server.log")  # not a pipe: the server outlives pg_ctl
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", log, "-w", "-s",
                  "start")  # fmt: skip
        self._schemas = itertools.count(1)

    def _run(self, tool: str, *args: str) -> None:
        argv = [str(self._bin / tool), *args]
        if self._user is not None:
            argv = ["runuser", "-u", self._user, "--", *argv]
        subprocess.run(
            argv,
            check=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=self.folder,
            timeout=60,
        )

    def url(self, schema: str | None = None) -> str:
        """A psycopg URL for the cluster, in ``schema`` when given."""
        url = f"postgresql+psycopg://postgres@/postgres?host={self.folder}"
        return url if schema is None else f"{url}&options=-csearch_path%3D{schema}"

    def fresh_url(self) -> str:
        """A URL whose ``search_path`` is a new, empty schema: a clean database."""
        import sqlalchemy as sa  # noqa: PLC0415

        schema = f"t{os.getpid()}_{next(self._schemas)}"
        engine = sa.create_engine(self.url())
        with engine.begin() as conn:
            conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
        engine.dispose()
        return self.url(schema)

    def stop(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-s", "stop")
        shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """The session's PostgreSQL cluster; skips when PostgreSQL is not installed."""
    bin_dir = postgres_bin()
    if bin_dir is None:
        if os.geteuid() == 0:
            pytest.fail("PostgreSQL is missing; scripts/test installs it as root")
        pytest.skip("PostgreSQL is not installed (sudo apt-get install postgresql)")
    cluster = Postgres(bin_dir)
    yield cluster
    cluster.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database: a SQLite file, then a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'enclosure.db'}"
    cluster: Postgres = request.getfixturevalue("postgres")
    return cluster.fresh_url()
