"""How far the enclosure's call path is from a straight-line guard doing the same work.

Run: ``.venv/bin/python benchmarks/lean_guard.py`` (``--help`` for options).

``benchmarks/integrations.py`` measures what the enclosure adds to a tool call in
each framework, and a ``DurableFloor`` that only commits two chained rows. This
asks the question between the two: what does a guard cost that does the
*essential* work of an allowed call, written straight through, with no layers?
``LeanGuard`` per call:

* checks a sliding one-minute rate window and a call counter (the kill switch),
  and evaluates the manifest's CEL rule (``args.key.startsWith('secret/')``)
  with the same ``cel`` library and a fresh ``cel.Context``, as the policy does;
* hashes the canonical arguments (orjson, sorted keys) and takes a call id;
* builds the decision event as a dict with every field a ``DecisionEvent`` has,
  encodes it (orjson), runs the enclosure's own ``Redactor.may_change`` over the
  text, chains it (SHA-256 over the previous hash, the seq and the body) and
  commits it to an ``events`` table with the enclosure's own schema, indexes and
  pragmas (WAL, ``synchronous=NORMAL``) before the tool runs;
* after the tool, hashes its output and commits the result event the same way.

What it leaves out, and the enclosure does: argument and result schemas, the
approval, simulate and kill outcomes, the maturity ladder and shadow caps, the
byte-for-byte standard-library JSON guarantee (it trusts orjson), redaction of
the arguments, observers and checkpoints, the live check against kills from
other processes, the run's own lock and models (``CallResult``, ``Receipt``). So
it is a lower bound for a guard with the enclosure's guarantees, not a peer.

In one run, interleaved in a shuffled order per round, each framework of
``benchmarks/integrations.py`` (its runners, scripted models and tools, reused)
runs bare, with the ``DurableFloor``, with ``LeanGuard`` and with an enclosure
run; the figures are the medians of ``(variant - bare) / N`` per tool call. The
last line printed is a JSON object.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import importlib.util
import json
import os
import platform
import random
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import cel
import orjson

from enclosure import Enclosure
from enclosure._clock import iso
from enclosure.manifest import load_manifest_text

_HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location(
    "bench_integrations", _HERE / "integrations.py"
)
if _spec is None or _spec.loader is None:
    raise SystemExit("benchmarks/integrations.py cannot be loaded")
bi: Any = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bi)

FRAMEWORKS = ("core_cold", "openai_agents", "pydantic_ai", "langchain")
VARIANTS = ("bare", "floor", "lean", "enclosure")
ROUNDS = 60
WARMUP = 5


class LeanGuard(bi.DurableFloor):  # type: ignore[misc]  # a module loaded by path
    """The essential work of an allowed call, straight through (see the module)."""

    def __init__(self, path: Path, enc: Enclosure) -> None:
        db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=wal")
        db.execute(
            f"PRAGMA synchronous={os.environ.get('ENCLOSURE_DB_SYNC', 'normal')}"
        )
        source = sqlite3.connect(next(enc.home.rglob("*.db")))
        for (ddl,) in source.execute(
            "SELECT sql FROM sqlite_master "
            "WHERE tbl_name = 'events' AND sql IS NOT NULL"
        ):
            db.execute(ddl)  # the enclosure's own table and indexes
        source.close()
        self._db = db
        self._cursor = db.cursor()
        self._lock = threading.Lock()
        self._head = (0, "0" * 64)
        self._rule = cel.compile("args.key.startsWith('secret/')")
        self._window: collections.deque[float] = collections.deque()
        self._redactor = enc.redactor
        self._manifest_sha = enc.policy.manifest_sha256
        self._open: tuple[str, int] = ("", 0)
        self.count = 0
        self.threads: set[int] = set()
        self.calls = 0

    def _store(self, event: dict[str, Any]) -> None:
        body = orjson.dumps(event, option=orjson.OPT_SORT_KEYS)
        text = body.decode()
        if self._redactor.may_change(text):
            msg = "a secret in a benchmark event"
            raise RuntimeError(msg)
        with self._lock:
            seq, prev = self._head
            seq += 1
            digest = hashlib.sha256(f"{prev}\n{seq}\n".encode("ascii"))
            digest.update(body)
            chained = digest.hexdigest()
            self._cursor.execute(
                "INSERT INTO events (seq, ts, run_id, kind, tool, call_id, outcome, "
                "disposition, cost, body, prev_hash, hash) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    seq,
                    event["ts"],
                    event["run_id"],
                    event["kind"],
                    event["tool"],
                    event["call_id"],
                    event.get("outcome"),
                    event["disposition"],
                    event["cost"],
                    text,
                    prev,
                    chained,
                ),
            )
            self._head = (seq, chained)

    def before(self, tool: str, args: Any) -> None:
        started = time.perf_counter_ns()
        self.threads.add(threading.get_native_id())
        now = time.monotonic()
        window = self._window
        while window and window[0] <= now - 60:
            window.popleft()
        if len(window) >= 1_000_000 or self.count >= 100_000_000:
            msg = "rate limit or kill switch"
            raise RuntimeError(msg)
        context = cel.Context()
        context.add_variable("args", args)
        if self._rule.execute(context):
            msg = "denied"
            raise RuntimeError(msg)
        window.append(now)
        self.count += 1
        args_sha = hashlib.sha256(orjson.dumps(args, option=orjson.OPT_SORT_KEYS))
        call_id = os.urandom(8).hex()
        self._store(
            {
                "run_id": "lean",
                "ts": iso(time.time()),
                "kind": "decision",
                "call_id": call_id,
                "tool": tool,
                "args": args,
                "args_sha256": args_sha.hexdigest(),
                "context_sha256": hashlib.sha256(b"{}").hexdigest(),
                "context_excerpt": "{}",
                "agent": "bench",
                "model": None,
                "prompt_version": None,
                "validator": {"ok": True, "errors": []},
                "outcome": "allow",
                "rule": f"tools.{tool}.mode",
                "reason": f"no rule matched; tool {tool!r} has mode: allow",
                "disposition": "dispatched",
                "approval_id": None,
                "receipt": None,
                "error": None,
                "latency_us": (time.perf_counter_ns() - started) // 1000,
                "cost": 0.0,
                "manifest_sha256": self._manifest_sha,
            }
        )
        self._open = (call_id, time.perf_counter_ns())

    def after(self, tool: str, value: Any) -> None:
        call_id, started = self._open
        output = hashlib.sha256(orjson.dumps(value, option=orjson.OPT_SORT_KEYS))
        self._store(
            {
                "run_id": "lean",
                "ts": iso(time.time()),
                "kind": "result",
                "call_id": call_id,
                "tool": tool,
                "disposition": "executed",
                "receipt": {"output_sha256": output.hexdigest()},
                "error": None,
                "latency_us": (time.perf_counter_ns() - started) // 1000,
                "cost": 0.0,
            }
        )
        self.calls += 1


def measure(
    rounds: int, warmup: int, n: int, seed: int
) -> dict[str, dict[str, list[float]]]:
    rng = random.Random(seed)
    tmp = Path(tempfile.mkdtemp(prefix="lean-guard-"))
    enc = Enclosure(load_manifest_text(bi.MANIFEST, "lean.yaml"), home=tmp / "home")
    floor = bi.DurableFloor(tmp / "floor.db")
    lean = LeanGuard(tmp / "lean.db", enc)
    added: dict[str, dict[str, list[float]]] = {
        f: {v: [] for v in VARIANTS[1:]} for f in FRAMEWORKS
    }
    jobs = [(f, v) for f in FRAMEWORKS for v in VARIANTS]
    for k in range(warmup + rounds):
        rng.shuffle(jobs)
        per_call: dict[tuple[str, str], float] = {}
        for framework, variant in jobs:
            run = enc.start_run(task=f"lean {k}") if variant == "enclosure" else None
            guard = {"bare": None, "floor": floor, "lean": lean, "enclosure": run}[
                variant
            ]
            for g in (floor, lean):
                g.threads.clear()
                g.calls = 0
            elapsed, made = bi.RUNNERS[framework](guard, n)
            if run is not None:
                executed = run.state.executed
                run.end()
                made = min(made, executed)
            elif variant != "bare" and guard.calls != n:
                made = guard.calls
            if made != n:
                msg = f"{framework} ({variant}): {made} of {n} calls ran"
                raise RuntimeError(msg)
            per_call[framework, variant] = elapsed / 1e3 / n
        if k >= warmup:
            for f in FRAMEWORKS:
                for v in VARIANTS[1:]:
                    added[f][v].append(per_call[f, v] - per_call[f, "bare"])
    enc.close()
    floor.close()
    return added


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--warmup", type=int, default=WARMUP)
    parser.add_argument(
        "--calls", type=int, default=bi.CALLS, help="tool calls per run"
    )
    parser.add_argument("--seed", type=int, default=bi.SEED)
    opts = parser.parse_args()
    started = time.perf_counter()
    added = measure(opts.rounds, opts.warmup, opts.calls, opts.seed)
    report: dict[str, Any] = {"benchmark": "lean_guard"}
    print(
        f"{'added per call, µs (median)':30} {'floor':>8} {'lean':>8} {'enclosure':>10}"
    )
    for f in FRAMEWORKS:
        med = {v: statistics.median(added[f][v]) for v in VARIANTS[1:]}
        print(f"{f:30} {med['floor']:8.1f} {med['lean']:8.1f} {med['enclosure']:10.1f}")
        for v, value in med.items():
            report[f"{f}_{v}_us"] = round(value, 1)
        report[f"{f}_enclosure_over_lean_us"] = round(med["enclosure"] - med["lean"], 1)
    report |= {
        "rounds": opts.rounds,
        "calls": opts.calls,
        "nproc": os.cpu_count(),
        "loadavg_1m": round(os.getloadavg()[0], 2),
        "python": platform.python_version(),
        "wall_s": round(time.perf_counter() - started, 1),
    }
    sys.stdout.flush()
    print(json.dumps(report))


if __name__ == "__main__":
    main()
