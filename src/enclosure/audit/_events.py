"""Audit events: a tagged union of frozen models, one keyed lookup to parse.

Events are plain data. They know nothing of storage, hashing or the policy engine;
the run builds them and the decision log chains and stores them.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeAlias

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    TypeAdapter,
    model_serializer,
)

from enclosure.models import ErrorInfo
from enclosure.types import Disposition, JSONObject, Outcome, RunStatus

__all__ = [
    "AlertEvent",
    "AnomalyEvent",
    "ApprovalEvent",
    "ArtifactEvent",
    "CheckpointEvent",
    "DecisionEvent",
    "Event",
    "ExecEvent",
    "KillEvent",
    "LadderEvent",
    "ManifestEvent",
    "OutcomeEvent",
    "ResultEvent",
    "RunEndedEvent",
    "RunStartedEvent",
    "ShadowEvent",
    "ToolPinEvent",
    "UsageEvent",
    "ValidatorResult",
    "parse_event",
]


class _Event(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    run_id: str
    ts: str
    """RFC 3339 UTC timestamp with microseconds."""


class RunStartedEvent(_Event):
    kind: Literal["run_started"] = "run_started"
    agent: str
    task: str
    model: str | None = None
    prompt_version: str | None = None
    manifest_sha256: str
    started_by: str | None = None


class ValidatorResult(BaseModel):
    """Outcome of argument (or result) validation against the tool's schema."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ok: bool
    errors: list[str] = Field(default_factory=list)


class DecisionEvent(_Event):
    """One per call: the input, the policy verdict and what became of the call.

    For a live call it is written *before* the tool runs (disposition
    ``dispatched``), so a call that could not be logged never runs; a
    ``ResultEvent`` with the same ``call_id`` then carries the receipt.
    """

    kind: Literal["decision"] = "decision"
    call_id: str
    tool: str
    args: JSONObject
    """Proposed arguments after redaction, long strings cut (see ``args_sha256``)."""
    args_sha256: str
    """SHA-256 of the canonical JSON of the full, unredacted arguments."""
    context_sha256: str
    context_excerpt: str
    agent: str
    model: str | None = None
    prompt_version: str | None = None
    validator: ValidatorResult
    outcome: Outcome
    rule: str
    reason: str
    disposition: Disposition
    approval_id: str | None = None
    receipt: JSONObject | None = None
    error: ErrorInfo | None = None
    latency_us: int
    """Time from receiving the call to this event (policy and validation)."""
    cost: float
    manifest_sha256: str


class ResultEvent(_Event):
    """What a live call did: its receipt, or its error."""

    kind: Literal["result"] = "result"
    call_id: str
    tool: str
    disposition: Literal["executed", "failed"]
    receipt: JSONObject | None = None
    error: ErrorInfo | None = None
    latency_us: int
    """Wall time of the handler alone."""
    cost: float


class KillEvent(_Event):
    kind: Literal["kill"] = "kill"
    rule: str
    reason: str
    call_id: str | None = None
    by: str | None = None
    """Who killed the run (an operator's identity); None when a rule or signal did.

    Added after logs with kill events existed: left out of the body while None,
    so a kill stored before it was added still encodes to the bytes it was
    hashed as (``verify`` re-encodes every body)."""

    @model_serializer(mode="wrap")
    def _without_unset_by(self, handler: SerializerFunctionWrapHandler) -> Any:
        data = handler(self)
        if isinstance(data, dict) and data.get("by") is None:
            data.pop("by", None)
        return data


class AlertEvent(_Event):
    kind: Literal["alert"] = "alert"
    severity: Literal["info", "warning", "critical"]
    rule: str
    message: str


class ApprovalEvent(_Event):
    kind: Literal["approval"] = "approval"
    approval_id: str
    action: Literal["requested", "approved", "denied", "expired", "consumed"]
    tool: str
    binding_sha256: str
    by: str | None = None
    reason: str | None = None


class ExecEvent(_Event):
    """A command the enclosure ran in a sandbox (``enclosure exec``/``run``, tools)."""

    kind: Literal["exec"] = "exec"
    backend: str
    """``bubblewrap``, or ``none`` when the manifest chose to run unsandboxed."""
    argv: list[str]
    exit_code: int
    limit: str | None = None
    """The cap that stopped the command, if one did."""
    duration_ms: float
    output_sha256: str
    call_id: str | None = None


class ArtifactEvent(_Event):
    """A file a run left in quarantine: scanned, then promoted or rejected."""

    kind: Literal["artifact"] = "artifact"
    action: Literal["scanned", "promoted", "rejected"]
    artifact_id: str
    path: str
    """Host path it would be promoted to."""
    change: Literal["added", "modified", "deleted"]
    sha256: str | None = None
    """Content hash at scan time (None for a deletion)."""
    findings: list[str] = Field(default_factory=list)
    """Scanner findings by code, e.g. ``secret:AWS Access Key``, ``executable``."""
    by: str | None = None
    reason: str | None = None


class EgressEvent(_Event):
    """One request (or CONNECT tunnel) through the run's egress proxy.

    Refusals are decisions too: ``outcome`` is ``denied`` and ``rule``/``reason``
    say why. Secrets are never here: ``credential`` is the name of the one the
    proxy injected, and heads and bodies (only with ``network.log_bodies``) are
    logged after redaction.
    """

    kind: Literal["egress"] = "egress"
    principal: str
    """The tool that made the request, or ``agent``."""
    call_id: str | None = None
    method: str
    scheme: str
    """``http``, ``https`` (TLS terminated by the proxy) or ``tunnel``."""
    host: str
    port: int
    path: str
    status: int
    outcome: Literal["allowed", "denied", "error"]
    rule: str | None = None
    reason: str = ""
    code: str = ""
    address: str | None = None
    """The IP address the proxy connected to (after its SSRF check)."""
    credential: str | None = None
    bytes_up: int = 0
    bytes_down: int = 0
    duration_ms: float = 0.0
    request_headers: dict[str, str] | None = None
    response_headers: dict[str, str] | None = None
    request_body: str | None = None
    response_body: str | None = None


class CheckpointEvent(_Event):
    """A signed commitment to the Merkle root of the first ``tree_size`` events.

    ``signature`` is Ed25519 over ``checkpoint_note(tree_size, root_hash, ts)``
    (see ``_checkpoint``) by the key ``key_id`` names; ``frontier`` holds the
    roots of the complete subtrees of that tree, so a writer can resume extending
    it without reading every event again. Verification recomputes the root from
    the events and never trusts ``frontier``.
    """

    kind: Literal["checkpoint"] = "checkpoint"
    tree_size: int
    root_hash: str
    """Hex SHA-256 Merkle root (RFC 9162) over the events' chain hashes."""
    key_id: str
    signature: str
    """Base64 Ed25519 signature."""
    frontier: list[str]


class AnomalyEvent(_Event):
    """An alert raised by a monitoring detector over the event stream."""

    kind: Literal["anomaly"] = "anomaly"
    detector: str
    """``call_rate``, ``new_tool``, ``new_host``, ``cost_burn``, ``denials``,
    ``repeated_calls`` or ``error_streak``."""
    severity: Literal["warning", "critical"]
    message: str
    action: Literal["notify", "kill"]
    trigger_seq: int
    """The event that tripped the detector."""
    latency_us: int
    """From the triggering event's acknowledgement to this alert."""


class UsageEvent(_Event):
    """Model tokens a run reported, and what they cost by the price table."""

    kind: Literal["usage"] = "usage"
    model: str
    input_tokens: int
    output_tokens: int
    cost: float


class ToolPinEvent(_Event):
    """The MCP gateway saw an upstream tool: first pinned, changed, or re-pinned.

    ``changed`` means the tool now hashes differently from its pin (a "rug
    pull", or an injected description): the gateway withholds it and raises an
    alert until the manifest pins the new hash.
    """

    kind: Literal["tool_pin"] = "tool_pin"
    upstream: str
    tool: str
    """The tool's name on the upstream."""
    action: Literal["pinned", "changed", "repinned"]
    sha256: str
    """SHA-256 of the tool's name, description and input schema as seen now."""
    pinned_sha256: str | None = None
    """The hash it was pinned to before (``changed`` and ``repinned``)."""


class ShadowEvent(_Event):
    """A write a shadow run proposed and simulated, recorded in full.

    ``case_id`` is the run's task: the case people handled too, to compare with
    (see ``OutcomeEvent``). ``args`` are redacted but not cut.
    """

    kind: Literal["shadow"] = "shadow"
    call_id: str
    case_id: str
    tool: str
    args: JSONObject


class OutcomeEvent(_Event):
    """What people actually did for one shadow case (``enclosure shadow import``).

    ``action`` is a tool name, or ``none`` for a case where nothing was done;
    ``source`` is ``file:line`` of the imported row. ``run_id`` is empty.
    """

    kind: Literal["outcome"] = "outcome"
    case_id: str
    action: str
    args: JSONObject = Field(default_factory=dict)
    source: str = ""


class LadderEvent(_Event):
    """A tool moved on the maturity ladder.

    Promoted by a person; demoted by one, or automatically after an incident
    (``by`` is ``enclosure`` then).
    """

    kind: Literal["ladder"] = "ladder"
    tool: str
    action: Literal["promoted", "demoted"]
    from_stage: int
    to_stage: int
    by: str
    reason: str
    evidence: JSONObject = Field(default_factory=dict)


class ManifestEvent(_Event):
    """Someone uploaded a manifest version to the server. ``run_id`` is empty."""

    kind: Literal["manifest"] = "manifest"
    action: Literal["uploaded"]
    version: int
    sha256: str
    """SHA-256 of the text as uploaded."""
    manifest_sha256: str
    by: str


class RunEndedEvent(_Event):
    kind: Literal["run_ended"] = "run_ended"
    status: RunStatus
    calls: int
    cost: float
    denials: int
    errors: int


Event: TypeAlias = Annotated[
    RunStartedEvent
    | DecisionEvent
    | ResultEvent
    | KillEvent
    | AlertEvent
    | ApprovalEvent
    | ExecEvent
    | ArtifactEvent
    | EgressEvent
    | CheckpointEvent
    | AnomalyEvent
    | UsageEvent
    | ToolPinEvent
    | ShadowEvent
    | OutcomeEvent
    | LadderEvent
    | ManifestEvent
    | RunEndedEvent,
    Field(discriminator="kind"),
]

_EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)


def parse_event(data: bytes | str) -> Event:
    """Parse one event from its JSON form.

    Raises:
        pydantic.ValidationError: the data is not a known event.
    """
    return _EVENT_ADAPTER.validate_json(data)
