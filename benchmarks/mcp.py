"""``tools/call`` on ``mcp-server-time``: straight to it, and through the gateway.

Run: ``.venv/bin/python benchmarks/mcp.py`` (``--help`` for options).

Both sides use the SDK's real ``ClientSession`` over a real stdio pipe:

- direct: ``mcp-server-time`` started by the SDK's ``stdio_client`` on the host;
- gateway: ``enclosure mcp --manifest M`` started the same way; it starts the
  same server inside bubblewrap (the manifest mounts the virtualenv read-only)
  and decides and logs every call (a decision event committed before the call
  reaches the server, a result event committed as the answer leaves, each
  hashed and committed to SQLite in a temporary home).

Each side makes ``--warmup`` calls, then ``--calls`` timed calls of
``get_current_time`` one after another; the added time is the difference of the
medians. Target: at most +1 ms at p50. The last line printed is a JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

# This file is named mcp.py: keep its folder off the path, or it shadows the SDK.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent]

import anyio  # noqa: E402 -- after the path fix above
from mcp.client.session import ClientSession  # noqa: E402
from mcp.client.stdio import StdioServerParameters, stdio_client  # noqa: E402

CALLS = 1000
WARMUP = 100
TARGET_ADDED_MS = 1.0
BIN = Path(sys.executable).parent
MANIFEST = """\
agent: {{name: bench}}
filesystem:
  read: ["{prefix}", "{base}"]
upstreams:
  time: {{command: ["{server}", --local-timezone, UTC]}}
tools:
  get_current_time: {{effect: read}}
"""


async def measure(
    params: StdioServerParameters, calls: int, warmup: int
) -> list[float]:
    async with (
        stdio_client(params) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        args = {"timezone": "UTC"}
        for _ in range(warmup):
            await session.call_tool("get_current_time", args)
        times = []
        for _ in range(calls):
            start = time.perf_counter()
            result = await session.call_tool("get_current_time", args)
            times.append((time.perf_counter() - start) * 1000)
            assert not result.is_error, result
        return times


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=CALLS)
    parser.add_argument("--warmup", type=int, default=WARMUP)
    opts = parser.parse_args()
    env = {"PATH": os.environ.get("PATH", "")}
    with tempfile.TemporaryDirectory(prefix="enclosure-bench-mcp-") as tmp:
        manifest = Path(tmp) / "enclosure.yaml"
        manifest.write_text(
            MANIFEST.format(
                prefix=sys.prefix,
                base=sys.base_prefix,
                server=BIN / "mcp-server-time",
            ),
            encoding="utf-8",
        )
        direct = StdioServerParameters(
            command=str(BIN / "mcp-server-time"),
            args=["--local-timezone", "UTC"],
            env=env,
        )
        gateway = StdioServerParameters(
            command=str(BIN / "enclosure"),
            args=["--home", f"{tmp}/home", "mcp", "--manifest", str(manifest)],
            env=env,
        )
        started = time.perf_counter()
        d = anyio.run(measure, direct, opts.calls, opts.warmup)
        g = anyio.run(measure, gateway, opts.calls, opts.warmup)
        wall = time.perf_counter() - started
    figures = {
        "benchmark": "mcp",
        "calls": opts.calls,
        "warmup": opts.warmup,
        "direct_p50_ms": round(statistics.median(d), 3),
        "direct_p99_ms": round(pct(d, 0.99), 3),
        "gateway_p50_ms": round(statistics.median(g), 3),
        "gateway_p99_ms": round(pct(g, 0.99), 3),
    }
    added = figures["gateway_p50_ms"] - figures["direct_p50_ms"]
    figures["added_p50_ms"] = round(added, 3)
    figures["target_added_p50_le_1ms"] = added <= TARGET_ADDED_MS
    figures["loadavg_1m"] = round(os.getloadavg()[0], 2)
    figures["python"] = platform.python_version()
    print(f"{'ms per tools/call':<22}{'p50':>8}{'p99':>8}")
    print(
        f"{'direct':<22}{figures['direct_p50_ms']:>8.3f}{figures['direct_p99_ms']:>8.3f}"
    )
    print(
        f"{'through the gateway':<22}{figures['gateway_p50_ms']:>8.3f}"
        f"{figures['gateway_p99_ms']:>8.3f}"
    )
    verdict = "PASS" if figures["target_added_p50_le_1ms"] else "FAIL"
    print(
        f"added at p50: {added:+.3f} ms (target <= +{TARGET_ADDED_MS:g} ms): {verdict}"
    )
    print(f"wall time {wall:.1f} s")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
