"""Run an agent program in a run's sandbox, its tools one socket away.

The agent gets no network, no credentials and no host files beyond the manifest's
``filesystem`` paths and the ``inputs`` it is given. It does get two folders,
bound read-only: the socket's (``/run/enclosure``), where the router answers
JSON-RPC, and a standalone copy of ``enclosure.client`` (``/run/enclosure-lib``,
on ``PYTHONPATH``). Every tool call goes through ``Run.call``, so it is decided and
logged like any other; killing the run kills the agent.

The socket's folder is private: mode 0700, and owned by the sandbox's uid when
bubblewrap switches to one (we are root), so only the agent can connect.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Self

from enclosure.agent._rpc import Dispatcher
from enclosure.agent._server import RpcServer
from enclosure.errors import UsageError
from enclosure.sandbox import BwrapSandbox, Mount

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from enclosure._enclosure import Enclosure
    from enclosure._run import Run
    from enclosure.sandbox import LimitName
    from enclosure.types import RunStatus

__all__ = ["LIB_DIR", "SOCKET_DIR", "AgentResult", "AgentSession", "run_agent"]

SOCKET_DIR = "/run/enclosure"
"""Where the socket's folder appears inside the sandbox."""
LIB_DIR = "/run/enclosure-lib"
"""Where the standalone client package appears inside the sandbox."""
SOCKET_NAME = "agent.sock"


@dataclass(frozen=True, slots=True)
class AgentResult:
    """What the agent program did, and what became of its run."""

    run_id: str
    run_status: RunStatus
    """``killed`` (kill switch, signal, ``run.kill``), else ``running`` until the
    session closes; ``run_agent`` reports the final ``completed``."""
    exit_code: int
    """The program's status; 128+N when signal N ended it, -9 when we killed it."""
    limit: LimitName | None
    """The compute cap that stopped it (``killed`` when the run was killed)."""
    stdout: bytes
    stderr: bytes
    truncated: bool = False
    """Output went over ``compute.output`` and was cut."""
    killed_reason: str | None = None


class AgentSession:
    """One run with its socket and client folder; ``exec`` the agent inside.

    >>> with AgentSession(enc, task="triage") as session:   # doctest: +SKIP
    ...     result = session.exec(["python3", "/abs/agent.py"])
    """

    def __init__(
        self,
        enc: Enclosure,
        *,
        task: str,
        inputs: Sequence[Mount] = (),
        agent: str | None = None,
        model: str | None = None,
        started_by: str | None = None,
        max_connections: int = 16,
    ) -> None:
        """Prepare (``start`` or ``with`` opens the run, the sandbox and the socket).

        Args:
            enc: the enclosure whose manifest governs the run.
            task: what the run is for (logged).
            inputs: more host paths to bind read-only (``--input``).
            agent: the agent's name; default the manifest's.
            model: the model the agent uses (logged).
            started_by: who started it (logged; used for separation of duties).
            max_connections: sockets the agent may hold open at once.
        """
        self.enc = enc
        self.task = task
        self.inputs = tuple(inputs)
        self.agent = agent
        self.model = model
        self.started_by = started_by
        self.max_connections = max_connections
        self._run: Run | None = None
        self._server: RpcServer | None = None
        self._dir: Path | None = None
        self.env: dict[str, str] = {}
        """What the agent's environment gets on top of the manifest's."""

    @property
    def run(self) -> Run:
        """The run (once started)."""
        if self._run is None:
            msg = "the agent session has not been started"
            raise UsageError(msg, code="E-USAGE")
        return self._run

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> Self:
        """Start the run, open its sandbox and serve the socket.

        Raises:
            SandboxUnavailable: no working sandbox, or the socket cannot be
                opened (``E-AGENT-SOCKET``); the run is ended, nothing runs.
            AuditUnavailable: the run cannot be recorded.
            UsageError: a ``filesystem`` path is unusable.
        """
        self._run = self.enc.start_run(
            self.task, agent=self.agent, model=self.model, started_by=self.started_by
        )
        try:
            self._open(self._run)
        except BaseException:
            self.close()
            raise
        return self

    def _open(self, run: Run) -> None:
        self._dir = Path(tempfile.mkdtemp(prefix="enclosure-agent-"))
        sock_dir, lib_dir = self._dir / "socket", self._dir / "lib"
        sock_dir.mkdir(mode=0o700)
        _write_client(lib_dir)
        self._dir.chmod(0o711)  # the sandbox's uid passes through, lists nothing
        mounts = [*self.inputs, Mount(sock_dir, SOCKET_DIR), Mount(lib_dir, LIB_DIR)]
        sandbox = run.workspace.sandbox(extra=mounts)
        owner = sandbox.uid if isinstance(sandbox, BwrapSandbox) else None
        if owner is not None:
            os.chown(sock_dir, owner, owner)
        if sandbox.name == "none":  # no mounts: the program sees host paths
            socket_path, lib_path = str(sock_dir / SOCKET_NAME), str(lib_dir)
        else:
            socket_path, lib_path = f"{SOCKET_DIR}/{SOCKET_NAME}", LIB_DIR
        dispatcher = Dispatcher(self.enc, run, socket=socket_path)
        self._server = RpcServer(
            dispatcher.handle,
            sock_dir / SOCKET_NAME,
            owner=owner,
            max_connections=self.max_connections,
        ).start()
        self.env = {
            "ENCLOSURE_SOCKET": socket_path,
            "ENCLOSURE_RUN_ID": run.id,
            "PYTHONPATH": lib_path,
        }

    def exec(
        self,
        cmd: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
    ) -> AgentResult:
        """Run the agent program to its end (or its run's).

        Args:
            cmd: the program's argv; paths as the sandbox sees them.
            env: more variables for it (the session's own win).
            cwd: its working directory inside the sandbox.

        Raises:
            UsageError: ``cmd`` is empty (``E-USAGE-ARG``).
            RunKilled: the run was killed before the program started.
            SandboxUnavailable: the sandbox cannot run it.
        """
        if not cmd:
            raise UsageError("an agent command is needed", code="E-USAGE-ARG")
        run = self.run
        result = run.workspace.exec(list(cmd), env={**(env or {}), **self.env}, cwd=cwd)
        return AgentResult(
            run_id=run.id,
            run_status=run.status,
            exit_code=result.exit_code,
            limit=result.limit,
            stdout=result.stdout,
            stderr=result.stderr,
            truncated=result.stdout_truncated or result.stderr_truncated,
            killed_reason=run.state.killed,
        )

    def close(self) -> None:
        """Stop the socket, end the run (a killed run stays killed), clean up."""
        if self._server is not None:
            self._server.stop()
            self._server = None
        if self._run is not None:
            self._run.end()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None


def run_agent(
    enc: Enclosure,
    cmd: Sequence[str],
    *,
    task: str | None = None,
    inputs: Sequence[Mount] = (),
    env: Mapping[str, str] | None = None,
    on_start: Callable[[Run], object] | None = None,
) -> AgentResult:
    """Run ``cmd`` as an agent under ``enc``'s manifest and end its run.

    Args:
        enc: the enclosure.
        cmd: the agent program's argv, paths as the sandbox sees them.
        task: what the run is for; default the command line.
        inputs: more host paths to bind read-only.
        env: more environment variables for the program.
        on_start: called with the run before the program starts (register kill
            hooks, remember the run id).

    Raises:
        SandboxUnavailable: no working sandbox; nothing ran.
        UsageError: ``cmd`` is empty, or a ``filesystem`` path is unusable.
    """
    if not cmd:
        raise UsageError("an agent command is needed", code="E-USAGE-ARG")
    task = task or f"run: {' '.join(cmd)[:200]}"
    with AgentSession(enc, task=task, inputs=inputs) as session:
        if on_start is not None:
            on_start(session.run)
        result = session.exec(cmd, env=env)
    return replace(result, run_status=session.run.status)


def _write_client(folder: Path) -> None:
    """A standalone ``enclosure`` package holding only the client module."""
    package = folder / "enclosure"
    package.mkdir(parents=True)
    source = resources.files("enclosure").joinpath("client.py").read_text("utf-8")
    (package / "__init__.py").write_text(
        '"""The enclosure client, standalone inside the sandbox."""\n',
        encoding="utf-8",
    )
    (package / "client.py").write_text(source, encoding="utf-8")
    for path in (folder, package):
        path.chmod(0o755)
    for path in package.iterdir():
        with contextlib.suppress(OSError):
            path.chmod(0o644)
