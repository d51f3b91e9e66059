"""A sandbox-aware system prompt, generated from the manifest.

A model that knows the walls plans within them instead of probing them: which
tools exist and how each is handled (live, simulated, approval, off), the rules
and rate limits it will meet, the run limits that end everything, the compute
caps, what it can read and write, that there is no network, and how to call a
tool. The text is derived from the manifest alone, so the same manifest always
gives the same prompt (and ``enclosure prompt`` can print it in CI).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Literal

from enclosure.agent._summary import (
    ToolSummary,
    compute_limits,
    filesystem_paths,
    tool_summaries,
)
from enclosure.client import DEFAULT_SOCKET

if TYPE_CHECKING:
    from collections.abc import Mapping

    from enclosure.manifest import Manifest
    from enclosure.types import JSONObject

__all__ = ["format_duration", "format_size", "system_prompt"]

_SCHEMA_CHARS = 600

_OUTCOMES = {
    "allow": "runs",
    "deny": "is refused",
    "simulate": "is simulated",
    "approve": "waits for a human's approval",
    "kill": "KILLS THE RUN",
}

_CLIENT = """\
```python
from enclosure.client import Client     # on PYTHONPATH inside the sandbox

client = Client()                       # the socket at $ENCLOSURE_SOCKET
client.tools()                          # the tools above, with JSON schemas
result = client.call("TOOL", {"arg": "value"}, context={"why": "..."})
result["status"]     # executed | simulated | pending | blocked | failed | killed
result["value"]      # the tool's answer when executed or simulated
result["error"]      # {"code": "E-...", "message": "..."} otherwise
result["decision"]   # {"outcome", "rule", "reason"}: why it was decided so
result["approval_id"]  # when pending: call again later with approval_id=...
client.info()        # run id, limits, calls and budget left
```"""

_OUTCOME_ADVICE = """\
- `executed` / `simulated`: use `value`. A simulated call did not really happen; \
say so rather than claim it did.
- `blocked`: the policy refused it (`error.code`, `decision.reason` say why). Do not \
retry the same call: repeated denials can end the run. Change the plan.
- `pending`: a human must approve it. Carry on with other work and report the \
`approval_id`; once approved, the same call with `approval_id=` runs it.
- `failed`: the tool itself failed; the error says how.
- `killed`: the run is over. Stop."""


_MCP_CALLING = """\
## Calling tools

Call the tools above as MCP tools; the enclosure decides each call before it \
reaches the tool's server. A call that did not simply run comes back as a tool \
error whose text starts with `[enclosure]` and says why:
- refused: the policy said no (the rule is named). Do not retry the same call: \
repeated refusals can end the run. Change the plan.
- needs approval: a human must approve it; the text names the approval. Carry on \
with other work; once approved, the same call with the same arguments runs once.
- simulated: it did not really happen; say so rather than claim it did.
- failed: the tool or its server failed; the text has the code.
- the run was stopped: nothing more will run. Stop."""


def format_size(size: int) -> str:
    """``536870912`` -> ``512 MiB``.

    >>> format_size(64 * 1024**2)
    '64 MiB'
    """
    value = float(size)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":  # noqa: PLR2004 -- binary units
            return f"{value:g} {unit}"
        value /= 1024
    return f"{size} bytes"  # pragma: no cover -- the loop always returns


def format_duration(seconds: float) -> str:
    """``900`` -> ``15 min``.

    >>> format_duration(90)
    '90 s'
    """
    for unit, length in (("h", 3600), ("min", 60)):
        if seconds >= length and seconds % length == 0:
            return f"{seconds / length:g} {unit}"
    return f"{seconds:g} s"


def system_prompt(
    manifest: Manifest,
    schemas: Mapping[str, JSONObject] | None = None,
    *,
    socket: str = DEFAULT_SOCKET,
    via: Literal["socket", "mcp"] = "socket",
) -> str:
    """The system prompt for an agent running under ``manifest``.

    Args:
        manifest: the validated manifest.
        schemas: argument schemas by tool for tools whose manifest declares none
            (the router derives them from handler signatures).
        socket: the socket path the agent sees.
        via: how the agent reaches its tools: the enclosure's socket from
            inside the sandbox, or MCP through ``enclosure mcp`` (the server's
            ``instructions``), where the tools' servers run in the sandbox.
    """
    agent = manifest.agent
    intro = f"You are {agent.name}, an AI agent running inside an enclosure."
    if agent.description:
        intro += f" Your job: {agent.description.rstrip('.')}."
    intro += (
        " Every action you take on the world is a tool call that the enclosure "
        "checks against a permission manifest and records in a tamper-evident "
        "decision log before anything happens. Plan within the limits below "
        "instead of probing them."
    )
    if via == "mcp":
        parts = [
            intro,
            _tools_section(tool_summaries(manifest, schemas)),
            _run_section(manifest),
            _sandbox_section(manifest).replace(
                "Your program runs", "The tools' servers run", 1
            ),
            _MCP_CALLING,
        ]
        return "\n\n".join(parts) + "\n"
    parts = [
        intro,
        _tools_section(tool_summaries(manifest, schemas)),
        _run_section(manifest),
        _sandbox_section(manifest),
        "## Calling tools\n\nTools are reached only through the enclosure's socket "
        f"({socket}; JSON-RPC 2.0, one JSON object per line; methods `tools/list`, "
        "`tools/call`, `run/info`). In Python:\n\n" + _CLIENT,
        "## What each result means\n\n" + _OUTCOME_ADVICE,
    ]
    return "\n\n".join(parts) + "\n"


def _tools_section(tools: list[ToolSummary]) -> str:
    usable = [t for t in tools if t.available]
    off = [t for t in tools if not t.available]
    lines = ["## Tools", ""]
    if usable:
        lines.append("Only these tools exist; a call to any other tool is refused.")
        lines.append("")
        lines.extend(_tool_lines(t) for t in usable)
    else:
        lines.append("No tool is available: every call will be refused.")
    if off:
        names = ", ".join(f"`{t.name}`" for t in off)
        lines += ["", f"Off-limits (switched off; every call is refused): {names}."]
    return "\n".join(lines)


def _tool_lines(tool: ToolSummary) -> str:
    handling = {
        "live": "runs for real",
        "simulate": "SIMULATED: answered by a simulator, nothing really happens",
        "approve": "NEEDS APPROVAL: each call waits for a human (status pending)",
    }[tool.mode]
    where = {
        "command": "in the sandbox",
        "upstream": "on an MCP server",
    }.get(tool.kind, "on the host")
    head = f"- `{tool.name}` ({tool.effect}; {handling}; runs {where})"
    if tool.description:
        head += f": {tool.description}"
    lines = [head, f"  - arguments: `{_compact(tool.input_schema)}`"]
    lines.extend(f"  - rate limit: {rate}" for rate in tool.rate)
    if tool.cost:
        lines.append(f"  - cost: {tool.cost:g} per call")
    for rule in tool.rules:
        reason = f" ({rule.reason})" if rule.reason else ""
        condition = "always" if rule.when.strip() == "true" else f"when `{rule.when}`"
        lines.append(f"  - {condition}: the call {_OUTCOMES[rule.then]}{reason}")
    return "\n".join(lines)


def _compact(schema: JSONObject) -> str:
    text = json.dumps(schema, separators=(",", ":"), sort_keys=True)
    if len(text) > _SCHEMA_CHARS:
        return text[:_SCHEMA_CHARS] + "... (see tools/list)"
    return text


def _run_section(manifest: Manifest) -> str:
    ks = manifest.kill_switch
    limits = []
    if ks.max_calls is not None:
        limits.append(f"more than {ks.max_calls} tool calls in all")
    if ks.max_cost is not None:
        limits.append(f"a total cost over {ks.max_cost:g}")
    if ks.max_denials is not None:
        limits.append(f"{ks.max_denials} refused calls")
    if ks.max_consecutive_errors is not None:
        limits.append(f"{ks.max_consecutive_errors} failed calls in a row")
    if ks.repeated_calls is not None:
        rc = ks.repeated_calls
        limits.append(
            f"the same call (tool and arguments) {rc.max} times within "
            f"{format_duration(rc.window)}"
        )
    limits.extend(
        f"`{c.when}`" + (f" ({c.reason})" if c.reason else "") for c in ks.conditions
    )
    lines = ["## Run limits", ""]
    if limits:
        lines.append("The run is killed, and nothing more runs, on any of:")
        lines.extend(f"- {limit}" for limit in limits)
    else:
        lines.append("No run-wide call limits are set; rate limits still apply.")
    lines += [
        "",
        (
            "A call parked for approval expires after "
            f"{format_duration(manifest.approvals.ttl)} and then counts as refused."
        ),
    ]
    return "\n".join(lines)


def _sandbox_section(manifest: Manifest) -> str:
    c = compute_limits(manifest)
    fs = filesystem_paths(manifest)
    if c["backend"] == "none":
        where = (
            "Your program runs on the host WITHOUT isolation (`compute.backend: "
            "none`); the limits below still apply."
        )
    else:
        where = (
            "Your program runs in a sandbox with NO network at all: no DNS, no "
            "HTTP, no sockets out. Do not try; use the tools. /usr is read-only, "
            "/tmp is private and discarded at the end, and nothing else on the host "
            "is visible."
        )
    caps = (
        f"- wall time {format_duration(c['wall_time_s'])} (then the whole program "
        f"is killed), CPU {format_duration(c['cpu_s'])}, memory "
        f"{format_size(c['memory_bytes'])}, {c['processes']} processes, "
        f"{c['open_files']} open files"
    )
    output = (
        f"- output kept: {format_size(c['output_bytes'])} each of stdout and stderr "
        "(more kills the program); largest file "
        f"{format_size(c['file_size_bytes'])}; /tmp {format_size(c['tmp_bytes'])}"
    )
    lines = ["## Sandbox", "", where, "", caps, output]
    env = ", ".join(f"`{name}`" for name in c["env"]) or "none"
    lines.append(f"- environment variables from outside: {env}; no credentials")
    read = ", ".join(f"`{p}`" for p in fs["read"]) or "nothing"
    lines.append(f"- readable (read-only): {read}")
    if fs["write"]:
        write = ", ".join(f"`{p}`" for p in fs["write"])
        lines.append(
            f"- writable: {write}. Writes are QUARANTINED: they go to a per-run copy "
            "and reach the real files only after a human reviews them (at most "
            f"{format_size(c['disk_bytes'])} in all)"
        )
    else:
        lines.append("- writable: only /tmp")
    return "\n".join(lines)
