"""The control-plane server: approvals and guarded calls through the JSON API.

Run: ``.venv/bin/python benchmarks/server.py`` (``--help`` for options). It starts
a throwaway PostgreSQL cluster (Debian's ``initdb``/``pg_ctl``, on a Unix socket)
unless ``--postgres URL`` names one; as root the cluster runs as ``postgres``.

For SQLite and for PostgreSQL, on a real uvicorn server on loopback (in a thread
of this process; one client, requests one after another over a kept-alive
connection):

- ``approve_p50_ms_<db>`` / ``approve_p99_ms_<db>`` and ``approvals_per_s_<db>``:
  ``POST /api/approvals/{id}/approve`` for ``--approvals`` parked calls (token
  check, separation-of-duties check, the atomic update, the audit event);
- ``list_p50_ms_<db>`` / ``list_p99_ms_<db>``: ``GET /api/approvals?status=pending``
  with ``--approvals`` approvals stored (it also expires overdue ones first);
- ``api_calls_per_s``: guarded calls of an allowed tool through
  ``POST /api/runs/{id}/calls`` (SQLite); ``inprocess_calls_per_s``: the same calls
  through ``Run.call`` in this process, on the same log.

The last line printed is a JSON object with the figures.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import pwd
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from enclosure import Enclosure
from enclosure.audit import DecisionLog
from enclosure.server import Server, ServerClient, issue_token
from enclosure.testing import manifest_from

if TYPE_CHECKING:
    from collections.abc import Iterator

MANIFEST = """
agent: {name: bench}
tools:
  pay: {mode: approve}
  lookup: {effect: read}
approvals: {ttl: 3600s}
"""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@contextlib.contextmanager
def throwaway_postgres() -> Iterator[str]:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    if not found:
        raise SystemExit("PostgreSQL is not installed; pass --postgres URL")
    bin_dir = found[-1].parent
    folder = Path(tempfile.mkdtemp(prefix="enclosure-bench-pg-"))
    user = None
    if os.geteuid() == 0:
        user = "postgres"
        entry = pwd.getpwnam(user)
        os.chown(folder, entry.pw_uid, entry.pw_gid)

    def run(tool: str, *args: str) -> None:
        argv = [str(bin_dir / tool), *args]
        if user is not None:
            argv = ["runuser", "-u", user, "--", *argv]
        subprocess.run(  # noqa: S603 -- argv from fixed parts
            argv,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=folder,
            timeout=120,
        )

    data = str(folder / "data")
    run("initdb", "-D", data, "-A", "trust", "-U", "postgres", "--locale=C.UTF-8")
    options = f"-k {folder} -c listen_addresses="
    run("pg_ctl", "-D", data, "-o", options, "-l", str(folder / "log"), "-w", "start")
    try:
        yield f"postgresql+psycopg://postgres@/postgres?host={folder}"
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):
            run("pg_ctl", "-D", data, "-m", "fast", "-w", "stop")
        shutil.rmtree(folder, ignore_errors=True)


def make(url: str, home: Path) -> Enclosure:
    enc = Enclosure(manifest_from(MANIFEST), log=DecisionLog(url), home=home)
    enc.tool("pay")(lambda amount: {"paid": amount})
    enc.tool("lookup")(lambda key: {"key": key})
    return enc


def approvals(url: str, home: Path, count: int) -> dict[str, float]:
    enc = make(url, home)
    now = time.time()
    agent_token = issue_token(enc.log, "agent-1", "agent", now=now)[0]
    approver_token = issue_token(enc.log, "approver-1", "approver", now=now)[0]
    server = Server(enc)
    try:
        with (
            ServerClient(server.url, agent_token) as agent,
            ServerClient(server.url, approver_token) as approver,
        ):
            run_id = agent.start_run("bench")["run_id"]
            ids = [
                agent.call(run_id, "pay", {"amount": n})["approval_id"]
                for n in range(count)
            ]
            lists = []
            for _ in range(max(20, count // 10)):
                started = time.perf_counter()
                approver.request("GET", "/api/approvals", params={"status": "pending"})
                lists.append((time.perf_counter() - started) * 1000)
            approves = []
            wall = time.perf_counter()
            for approval_id in ids:
                started = time.perf_counter()
                approver.approve(approval_id)
                approves.append((time.perf_counter() - started) * 1000)
            wall = time.perf_counter() - wall
    finally:
        server.stop()
        enc.log.close()
    return {
        "approve_p50_ms": round(statistics.median(approves), 2),
        "approve_p99_ms": round(percentile(approves, 0.99), 2),
        "approvals_per_s": round(count / wall, 1),
        "list_p50_ms": round(statistics.median(lists), 2),
        "list_p99_ms": round(percentile(lists, 0.99), 2),
    }


def calls(url: str, home: Path, count: int) -> dict[str, float]:
    enc = make(url, home)
    token = issue_token(enc.log, "agent-2", "agent", now=time.time())[0]
    server = Server(enc)
    try:
        with ServerClient(server.url, token) as agent:
            run_id = agent.start_run("bench")["run_id"]
            for n in range(50):  # warm-up
                agent.call(run_id, "lookup", {"key": str(n)})
            started = time.perf_counter()
            for n in range(count):
                result = agent.call(run_id, "lookup", {"key": str(n)})
            api_s = time.perf_counter() - started
            assert result["status"] == "executed", result
    finally:
        server.stop()
    run = enc.start_run("bench-inprocess")
    for n in range(50):
        run.call("lookup", {"key": str(n)})
    started = time.perf_counter()
    for n in range(count * 4):
        run.call("lookup", {"key": str(n)})
    inprocess_s = time.perf_counter() - started
    run.end()
    enc.log.close()
    return {
        "api_calls_per_s": round(count / api_s, 1),
        "inprocess_calls_per_s": round(count * 4 / inprocess_s, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--approvals", type=int, default=500)
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--postgres", default=None, help="a PostgreSQL URL to use")
    options = parser.parse_args()
    figures: dict[str, object] = {"benchmark": "server"}
    wall = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        sqlite_url = f"sqlite:///{tmp}/bench.db"
        for key, value in approvals(
            sqlite_url, Path(tmp, "a"), options.approvals
        ).items():
            figures[f"{key}_sqlite"] = value
        with contextlib.ExitStack() as stack:
            pg_url = options.postgres or stack.enter_context(throwaway_postgres())
            for key, value in approvals(
                pg_url, Path(tmp, "b"), options.approvals
            ).items():
                figures[f"{key}_postgres"] = value
        figures.update(
            calls(f"sqlite:///{tmp}/calls.db", Path(tmp, "c"), options.calls)
        )
    figures["api_over_inprocess"] = round(
        float(figures["api_calls_per_s"]) / float(figures["inprocess_calls_per_s"]),
        3,  # type: ignore[arg-type]
    )
    figures.update(
        approvals_stored=options.approvals,
        calls=options.calls,
        loadavg_1m=round(os.getloadavg()[0], 2),
        nproc=os.cpu_count(),
        python=platform.python_version(),
        wall_s=round(time.perf_counter() - wall, 1),
    )
    for key, value in figures.items():
        print(f"{key:28} {value}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
