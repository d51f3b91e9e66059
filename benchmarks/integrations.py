"""What the framework integrations add per tool call, and what one hook process costs.

Run: ``.venv/bin/python benchmarks/integrations.py`` (``--help`` for options).

In-process, per framework, the framework's **real** agent loop is driven offline by
its own scripted model: every agent run makes ``--calls`` (N) tool calls of one
no-op tool, ``lookup(key)``, **one call per model turn** for N turns, then answers
"done". Each round runs every framework twice, bare and guarded, in a freshly
shuffled (seeded) order; a round's figure is ``(guarded - bare) / N``, the time
the integration adds to one tool call, and the report gives its nearest-rank
median and p95 over the rounds. One call per turn (rather than N parallel calls in
one turn) keeps the calls serial: LangGraph runs parallel calls on a thread pool
and the async frameworks ``gather`` them, so overlap and thread hand-offs would hide
or inflate the cost of a call on the agent's critical path. The per-turn model and
graph overhead is the same in both variants and cancels out in the difference.

* ``langchain``: ``create_agent(model, [lookup])`` against the same agent with
  ``middleware=[EnclosureMiddleware(run)]``, ``agent.invoke`` (sync), with a
  stateless ``BaseChatModel`` that emits the next tool call until it has read N
  ``ToolMessage``s. The ``@tool`` is sync.
* ``openai_agents``: ``Runner.run(Agent(model=ScriptedModel(steps), tools=...))``
  with ``tools=[lookup]`` against ``guard_tools(run, [lookup])``; tracing off.
  ``lookup`` is an ``async`` ``@function_tool``.
* ``pydantic_ai``: ``Agent(FunctionModel(...)).run(toolsets=[ts])`` with a
  ``FunctionToolset`` against ``EnclosureToolset(run, ts)``. ``lookup`` is
  ``async`` (a sync tool would be sent to a worker thread in both variants: the
  same cost, more noise).
* ``core``, a reference: N ``run.call("lookup", {...}, handler=fn)`` against N
  ``fn(key=...)``: what the enclosure itself adds, without any framework.
* ``core_cold``, a reference: the same, but before every call (untimed) an 8 MiB
  copy evicts the CPU caches, as a framework's own work between two tool calls
  does; only the calls are timed. Inside a framework a call starts cold: this
  is the part of "added" that comes from that, not from the integration.

The guarded variants decide every call by a manifest that allows the tool (one CEL
rule that never matches, a ``1000000/minute`` rate limit, a high ``max_calls``), so
each call is an allow outcome, and log it durably: the decision and the result
events go to a real SQLite file in a temporary ``ENCLOSURE_HOME`` on disk, in the
default sync mode, on the real clock. Each guarded agent run gets a new enclosure
run, started and ended outside the timed span (building the agents, the models
and the event loop is untimed too); every guarded call is checked afterwards to
have executed. ``--warmup`` rounds come first and are not counted.

Out of process, ``--hook-runs`` rounds each start, in a shuffled order:

* ``python``: ``python -c pass`` with this interpreter (the venv's, the one the
  ``enclosure`` script and the hook settings name): the floor of any hook.
* ``hook``: ``enclosure --home H hook claude-code --manifest M`` with a
  ``PreToolUse`` ``Bash`` event on stdin, as Claude Code starts it (the command
  ``--print-settings`` installs). The home's
  decision server is running (started before the timing, as the first hook of a
  session starts it), so this is the hook as every call after the first sees it.
* ``hook_module``: ``python -m enclosure.integrations.claude_code --manifest M
  --home H``, the form ``--print-settings`` falls back to where no ``enclosure``
  script sits beside the interpreter, also through the server.
* ``hook_cold``: ``enclosure ... hook claude-code --no-server ...``: everything
  loaded and decided in the hook process, as the first event of a home is.
* ``import``: ``python -c "from enclosure._enclosure import Enclosure"``, the
  imports a hook cannot avoid, for the breakdown.

and, in this process, ``hook_inprocess``: ``claude_code.hook(event, M, H)`` with
every module already imported (load the manifest, lock, resume the session's run
from the log, decide, append). ``M`` is ``examples/claude-code/enclosure.yaml``
unless ``--hook-manifest`` says otherwise; every event is one session (the run is
resumed from the log each time, as in a real session) with its own command
(``ls build/<i>``), so the manifest's ``repeated_calls`` never trips, and every
answer must be ``allow``. Each variant is timed with ``time.perf_counter_ns`` around
the whole ``subprocess.run``. Once, untimed, ``python -X importtime`` of the hook
module shows which imports take the time.

Each framework also runs with a do-nothing wrapper of the same kind (a middleware
with the same two hooks, a ``FunctionTool`` whose ``on_invoke_tool`` calls on, a
``WrapperToolset``): "wrap floor" is what that alone adds, the part of "added"
that is the framework's own cost of letting anything wrap a tool call.

And each runs with the same wrapper around the least any guard that logs durably
must do, ``DurableFloor``: commit a decision row before the tool runs and a result
row after it, each a hash-chained row of canonical JSON in its own transaction on
a raw ``sqlite3`` connection (WAL, the enclosure's default ``synchronous``, the
events table's two indexes), with no policy, models or redaction. "durable floor"
is what that adds: what a guard cannot go below on this machine inside that
framework, measured in the same run. It also counts the distinct threads the
tools ran on: LangGraph starts a new thread for every tool step.

Targets (PASS/FAIL; the script does not fail): the median added time per tool
call <= 300 us for each framework; ``hook`` median <= 150 ms. The last line
printed is a JSON object with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import hashlib
import json
import math
import os
import platform
import random
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

# benchmarks/mcp.py would shadow the MCP SDK (which the Agents SDK imports): keep
# this folder off the path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent]

from agents import Agent, RunConfig, Runner, function_tool
from agents.testing import ScriptedModel, assistant_message, function_call
from langchain.agents import create_agent
from langchain.agents.middleware import AgentMiddleware
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.tools import tool
from pydantic_ai import Agent as PydanticAgent
from pydantic_ai import FunctionToolset
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
)
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.toolsets import WrapperToolset

from enclosure import Enclosure
from enclosure._run import Run
from enclosure.integrations import _hook_client, claude_code
from enclosure.integrations.langchain import EnclosureMiddleware
from enclosure.integrations.openai_agents import guard_tools
from enclosure.integrations.pydantic_ai import EnclosureToolset
from enclosure.manifest import load_manifest_text

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

CALLS = 10
ROUNDS = 100
WARMUP = 5
HOOK_RUNS = 25
HOOK_WARMUP = 2
SEED = 20261125
TARGET_ADDED_US = 300.0
TARGET_HOOK_MS = 150.0
FRAMEWORKS = ("langchain", "openai_agents", "pydantic_ai", "core", "core_cold")
EVICT_BYTES = 8 * 1024 * 1024
HOOK_VARIANTS = (
    "python",
    "hook",
    "hook_module",
    "hook_cold",
    "import",
    "hook_inprocess",
)
ROOT = Path(__file__).resolve().parents[1]
HOOK_MANIFEST = ROOT / "examples" / "claude-code" / "enclosure.yaml"
SESSION = "bench-session"

MANIFEST = """\
version: 1
agent:
  name: bench
  description: integrations benchmark
tools:
  lookup:
    description: looks a key up
    effect: read
    rules:
      - name: no_secrets
        when: "args.key.startsWith('secret/')"
        then: deny
    rate: 1000000/minute
kill_switch:
  max_calls: 100000000
"""


PASSTHROUGH = "passthrough"
"""In place of a run: the framework's own wrapper that does nothing but call on."""
DURABLE = "durable"
"""The mode whose runs get the ``DurableFloor`` in place of an enclosure run."""


class DurableFloor:
    """The least a guard that logs durably does: two committed, chained rows.

    The decision row is committed before the tool runs (a guard must not let a
    call run that is not on record) and the result row after it, each in its own
    transaction, as canonical JSON chained by SHA-256, on one raw ``sqlite3``
    connection in WAL mode with the enclosure's default ``synchronous``. No
    policy, no models, no redaction: whatever a real guard adds above this is
    its own work.
    """

    def __init__(self, path: Path) -> None:
        sync = os.environ.get("ENCLOSURE_DB_SYNC", "normal")
        db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=wal")
        db.execute(f"PRAGMA synchronous={sync}")
        db.execute(
            "CREATE TABLE events (seq INTEGER PRIMARY KEY, ts TEXT, run_id TEXT, "
            "kind TEXT, tool TEXT, body TEXT, prev_hash TEXT, hash TEXT)"
        )
        db.execute("CREATE INDEX ix_run ON events (run_id)")
        db.execute("CREATE INDEX ix_kind ON events (kind)")
        self._db = db
        self._lock = threading.Lock()
        self._head = (0, "0" * 64)
        self.threads: set[int] = set()
        self.calls = 0

    def _append(self, kind: str, tool: str, fields: dict[str, Any]) -> None:
        body = json.dumps(
            {"kind": kind, "run_id": "floor", "tool": tool, **fields},
            sort_keys=True,
            separators=(",", ":"),
        )
        with self._lock:
            seq, prev = self._head
            digest = hashlib.sha256(f"{prev}{seq + 1}{body}".encode()).hexdigest()
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute(
                "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (seq + 1, "ts", "floor", kind, tool, body, prev, digest),
            )
            self._db.execute("COMMIT")
            self._head = (seq + 1, digest)

    def before(self, tool: str, args: Any) -> None:
        self.threads.add(threading.get_native_id())
        self._append("decision", tool, {"args": args, "outcome": "allow"})

    def after(self, tool: str, value: Any) -> None:
        self._append("result", tool, {"status": "executed", "output": str(value)})
        self.calls += 1

    def close(self) -> None:
        self._db.close()


class Stats(NamedTuple):
    n: int
    median: float
    p95: float
    min: float


def summarize(values: list[float]) -> Stats:
    """Nearest-rank median and p95, and the minimum."""
    ordered = sorted(values)

    def pct(q: float) -> float:
        return ordered[max(1, math.ceil(q * len(ordered))) - 1]

    return Stats(len(ordered), pct(0.50), pct(0.95), ordered[0])


def lookup_value(key: str) -> str:
    """The tool's body, shared by every framework."""
    return f"value of {key}"


# ---- LangChain ---------------------------------------------------------------------


class ScriptedChat(BaseChatModel):
    """A stateless chat model: the next ``lookup`` call until N results were read."""

    calls: int = CALLS

    @property
    def _llm_type(self) -> str:
        return "scripted-bench"

    def bind_tools(self, tools: Any, **kwargs: Any) -> ScriptedChat:  # noqa: ARG002 -- the framework's signature
        return self

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,  # noqa: ARG002 -- the framework's signature
        run_manager: Any = None,  # noqa: ARG002
        **kwargs: Any,  # noqa: ARG002
    ) -> ChatResult:
        done = sum(isinstance(m, ToolMessage) for m in messages)
        if done < self.calls:
            call = {"name": "lookup", "args": {"key": f"k{done}"}, "id": f"call_{done}"}
            message = AIMessage(content="", tool_calls=[call])
        else:
            message = AIMessage(content="done")
        return ChatResult(generations=[ChatGeneration(message=message)])


@tool
def lc_lookup(key: str) -> str:
    """Look a key up."""
    return lookup_value(key)


lc_lookup.name = "lookup"


class PassMiddleware(AgentMiddleware[Any, Any, Any]):
    """The same two hooks as ``EnclosureMiddleware``, doing nothing."""

    def wrap_tool_call(self, request: Any, handler: Callable[[Any], Any]) -> Any:
        return handler(request)

    def wrap_model_call(self, request: Any, handler: Callable[[Any], Any]) -> Any:
        return handler(request)


class FloorMiddleware(PassMiddleware):
    """``PassMiddleware`` around a ``DurableFloor``."""

    def __init__(self, floor: DurableFloor) -> None:
        super().__init__()
        self.floor = floor

    def wrap_tool_call(self, request: Any, handler: Callable[[Any], Any]) -> Any:
        call = request.tool_call
        self.floor.before(call["name"], call["args"])
        out = handler(request)
        self.floor.after(call["name"], out.content)
        return out


def langchain_once(run: Run | DurableFloor | str | None, n: int) -> tuple[int, int]:
    """One agent run of ``n`` calls: (ns, tool results the model read)."""
    middleware: list[Any] = []
    if run == PASSTHROUGH:
        middleware = [PassMiddleware()]
    elif isinstance(run, DurableFloor):
        middleware = [FloorMiddleware(run)]
    elif isinstance(run, Run):
        middleware = [EnclosureMiddleware(run)]
    agent = create_agent(ScriptedChat(calls=n), [lc_lookup], middleware=middleware)
    inputs = {"messages": [{"role": "user", "content": "go"}]}
    t0 = time.perf_counter_ns()
    out = agent.invoke(inputs)  # type: ignore[arg-type]
    elapsed = time.perf_counter_ns() - t0
    read = [m for m in out["messages"] if isinstance(m, ToolMessage)]
    if any(m.status == "error" for m in read):
        msg = f"langchain: a tool call failed: {read[-1].content!r}"
        raise RuntimeError(msg)
    return elapsed, len(read)


# ---- OpenAI Agents SDK -------------------------------------------------------------


@function_tool(name_override="lookup")
async def oa_lookup(key: str) -> str:
    """Look a key up."""
    return lookup_value(key)


NO_TRACING = RunConfig(tracing_disabled=True)


async def _oa_pass(ctx: Any, raw: str) -> Any:
    return await oa_lookup.on_invoke_tool(ctx, raw)


OA_PASS = dataclasses.replace(oa_lookup, on_invoke_tool=_oa_pass)


def _oa_floor(floor: DurableFloor) -> Any:
    async def invoke(ctx: Any, raw: str) -> Any:
        floor.before("lookup", json.loads(raw))
        out = await oa_lookup.on_invoke_tool(ctx, raw)
        floor.after("lookup", out)
        return out

    return dataclasses.replace(oa_lookup, on_invoke_tool=invoke)


async def openai_agents_once(
    run: Run | DurableFloor | str | None, n: int
) -> tuple[int, int]:
    steps: list[Any] = [
        [function_call("lookup", {"key": f"k{i}"}, call_id=f"call_{i}")]
        for i in range(n)
    ]
    steps.append([assistant_message("done")])
    tools: list[Any] = [oa_lookup]
    if run == PASSTHROUGH:
        tools = [OA_PASS]
    elif isinstance(run, DurableFloor):
        tools = [_oa_floor(run)]
    elif isinstance(run, Run):
        tools = guard_tools(run, [oa_lookup])
    agent = Agent(name="bench", model=ScriptedModel(steps), tools=tools)
    t0 = time.perf_counter_ns()
    result = await Runner.run(agent, "go", run_config=NO_TRACING, max_turns=n + 5)
    elapsed = time.perf_counter_ns() - t0
    outputs = [
        item.output
        for item in result.new_items
        if getattr(item, "type", "") == "tool_call_output_item"
    ]
    if any(not str(o).startswith("value of") for o in outputs):
        msg = f"openai_agents: a tool call did not run: {outputs[-1]!r}"
        raise RuntimeError(msg)
    return elapsed, len(outputs)


# ---- Pydantic AI -------------------------------------------------------------------


def _pydantic_respond(n: int) -> Callable[[list[ModelMessage], AgentInfo], Any]:
    def respond(messages: list[ModelMessage], _: AgentInfo) -> ModelResponse:
        done = sum(
            isinstance(p, ToolReturnPart)
            for m in messages
            if isinstance(m, ModelRequest)
            for p in m.parts
        )
        if done < n:
            part = ToolCallPart("lookup", {"key": f"k{done}"}, f"call_{done}")
            return ModelResponse(parts=[part])
        return ModelResponse(parts=[TextPart("done")])

    return respond


PYDANTIC_TOOLS: FunctionToolset[None] = FunctionToolset()


@PYDANTIC_TOOLS.tool_plain(name="lookup")
async def pa_lookup(key: str) -> str:
    """Look a key up."""
    return lookup_value(key)


_PYDANTIC_AGENTS: dict[int, PydanticAgent[None, str]] = {}


class PassToolset(WrapperToolset[None]):
    """A wrapper toolset that calls on, as ``EnclosureToolset`` does when allowed."""

    async def call_tool(
        self, name: str, tool_args: dict[str, Any], ctx: Any, tool: Any
    ) -> Any:
        return await self.wrapped.call_tool(name, tool_args, ctx, tool)


class FloorToolset(WrapperToolset[None]):
    """``PassToolset`` around a ``DurableFloor``."""

    def __init__(self, wrapped: Any, floor: DurableFloor) -> None:
        super().__init__(wrapped)
        self.floor = floor

    async def call_tool(
        self, name: str, tool_args: dict[str, Any], ctx: Any, tool: Any
    ) -> Any:
        self.floor.before(name, tool_args)
        out = await self.wrapped.call_tool(name, tool_args, ctx, tool)
        self.floor.after(name, out)
        return out


async def pydantic_ai_once(
    run: Run | DurableFloor | str | None, n: int
) -> tuple[int, int]:
    agent = _PYDANTIC_AGENTS.get(n)
    if agent is None:
        agent = PydanticAgent(FunctionModel(_pydantic_respond(n)))
        _PYDANTIC_AGENTS[n] = agent
    toolset: Any = PYDANTIC_TOOLS
    if run == PASSTHROUGH:
        toolset = PassToolset(PYDANTIC_TOOLS)
    elif isinstance(run, DurableFloor):
        toolset = FloorToolset(PYDANTIC_TOOLS, run)
    elif isinstance(run, Run):
        toolset = EnclosureToolset(run, PYDANTIC_TOOLS)
    t0 = time.perf_counter_ns()
    result = await agent.run("go", toolsets=[toolset])
    elapsed = time.perf_counter_ns() - t0
    read = [
        p
        for m in result.all_messages()
        if isinstance(m, ModelRequest)
        for p in m.parts
        if isinstance(p, ToolReturnPart)
    ]
    if any(not str(p.content).startswith("value of") for p in read):
        msg = f"pydantic_ai: a tool call did not run: {read[-1].content!r}"
        raise RuntimeError(msg)
    return elapsed, len(read)


# ---- the core, for reference -------------------------------------------------------


def _floored(floor: DurableFloor) -> Callable[..., str]:
    def lookup(key: str) -> str:
        floor.before("lookup", {"key": key})
        out = lookup_value(key)
        floor.after("lookup", out)
        return out

    return lookup


def core_once(run: Run | DurableFloor | str | None, n: int) -> tuple[int, int]:
    fn = _floored(run) if isinstance(run, DurableFloor) else lookup_value
    if not isinstance(run, Run):
        t0 = time.perf_counter_ns()
        for i in range(n):
            fn(key=f"k{i}")
        return time.perf_counter_ns() - t0, n
    call = run.call
    t0 = time.perf_counter_ns()
    results = [call("lookup", {"key": f"k{i}"}, handler=fn) for i in range(n)]
    elapsed = time.perf_counter_ns() - t0
    return elapsed, sum(r.status == "executed" for r in results)


_EVICT = bytearray(EVICT_BYTES)


def core_cold_once(run: Run | DurableFloor | str | None, n: int) -> tuple[int, int]:
    """``core_once`` with the caches evicted before every call; only calls timed.

    A framework's own work between two tool calls (building messages, running
    the model, its graph) pushes the enclosure's code and data out of the CPU
    caches; copying ``EVICT_BYTES`` (twice the L2 of the benchmark machine) does
    the same without a framework, so this shows what one call costs when it
    starts cold, as it does inside every framework.
    """
    fn = _floored(run) if isinstance(run, DurableFloor) else lookup_value
    elapsed = made = 0
    for i in range(n):
        bytes(_EVICT)
        t0 = time.perf_counter_ns()
        if isinstance(run, Run):
            result = run.call("lookup", {"key": f"k{i}"}, handler=fn)
            made += result.status == "executed"
        else:
            fn(key=f"k{i}")
            made += 1
        elapsed += time.perf_counter_ns() - t0
    return elapsed, made


def _sync(
    fn: Callable[[Run | DurableFloor | str | None, int], Awaitable[tuple[int, int]]],
) -> Callable[[Run | DurableFloor | str | None, int], tuple[int, int]]:
    """An async variant as a sync one: a new event loop, outside the timed span."""

    def once(run: Run | DurableFloor | str | None, n: int) -> tuple[int, int]:
        return asyncio.run(fn(run, n))  # type: ignore[arg-type]

    return once


RUNNERS: dict[
    str, Callable[[Run | DurableFloor | str | None, int], tuple[int, int]]
] = {
    "langchain": langchain_once,
    "openai_agents": _sync(openai_agents_once),
    "pydantic_ai": _sync(pydantic_ai_once),
    "core": core_once,
    "core_cold": core_cold_once,
}


class InProcess(NamedTuple):
    added_us: dict[str, list[float]]
    bare_us: dict[str, list[float]]
    guarded_us: dict[str, list[float]]
    floor_us: dict[str, list[float]]
    """What the framework's own do-nothing wrapper adds (passthrough - bare)."""
    durable_us: dict[str, list[float]]
    """What the ``DurableFloor`` adds (durable - bare)."""
    threads_per_call: dict[str, float]
    """Distinct threads the floor's tool calls ran on, per call."""
    calls_logged: int


def measure_in_process(
    home: Path, n: int, rounds: int, warmup: int, rng: random.Random
) -> InProcess:
    """Interleaved, shuffled rounds of every framework, bare and guarded."""
    enc = Enclosure(load_manifest_text(MANIFEST, "integrations.yaml"), home=home)
    floor = DurableFloor(home.parent / "durable-floor.db")
    series = ("added", "bare", "guarded", "floor", "durable")
    us: dict[str, dict[str, list[float]]] = {
        name: {f: [] for f in FRAMEWORKS} for name in series
    }
    threads = dict.fromkeys(FRAMEWORKS, 0)
    guarded_calls = 0
    modes = ("bare", PASSTHROUGH, DURABLE, "guarded")
    jobs = [(f, m) for f in FRAMEWORKS for m in modes]
    for k in range(warmup + rounds):
        rng.shuffle(jobs)
        times: dict[tuple[str, str], int] = {}
        for framework, mode in jobs:
            run = (
                enc.start_run(task=f"{framework} round {k}")
                if mode == "guarded"
                else None
            )
            floor.threads.clear()
            floor.calls = 0
            guard: Run | DurableFloor | str | None = {
                "bare": None,
                PASSTHROUGH: PASSTHROUGH,
                DURABLE: floor,
                "guarded": run,
            }[mode]
            elapsed, made = RUNNERS[framework](guard, n)
            if run is not None:
                executed = run.state.executed
                run.end()
                guarded_calls += made
                if made != n or executed != n:
                    msg = f"{framework}: {made} calls made, {executed} executed of {n}"
                    raise RuntimeError(msg)
            elif made != n or (mode == DURABLE and floor.calls != n):
                msg = f"{framework} ({mode}): {made} calls made of {n}"
                raise RuntimeError(msg)
            if mode == DURABLE and k >= warmup:
                threads[framework] += len(floor.threads)
            times[framework, mode] = elapsed
        if k < warmup:
            continue
        for f in FRAMEWORKS:
            b, g = times[f, "bare"] / 1e3, times[f, "guarded"] / 1e3
            us["bare"][f].append(b / n)
            us["guarded"][f].append(g / n)
            us["added"][f].append((g - b) / n)
            us["floor"][f].append((times[f, PASSTHROUGH] / 1e3 - b) / n)
            us["durable"][f].append((times[f, DURABLE] / 1e3 - b) / n)
    logged = len(enc.log.events(kinds=["result"]))
    enc.close()
    floor.close()
    if logged < guarded_calls:
        msg = f"only {logged} result events for {guarded_calls} guarded calls"
        raise RuntimeError(msg)
    return InProcess(
        us["added"],
        us["bare"],
        us["guarded"],
        us["floor"],
        us["durable"],
        {f: threads[f] / (rounds * n) for f in FRAMEWORKS},
        logged,
    )


# ---- the Claude Code hook ----------------------------------------------------------


def hook_available(script: Path) -> str | None:
    """``None`` when ``enclosure hook claude-code`` works, else why not."""
    if not script.exists():
        return f"{script} does not exist"
    try:
        done = subprocess.run(  # noqa: S603 -- our own script
            [str(script), "hook", "claude-code", "--help"],
            capture_output=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"enclosure hook claude-code --help: {exc}"
    if done.returncode != 0:
        tail = done.stderr.decode(errors="replace").strip().splitlines()[-1:]
        return f"enclosure hook claude-code --help exited {done.returncode}: {tail}"
    return None


class Hook:
    """The hook's variants: argvs, the event, the environment."""

    def __init__(self, tmp: Path, manifest: Path) -> None:
        self.home = tmp / "hook-home"
        self.project = tmp / "project"
        self.project.mkdir()
        self.manifest = manifest
        self.count = 0
        self.env = {
            k: v for k, v in os.environ.items() if not k.startswith("ENCLOSURE_")
        }
        self.env["CLAUDE_PROJECT_DIR"] = str(self.project)
        os.environ["CLAUDE_PROJECT_DIR"] = str(self.project)  # for hook_inprocess
        py = sys.executable
        script = Path(py).with_name("enclosure")
        hook = ["hook", "claude-code", "--manifest", str(manifest)]
        module = ["-m", "enclosure.integrations.claude_code"]
        self.argv = {
            "python": [py, "-c", "pass"],
            "hook": [str(script), "--home", str(self.home), *hook],
            "hook_cold": [str(script), "--home", str(self.home), *hook, "--no-server"],
            "hook_module": [
                py,
                *module,
                "--manifest",
                str(manifest),
                "--home",
                str(self.home),
            ],
            "import": [py, "-c", "from enclosure._enclosure import Enclosure"],
        }

    def event(self) -> bytes:
        self.count += 1
        return json.dumps(
            {
                "session_id": SESSION,
                "transcript_path": str(self.project / "transcript.jsonl"),
                "cwd": str(self.project),
                "hook_event_name": "PreToolUse",
                "tool_name": "Bash",
                "tool_input": {"command": f"ls build/{self.count}"},
                "tool_use_id": f"toolu_{self.count}",
            }
        ).encode("utf-8")

    def once(self, variant: str) -> int:
        """ns for one run of ``variant``; a hook must answer ``allow``."""
        if variant == "hook_inprocess":
            data = self.event()
            t0 = time.perf_counter_ns()
            answer = claude_code.hook(data, self.manifest, self.home)
            elapsed = time.perf_counter_ns() - t0
            _check_allow(variant, answer)
            return elapsed
        is_hook = variant.startswith("hook")
        data = self.event() if is_hook else b""
        t0 = time.perf_counter_ns()
        done = subprocess.run(  # noqa: S603 -- argv built above, never a shell
            self.argv[variant],
            input=data,
            capture_output=True,
            env=self.env,
            cwd=self.project,
            timeout=60,
            check=False,
        )
        elapsed = time.perf_counter_ns() - t0
        if done.returncode != 0:
            msg = f"{variant} exited {done.returncode}: {done.stderr[-300:]!r}"
            raise RuntimeError(msg)
        if is_hook:
            _check_allow(variant, json.loads(done.stdout))
        return elapsed

    def importtime(self) -> dict[str, float]:
        """Untimed: ``-X importtime`` of the hook module: ms per third-party package."""
        module = [*self.argv["hook_module"][1:], "--no-server"]
        argv = [sys.executable, "-X", "importtime", *module]
        done = subprocess.run(  # noqa: S603 -- argv built above
            argv,
            input=self.event(),
            capture_output=True,
            env=self.env,
            cwd=self.project,
            timeout=60,
            check=False,
        )
        # Post-order lines; reversed, each comes after its parent. A package counts
        # once, where it is first imported by another package (its cumulative time).
        tops: dict[str, float] = {}
        stack: list[str] = []
        lines = done.stderr.decode(errors="replace").splitlines()
        for line in reversed(lines):
            if not line.startswith("import time:") or line.count("|") != 2:
                continue
            _, cumulative, name = line.split("|")
            if not cumulative.strip().isdigit():
                continue
            module = name.strip()
            depth = (len(name) - len(name.lstrip()) - 1) // 2
            root = module.split(".")[0]
            del stack[depth:]
            if root != "enclosure" and root not in stack:
                tops[root] = tops.get(root, 0.0) + int(cumulative) / 1e3
            stack.append(root)
        ranked = sorted(tops.items(), key=lambda kv: -kv[1])[:8]
        return {k: round(v, 1) for k, v in ranked}


def _check_allow(variant: str, answer: dict[str, Any]) -> None:
    decision = answer.get("hookSpecificOutput", {}).get("permissionDecision")
    if decision != "allow":
        msg = f"{variant} answered {answer!r}, not allow"
        raise RuntimeError(msg)


def measure_hook(
    tmp: Path, manifest: Path, runs: int, rng: random.Random
) -> tuple[dict[str, list[float]], dict[str, float]]:
    """``runs`` interleaved, shuffled rounds of the hook variants, in ms."""
    hook = Hook(tmp, manifest)
    variants = list(HOOK_VARIANTS)
    times: dict[str, list[float]] = {v: [] for v in variants}
    hook.home.mkdir(parents=True, exist_ok=True)
    if not _hook_client.spawn_server(str(hook.home), str(manifest), wait=True):
        msg = "the hook's decision server did not start"
        raise RuntimeError(msg)
    try:
        for k in range(HOOK_WARMUP + runs):
            rng.shuffle(variants)
            for variant in variants:
                elapsed = hook.once(variant)
                if k >= HOOK_WARMUP:
                    times[variant].append(elapsed / 1e6)
    finally:
        _hook_client.stop_server(str(hook.home))
    return times, hook.importtime()


# ---- the report --------------------------------------------------------------------


def _options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--calls", type=int, default=CALLS, help="tool calls per run")
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--warmup", type=int, default=WARMUP)
    parser.add_argument("--hook-runs", type=int, default=HOOK_RUNS)
    parser.add_argument("--hook-manifest", type=Path, default=HOOK_MANIFEST)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument(
        "--dir", type=Path, default=None, help="where to make the temporary home"
    )
    return parser.parse_args()


def _r(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


def main() -> None:  # noqa: C901, PLR0915 -- one linear report
    opts = _options()
    rng = random.Random(opts.seed)
    script = Path(sys.executable).with_name("enclosure")
    hook_missing = hook_available(script)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="enclosure-bench-", dir=opts.dir) as tmp:
        home = Path(tmp) / "home"
        os.environ["ENCLOSURE_HOME"] = str(home)
        inproc = measure_in_process(home, opts.calls, opts.rounds, opts.warmup, rng)
        hook_times: dict[str, list[float]] = {}
        imports: dict[str, float] = {}
        if hook_missing is None:
            hook_times, imports = measure_hook(
                Path(tmp), opts.hook_manifest.resolve(), opts.hook_runs, rng
            )
        else:
            py = [sys.executable, "-c", "pass"]
            hook_times["python"] = []
            for _ in range(HOOK_WARMUP + opts.hook_runs):
                t0 = time.perf_counter_ns()
                subprocess.run(py, check=True)  # noqa: S603 -- this interpreter
                hook_times["python"].append((time.perf_counter_ns() - t0) / 1e6)
            del hook_times["python"][:HOOK_WARMUP]
    wall = time.monotonic() - started

    added = {f: summarize(inproc.added_us[f]) for f in FRAMEWORKS}
    bare = {f: summarize(inproc.bare_us[f]) for f in FRAMEWORKS}
    guarded = {f: summarize(inproc.guarded_us[f]) for f in FRAMEWORKS}
    floor = {f: summarize(inproc.floor_us[f]) for f in FRAMEWORKS}
    durable = {f: summarize(inproc.durable_us[f]) for f in FRAMEWORKS}
    hooks = {v: summarize(t) for v, t in hook_times.items()}
    passed = {f: added[f].median <= TARGET_ADDED_US for f in FRAMEWORKS}
    hook_med = hooks["hook"].median if "hook" in hooks else None
    hook_passed = None if hook_med is None else hook_med <= TARGET_HOOK_MS

    print(
        f"{opts.rounds} rounds (+{opts.warmup} warm-up) x {opts.calls} tool calls per "
        f"agent run, one call per turn; seed {opts.seed}; decision log: SQLite in a "
        f"temporary home, {inproc.calls_logged} guarded calls logged"
    )
    print(
        f"{'framework':<15}{'bare us/call':>13}{'guarded us/call':>16}"
        f"{'added median':>13}{'added p95':>11}{'wrap floor':>11}"
        f"{'durable floor':>14}{'threads/call':>13}"
    )
    for f in FRAMEWORKS:
        print(
            f"{f:<15}{bare[f].median:>13.1f}{guarded[f].median:>16.1f}"
            f"{added[f].median:>13.1f}{added[f].p95:>11.1f}{floor[f].median:>11.1f}"
            f"{durable[f].median:>14.1f}{inproc.threads_per_call[f]:>13.2f}"
        )
    print(
        "wrap floor: median of what the framework's own do-nothing wrapper of the "
        "same kind adds (passthrough - bare); durable floor: what the same wrapper "
        "adds around two committed SQLite rows and nothing else (durable - bare); "
        "threads/call: distinct threads the tool ran on, per call"
    )
    print()
    if hook_missing is not None:
        print(f"hook: not measured: {hook_missing}")
    print(f"{'process':<16}{'n':>4}{'median ms':>11}{'p95 ms':>9}{'min ms':>9}")
    for v in HOOK_VARIANTS:
        if v in hooks:
            s = hooks[v]
            print(f"{v:<16}{s.n:>4}{s.median:>11.1f}{s.p95:>9.1f}{s.min:>9.1f}")
    if imports:
        top = ", ".join(f"{k} {v:.0f}" for k, v in imports.items())
        print(f"hook module's imports by package (ms, -X importtime, once): {top}")
    print()
    for f in ("langchain", "openai_agents", "pydantic_ai"):
        verdict = "PASS" if passed[f] else "FAIL"
        print(f"target {f} added <= {TARGET_ADDED_US:.0f} us per call: {verdict}")
    hook_verdict = {None: "SKIPPED", True: "PASS", False: "FAIL"}[hook_passed]
    print(f"target hook median <= {TARGET_HOOK_MS:.0f} ms: {hook_verdict}")
    print(f"wall time {wall:.0f} s")

    figures: dict[str, Any] = {"benchmark": "integrations"}
    for f in FRAMEWORKS:
        figures[f"{f}_added_us"] = _r(added[f].median)
        figures[f"{f}_added_p95_us"] = _r(added[f].p95)
        figures[f"{f}_bare_us"] = _r(bare[f].median)
        figures[f"{f}_guarded_us"] = _r(guarded[f].median)
        figures[f"{f}_wrap_floor_us"] = _r(floor[f].median)
        figures[f"{f}_durable_floor_us"] = _r(durable[f].median)
        figures[f"{f}_threads_per_call"] = _r(inproc.threads_per_call[f], 2)
    for v in HOOK_VARIANTS:
        s = hooks.get(v)
        key = {"hook": "hook", "python": "python_startup"}.get(v, v)
        figures[f"{key}_median_ms"] = _r(s.median if s else None, 2)
        figures[f"{key}_p95_ms"] = _r(s.p95 if s else None, 2)
    figures |= {
        "hook_over_python_startup_ms": _r(
            None if hook_med is None else hook_med - hooks["python"].median, 2
        ),
        "hook_import_top_ms": imports or None,
        "hook_skipped_reason": hook_missing,
        "target_langchain_le_300us": passed["langchain"],
        "target_openai_agents_le_300us": passed["openai_agents"],
        "target_pydantic_ai_le_300us": passed["pydantic_ai"],
        "target_hook_le_150ms": hook_passed,
        "calls": opts.calls,
        "rounds": opts.rounds,
        "warmup": opts.warmup,
        "hook_runs": opts.hook_runs,
        "seed": opts.seed,
        "calls_logged": inproc.calls_logged,
        "hook_manifest": str(opts.hook_manifest),
        "kernel": platform.release(),
        "nproc": os.cpu_count(),
        "loadavg_1m": round(os.getloadavg()[0], 2),
        "python": platform.python_version(),
        "wall_s": round(wall, 1),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
