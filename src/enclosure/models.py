"""Frozen value types passed between the parts: calls, decisions, receipts, results."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from enclosure.types import Disposition, JSONObject, Outcome

__all__ = ["CallResult", "Decision", "ErrorInfo", "Receipt", "ToolCall", "trusted"]

M = TypeVar("M", bound=BaseModel)

_SET = object.__setattr__
_PLAIN: dict[type[BaseModel], tuple[str, ...]] = {}
"""Models ``trusted`` may build, with their fields in declaration order."""


def trusted(cls: type[M], **values: Any) -> M:
    """``cls.model_construct(**values)`` with every field given, in about half the time.

    For the call path's own models, built from values it made itself and checked
    types: nothing is validated, as with ``model_construct``; its cost does not
    grow with nested values as validation's does. ``values`` must
    name every field, no more; the instance is the one ``model_construct`` makes
    (same ``__dict__`` in field order, ``model_fields_set``, no extra, no private
    values). Models with aliases, private attributes, ``model_post_init``,
    ``extra="allow"`` or a root are refused.

    Raises:
        TypeError: a field is missing or unknown, or ``cls`` is such a model.
    """
    fields = _PLAIN.get(cls) or _plain_fields(cls)
    if tuple(values) != fields:  # given in another order, or not all of them
        if len(values) != len(fields):
            msg = (
                f"{cls.__name__}: give exactly the fields {fields}, not {tuple(values)}"
            )
            raise TypeError(msg)
        try:
            values = {name: values[name] for name in fields}
        except KeyError as exc:
            msg = f"{cls.__name__}: missing field {exc.args[0]!r}"
            raise TypeError(msg) from None
    m = cls.__new__(cls)
    _SET(m, "__dict__", values)
    _SET(m, "__pydantic_fields_set__", set(fields))
    _SET(m, "__pydantic_extra__", None)
    _SET(m, "__pydantic_private__", None)
    return m


def _plain_fields(cls: type[BaseModel]) -> tuple[str, ...]:
    fields = cls.__pydantic_fields__
    if (
        cls.__pydantic_root_model__
        or cls.__pydantic_post_init__
        or cls.__private_attributes__
        or cls.model_config.get("extra") == "allow"
        or any(f.alias or f.validation_alias for f in fields.values())
    ):
        msg = f"{cls.__name__} cannot be built by trusted(); use model_construct"
        raise TypeError(msg)
    _PLAIN[cls] = names = tuple(fields)
    return names


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ToolCall(_Frozen):
    """One action an agent proposes."""

    tool: str
    """Name of the tool as declared in the manifest."""
    args: JSONObject = Field(default_factory=dict)
    """Proposed arguments, before validation."""
    context: JSONObject = Field(default_factory=dict)
    """What led to the call (the input the agent was reading, a ticket, an email):
    visible to rule conditions as ``context`` and logged as a hash and an excerpt."""
    call_id: str = ""
    """Unique id the run gives the call; empty until the run assigns it."""


class Decision(_Frozen):
    """The policy engine's verdict on one call, with everything needed to explain it."""

    outcome: Outcome
    rule: str
    """Which rule decided, as a stable path: ``tools.send_email.rules[0]``,
    ``tools.send_email.rate[0]``, ``kill_switch.max_calls``, ``default-deny``."""
    reason: str
    """One sentence a person (or the agent) can read."""
    tool: str
    manifest_sha256: str
    cost: float = 0.0
    """Cost the call will add if it runs."""
    via_approval: bool = False
    """True when ``allow`` stands on a human approval of exactly this call."""


class ErrorInfo(_Frozen):
    """A coded error as it appears in results and the decision log."""

    code: str
    message: str


class Receipt(_Frozen):
    """Proof that a call was decided and recorded: where it sits in the log."""

    call_id: str
    run_id: str
    tool: str
    args_sha256: str
    disposition: Disposition
    event_seq: int
    event_hash: str
    latency_us: int
    output_sha256: str | None = None
    sandbox: JSONObject | None = None
    """For a ``command`` tool: exit status, the limit that fired, output digest."""


class CallResult(_Frozen):
    """What ``Run.call`` returns for every outcome; it never raises for a refusal."""

    status: Disposition
    decision: Decision
    value: Any = None
    """The tool's (or simulator's) return value when the call ran or was simulated."""
    receipt: Receipt | None = None
    error: ErrorInfo | None = None
    approval_id: str | None = None

    @property
    def ok(self) -> bool:
        """True when the call ran (or was simulated) without error."""
        return self.status in ("executed", "simulated")

    def unwrap(self) -> Any:
        """Return ``value``, or raise the coded error that explains why there is none.

        Raises:
            ToolDenied: the call was blocked.
            ApprovalPending: the call waits for a human decision.
            RunKilled: the run was killed.
            ToolFailed: the tool raised.
        """
        from enclosure import errors  # noqa: PLC0415 -- keeps models import-light

        if self.ok:
            return self.value
        message = self.error.message if self.error else self.decision.reason
        code = self.error.code if self.error else None
        if self.status == "pending" and self.approval_id is not None:
            raise errors.ApprovalPending(message, approval_id=self.approval_id)
        if self.status == "killed":
            raise errors.RunKilled(message, code=code)
        if self.status == "failed":
            raise errors.ToolFailed(message, code=code)
        raise errors.ToolDenied(message, code=code)
