"""Wall time of one sandboxed command: bare bubblewrap, the Python API, the CLI.

Run: ``.venv/bin/python benchmarks/sandbox.py`` (``--help`` for options).

Variants, each timed with ``time.perf_counter_ns`` around one whole command:

* ``bwrap_min``: ``bwrap --ro-bind / / true``, the least bubblewrap can do (for
  context only).
* ``bwrap``: the baseline. The exact argv the backend builds,
  ``BwrapSandbox.argv(["true"])`` (every namespace, the mounts, the ``/tmp``
  tmpfs, ``prlimit`` inside), started with ``subprocess.run`` as the same host
  uid, with the same environment, stdin from ``/dev/null`` and output captured.
* ``bwrap_seccomp``: the same plus ``--seccomp FD`` with our filter (the memfd is
  made before the clock starts). What the API adds on top of this is our Python
  and the cgroup bookkeeping, nothing bubblewrap does.
* ``api``: ``BwrapSandbox.exec_sync(["true"])`` on a warm sandbox in this process:
  the command's ``exec`` line handed to the sandbox's spare launcher (a shell
  already waiting in its cgroup, see ``sandbox/_spare.py``), the ``--info-fd``
  handshake, the watcher loop, the cgroup counters before and after, and the
  next spare's fork (its cgroup move happens in the background).
* ``api_fresh``: the same on a sandbox made with ``spares=False``: bwrap is
  forked per command and its child moved into a pooled cgroup while bwrap waits
  on ``--block-fd`` (the design before spares).
* ``bwrap_nocg``, ``api_nocg``: the baseline and ``api`` for a second sandbox made
  with ``ENCLOSURE_CGROUPS=off`` (rlimits only; run as root, the backend then
  starts bwrap as uid 65534, and the baseline does too): what the per-command
  cgroup costs.
* ``api_logged``: ``run.workspace.exec(["true"])``, the run's path: the same plus
  the ``ExecEvent`` appended to the SQLite decision log.
* ``cli``: ``enclosure --home H exec --manifest M -- true`` as a subprocess: a new
  interpreter, the imports, the ``Enclosure``, a run and its end.
* ``py_host``, ``py_bwrap``, ``py_api``: ``python3 -c pass`` on the host, with the
  baseline argv, and through the API: a command that does some work.

After each command the spare launchers are left to get ready *untimed*, so
one variant's background work does not land in the next one's time; ``--burst``
then measures the opposite case, commands back to back: N consecutive ``api``
calls against N consecutive baseline runs, per call.

The variants are interleaved: every round runs each once, in a freshly shuffled
(seeded) order, so drift (another process taking a core, the page cache) falls on
all of them alike and no variant always follows the same one. That matters here:
moving a process into a cgroup is cheap right after another move and slow after
a pause (see RESULTS.md), so a fixed order would favour whichever variant always
comes second. ``cli`` runs in every k-th round only (``--cli-rounds`` of them,
spread evenly). ``--warmup`` rounds come first and are not counted. Reported per
variant: median and p95 (nearest rank) in ms; the target compares medians:
``api`` <= 1.25 x ``bwrap``.

``--breakdown`` then times the steps inside ``exec_sync`` by wrapping the backend's
internals in this process (nothing in ``src/`` changes); steps the backend no
longer has are left out. The last line printed is a JSON object with the figures.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import json
import math
import os
import platform
import pstats
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from enclosure import Enclosure
from enclosure.manifest import load_manifest_text
from enclosure.sandbox import BwrapSandbox, build_spec
from enclosure.sandbox._seccomp import seccomp_memfd

if TYPE_CHECKING:
    from collections.abc import Callable

    from enclosure.sandbox import SandboxSpec

ROUNDS = 200
CLI_ROUNDS = 40
WARMUP = 10
BREAKDOWN_CALLS = 200
BURST = 10
BURST_REPS = 20
TARGET_RATIO = 1.25
SEED = 20261125
VARIANTS = (
    "bwrap_min",
    "bwrap",
    "bwrap_seccomp",
    "api",
    "api_fresh",
    "api_logged",
    "bwrap_nocg",
    "api_nocg",
    "cli",
    "py_host",
    "py_bwrap",
    "py_api",
)

MANIFEST = """\
version: 1
agent:
  name: bench
  description: sandbox start-up benchmark
"""


class Stats(NamedTuple):
    n: int
    median_ms: float
    p95_ms: float
    min_ms: float


def summarize(times_ns: list[int]) -> Stats:
    """Nearest-rank median and p95, and the minimum, in milliseconds."""
    ordered = sorted(times_ns)

    def pct(q: float) -> float:
        return ordered[max(1, math.ceil(q * len(ordered))) - 1] / 1e6

    return Stats(len(ordered), pct(0.50), pct(0.95), ordered[0] / 1e6)


def _drop(uid: int | None) -> dict[str, Any]:
    """The uid switch ``BwrapSandbox`` applies when it starts bwrap."""
    if uid is None:
        return {}
    return {"user": uid, "group": uid, "extra_groups": []}


def _without_cgroups(spec: SandboxSpec) -> BwrapSandbox:
    """A second sandbox for the same spec with ``ENCLOSURE_CGROUPS=off``."""
    old = os.environ.get("ENCLOSURE_CGROUPS")
    os.environ["ENCLOSURE_CGROUPS"] = "off"
    try:
        sandbox = BwrapSandbox(spec)
    finally:
        if old is None:
            del os.environ["ENCLOSURE_CGROUPS"]
        else:
            os.environ["ENCLOSURE_CGROUPS"] = old
    if sandbox.cgroups:
        msg = "ENCLOSURE_CGROUPS=off did not turn cgroups off"
        raise RuntimeError(msg)
    return sandbox


class Bench:
    """Everything the variants need, made once: sandbox, run, argv, paths."""

    def __init__(self, home: Path) -> None:
        manifest_path = home.parent / "sandbox.yaml"
        manifest_path.write_text(MANIFEST, encoding="utf-8")
        self.manifest_path = manifest_path
        self.home = home
        self.untimed_ns = 0
        """Set by a variant that times itself (the seccomp one, without the memfd)."""
        manifest = load_manifest_text(MANIFEST, str(manifest_path))
        self.spec = build_spec(manifest)
        self.sandbox = BwrapSandbox(self.spec)
        self.sandbox_nocg = _without_cgroups(self.spec)
        self.sandbox_fresh = BwrapSandbox(self.spec, spares=False)
        self.env = dict(self.spec.env)
        self.drop = _drop(self.sandbox.uid)
        self.true_argv = self.sandbox.argv(["true"])
        self.nocg_argv = self.sandbox_nocg.argv(["true"])
        self.drop_nocg = _drop(self.sandbox_nocg.uid)
        self.py_argv = self.sandbox.argv(["python3", "-c", "pass"])
        python = shutil.which("python3", path=self.env["PATH"]) or "python3"
        self.py_host_argv = [python, "-c", "pass"]
        self.enc = Enclosure(manifest, home=home)
        self.run = self.enc.start_run(task="sandbox benchmark")
        script = Path(sys.executable).with_name("enclosure")
        self.cli_argv = [
            str(script),
            "--home",
            str(home),
            "exec",
            "--manifest",
            str(manifest_path),
            "--",
            "true",
        ]

    def close(self) -> None:
        self.run.end()
        self.enc.close()
        self.sandbox.cleanup()
        self.sandbox_nocg.cleanup()
        self.sandbox_fresh.cleanup()

    def settle(self) -> None:
        """Untimed: wait for every next spare; reap the baselines' bwrap pid 1s.

        The backend made this process a child subreaper, so the pid 1 that a
        bare ``bwrap`` leaves behind comes here; nothing else runs now.
        """
        with contextlib.suppress(ChildProcessError):
            while os.waitpid(-1, os.WNOHANG)[0] > 0:
                pass
        sandboxes = [self.sandbox, self.sandbox_nocg, self.run.workspace.sandbox()]
        for sandbox in sandboxes:
            spare = getattr(sandbox, "_spare", None)
            if spare is not None:
                spare.wait()

    def spawn(self, argv: list[str], *, drop: dict[str, Any] | None = None) -> None:
        """``subprocess.run`` as the backend starts bwrap; must exit 0."""
        done = subprocess.run(  # noqa: S603 -- argv built above, never a shell
            argv,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            env=self.env,
            check=False,
            **(self.drop if drop is None else drop),
        )
        if done.returncode != 0:
            msg = f"{argv[-3:]} exited {done.returncode}: {done.stderr[-300:]!r}"
            raise RuntimeError(msg)

    def seccomp(self, argv: list[str]) -> Callable[[], None]:
        """A variant that runs ``argv`` with ``--seccomp`` (memfd made untimed)."""

        def run() -> None:
            fd = seccomp_memfd()
            try:
                with_filter = [argv[0], "--seccomp", str(fd), *argv[1:]]
                t0 = time.perf_counter_ns()
                done = subprocess.run(  # noqa: S603 -- argv built above
                    with_filter,
                    stdin=subprocess.DEVNULL,
                    capture_output=True,
                    env=self.env,
                    check=False,
                    pass_fds=(fd,),
                    **self.drop,
                )
                self.untimed_ns = time.perf_counter_ns() - t0
            finally:
                os.close(fd)
            if done.returncode != 0:
                msg = f"bwrap --seccomp exited {done.returncode}: {done.stderr!r}"
                raise RuntimeError(msg)

        return run

    def api(
        self, cmd: list[str], *, cgroups: bool = True, spares: bool = True
    ) -> Callable[[], None]:
        sandbox = self.sandbox if cgroups else self.sandbox_nocg
        if not spares:
            sandbox = self.sandbox_fresh

        def run() -> None:
            r = sandbox.exec_sync(cmd)
            if not r.ok:
                msg = f"api {cmd}: exit {r.exit_code}, limit {r.limit}: {r.stderr!r}"
                raise RuntimeError(msg)

        return run

    def api_logged(self) -> None:
        r = self.run.workspace.exec(["true"])
        if not r.ok:
            msg = f"workspace.exec: exit {r.exit_code}: {r.stderr!r}"
            raise RuntimeError(msg)

    def cli(self) -> None:
        done = subprocess.run(  # noqa: S603 -- our own console script
            self.cli_argv, capture_output=True, check=False
        )
        if done.returncode != 0:
            msg = f"enclosure exec exited {done.returncode}: {done.stderr[-300:]!r}"
            raise RuntimeError(msg)

    def variants(self) -> dict[str, Callable[[], None]]:
        bwrap_min = [self.sandbox.bwrap, "--ro-bind", "/", "/", "true"]
        return {
            "bwrap_min": lambda: self.spawn(bwrap_min),
            "bwrap": lambda: self.spawn(self.true_argv),
            "bwrap_seccomp": self.seccomp(self.true_argv),
            "api": self.api(["true"]),
            "api_fresh": self.api(["true"], spares=False),
            "bwrap_nocg": lambda: self.spawn(self.nocg_argv, drop=self.drop_nocg),
            "api_nocg": self.api(["true"], cgroups=False),
            "api_logged": self.api_logged,
            "cli": self.cli,
            "py_host": lambda: self.spawn(self.py_host_argv),
            "py_bwrap": lambda: self.spawn(self.py_argv),
            "py_api": self.api(["python3", "-c", "pass"]),
        }


def measure(
    bench: Bench, rounds: int, cli_rounds: int, warmup: int, seed: int
) -> dict[str, list[int]]:
    """Interleaved rounds; returns the nanoseconds of each variant's commands."""
    variants = bench.variants()
    names = list(variants)
    every = max(1, math.ceil(rounds / max(cli_rounds, 1)))

    def due(name: str, r: int) -> bool:
        if name != "cli":
            return True
        if r < 0:
            return r == -warmup  # once while warming up: it is slow
        return cli_rounds > 0 and r % every == 0

    times: dict[str, list[int]] = defaultdict(list)
    rng = random.Random(seed)
    for r in range(-warmup, rounds):
        order = names[:]
        rng.shuffle(order)
        for name in order:
            if not due(name, r):
                continue
            bench.untimed_ns = 0
            t0 = time.perf_counter_ns()
            variants[name]()
            elapsed = bench.untimed_ns or time.perf_counter_ns() - t0
            if r >= 0:
                times[name].append(elapsed)
            bench.settle()
    return times


def burst(bench: Bench, length: int, reps: int) -> dict[str, list[int]]:
    """Per-call ns of ``length`` back-to-back calls, ``reps`` times per variant."""
    variants = {
        "burst_bwrap": lambda: bench.spawn(bench.true_argv),
        "burst_api": bench.api(["true"]),
        "burst_api_fresh": bench.api(["true"], spares=False),
    }
    times: dict[str, list[int]] = defaultdict(list)
    for _ in range(reps):
        for name, run in variants.items():
            bench.settle()
            t0 = time.perf_counter_ns()
            for _ in range(length):
                run()
            times[name].append((time.perf_counter_ns() - t0) // length)
    return times


# ---- where the API's time goes ------------------------------------------------------

_P, _C, _B, _S = (
    "enclosure.sandbox._process",
    "enclosure.sandbox._cgroup",
    "enclosure.sandbox._bwrap",
    "enclosure.sandbox._spare",
)
_STEPS = (
    # (label, "module:Owner.attribute"); steps nest as the labels are indented
    ("exec_sync (total)", f"{_P}:ProcessSandbox.exec_sync"),
    ("  CgroupPool.acquire", f"{_C}:CgroupPool.acquire"),
    ("  Group.counters (every call)", f"{_C}:Group.counters"),
    ("  _start (launch + handshake)", f"{_B}:BwrapSandbox._start"),
    ("    Spare.wait (until moved)", f"{_S}:Spare.wait"),
    ("    Spare.launch (exec line)", f"{_S}:Spare.launch"),
    ("    _read_child_pid (bwrap setup)", f"{_B}:_read_child_pid"),
    ("    _refill (next spare)", f"{_B}:BwrapSandbox._refill"),
    ("    seccomp_memfd", f"{_B}:seccomp_memfd"),
    ("    Popen (any thread)", "subprocess:Popen"),
    ("    Group.add (any thread)", f"{_C}:Group.add"),
    ("  _watch (until output EOF)", f"{_P}:ProcessSandbox._watch"),
    ("    _check_usage", f"{_P}:ProcessSandbox._check_usage"),
    ("  Group.kill_all", f"{_C}:Group.kill_all"),
    ("  CgroupPool.release", f"{_C}:CgroupPool.release"),
)


class Step(NamedTuple):
    calls: float
    """How often the step runs per ``exec_sync``."""
    mean_us: float
    median_us: float
    p95_us: float
    over_1ms: float
    """Share of calls in which the step took more than a millisecond."""


def breakdown(bench: Bench, calls: int) -> dict[str, Step]:
    """Per-step time of ``exec_sync(["true"])``, for each step that still exists.

    Each API call is preceded by an untimed baseline ``bwrap`` run, so the calls
    are spaced as in the measured rounds (back-to-back calls keep kernel state
    warm that interleaved ones do not).
    """
    import importlib  # noqa: PLC0415 -- only for --breakdown

    acc: dict[str, int] = {}
    counts: dict[str, int] = {}

    def timed(label: str, fn: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter_ns()
            try:
                return fn(*args, **kwargs)
            finally:
                acc[label] = acc.get(label, 0) + time.perf_counter_ns() - t0
                counts[label] = counts.get(label, 0) + 1

        return wrapper

    undo: list[tuple[object, str, object]] = []
    patched: list[str] = []
    for label, where in _STEPS:
        module_name, _, path = where.partition(":")
        owner_name, _, attr = path.rpartition(".")
        module = importlib.import_module(module_name)
        owner = getattr(module, owner_name, None) if owner_name else module
        original = vars(owner).get(attr) if owner is not None else None
        if original is None:  # the backend no longer has this step
            continue
        if attr == "Popen":
            popen: Any = original

            class TimedPopen(popen):  # type: ignore[misc]
                __init__ = timed(label, popen.__init__)

            replacement: object = TimedPopen
        else:
            replacement = timed(label, original)
        setattr(owner, attr, replacement)
        undo.append((owner, attr, original))
        patched.append(label)
    per_call: dict[str, list[int]] = {label: [] for label in patched}
    runs: dict[str, int] = dict.fromkeys(patched, 0)
    api = bench.api(["true"])
    try:
        for _ in range(calls):
            bench.spawn(bench.true_argv)
            bench.settle()
            acc.clear()
            counts.clear()
            api()
            for label, ns in per_call.items():
                ns.append(acc.get(label, 0))
                runs[label] += counts.get(label, 0)
    finally:
        for owner, attr, original in reversed(undo):
            setattr(owner, attr, original)
    steps = {}
    for label, ns in per_call.items():
        ordered = sorted(ns)
        steps[label] = Step(
            runs[label] / calls,
            sum(ns) / calls / 1000,
            ordered[len(ordered) // 2] / 1000,
            ordered[max(1, math.ceil(0.95 * len(ordered))) - 1] / 1000,
            sum(n > 1_000_000 for n in ns) / calls,
        )
    return steps


def profile_api(bench: Bench, calls: int) -> str:
    """cProfile of ``calls`` API commands: the top entries by own time."""
    profiler = cProfile.Profile()
    run = bench.api(["true"])
    profiler.enable()
    for _ in range(calls):
        run()
    profiler.disable()
    buf = io.StringIO()
    pstats.Stats(profiler, stream=buf).sort_stats("tottime").print_stats(20)
    return buf.getvalue()


# ---- report -------------------------------------------------------------------------


def bwrap_version(bwrap: str) -> str:
    out = subprocess.run(  # noqa: S603 -- the bwrap the backend uses
        [bwrap, "--version"], capture_output=True, text=True, check=False
    ).stdout
    return out.split()[-1] if out.split() else "unknown"


def _options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--cli-rounds", type=int, default=CLI_ROUNDS)
    parser.add_argument("--warmup", type=int, default=WARMUP)
    parser.add_argument("--seed", type=int, default=SEED, help="for the run order")
    parser.add_argument(
        "--dir", type=Path, default=None, help="where to make the temporary home"
    )
    parser.add_argument(
        "--breakdown",
        action="store_true",
        help=f"also time the steps of {BREAKDOWN_CALLS} API calls",
    )
    parser.add_argument(
        "--profile", action="store_true", help="also print a cProfile of API calls"
    )
    parser.add_argument(
        "--burst",
        type=int,
        default=BURST,
        metavar="N",
        help="back-to-back calls per burst (0: skip the burst measurement)",
    )
    parser.add_argument("--burst-reps", type=int, default=BURST_REPS)
    return parser.parse_args()


def main() -> None:
    opts = _options()
    with tempfile.TemporaryDirectory(prefix="enclosure-bench-", dir=opts.dir) as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        bench = Bench(home)
        try:
            times = measure(bench, opts.rounds, opts.cli_rounds, opts.warmup, opts.seed)
            if opts.burst > 0:
                times |= burst(bench, opts.burst, opts.burst_reps)
            steps = breakdown(bench, BREAKDOWN_CALLS) if opts.breakdown else {}
            if opts.profile:
                print(profile_api(bench, BREAKDOWN_CALLS))
            uid, cgroups = bench.sandbox.uid, bench.sandbox.cgroups
            nocg_uid = bench.sandbox_nocg.uid
            version = bwrap_version(bench.sandbox.bwrap)
        finally:
            bench.close()

    names = (*VARIANTS, "burst_bwrap", "burst_api", "burst_api_fresh")
    stats = {name: summarize(times[name]) for name in names if times.get(name)}
    base, api = stats["bwrap"], stats["api"]
    ratio = api.median_ms / base.median_ms
    ratio_seccomp = api.median_ms / stats["bwrap_seccomp"].median_ms
    py_ratio = stats["py_api"].median_ms / stats["py_bwrap"].median_ms
    nocg_ratio = stats["api_nocg"].median_ms / stats["bwrap_nocg"].median_ms
    fresh_ratio = stats["api_fresh"].median_ms / base.median_ms
    burst_ratio = None
    if "burst_api" in stats:
        burst_ratio = stats["burst_api"].median_ms / stats["burst_bwrap"].median_ms
    passed = ratio <= TARGET_RATIO

    print(
        f"bubblewrap {version}; sandbox uid {uid if uid is not None else 'unchanged'}; "
        f"cgroups {'on' if cgroups else 'off'} (the nocg sandbox's uid: {nocg_uid}); "
        f"{opts.rounds} rounds "
        f"({opts.cli_rounds} with the CLI) after {opts.warmup} warm-up rounds"
    )
    print(f"{'variant':<15}{'n':>5}{'median ms':>11}{'p95 ms':>9}{'min ms':>9}")
    for name, s in stats.items():
        print(f"{name:<15}{s.n:>5}{s.median_ms:>11.2f}{s.p95_ms:>9.2f}{s.min_ms:>9.2f}")
    print(
        f"api / bwrap (medians): {ratio:.3f}x; api / bwrap_seccomp: "
        f"{ratio_seccomp:.3f}x; api_nocg / bwrap_nocg: {nocg_ratio:.3f}x; "
        f"py_api / py_bwrap: {py_ratio:.3f}x; api_fresh / bwrap: {fresh_ratio:.3f}x"
    )
    if burst_ratio is not None:
        print(
            f"back to back ({opts.burst} calls x {opts.burst_reps}, ms per call): "
            f"burst_api / burst_bwrap: {burst_ratio:.3f}x"
        )
    print(f"target api <= {TARGET_RATIO} x bwrap: {'PASS' if passed else 'FAIL'}")
    if steps:
        print(
            f"inside exec_sync(['true']), {BREAKDOWN_CALLS} calls, each after a "
            "bwrap run (us per exec_sync):"
        )
        head = f"{'runs':>6}{'mean':>9}{'median':>9}{'p95':>9}{'>1ms':>7}"
        print(f"  {'step':<36}{head}")
        for label, st in steps.items():
            print(
                f"  {label:<36}{st.calls:>6.2f}{st.mean_us:>9.1f}"
                f"{st.median_us:>9.1f}{st.p95_us:>9.1f}{st.over_1ms:>7.0%}"
            )

    figures: dict[str, Any] = {"benchmark": "sandbox", "rounds": opts.rounds}
    figures |= {"cli_rounds": opts.cli_rounds, "warmup": opts.warmup, "seed": opts.seed}
    for name, s in stats.items():
        figures[f"{name}_median_ms"] = round(s.median_ms, 3)
        figures[f"{name}_p95_ms"] = round(s.p95_ms, 3)
    figures |= {
        "api_over_bwrap": round(ratio, 3),
        "api_over_bwrap_p95": round(api.p95_ms / base.p95_ms, 3),
        "api_over_bwrap_seccomp": round(ratio_seccomp, 3),
        "api_nocg_over_bwrap_nocg": round(nocg_ratio, 3),
        "sandbox_nocg_uid": nocg_uid,
        "py_api_over_py_bwrap": round(py_ratio, 3),
        "api_fresh_over_bwrap": round(fresh_ratio, 3),
        "burst_api_over_burst_bwrap": (
            round(burst_ratio, 3) if burst_ratio is not None else None
        ),
        "target_api_le_1_25x_bwrap": passed,
        "breakdown_median_us": {
            k.strip(): round(v.median_us, 1) for k, v in steps.items()
        },
        "breakdown_p95_us": {k.strip(): round(v.p95_us, 1) for k, v in steps.items()},
        "breakdown_share_over_1ms": {
            k.strip(): round(v.over_1ms, 3) for k, v in steps.items()
        },
        "sandbox_uid": uid,
        "cgroups": cgroups,
        "bwrap_version": version,
        "kernel": platform.release(),
        "nproc": os.cpu_count(),
        "loadavg_1m": round(os.getloadavg()[0], 2),
        "python": platform.python_version(),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
