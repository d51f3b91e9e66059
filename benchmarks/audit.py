"""The audit log's throughput and checks: appends, checkpoints, proofs, verify.

Run: ``.venv/bin/python benchmarks/audit.py`` (``--help`` for options).

- ``append_single_eps``: one ``log.append`` per event, each its own transaction,
  SQLite ``synchronous=FULL`` (every commit fsynced: the event is durable when
  ``append`` returns). ``append_batched_eps``: ``log.append_many`` of ``--batch``
  events per transaction, also ``FULL``: one fsync per batch (group commit).
- ``checkpoint_sign_ms``: one Ed25519 signature over a tree head;
  ``checkpoint_ms``: a whole checkpoint on the live log (extend the Merkle range,
  sign, chain the event), every ``--every`` events.
- ``proof_gen_us`` / ``proof_verify_us``: an RFC 9162 inclusion proof in a tree of
  ``--events`` leaves, and its verification; ``consistency_us`` likewise.
- ``verify_1m_s``: ``DecisionLog.verify`` with the trusted keyring over a log of
  ``--events`` (1,000,000) decision events checkpointed every ``--every``: hash
  chain, columns, Merkle roots and signatures, full schema checks of the rows no
  checkpoint covers. The log is built with ``synchronous=NORMAL`` to save time.
  ``verify_1m_cpu_s`` is the same verify's process CPU time, steadier than the
  wall clock on a shared machine.
- ``alert_latency_ms``: from a triggering event's acknowledgement to its stored
  alert (the ``repeated_calls`` detector on a live enclosure), median and p99.

The last line printed is a JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import tempfile
import time
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from enclosure._clock import SystemClock
from enclosure.audit import (
    Checkpointing,
    DecisionLog,
    MerkleTree,
    SigningKeys,
    leaf_hash,
    verify_consistency,
    verify_inclusion,
)
from enclosure.audit._checkpoint import sign_checkpoint
from enclosure.testing import decision_event, make_enclosure

TARGET_BATCHED_EPS = 20_000
TARGET_VERIFY_S = 10.0


def _events(start: int, count: int) -> list:
    return [decision_event(n) for n in range(start, start + count)]


def bench_appends(folder: Path, singles: int, batched: int, batch: int) -> dict:
    keys = SigningKeys(folder / "keys")
    settings = Checkpointing(keys=keys, clock=SystemClock(), every_events=1000)
    url = f"sqlite:///{folder / 'appends.db'}"
    with DecisionLog(url, sync="full", checkpoints=settings) as log:
        events = _events(1, singles)
        start = time.perf_counter()
        for event in events:
            log.append(event)
        single = singles / (time.perf_counter() - start)
        events = _events(singles + 1, batched)
        start = time.perf_counter()
        for i in range(0, batched, batch):
            log.append_many(events[i : i + batch])
        batched_eps = batched / (time.perf_counter() - start)
        log.append(decision_event(0))
        start = time.perf_counter()
        log.checkpoint()
        checkpoint_ms = (time.perf_counter() - start) * 1000
    return {
        "append_single_eps": round(single),
        "append_batched_eps": round(batched_eps),
        "checkpoint_ms": round(checkpoint_ms, 3),
    }


def bench_signing(rounds: int) -> dict:
    key = Ed25519PrivateKey.generate()
    start = time.perf_counter()
    for n in range(rounds):
        sign_checkpoint(key, n, "ab" * 32, "2026-11-25T00:00:00.000000+00:00")
    return {
        "checkpoint_sign_ms": round((time.perf_counter() - start) / rounds * 1e3, 4)
    }


def bench_proofs(leaves: int, rounds: int) -> dict:
    start = time.perf_counter()
    tree = MerkleTree(leaf_hash(n.to_bytes(32, "big")) for n in range(leaves))
    build = time.perf_counter() - start
    root, rng = tree.root(), random.Random(20261125)
    gen = ver = cons = 0.0
    for _ in range(rounds):
        index = rng.randrange(leaves)
        t0 = time.perf_counter()
        proof = tree.inclusion_proof(index, leaves)
        t1 = time.perf_counter()
        assert verify_inclusion(tree.levels[0][index], index, leaves, proof, root)
        t2 = time.perf_counter()
        old = rng.randrange(1, leaves)
        c = tree.consistency_proof(old, leaves)
        assert verify_consistency(old, leaves, tree.root(old), root, c)
        t3 = time.perf_counter()
        gen, ver, cons = gen + t1 - t0, ver + t2 - t1, cons + t3 - t2
    return {
        "merkle_build_s": round(build, 2),
        "proof_gen_us": round(gen / rounds * 1e6, 1),
        "proof_verify_us": round(ver / rounds * 1e6, 1),
        "consistency_us": round(cons / rounds * 1e6, 1),
    }


def bench_verify(folder: Path, events: int, every: int) -> dict:
    keys = SigningKeys(folder / "keys-verify")
    settings = Checkpointing(keys=keys, clock=SystemClock(), every_events=every)
    url = f"sqlite:///{folder / 'verify.db'}"
    start = time.perf_counter()
    with DecisionLog(url, sync="normal", checkpoints=settings) as log:
        step = every  # one checkpoint per batch, as a writer with --every makes
        for i in range(0, events, step):
            log.append_many(_events(i + 1, min(step, events - i)))
    build = time.perf_counter() - start
    with DecisionLog(url) as log:
        start, cpu = time.perf_counter(), time.process_time()
        report = log.verify(public_keys=keys.public_keys())
        took, cpu = time.perf_counter() - start, time.process_time() - cpu
    assert report.ok, report.problem
    return {
        "verify_events": report.events,
        "verify_checkpoints": report.checkpoints,
        "verify_build_s": round(build, 1),
        "verify_1m_s": round(took, 2),
        "verify_1m_cpu_s": round(cpu, 2),
    }


def bench_alerts(folder: Path, calls: int) -> dict:
    manifest = """
    agent: {name: bench}
    tools: {noop: {effect: read}}
    monitoring:
      detectors: {repeated_calls: {max: 2, window: 1h}}
      notify: {stdout: false, log: false}
    """
    with make_enclosure(manifest, folder / "alerts", clock=SystemClock()) as enc:
        enc.tool("noop")(lambda x: x)
        with enc.start_run(task="alerts") as run:
            for n in range(calls):
                run.call("noop", {"x": n // 2})  # every second call repeats
        latencies = sorted(enc.monitor.latencies)
    return {
        "alerts": len(latencies),
        "alert_latency_ms": round(statistics.median(latencies) * 1e3, 3),
        "alert_latency_p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1e3, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--singles", type=int, default=2_000)
    parser.add_argument("--batched", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--every", type=int, default=1_000)
    args = parser.parse_args()
    figures: dict = {"benchmark": "audit"}
    with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR")) as tmp:
        folder = Path(tmp)
        for name, run in (
            (
                "appends",
                lambda: bench_appends(folder, args.singles, args.batched, args.batch),
            ),
            ("signing", lambda: bench_signing(2_000)),
            ("proofs", lambda: bench_proofs(args.events, 1_000)),
            ("verify", lambda: bench_verify(folder, args.events, args.every)),
            ("alerts", lambda: bench_alerts(folder, 2_000)),
        ):
            result = run()
            print(f"{name}: {result}", flush=True)
            figures.update(result)
    figures["target_batched_ge_20k"] = (
        figures["append_batched_eps"] >= TARGET_BATCHED_EPS
    )
    figures["target_verify_1m_le_10s"] = figures["verify_1m_s"] <= TARGET_VERIFY_S
    figures.update(
        nproc=os.cpu_count(),
        loadavg_1m=round(os.getloadavg()[0], 2),
        python=platform.python_version(),
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
