"""Pydantic AI: a wrapper toolset that sends every tool call through the enclosure.

Room: a front door. Pydantic AI (``enclosure[pydantic-ai]``) is imported when this
module is, and only then: ``enclosure.integrations`` does not import it, and a
missing extra raises ``UsageError`` (``E-INTEGRATION-MISSING``) naming the install.

``EnclosureToolset(run, toolset)`` wraps any toolset (a ``FunctionToolset``, an MCP
server, ...). Each call becomes ``run.acall(name, args, handler=<the wrapped
toolset's call_tool>)``: the framework's tool name is the manifest tool's name, its
validated arguments (as JSON) are what the policy decides, and the wrapped tool runs
only when the enclosure lets it. What each outcome becomes for Pydantic AI:

========== ======================================================================
executed   the tool's own return value
simulated  the simulated value; the wrapped tool never runs
blocked    a returned ``ToolDenied(model_text)``: the framework's own refusal, a
           ``ToolReturnPart`` with ``outcome='denied'`` that the model reads while
           the run goes on. Not ``ModelRetry``: that spends the tool's retry
           budget (one by default, so a second refusal would end the run with
           ``UnexpectedModelBehavior``) and its "fix the errors and try again"
           invites the model to retry a call the policy refused.
pending    raises ``ApprovalRequired`` (metadata: the enclosure ``approval_id``,
           rule and reason), so the run ends with ``DeferredToolRequests``; the
           agent needs ``output_type=[..., DeferredToolRequests]``.
failed     raises ``ToolFailed(model_text)``: the model reads the error code and
           message (``outcome='failed'``, no retry budget spent). ``ModelRetry``,
           ``ToolFailed``, ``ApprovalRequired`` and ``CallDeferred`` raised by the
           wrapped tool are logged as failed and then re-raised unchanged, so
           Pydantic AI's own conventions still hold.
killed     raises ``RunKilled``; ``Agent.run`` stops with it.
========== ======================================================================

Approvals. Resume with ``DeferredToolResults(approvals={tool_call_id: ...})``:

- ``True`` / ``ToolApproved()``: when the call comes back with the same tool and
  the same arguments the toolset parked (compared by hash), the toolset approves
  the enclosure approval (``by``: ``metadata[tool_call_id]["approved_by"]``, else
  the toolset's ``approver``) and calls ``run.acall(..., approval_id=...)``, which
  consumes it exactly once. Changed arguments (an edited message history, or
  ``ToolApproved(override_args=...)``) are not approved: the call goes to the
  policy with the approval id, which is bound to the old arguments, so a call that
  still needs approval is refused (``E-APPROVAL-MISMATCH``) and one the policy
  allows outright runs as any allowed call would. A second resume of the same call
  is refused (``E-APPROVAL-NOT-APPROVED``: the approval was consumed).
- ``False`` / ``ToolDenied(message)``: Pydantic AI answers the model itself and
  never calls the toolset, so the toolset denies the enclosure approval with that
  message when the run's next step starts (it finds the denied ``ToolReturnPart``
  in the history). An approval left undecided expires into a denial.

The toolset remembers which enclosure approval belongs to which ``tool_call_id``
in memory, like ``Run.resume``: resume with the same toolset object. A
``tool_call_approved`` call it did not park (a wrapped toolset's own
``requires_approval``, or a resume through another toolset object) goes through
the policy as a new call, so one that needs the enclosure's approval asks again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from enclosure._json import sha256_json
from enclosure.errors import ApprovalError
from enclosure.integrations._common import model_text, require

try:
    from pydantic_ai import ApprovalRequired, CallDeferred, ModelRetry, ToolFailed
    from pydantic_ai.messages import ModelRequest, ToolReturnPart
    from pydantic_ai.tools import AgentDepsT, ToolDenied
    from pydantic_ai.toolsets import WrapperToolset
    from pydantic_core import PydanticSerializationError, to_jsonable_python
except ImportError:  # the extra is missing: say which one to install
    require("pydantic_ai")
    raise

if TYPE_CHECKING:
    from pydantic_ai.tools import RunContext
    from pydantic_ai.toolsets import AbstractToolset, ToolsetTool

    from enclosure._desk import ApprovalDesk
    from enclosure._run import Run
    from enclosure.models import CallResult
    from enclosure.types import JSONObject

__all__ = ["APPROVED_BY_KEY", "EnclosureToolset"]

APPROVED_BY_KEY = "approved_by"
"""Key of ``DeferredToolResults.metadata[tool_call_id]`` naming who approved."""

# Raised by a wrapped tool to steer Pydantic AI itself: logged, then re-raised.
_FRAMEWORK_SIGNALS = (ModelRetry, ToolFailed, ApprovalRequired, CallDeferred)

# Deciding an approval that was already decided or has expired is not an error
# here: the run's own consume check then refuses or releases the call.
_DECIDED = frozenset({"E-APPROVAL-DECIDED", "E-APPROVAL-EXPIRED"})


class _Parked(NamedTuple):
    """A call this toolset turned into ``ApprovalRequired``."""

    approval_id: str
    tool: str
    args_sha256: str


@dataclass
class _Ledger:
    """Parked calls by ``tool_call_id``; shared by every per-run copy of a toolset."""

    parked: dict[str, _Parked] = field(default_factory=dict)
    settled: set[str] = field(default_factory=set)
    """Calls whose approval this toolset has acted on (resumed or denied)."""


@dataclass(init=False)
class EnclosureToolset(WrapperToolset[AgentDepsT]):
    """A toolset whose every call is decided, logged and acted on by a run.

    >>> agent = Agent(model, output_type=[str, DeferredToolRequests])  # doctest: +SKIP
    >>> tools = EnclosureToolset(run, FunctionToolset([send_email]))   # doctest: +SKIP
    >>> result = await agent.run("...", toolsets=[tools])              # doctest: +SKIP
    """

    run: Run
    approver: str
    ledger: _Ledger

    def __init__(
        self,
        run: Run,
        wrapped: AbstractToolset[AgentDepsT],
        *,
        approver: str = "pydantic-ai",
        ledger: _Ledger | None = None,
    ) -> None:
        """Wrap ``wrapped`` so that its calls go through ``run``.

        Args:
            run: the enclosure run every call belongs to.
            wrapped: the toolset whose tools the agent calls.
            approver: who decides an enclosure approval from ``DeferredToolResults``
                when its metadata names nobody (``approved_by``); it must not be
                the run's ``started_by`` (``E-APPROVAL-SELF``).
            ledger: internal; shared between the copies Pydantic AI makes per run.
        """
        self.run = run
        self.wrapped = wrapped
        self.approver = approver
        self.ledger = ledger if ledger is not None else _Ledger()

    async def for_run_step(
        self, ctx: RunContext[AgentDepsT]
    ) -> AbstractToolset[AgentDepsT]:
        """Deny the enclosure approval of each call a human answered ``ToolDenied``."""
        self._deny_refused(ctx)
        return await super().for_run_step(ctx)

    async def call_tool(
        self,
        name: str,
        tool_args: dict[str, Any],
        ctx: RunContext[AgentDepsT],
        tool: ToolsetTool[AgentDepsT],
    ) -> Any:
        """Decide and log the call, then run the wrapped tool if the policy lets it.

        Raises:
            ApprovalRequired: the call waits for a human (the run ends with
                ``DeferredToolRequests``).
            ToolFailed: the tool failed; the model reads why.
            RunKilled: the enclosure killed the run.
            ApprovalError: the approver started the run (``E-APPROVAL-SELF``).
        """
        args = _as_json(tool_args)
        approval_id = self._approve(name, args, ctx)
        raised: list[BaseException] = []

        async def handler(**decided: Any) -> Any:
            # Pydantic AI's validated values, unless an interceptor changed them.
            run_with = tool_args if decided == args else decided
            try:
                return await self.wrapped.call_tool(name, run_with, ctx, tool)
            except _FRAMEWORK_SIGNALS as exc:
                raised.append(exc)
                raise

        context: JSONObject = {"tool_call_id": ctx.tool_call_id or ""}
        result = await self.run.acall(
            name, args, context=context, approval_id=approval_id, handler=handler
        )
        return self._answer(result, name, args, ctx, raised)

    # ---- outcomes -----------------------------------------------------------------

    def _answer(
        self,
        result: CallResult,
        name: str,
        args: Any,
        ctx: RunContext[AgentDepsT],
        raised: list[BaseException],
    ) -> Any:
        status = result.status
        if status in ("executed", "simulated"):
            return result.value
        if status == "blocked":
            return ToolDenied(model_text(result))
        if status == "pending" and result.approval_id and ctx.tool_call_id:
            self.ledger.parked[ctx.tool_call_id] = _Parked(
                result.approval_id, name, _sha(args)
            )
            raise ApprovalRequired(
                metadata={
                    "enclosure_approval_id": result.approval_id,
                    "rule": result.decision.rule,
                    "reason": result.decision.reason,
                }
            )
        if status == "failed" and raised:
            raise raised[0]
        if status == "killed":
            result.unwrap()  # raises RunKilled
        # failed, or pending outside an agent run (no tool_call_id to resume by)
        raise ToolFailed(model_text(result))

    # ---- approvals ----------------------------------------------------------------

    def _approve(self, name: str, args: Any, ctx: RunContext[AgentDepsT]) -> str | None:
        """Decide the enclosure approval for a call resumed with ``True``.

        Returns the approval id to present with the call, or ``None`` for a call
        this toolset did not park.
        """
        call_id = ctx.tool_call_id
        parked = self.ledger.parked.get(call_id) if call_id else None
        if not ctx.tool_call_approved or parked is None or call_id is None:
            return None
        self.ledger.settled.add(call_id)
        if parked.tool != name or parked.args_sha256 != _sha(args):
            return parked.approval_id  # bound to other arguments: refused
        metadata = ctx.tool_call_metadata
        by = self.approver
        if isinstance(metadata, dict) and isinstance(
            metadata.get(APPROVED_BY_KEY), str
        ):
            by = metadata[APPROVED_BY_KEY]
        try:
            self._desk().approve(
                parked.approval_id,
                by=by,
                reason="approved in Pydantic AI DeferredToolResults",
            )
        except ApprovalError as exc:
            if exc.code not in _DECIDED:
                raise
        return parked.approval_id

    def _deny_refused(self, ctx: RunContext[AgentDepsT]) -> None:
        ledger = self.ledger
        if not ledger.parked or len(ledger.settled) == len(ledger.parked):
            return
        for message in ctx.messages:
            if not isinstance(message, ModelRequest):
                continue
            for part in message.parts:
                if not isinstance(part, ToolReturnPart) or part.outcome != "denied":
                    continue
                parked = ledger.parked.get(part.tool_call_id)
                if parked is None or part.tool_call_id in ledger.settled:
                    continue
                ledger.settled.add(part.tool_call_id)
                try:
                    self._desk().deny(
                        parked.approval_id,
                        by=self.approver,
                        reason=str(part.content),
                    )
                except ApprovalError as exc:
                    if exc.code not in _DECIDED:
                        raise

    def _desk(self) -> ApprovalDesk:
        return self.run.enclosure.approvals


def _as_json(tool_args: dict[str, Any]) -> Any:
    """The JSON form of Pydantic AI's validated arguments (models, dates, ...)."""
    try:
        return to_jsonable_python(tool_args)
    except PydanticSerializationError:
        return tool_args  # the run refuses it: E-ARGS-INVALID


def _sha(args: Any) -> str:
    try:
        return sha256_json(args)
    except (TypeError, ValueError):
        return sha256_json(repr(args))
