"""The ``none`` backend: commands run on the host, unisolated, with caps only.

Chosen only when a manifest says ``compute.backend: none`` in so many words, and
every run that uses it logs a warning event. It still clears the environment,
applies the rlimits and cgroup caps, and enforces wall time and output size; it
does not hide files, the network or other processes.
"""

from __future__ import annotations

import contextlib
import subprocess
from typing import TYPE_CHECKING

from enclosure.errors import SandboxUnavailable
from enclosure.sandbox._process import Active, ProcessSandbox

if TYPE_CHECKING:
    from enclosure.sandbox._base import StartHook

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

__all__ = ["DirectRunner"]


class DirectRunner(ProcessSandbox):
    """Runs commands directly on the host (no isolation; caps still apply)."""

    name = "none"

    def _start(
        self,
        cmd: Sequence[str],
        *,
        cwd: str | None,
        env: Mapping[str, str] | None,
        stdin: bytes | None,
        on_start: StartHook | None = None,
    ) -> Active:
        del on_start  # no namespaces: the host's network, as documented
        argv = [*self._rlimits(), *cmd]
        group = self._acquire_group()
        before = group.counters() if group is not None else None
        kills = self._kill_count()
        try:
            proc = subprocess.Popen(  # noqa: S603 -- argv, never a shell
                argv,
                stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
                cwd=cwd or self.spec.cwd,
                env={**self.spec.env, **(env or {})},
            )
        except OSError as exc:
            self._release_group(group)
            msg = f"cannot start {cmd[0]!r}: {exc}"
            raise SandboxUnavailable(msg) from None
        # Registered before anything else: the program already runs, and a
        # kill() from now on must find it (a cgroup move can take milliseconds).
        active = Active(proc, group, before)
        self._register(active, kills_before=kills)
        if group is not None:
            # On failure the caps fall back to the rlimits already in force.
            with contextlib.suppress(OSError):
                group.add(proc.pid)
        self._mark_started(active)
        return active
