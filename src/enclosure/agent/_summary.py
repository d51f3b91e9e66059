"""What an agent may know about its enclosure, read off the manifest as plain data.

One source for three readers: ``tools/list`` and ``run/info`` on the socket, the
generated system prompt, and ``enclosure prompt --json``. Everything here is
derived from the manifest alone (plus handler-derived argument schemas when the
caller has them), so it never touches the log, the sandbox or a clock.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from enclosure.sandbox import manifest_dir

if TYPE_CHECKING:
    from collections.abc import Mapping

    from enclosure.manifest import GlobalRule, Manifest, ToolSpec
    from enclosure.types import Effect, JSONObject, Mode, Outcome

__all__ = [
    "RuleSummary",
    "ToolSummary",
    "compute_limits",
    "filesystem_paths",
    "kill_limits",
    "manifest_summary",
    "tool_summaries",
]


@dataclass(frozen=True, slots=True)
class RuleSummary:
    """One rule that can decide a tool's calls, in the order it is checked."""

    when: str
    then: Outcome
    reason: str
    scope: str
    """``tool`` for the tool's own rules, ``global`` for a top-level rule."""

    def to_json(self) -> JSONObject:
        return {
            "when": self.when,
            "then": self.then,
            "reason": self.reason,
            "scope": self.scope,
        }


@dataclass(frozen=True, slots=True)
class ToolSummary:
    """One declared tool as the agent sees it: what it does and how it is handled."""

    name: str
    description: str
    effect: Effect
    mode: Mode
    """Handling when no rule matches: live, simulate, approve or deny."""
    kind: str
    """``python`` (a host handler), ``command`` (run in the sandbox) or
    ``upstream`` (a tool of an MCP server behind the gateway)."""
    input_schema: JSONObject
    rate: tuple[str, ...]
    cost: float
    rules: tuple[RuleSummary, ...]

    @property
    def available(self) -> bool:
        """False when ``mode: deny`` switched the tool off."""
        return self.mode != "deny"

    @property
    def simulated(self) -> bool:
        """Calls are answered by a simulator unless a rule says otherwise."""
        return self.mode == "simulate"

    @property
    def needs_approval(self) -> bool:
        """Every call waits for a human unless a rule says otherwise."""
        return self.mode == "approve"

    @property
    def may_need_approval(self) -> bool:
        """Some calls (by a rule, or by the mode) wait for a human."""
        return self.needs_approval or any(r.then == "approve" for r in self.rules)

    def to_json(self) -> JSONObject:
        return {
            "name": self.name,
            "description": self.description,
            "effect": self.effect,
            "mode": self.mode,
            "kind": self.kind,
            "available": self.available,
            "simulated": self.simulated,
            "needs_approval": self.needs_approval,
            "may_need_approval": self.may_need_approval,
            "input_schema": self.input_schema,
            "rate": list(self.rate),
            "cost": self.cost,
            "rules": [r.to_json() for r in self.rules],
        }


def _applies(rule: GlobalRule, name: str, spec: ToolSpec) -> bool:
    if rule.tools is not None and name not in rule.tools:
        return False
    return rule.effect is None or rule.effect == spec.effect


def _rates(spec: ToolSpec) -> tuple[str, ...]:
    rates = []
    for rate in spec.rate:
        text = rate.limit
        if rate.key:
            text += f" per {rate.key}"
        over = rate.on_exceed or spec.on_exceed
        text += " (over it: " + ("THE RUN IS KILLED)" if over == "kill" else "refused)")
        rates.append(text)
    return tuple(rates)


def _kind(manifest: Manifest, spec: ToolSpec) -> str:
    if spec.command is not None:
        return "command"
    if spec.upstream is not None or (spec.handler is None and manifest.upstreams):
        return "upstream"
    return "python"


def tool_summaries(
    manifest: Manifest, schemas: Mapping[str, JSONObject] | None = None
) -> list[ToolSummary]:
    """Every declared tool, in manifest order.

    Args:
        manifest: the validated manifest.
        schemas: argument schemas by tool (from the router, which derives them from
            handler signatures); a schema in the manifest wins.
    """
    schemas = schemas or {}
    found = []
    for name, spec in manifest.tools.items():
        rules = [
            RuleSummary(r.when, r.then, r.reason, "global")
            for r in manifest.rules
            if _applies(r, name, spec)
        ]
        rules += [RuleSummary(r.when, r.then, r.reason, "tool") for r in spec.rules]
        schema = spec.input_schema or schemas.get(name) or {"type": "object"}
        found.append(
            ToolSummary(
                name=name,
                description=spec.description,
                effect=spec.effect,
                mode=spec.mode,
                kind=_kind(manifest, spec),
                input_schema=schema,
                rate=_rates(spec),
                cost=spec.cost,
                rules=tuple(rules),
            )
        )
    return found


def kill_limits(manifest: Manifest) -> JSONObject:
    """The kill switch: limits on the whole run (absent ones are left out)."""
    ks = manifest.kill_switch
    limits: JSONObject = {
        key: value
        for key, value in (
            ("max_calls", ks.max_calls),
            ("max_cost", ks.max_cost),
            ("max_denials", ks.max_denials),
            ("max_consecutive_errors", ks.max_consecutive_errors),
        )
        if value is not None
    }
    if ks.repeated_calls is not None:
        limits["repeated_calls"] = {
            "max": ks.repeated_calls.max,
            "window_s": ks.repeated_calls.window,
        }
    if ks.conditions:
        limits["conditions"] = [
            {"when": c.when, "reason": c.reason} for c in ks.conditions
        ]
    return limits


def compute_limits(manifest: Manifest) -> JSONObject:
    """The caps on the agent's own process tree inside the sandbox."""
    c = manifest.compute
    return {
        "backend": c.backend,
        "network": "host" if c.backend == "none" else "none",
        "cpu_s": c.cpu,
        "wall_time_s": c.wall_time,
        "memory_bytes": c.memory,
        "processes": c.processes,
        "open_files": c.open_files,
        "file_size_bytes": c.file_size,
        "output_bytes": c.output,
        "tmp_bytes": c.tmp_size,
        "disk_bytes": c.disk,
        "env": sorted([*c.env, *c.set_env]),
    }


def filesystem_paths(manifest: Manifest) -> JSONObject:
    """Absolute ``filesystem`` paths as the sandbox sees them; never raises."""
    base = manifest_dir(manifest)

    def absolute(value: str) -> str:
        path = Path(os.path.expanduser(value))  # noqa: PTH111 -- ~ in manifests
        return os.path.normpath(base / path)

    return {
        "read": [absolute(p) for p in manifest.filesystem.read],
        "write": [absolute(p) for p in manifest.filesystem.write],
        "writes_quarantined": True,
    }


def manifest_summary(
    manifest: Manifest, schemas: Mapping[str, JSONObject] | None = None
) -> JSONObject:
    """Everything above in one JSON object (``enclosure prompt --json``)."""
    return {
        "agent": {
            "name": manifest.agent.name,
            "description": manifest.agent.description,
        },
        "manifest_sha256": manifest.sha256,
        "tools": [t.to_json() for t in tool_summaries(manifest, schemas)],
        "kill_switch": kill_limits(manifest),
        "compute": compute_limits(manifest),
        "filesystem": filesystem_paths(manifest),
        "approvals": {"ttl_s": manifest.approvals.ttl},
    }
