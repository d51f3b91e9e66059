"""The conformance checks, run against every backend, each with its known failures.

Each backend gets one test per check. A check a backend is known to fail is
listed below with the reason: bugs as strict xfails (fixing the bug turns the
xfail into a failure, so the entry gets removed), the ``none`` backend's missing
isolation as an explicit test that each isolation check does fail for it.
"""

from __future__ import annotations

import functools
import os

import anyio
import pytest

from enclosure.errors import SandboxUnavailable
from enclosure.manifest import ComputeSpec
from enclosure.sandbox import BwrapSandbox, ExecResult, Sandbox, SandboxSpec
from enclosure.sandbox import self_check as sc
from enclosure.sandbox._direct import DirectRunner

NAMES = [c.__name__ for c in (*sc.CHECKS, *sc.ISOLATION_CHECKS)]

# Known bugs: check name -> (reason, the backends it fails on). Each becomes a
# strict xfail, so fixing the bug fails the test until its entry is removed. (The
# first run found three, since fixed: dash's "Directory nonexistent" mapped to
# OSError, DirectRunner ignoring SandboxSpec.cwd, and reporting signal N as -N.)
BUGS: dict[str, tuple[str, frozenset[type[Sandbox]]]] = {}

# Why the `none` backend fails each isolation check: by design, it isolates nothing.
DIRECT_NOT_ISOLATED = {
    "network_is_cut_off": "it shares the host's network namespace",
    "root_is_read_only": "it sees the host's root filesystem as it is mounted",
    "host_files_outside_mounts_are_hidden": "it mounts nothing; every host file shows",
    "host_processes_are_hidden": "it shares the host's pid namespace",
}


class FreshBwrap(BwrapSandbox):
    """bubblewrap without spare launchers: each command moved into its group."""

    name = "bubblewrap-fresh"

    def __init__(self, spec: SandboxSpec) -> None:
        super().__init__(spec, spares=False)


@functools.cache
def bwrap_problem() -> str | None:
    """Why bubblewrap cannot run here (not installed, no user namespaces), or None."""
    try:
        BwrapSandbox(SandboxSpec(ComputeSpec())).cleanup()
    except SandboxUnavailable as exc:
        return str(exc)
    return None


def run_check(backend: sc.MakeSandbox, check: sc.Check) -> bool | str:
    results = anyio.run(functools.partial(sc.self_check, backend, checks=[check]))
    return results[check.__name__]


def cases(backend: type[Sandbox], checks: tuple[sc.Check, ...]) -> list[object]:
    params: list[object] = []
    for check in checks:
        marks: list[pytest.MarkDecorator] = []
        if issubclass(backend, BwrapSandbox):
            marks.append(pytest.mark.sandbox)
        bug = BUGS.get(check.__name__)
        if bug is not None and backend in bug[1]:
            marks.append(pytest.mark.xfail(strict=True, reason=bug[0]))
        if (
            backend is DirectRunner
            and check is sc.write_to_a_read_only_mount_raises_permission_error
        ):
            # Run as root, the `none` backend writes wherever root may: it has no
            # mounts, so a read-only mount is only as read-only as its file modes.
            marks.append(
                pytest.mark.xfail(
                    os.geteuid() == 0,
                    strict=True,
                    reason="`none` cannot make a path read-only for root",
                )
            )
        params.append(
            pytest.param(
                backend, check, id=f"{backend.name}-{check.__name__}", marks=marks
            )
        )
    return params


@pytest.mark.parametrize(
    ("backend", "check"),
    [
        *cases(BwrapSandbox, (*sc.CHECKS, *sc.ISOLATION_CHECKS)),
        *cases(FreshBwrap, (*sc.CHECKS, *sc.ISOLATION_CHECKS)),
        *cases(DirectRunner, sc.CHECKS),
    ],
)
def test_backend_passes_the_check(backend, check):
    if issubclass(backend, BwrapSandbox) and (problem := bwrap_problem()):
        pytest.skip(problem)
    result = run_check(backend, check)
    assert result is True, result


@pytest.mark.parametrize("check", sc.ISOLATION_CHECKS, ids=lambda c: c.__name__)
def test_the_none_backend_fails_every_isolation_check(check):
    assert check.__name__ in DIRECT_NOT_ISOLATED
    result = run_check(DirectRunner, check)
    assert isinstance(result, str)
    assert result.startswith("failed: "), result


def test_every_known_failure_names_a_real_check():
    assert set(DIRECT_NOT_ISOLATED) == {c.__name__ for c in sc.ISOLATION_CHECKS}
    assert set(BUGS) <= set(NAMES)


def test_check_names_are_unique_and_the_lists_disjoint():
    assert len(NAMES) == len(set(NAMES))


# --- the runner itself, against a backend that only ever answers "exit 0" ------------


class Canned(Sandbox):
    """Every command "succeeds" at once with no output."""

    name = "canned"

    def __init__(self, spec: SandboxSpec) -> None:
        self.spec = spec

    def exec_sync(self, cmd, *, input=None, cwd=None, env=None, timeout=None):  # noqa: A002 -- the interface's name
        return ExecResult(tuple(cmd), 0, b"", b"", 0.0)

    def kill(self):
        pass


def test_self_check_runs_every_check_by_default_and_reports_each_by_name():
    results = anyio.run(sc.self_check, Canned)
    assert list(results) == [c.__name__ for c in sc.CHECKS]
    failed = {n for n, r in results.items() if r is not True}
    assert all(str(results[n]).startswith("failed: ") for n in failed)
    assert "read_of_a_missing_file_raises_file_not_found" in failed
    assert "unicode_arguments_pass_through" in failed


def test_a_crashing_check_is_reported_as_an_error_not_raised():
    async def crashes(h: sc.Harness) -> None:
        raise RuntimeError("boom")

    assert run_check(Canned, crashes) == "error: RuntimeError('boom')"


def test_a_failure_inside_a_task_group_is_reported_as_a_failure():
    async def fails_in_a_task(h: sc.Harness) -> None:
        async def task() -> None:
            raise sc.CheckFailed("inner")

        async with anyio.create_task_group() as tg:
            tg.start_soon(task)

    assert run_check(Canned, fails_in_a_task) == "failed: inner"


def test_a_check_that_never_answers_fails_at_the_time_limit(monkeypatch):
    monkeypatch.setattr(sc, "CHECK_SECONDS", 0)

    async def hangs(h: sc.Harness) -> None:
        await anyio.sleep_forever()

    assert run_check(Canned, hangs) == "failed: no answer within 0 s"


def test_the_host_folders_are_removed_after_each_check():
    seen = []

    async def remember(h: sc.Harness) -> None:
        seen.append(h.root)
        assert h.ro.is_dir()
        assert h.rw.is_dir()

    assert run_check(Canned, remember) is True
    assert not seen[0].exists()
