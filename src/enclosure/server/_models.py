"""Request bodies: strict pydantic models (unknown fields are refused).

Their JSON Schemas go into the OpenAPI document as they are.
"""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from enclosure.types import JSONObject

__all__ = [
    "CallBody",
    "DecideBody",
    "EscalateBody",
    "KillBody",
    "StartRunBody",
    "TokenBody",
]

_NAME = Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f]+$")


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


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
    """Ask for what the manifest does not grant, for this run only.

    ``kind`` ``tool`` (the default): a ``tool`` the manifest switches off;
    ``host``: a ``host`` (exact or ``*.suffix``) on ``ports`` (443 when none),
    for every method or only ``methods``; ``limit``: a higher ``limit`` for the
    ``tool``'s rate window (its ``rate`` entry, the first by default).
    """

    kind: Literal["tool", "host", "limit"] = "tool"
    tool: str | None = Field(
        default=None, min_length=1, max_length=200, pattern=r"^[^\x00-\x1f]+$"
    )
    host: str | None = Field(default=None, min_length=1, max_length=300)
    ports: list[Annotated[int, Field(ge=1, le=65535)]] = Field(
        default_factory=list, max_length=16
    )
    methods: list[Annotated[str, Field(min_length=1, max_length=16)]] = Field(
        default_factory=list, max_length=16
    )
    rate: int = Field(default=0, ge=0, le=63)
    limit: int | None = Field(default=None, ge=1, le=1_000_000)
    justification: str = Field(min_length=1, max_length=2000)

    @model_validator(mode="after")
    def _fields_of_kind(self) -> Self:
        wanted = _KIND_FIELDS[self.kind]
        given = _KIND_ONLY & self.model_fields_set
        missing = sorted(wanted[0] - given)
        extra = sorted(given - wanted[0] - wanted[1])
        if missing:
            msg = f"an escalation of kind {self.kind!r} needs {', '.join(missing)}"
            raise ValueError(msg)
        if extra:
            msg = f"an escalation of kind {self.kind!r} takes no {', '.join(extra)}"
            raise ValueError(msg)
        return self


_KIND_FIELDS: dict[str, tuple[set[str], set[str]]] = {
    "tool": ({"tool"}, set()),
    "host": ({"host"}, {"ports", "methods"}),
    "limit": ({"tool", "limit"}, {"rate"}),
}
"""Per kind: the fields it needs, and the ones it may have besides."""
_KIND_ONLY = {"tool", "host", "ports", "methods", "rate", "limit"}
