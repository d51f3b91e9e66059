"""The permission manifest as pydantic models: one file declares what an agent may do.

Default deny runs through the whole shape: a tool that is not named is refused, a
section that this version cannot enforce is rejected rather than ignored, and unknown
keys are errors. Conditions are kept as CEL source text here; the policy package
compiles them. This module must not know about CEL, storage or I/O.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from enclosure._json import sha256_json
from enclosure.manifest._compute import ComputeSpec, FilesystemSpec
from enclosure.manifest._maturity import LadderSpec, Stage, TaintSpec
from enclosure.manifest._monitoring import AuditSpec, CostSpec, MonitoringSpec
from enclosure.manifest._network import CredentialSpec, NetworkSpec
from enclosure.manifest._upstreams import UpstreamSpec
from enclosure.types import Effect, Mode, OnExceed, Outcome

__all__ = [
    "AgentSpec",
    "ApprovalsSpec",
    "GlobalRule",
    "KillCondition",
    "KillSwitch",
    "Manifest",
    "RateLimit",
    "RedactSpec",
    "RepeatedCalls",
    "Rule",
    "ToolSpec",
    "UpstreamSpec",
    "parse_duration",
    "parse_rate",
]

_UNITS = {
    "ms": 0.001,
    "s": 1,
    "sec": 1,
    "second": 1,
    "m": 60,
    "min": 60,
    "minute": 60,
    "h": 3600,
    "hour": 3600,
    "d": 86400,
    "day": 86400,
}
# The unit is matched greedily ("ms" must not read as "m" plus a plural "s");
# parse_duration drops a plural "s" when the unit is not known as written.
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-z]+)\s*$")
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d+(?:\.\d+)?)?\s*([a-z]+)\s*$")
NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.\-]{0,63}$"


def parse_duration(value: object) -> float:
    """Turn ``90``, ``"90s"``, ``"15m"``, ``"1h"`` or ``"1d"`` into seconds.

    >>> parse_duration("15m")
    900.0
    """
    if isinstance(value, bool):
        raise PydanticCustomError("E-MANIFEST-VALUE", "a duration cannot be a boolean")
    if isinstance(value, int | float):
        try:
            seconds = float(value)
        except OverflowError:  # an int too large for a float: far more than a year
            seconds = float("inf")
    elif isinstance(value, str) and (m := _DURATION.match(value.lower())):
        unit = _UNITS.get(m.group(2)) or _UNITS.get(m.group(2).rstrip("s"))
        if unit is None:
            raise PydanticCustomError(
                "E-MANIFEST-VALUE", "unknown time unit '{unit}'", {"unit": m.group(2)}
            )
        seconds = float(m.group(1)) * unit
    else:
        raise PydanticCustomError(
            "E-MANIFEST-VALUE",
            "expected a duration such as 30s, 15m, 1h or a number of seconds",
        )
    if not 0 < seconds <= 366 * 86400:
        raise PydanticCustomError(
            "E-MANIFEST-VALUE", "a duration must be more than 0 and at most a year"
        )
    return seconds


def parse_rate(value: str) -> tuple[int, float]:
    """Turn ``"3/minute"``, ``"100/hour"`` or ``"5/10s"`` into (count, seconds).

    >>> parse_rate("3/minute")
    (3, 60.0)
    """
    m = _RATE.match(value.lower())
    if not m:
        raise PydanticCustomError(
            "E-MANIFEST-VALUE",
            "expected a rate such as 3/minute, 100/hour or 5/10s, got '{value}'",
            {"value": value},
        )
    count = int(m.group(1))
    seconds = parse_duration(f"{m.group(2) or 1}{m.group(3)}")
    if count < 1:
        raise PydanticCustomError("E-MANIFEST-VALUE", "a rate must allow at least 1")
    return count, seconds


# json_schema_input_type: the exported schema accepts what the loader accepts.
Duration = Annotated[
    float, BeforeValidator(parse_duration, json_schema_input_type=float | str)
]
CelSource = Annotated[str, Field(min_length=1, max_length=4096)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class AgentSpec(_Strict):
    """Who the manifest is for."""

    name: Annotated[str, Field(pattern=NAME_PATTERN)]
    description: str = ""


class Rule(_Strict):
    """When ``when`` is true, the call gets ``then``; the first match wins."""

    name: Annotated[str, Field(pattern=NAME_PATTERN)] | None = None
    when: CelSource = "true"
    """CEL over ``args``, ``run``, ``tool`` and ``context``."""
    then: Outcome
    reason: str = ""


class GlobalRule(Rule):
    """A rule for several tools, checked before each tool's own rules."""

    tools: list[str] | None = None
    """Tools it applies to; all tools when absent."""
    effect: Effect | None = None
    """Only tools with this effect."""


class RateLimit(_Strict):
    """At most ``limit`` calls in any window of its length, per ``key``."""

    limit: str
    key: CelSource | None = None
    """CEL giving the bucket a call counts against (``args.to`` per recipient)."""
    on_exceed: OnExceed | None = None
    """Overrides the tool's ``on_exceed``."""

    @field_validator("limit")
    @classmethod
    def _check_limit(cls, value: str) -> str:
        parse_rate(value)
        return value

    @property
    def count(self) -> int:
        return parse_rate(self.limit)[0]

    @property
    def window_s(self) -> float:
        return parse_rate(self.limit)[1]


def _rate_list(value: Any) -> Any:
    if isinstance(value, str | dict):
        value = [value]
    if isinstance(value, list):
        return [{"limit": v} if isinstance(v, str) else v for v in value]
    return value


class ToolSpec(_Strict):
    """One tool the agent may ask for, and how each call to it is handled."""

    description: str = ""
    effect: Effect = "write"
    """``read`` or ``write``; unknown tools are assumed to write."""
    mode: Mode = "live"
    """Handling when no rule matches. ``deny`` switches the tool off entirely."""
    input_schema: dict[str, Any] | None = None
    """JSON Schema of the arguments; from the handler's type hints when absent."""
    output_schema: dict[str, Any] | None = None
    handler: Annotated[str, Field(pattern=r"^[\w.]+:[\w.]+$")] | None = None
    """``module:function`` to import; or register with ``@enc.tool``."""
    simulator: Annotated[str, Field(pattern=r"^[\w.]+:[\w.]+$")] | None = None
    rules: list[Rule] = Field(default_factory=list)
    rate: Annotated[
        list[RateLimit],
        BeforeValidator(
            _rate_list,
            json_schema_input_type=str | RateLimit | list[str | RateLimit],
        ),
    ] = Field(default_factory=list)
    on_exceed: OnExceed = "deny"
    cost: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 0.0
    command: (
        Annotated[
            list[Annotated[str, Field(max_length=4096)]],
            Field(min_length=1, max_length=256),
        ]
        | None
    ) = None
    """Run this argv in the sandbox instead of a Python handler. An element written
    ``{name}`` is replaced by that argument's value (one element, never a shell
    word); all arguments arrive as JSON on stdin."""
    upstream: Annotated[str, Field(pattern=NAME_PATTERN)] | None = None
    """The ``upstreams`` entry whose MCP tool this is: the tool of the same name,
    or, for a tool written ``<upstream>.<name>``, the one called ``<name>``."""
    pin: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")] | None = None
    """For an upstream tool: the SHA-256 its name, description and input schema
    must hash to (the gateway prints it when a tool changes)."""
    stage: Stage | None = None
    """Its rung on the maturity ladder (see ``ladder``); None: not on the ladder."""
    untrusted: bool = False
    """What it returns comes from outside (web pages, emails, tickets): taint it."""
    sensitive: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default_factory=list
    )
    """Arguments (recipient, URL, account, amount) that must not carry tainted
    values; see ``taint``."""

    @field_validator("command")
    @classmethod
    def _check_command(cls, argv: list[str] | None) -> list[str] | None:
        if argv is not None and not argv[0]:
            raise PydanticCustomError("E-MANIFEST-VALUE", "command[0] is empty")
        return argv

    @model_validator(mode="after")
    def _one_way_to_run(self) -> Self:
        ways = [w for w in ("command", "handler", "upstream") if getattr(self, w)]
        if len(ways) > 1:
            raise PydanticCustomError(
                "E-MANIFEST-VALUE",
                "a tool has one of 'command' (run in the sandbox), 'handler' "
                "(Python) or 'upstream' (an MCP server), not {ways}",
                {"ways": " and ".join(ways)},
            )
        if self.pin is not None and (self.command or self.handler):
            raise PydanticCustomError(
                "E-MANIFEST-VALUE", "'pin' applies to MCP upstream tools only"
            )
        return self


class RepeatedCalls(_Strict):
    """Kill a run that repeats the same call (tool and arguments) too often."""

    max: Annotated[int, Field(ge=2)]
    window: Duration = 60.0


class KillCondition(_Strict):
    """A CEL condition over ``run`` statistics that kills the run when true."""

    name: Annotated[str, Field(pattern=NAME_PATTERN)] | None = None
    when: CelSource
    reason: str = ""


class KillSwitch(_Strict):
    """Limits on a whole run; crossing one kills it before the next call runs."""

    max_calls: Annotated[int, Field(ge=1)] | None = None
    max_cost: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None
    max_denials: Annotated[int, Field(ge=1)] | None = None
    max_consecutive_errors: Annotated[int, Field(ge=1)] | None = None
    repeated_calls: RepeatedCalls | None = None
    conditions: list[KillCondition] = Field(default_factory=list)


class ApprovalsSpec(_Strict):
    """How long a parked call waits for a human before it turns into a denial."""

    ttl: Duration = 900.0


class RedactSpec(_Strict):
    """Extra secrets to keep out of the decision log."""

    env: list[str] = Field(default_factory=list)
    """Environment variables whose values are redacted wherever they appear."""


class Manifest(_Strict):
    """The whole permission manifest (``enclosure.yaml``)."""

    version: Literal[1] = 1
    agent: AgentSpec
    tools: dict[Annotated[str, Field(pattern=NAME_PATTERN)], ToolSpec] = Field(
        default_factory=dict
    )
    rules: list[GlobalRule] = Field(default_factory=list)
    kill_switch: KillSwitch = Field(default_factory=KillSwitch)
    approvals: ApprovalsSpec = Field(default_factory=ApprovalsSpec)
    redact: RedactSpec = Field(default_factory=RedactSpec)
    compute: ComputeSpec = Field(default_factory=ComputeSpec)
    filesystem: FilesystemSpec = Field(default_factory=FilesystemSpec)
    network: NetworkSpec = Field(default_factory=NetworkSpec)
    credentials: dict[Annotated[str, Field(pattern=NAME_PATTERN)], CredentialSpec] = (
        Field(default_factory=dict)
    )
    audit: AuditSpec = Field(default_factory=AuditSpec)
    monitoring: MonitoringSpec = Field(default_factory=MonitoringSpec)
    cost: CostSpec = Field(default_factory=CostSpec)
    upstreams: dict[Annotated[str, Field(pattern=NAME_PATTERN)], UpstreamSpec] = Field(
        default_factory=dict
    )
    """MCP servers whose tools ``enclosure mcp`` offers (see ``ToolSpec.upstream``)."""
    shadow: bool = False
    """Every run in shadow: read tools live, write tools simulated and recorded."""
    ladder: LadderSpec = Field(default_factory=LadderSpec)
    taint: TaintSpec = Field(default_factory=TaintSpec)

    _source: Any = PrivateAttr(default=None)

    @property
    def sha256(self) -> str:
        """Canonical SHA-256 of the validated manifest, stamped on every decision.

        Comments, key order and formatting do not change it; defaults are included,
        so two files that mean the same thing hash the same.
        """
        return sha256_json(self.model_dump(mode="json"))
