"""Request bodies: strict pydantic models (unknown fields and coercions are refused).

Their JSON Schemas go into the OpenAPI document as they are.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    RootModel,
    Tag,
)

from enclosure.types import JSONObject

__all__ = [
    "CallBody",
    "DecideBody",
    "EscalateBody",
    "Escalation",
    "HostEscalation",
    "KillBody",
    "LimitEscalation",
    "ManifestBody",
    "PromoteBody",
    "RejectBody",
    "StartRunBody",
    "TokenBody",
    "ToolEscalation",
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


def _json_integer(value: object) -> object:
    """A whole float (``5.0``) as the integer JSON Schema takes it for; else as is."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value  # strict validation refuses anything else that is not an int


# Integer fields: strict (no ``true``, no ``"5"``), but ``5.0`` is 5. The bounds
# come before the validator, or pydantic leaves them out of the JSON Schema.
_Port = Annotated[int, Field(ge=1, le=65535), BeforeValidator(_json_integer)]
_Limit = Annotated[int, Field(ge=1, le=1_000_000), BeforeValidator(_json_integer)]
_RateIndex = Annotated[int, Field(ge=0, le=63), BeforeValidator(_json_integer)]
_TOOL = Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f]+$")
_JUSTIFICATION = Field(min_length=1, max_length=2000)


class ToolEscalation(_Body):
    """A ``tool`` the manifest switches off (``kind`` may be left out)."""

    kind: Literal["tool"] = "tool"
    tool: str = _TOOL
    justification: str = _JUSTIFICATION


class HostEscalation(_Body):
    """A ``host`` (exact or ``*.suffix``) on ``ports`` (443 when none).

    Every method, or only ``methods``.
    """

    kind: Literal["host"]
    host: str = Field(min_length=1, max_length=300)
    ports: list[_Port] = Field(default_factory=list, max_length=16)
    methods: list[Annotated[str, Field(min_length=1, max_length=16)]] = Field(
        default_factory=list, max_length=16
    )
    justification: str = _JUSTIFICATION


class LimitEscalation(_Body):
    """A higher ``limit`` for one of the ``tool``'s rate windows.

    ``rate`` is the window's index in the tool's ``rate`` list, the first by default.
    """

    kind: Literal["limit"]
    tool: str = _TOOL
    limit: _Limit
    rate: _RateIndex = 0
    justification: str = _JUSTIFICATION


Escalation = ToolEscalation | HostEscalation | LimitEscalation
"""One escalation request, by its ``kind``."""


def _kind(value: object) -> str:
    kind = value.get("kind", "tool") if isinstance(value, dict) else "tool"
    return kind if kind in ("tool", "host", "limit") else "unknown"


class EscalateBody(RootModel[Escalation]):
    """Ask for what the manifest does not grant, for this run only.

    One of three shapes, told apart by ``kind``: ``tool`` (the default), ``host``
    or ``limit``; each takes only its own fields, and its JSON Schema says so
    (``oneOf``), so a body valid by the schema is one the server accepts.
    """

    model_config = ConfigDict(frozen=True, strict=True)
    root: Annotated[
        Annotated[ToolEscalation, Tag("tool")]
        | Annotated[HostEscalation, Tag("host")]
        | Annotated[LimitEscalation, Tag("limit")],
        Discriminator(_kind),
    ]


class ManifestBody(_Body):
    """A manifest's YAML text (or the whole body, sent as ``application/yaml``)."""

    text: str = Field(max_length=1024 * 1024)


class PromoteBody(_Body):
    """Promote one artifact; findings (secrets, executable bits...) need accepting."""

    accept_findings: bool = False


class RejectBody(_Body):
    """Reject one artifact (it stays in quarantine); the reason goes into the log."""

    reason: str = Field(min_length=1, max_length=2000)
