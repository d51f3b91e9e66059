"""Request bodies: strict pydantic models (unknown fields and coercions are refused).

Their JSON Schemas go into the OpenAPI document as they are.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from enclosure.types import JSONObject

__all__ = [
    "CallBody",
    "DecideBody",
    "EscalateBody",
    "KillBody",
    "ManifestBody",
    "PromoteBody",
    "RejectBody",
    "StartRunBody",
    "TokenBody",
]

_NAME = Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f]+$")


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class StartRunBody(_Body):
    """Start a run acting as the calling agent."""

    task: str = Field(min_length=1, max_length=2000)
    agent: str | None = Field(default=None, min_length=1, max_length=200)
    model: str | None = Field(default=None, max_length=200)


class CallBody(_Body):
    """One tool call in a run; ``approval_id`` redeems an approval for it."""

    tool: str = _NAME
    args: JSONObject = Field(default_factory=dict)
    context: JSONObject | None = None
    approval_id: str | None = Field(default=None, max_length=100)


class DecideBody(_Body):
    """An approver's decision; the reason goes into the audit event."""

    reason: str | None = Field(default=None, max_length=2000)


class KillBody(_Body):
    """Why an operator kills a run."""

    reason: str = Field(min_length=1, max_length=2000)


class TokenBody(_Body):
    """A new API token: the identity it acts as, its role and lifetime."""

    name: str = _NAME
    role: Literal["agent", "approver", "operator", "viewer", "admin"]
    ttl_seconds: float | None = Field(default=None, gt=0, le=10 * 365 * 86400)


class EscalateBody(_Body):
    """Ask for a tool the manifest switches off, for this run only."""

    tool: str = _NAME
    justification: str = Field(min_length=1, max_length=2000)


class ManifestBody(_Body):
    """A manifest's YAML text (or the whole body, sent as ``application/yaml``)."""

    text: str = Field(max_length=1024 * 1024)


class PromoteBody(_Body):
    """Promote one artifact; findings (secrets, executable bits...) need accepting."""

    accept_findings: bool = False


class RejectBody(_Body):
    """Reject one artifact (it stays in quarantine); the reason goes into the log."""

    reason: str = Field(min_length=1, max_length=2000)
