"""Manifest sections for issue 9: the maturity ladder's gates and the taint guard.

A tool's ``stage`` (1 read-only, 2 shadow, 3 approval-gated, 4 autonomous within
limits, 5 broad autonomy) caps what the policy may let it do; ``ladder.gates`` say
what evidence moves a tool up; ``ladder.demote`` says what incident moves it down.
``taint`` says what happens when a value an untrusted tool returned shows up in a
sensitive argument. Plain data: no I/O, no evaluation here.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["DemoteSpec", "Gate", "LadderSpec", "Stage", "TaintSpec"]

Stage = Annotated[int, Field(ge=1, le=5)]
"""1 read-only, 2 shadow, 3 approval-gated, 4 autonomous within limits, 5 broad."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Gate(_Strict):
    """Evidence a tool needs before it may enter a stage; every field must hold."""

    min_shadow_cases: Annotated[int, Field(ge=0)] = 0
    """Shadow cases compared with what people actually did."""
    min_agreement: Annotated[float, Field(ge=0, le=1)] = 0.0
    """Share of those cases on which the agent agreed with the people."""
    min_approvals: Annotated[int, Field(ge=0)] = 0
    """Approval requests decided by a human (approved or denied)."""
    max_rejected: Annotated[float, Field(ge=0, le=1)] = 1.0
    """Highest share of those that were denied."""
    no_incident: bool = True
    """No kill or alert since the tool last changed stage."""


class DemoteSpec(_Strict):
    """Incidents that demote a tool at once (to stage 2, shadow)."""

    on_kill: bool = True
    on_alert: bool = True
    max_rejected: Annotated[float, Field(ge=0, le=1)] = 0.2
    """Demote when more than this share of its decided approvals were denied..."""
    min_decided: Annotated[int, Field(ge=1)] = 5
    """...once at least this many have been decided."""


class LadderSpec(_Strict):
    """Evidence gates per stage (the stage a tool moves *to*) and demotion."""

    gates: dict[Annotated[int, Field(ge=2, le=5)], Gate] = Field(default_factory=dict)
    demote: DemoteSpec = Field(default_factory=DemoteSpec)


class TaintSpec(_Strict):
    """What happens to a call whose sensitive argument carries an untrusted value."""

    action: Literal["approve", "deny"] = "approve"
    min_chars: Annotated[int, Field(ge=3, le=256)] = 6
    """Values shorter than this (after normalising) are never matched."""
    min_overlap: Annotated[float, Field(gt=0, le=1)] = 0.8
    """A close match: this share of the argument's words came from untrusted data."""
