"""Guarded calls per second, end to end, against the bare function.

Run: ``.venv/bin/python benchmarks/calls.py`` (``--help`` for options).

A guarded call is ``run.call("noop", {"x": i})`` on a no-op tool registered with
``@enc.tool()``: argument validation (from the handler's type hints), the policy
(two CEL rules, a ``1000000/minute`` rate limit that never trips, a kill switch with a
high ``max_calls``), the router, and the durable decision log: a live call appends
two events (the decision, written before the handler runs, and its result), each
hashed into the chain and committed to a real SQLite file in a temporary
``ENCLOSURE_HOME`` on disk. The real clock is used. ``ENCLOSURE_DB_SYNC`` decides
SQLite's ``synchronous`` level; it is unset by default (``normal``, in WAL mode),
and ``--sync full`` sets it for this process.

Each repetition starts a new run and makes ``--calls`` guarded calls after a
warm-up run; the best and the median repetition are reported, with the same count
of bare calls (``noop(x=i)`` in a loop) for scale. The per-call breakdown times the
parts on their own: ``policy.decide`` on a fresh run state, and ``log.append`` of a
decision and a result event taken from the warm-up run; what is left is
validation, hashing the arguments, building events and receipts, and routing.

The last line printed is a JSON object with the figures.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import platform
import pstats
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from enclosure import Enclosure
from enclosure.manifest import load_manifest_text
from enclosure.models import ToolCall
from enclosure.policy import RunState

if TYPE_CHECKING:
    from enclosure.audit import Event

CALLS = 20_000
REPS = 2
WARMUP = 1_000
APPENDS = 5_000
TARGET_CALLS_PER_S = 5_000.0

MANIFEST = """\
version: 1
agent:
  name: bench
  description: guarded-call benchmark
tools:
  noop:
    description: does nothing
    effect: write
    mode: live
    rules:
      - name: no_negatives
        when: "args.x < 0"
        then: deny
      - name: huge_needs_a_human
        when: "args.x > 1000000000"
        then: approve
    rate: 1000000/minute
kill_switch:
  max_calls: 100000000
"""


def noop(x: int) -> int:
    """The tool: returns its argument."""
    return x


def bare_calls(n: int) -> float:
    """Seconds for ``n`` bare calls of ``noop``, keyword argument as the router
    passes it."""
    fn = noop
    t0 = time.perf_counter()
    for i in range(n):
        fn(x=i)
    return time.perf_counter() - t0


def guarded_calls(enc: Enclosure, n: int, task: str) -> float:
    """Seconds for ``n`` guarded calls in a new run; every one must execute."""
    run = enc.start_run(task=task)
    call = run.call
    executed = 0
    t0 = time.perf_counter()
    for i in range(n):
        executed += call("noop", {"x": i}).status == "executed"
    elapsed = time.perf_counter() - t0
    run.end()
    if executed != n:
        msg = f"only {executed} of {n} guarded calls executed"
        raise RuntimeError(msg)
    return elapsed


def decide_us(enc: Enclosure, n: int) -> float:
    """Mean microseconds of ``policy.decide`` for the same calls."""
    state = RunState("run_bench", "bench", "decide", time.monotonic())
    calls = [ToolCall(tool="noop", args={"x": i}) for i in range(n)]
    decide = enc.policy.decide
    monotonic = time.monotonic
    t0 = time.perf_counter()
    for call in calls:
        decide(call, state, monotonic())
    return (time.perf_counter() - t0) / n * 1e6


def append_us(enc: Enclosure, events: list[Event], n: int) -> float:
    """Mean microseconds of ``log.append`` for prebuilt events, used in turn."""
    append = enc.log.append
    t0 = time.perf_counter()
    for i in range(n):
        append(events[i % len(events)])
    return (time.perf_counter() - t0) / n * 1e6


def sample_events(enc: Enclosure, run_id: str) -> list[Event]:
    """The last decision and result event of a run, to append again."""
    decision = enc.log.events(run_id=run_id, kinds=["decision"])[-1].event
    result = enc.log.events(run_id=run_id, kinds=["result"])[-1].event
    return [decision, result]


def filesystem(path: Path) -> str:
    """The type of the filesystem ``path`` is on, from ``/proc/mounts``."""
    best, kind = "", "unknown"
    resolved = str(path.resolve())
    try:
        with Path("/proc/mounts").open(encoding="utf-8") as mounts:
            for line in mounts:
                fields = line.split()
                point = fields[1]
                inside = resolved == point or resolved.startswith(
                    point.rstrip("/") + "/"
                )
                if inside and len(point) > len(best):
                    best, kind = point, fields[2]
    except OSError:
        return kind
    return kind


def journal_mode(db: Path) -> str:
    """The database's journal mode, read on a connection of our own."""
    with sqlite3.connect(db) as conn:
        return str(conn.execute("PRAGMA journal_mode").fetchone()[0])


def profile_calls(enc: Enclosure, n: int) -> str:
    """cProfile of ``n`` guarded calls: the top entries by cumulative time."""
    profiler = cProfile.Profile()
    profiler.enable()
    guarded_calls(enc, n, "profile")
    profiler.disable()
    buf = io.StringIO()
    pstats.Stats(profiler, stream=buf).sort_stats("tottime").print_stats(25)
    return buf.getvalue()


class Figures(NamedTuple):
    guarded_s: list[float]
    bare_s: list[float]
    decide_us: float
    append_us: float
    events: int
    chain_ok: bool
    journal: str
    fs: str


def measure(home: Path, calls: int, reps: int, *, profile: bool) -> Figures:
    """Run the warm-up, the repetitions and the breakdown under ``home``."""
    enc = Enclosure(load_manifest_text(MANIFEST, "calls.yaml"), home=home)
    enc.tool()(noop)
    warm = enc.start_run(task="warm-up")
    for i in range(WARMUP):
        warm.call("noop", {"x": i})
    warm.end()
    bare_calls(calls)
    guarded: list[float] = []
    bare: list[float] = []
    for k in range(reps):
        guarded.append(guarded_calls(enc, calls, f"rep-{k}"))
        bare.append(bare_calls(calls))
    decide = decide_us(enc, calls)
    append = append_us(enc, sample_events(enc, warm.id), APPENDS)
    if profile:
        print(profile_calls(enc, min(calls, 5_000)))
    report = enc.verify()
    enc.close()
    return Figures(
        guarded,
        bare,
        decide,
        append,
        report.events,
        report.ok,
        journal_mode(home / "enclosure.db"),
        filesystem(home),
    )


def _options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--calls", type=int, default=CALLS)
    parser.add_argument("--reps", type=int, default=REPS)
    parser.add_argument(
        "--sync",
        choices=("normal", "full"),
        default=None,
        help="set ENCLOSURE_DB_SYNC for this run (default: leave it as it is)",
    )
    parser.add_argument(
        "--dir", type=Path, default=None, help="where to make the temporary home"
    )
    parser.add_argument(
        "--profile", action="store_true", help="also print a cProfile of calls"
    )
    return parser.parse_args()


def main() -> None:
    opts = _options()
    if opts.sync is not None:
        os.environ["ENCLOSURE_DB_SYNC"] = opts.sync
    sync = os.environ.get("ENCLOSURE_DB_SYNC", "normal").lower()
    with tempfile.TemporaryDirectory(prefix="enclosure-bench-", dir=opts.dir) as tmp:
        f = measure(Path(tmp) / "home", opts.calls, opts.reps, profile=opts.profile)

    rates = sorted((opts.calls / s for s in f.guarded_s), reverse=True)
    bare_rates = sorted((opts.calls / s for s in f.bare_s), reverse=True)
    best, median = rates[0], statistics.median(rates)
    per_call_us = 1e6 / best
    bare_us = 1e6 / bare_rates[0]
    rest_us = per_call_us - f.decide_us - 2 * f.append_us - bare_us
    passed = best >= TARGET_CALLS_PER_S

    print(
        f"decision log: SQLite, synchronous={sync}, journal_mode={f.journal}, "
        f"on {f.fs}; {f.events} events, chain verified: {f.chain_ok}"
    )
    print(f"{opts.reps} x {opts.calls} guarded calls after {WARMUP} warm-up calls")
    print(
        f"guarded: best {best:,.0f} calls/s  median {median:,.0f} calls/s  "
        f"({per_call_us:.1f} us per call)"
    )
    print(
        f"bare:    best {bare_rates[0]:,.0f} calls/s  ({bare_us:.3f} us per call); "
        f"guarded/bare cost ratio {bare_rates[0] / best:,.0f}x"
    )
    print(
        f"per call: decide {f.decide_us:.1f} us + 2 appends x {f.append_us:.1f} us "
        f"+ rest {rest_us:.1f} us (validation, hashing, events, receipts, routing)"
    )
    print(
        f"target >= {TARGET_CALLS_PER_S:,.0f} guarded calls/s: "
        f"{'PASS' if passed else 'FAIL'}"
    )
    print(
        json.dumps(
            {
                "benchmark": "calls",
                "calls": opts.calls,
                "reps": opts.reps,
                "guarded_calls_per_s": round(best),
                "guarded_calls_per_s_median": round(median),
                "guarded_us_per_call": round(per_call_us, 2),
                "bare_calls_per_s": round(bare_rates[0]),
                "decide_us": round(f.decide_us, 2),
                "append_us": round(f.append_us, 2),
                "appends_per_call": 2,
                "rest_us": round(rest_us, 2),
                "db_sync": sync,
                "db_journal_mode": f.journal,
                "db_filesystem": f.fs,
                "chain_ok": f.chain_ok,
                "target_ge_5000_per_s": passed,
                "loadavg_1m": round(os.getloadavg()[0], 2),
                "python": platform.python_version(),
                "sqlite": sqlite3.sqlite_version,
            }
        )
    )


if __name__ == "__main__":
    main()
