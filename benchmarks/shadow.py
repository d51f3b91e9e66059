"""Shadow report time for 100,000 cases, and the taint guard's added latency per call.

Run: ``.venv/bin/python benchmarks/shadow.py`` (``--help`` for options).

* Report: 100,000 synthetic cases (one seed): the agent proposes 0-2 writes per
  case from five actions, people did the same with about 10 % of cases changed
  (another action, one more or one fewer, or a different argument). Timed: the
  comparison (``enclosure.shadow.compare``: agreement, per-action precision and
  recall, Wilson intervals, false, missed and argument differences) plus
  rendering the self-contained HTML report. Reading the events out of the
  decision log is not included (see ``report_log_10k_s`` for that path at 10,000
  cases, through a real SQLite log).
* Taint: one policy, one run state. The run has taken in ``--replies`` untrusted
  replies of about 2 KB each (web pages, emails). Calls alternate between two
  write tools that differ only in ``sensitive: [to]``; the added latency is the
  median of ``decide`` for the guarded tool minus the median for the plain one.
  The argument never matches, which is the common path and the slowest (every
  remembered text is searched).

The last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

# benchmarks/mcp.py would shadow the mcp package: keep this folder off sys.path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent]

from enclosure.models import ToolCall  # noqa: E402 -- after the sys.path fix
from enclosure.policy import RunState, compile_policy  # noqa: E402
from enclosure.shadow import NONE, Action, compare, render_html  # noqa: E402
from enclosure.testing import FakeClock, make_enclosure, manifest_from  # noqa: E402

ACTIONS = ["refund", "send_email", "close_ticket", "escalate", "update_record"]
WORDS = ["invoice", "customer", "account", "refund", "ticket", "order", "payment"]

MANIFEST = """
agent: {name: bench}
tools:
  read_page: {effect: read, untrusted: true}
  send_plain: {effect: write}
  send_guarded: {effect: write, sensitive: [to]}
"""


def _cases(n: int, seed: int) -> tuple[list[Action], list[Action]]:
    rnd = random.Random(seed)
    proposed, actual = [], []
    for i in range(n):
        case = f"case-{i}"
        acts = [
            Action(
                case,
                rnd.choice(ACTIONS),
                {"amount": rnd.randint(1, 500), "to": f"c{i}"},
            )
            for _ in range(rnd.randint(0, 2))
        ]
        proposed += acts
        done = list(acts)
        if rnd.random() < 0.1:
            change = rnd.randint(0, 3)
            if change == 0 and done:
                done.pop()
            elif change == 1:
                done.append(Action(case, rnd.choice(ACTIONS), {"amount": 1}))
            elif change == 2 and done:
                done[0] = done[0]._replace(args={**done[0].args, "amount": 0})
            elif done:
                done[0] = done[0]._replace(action=rnd.choice(ACTIONS))
        actual += done or [Action(case, NONE, {})]
    return proposed, actual


def bench_report(n: int, seed: int) -> tuple[float, float]:
    proposed, actual = _cases(n, seed)
    ran = {a.case_id for a in actual}
    t0 = time.perf_counter()
    report = compare(proposed, actual, ran)
    t1 = time.perf_counter()
    html = render_html(report)
    t2 = time.perf_counter()
    assert report.cases == n, report.cases
    assert html.startswith("<!doctype html>")
    return t1 - t0, t2 - t0


def bench_report_log(n: int, seed: int) -> float:
    """The CLI's path: shadow runs and outcomes in a real log, then the report."""
    from enclosure._ladder import import_outcomes, shadow_report  # noqa: PLC0415

    proposed, actual = _cases(n, seed)
    with tempfile.TemporaryDirectory() as tmp:
        enc = make_enclosure(MANIFEST, Path(tmp), clock=FakeClock())
        from enclosure.audit import ShadowEvent  # noqa: PLC0415

        enc.log.append_many(
            ShadowEvent(
                run_id="r",
                ts="2026-11-25T00:00:00.000000Z",
                call_id=str(i),
                case_id=p.case_id,
                tool=p.action,
                args=p.args,
            )
            for i, p in enumerate(proposed)
        )
        import_outcomes(enc.log, actual, [""] * len(actual), enc.clock)
        t0 = time.perf_counter()
        report = shadow_report(enc.log)
        render_html(report)
        elapsed = time.perf_counter() - t0
        enc.close()
    return elapsed


def bench_taint(calls: int, replies: int, seed: int) -> dict[str, float]:
    rnd = random.Random(seed)
    policy = compile_policy(manifest_from(MANIFEST))
    state = RunState("run", "bench", "t", 0.0)
    for r in range(replies):
        page = " ".join(
            rnd.choice(WORDS) + str(rnd.randint(0, 9999)) for _ in range(250)
        )
        policy.remember(
            state, "read_page", {"url": f"https://site{r}.example/", "body": page}
        )
    times: dict[str, list[int]] = {"send_plain": [], "send_guarded": []}
    for i in range(calls):
        for tool in ("send_plain", "send_guarded"):
            call = ToolCall.model_construct(
                tool=tool,
                args={"to": f"customer{i}@shop.example"},
                context={},
                call_id="c",
            )
            t0 = time.perf_counter_ns()
            decision = policy.decide(call, state, float(i))
            times[tool].append(time.perf_counter_ns() - t0)
            assert decision.outcome == "allow", decision
    plain = statistics.median(times["send_plain"]) / 1000
    guarded = statistics.median(times["send_guarded"]) / 1000
    return {"plain_us": plain, "guarded_us": guarded, "added_us": guarded - plain}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--log-cases", type=int, default=10_000)
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--replies", type=int, default=20)
    parser.add_argument("--seed", type=int, default=9)
    opts = parser.parse_args()
    compare_s, report_s = bench_report(opts.cases, opts.seed)
    print(
        f"report: {opts.cases} cases, compare {compare_s:.3f} s, "
        f"with HTML {report_s:.3f} s"
    )
    log_s = bench_report_log(opts.log_cases, opts.seed)
    print(f"report from the SQLite log: {opts.log_cases} cases in {log_s:.3f} s")
    taint = bench_taint(opts.calls, opts.replies, opts.seed)
    print(
        f"decide p50: plain {taint['plain_us']:.2f} us, "
        f"guarded {taint['guarded_us']:.2f} us "
        f"({opts.replies} untrusted replies remembered): +{taint['added_us']:.2f} us"
    )
    print(
        json.dumps(
            {
                "benchmark": "shadow",
                "cases": opts.cases,
                "report_100k_s": round(report_s, 3),
                "compare_100k_s": round(compare_s, 3),
                "report_log_10k_s": round(log_s, 3),
                "taint_added_us": round(taint["added_us"], 2),
                "decide_plain_us": round(taint["plain_us"], 2),
                "decide_guarded_us": round(taint["guarded_us"], 2),
                "taint_replies": opts.replies,
                "loadavg_1m": round(os.getloadavg()[0], 2),
                "python": platform.python_version(),
            }
        )
    )


if __name__ == "__main__":
    main()
