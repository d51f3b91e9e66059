"""OpenAI Agents SDK: every ``FunctionTool`` invocation goes through the enclosure.

Room: a front door. The SDK (``enclosure[openai-agents]``) is imported inside the
functions, through ``require``, so importing this module costs nothing more.

Two forms; use **one** per tool:

- ``guard_tools(run, tools)`` / ``guard(run, tool)`` (recommended): a copy of each
  ``FunctionTool`` whose ``on_invoke_tool`` calls ``run.acall(tool.name, args,
  handler=<the original invoker>)``. The tool runs inside the enclosure, so its
  result and its failures are logged and counted (consecutive-error kill switch).
- ``enclosure_input_guardrail(run)``: the SDK's tool input guardrail form. It decides
  the call without running it (the SDK runs the tool after the guardrail allows), so
  the log records the decision and that the guardrail passed, not the tool's own
  result; tool failures are not counted and a manifest ``output_schema`` cannot be
  checked. Guarding a tool strips this guardrail from the copy, and the guardrail
  lets a guarded tool through without deciding, so no call is decided (or rate
  limited) twice.

What each outcome becomes for the SDK (what the model reads next turn):

========== ======================================================================
executed   the tool's own output
simulated  the simulated value (JSON text unless it is a string)
blocked    ``model_text``: the refusal, its reason and rule (guardrail: rejected)
pending    ``model_text`` naming the approval id; after a human approves it, the
           same call with the same arguments runs exactly once
failed     ``model_text`` with the error code (a tool created with
           ``failure_error_function=None`` raises instead: a ``UserError`` that is
           also a ``ToolFailed``, its message redacted as in the log)
killed     raises ``RunKilled`` (also an ``agents.AgentsException``), which the SDK
           does not turn into text: ``Runner.run`` stops with it
========== ======================================================================
"""

from __future__ import annotations

import copy
import functools
import json
from typing import TYPE_CHECKING, Any

from enclosure._json import canonical_json
from enclosure.errors import RunKilled, ToolFailed, UsageError
from enclosure.integrations._common import model_text, require

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable

    from agents import FunctionTool, ToolInputGuardrail

    from enclosure._run import Run
    from enclosure.models import CallResult
    from enclosure.types import JSONObject

    ContextFn = Callable[[Any], JSONObject | None]
    """Builds the call's ``context`` from the SDK's ``ToolContext``."""

__all__ = ["enclosure_input_guardrail", "guard", "guard_tools", "killed_error"]

GUARDRAIL_NAME = "enclosure"
GUARDRAIL_PASSED = "[enclosure] allowed; the Agents SDK runs the tool next"
"""What the guardrail form records as the call's result: it does not run the tool."""

# Refusals that end an approval's use for the same call: ask a human again.
_APPROVAL_GONE = frozenset(
    {"E-APPROVAL-EXPIRED", "E-APPROVAL-NOT-FOUND", "E-APPROVAL-MISMATCH"}
)


@functools.cache
def _killed_type() -> type[RunKilled]:
    agents = require("agents")
    bases = (RunKilled, agents.AgentsException)
    doc = "The enclosure killed the run; the Agents SDK re-raises it from Runner.run."
    return type("EnclosureRunKilled", bases, {"__doc__": doc, "__module__": __name__})


@functools.cache
def _failed_type() -> type[ToolFailed]:
    agents = require("agents")

    def init(self: ToolFailed, message: str, *, code: str | None = None) -> None:
        ToolFailed.__init__(self, message, code=code)
        self.message = " ".join(message.split())  # UserError's own __init__ set it

    doc = "A tool failed; its message is redacted as in the log. A ``UserError`` too."
    attrs = {"__doc__": doc, "__module__": __name__, "__init__": init}
    made: type[ToolFailed] = type(
        "EnclosureToolFailed", (ToolFailed, agents.UserError), attrs
    )
    return made


def _failed_error(tool: str, result: CallResult) -> ToolFailed:
    """What a tool made with ``failure_error_function=None`` raises from ``Runner.run``.

    The SDK would wrap the tool's own exception, message and all (secrets too), in
    a ``UserError``; this one is a ``UserError`` and a ``ToolFailed`` whose message
    is the redacted one the log holds. The original is not chained: a printed
    traceback would show its text.
    """
    error = result.error
    message = error.message if error else "the tool failed"
    code = error.code if error else None
    return _failed_type()(f"tool {tool} failed: {message}", code=code)


def killed_error(result: CallResult) -> RunKilled:
    """The exception a killed call raises: ``RunKilled`` and ``AgentsException``.

    The SDK re-raises an ``AgentsException`` from a tool unchanged (any other
    exception becomes a ``UserError``), so ``except RunKilled`` around
    ``Runner.run`` sees it with its code ``E-RUN-KILLED``.
    """
    reason = result.error.message if result.error else result.decision.reason
    run_id = result.receipt.run_id if result.receipt else "?"
    return _killed_type()(f"run {run_id} was killed: {reason}")


def _parse(raw: str) -> Any:
    """The model's JSON arguments; text that is not JSON is passed on to be refused."""
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except ValueError:
        return raw


class _Gate:
    """Sends one run's calls to ``run.acall`` and remembers approvals per exact call.

    After a human approves a parked call, the model's next identical call (same
    tool, same canonical arguments) carries the approval id, so it runs once.
    """

    def __init__(self, run: Run, context: ContextFn | None) -> None:
        self.run = run
        self.context = context
        self.approvals: dict[tuple[str, bytes], str] = {}

    async def call(
        self,
        tool: str,
        raw_args: str,
        ctx: Any,
        handler: Callable[..., Awaitable[Any]],
        *,
        output_checked: bool = True,
    ) -> CallResult:
        args = _parse(raw_args)
        key: tuple[str, bytes] | None = None
        if isinstance(args, dict):
            try:
                key = (tool, canonical_json(args))
            except (TypeError, ValueError):
                key = None
        approval_id = self.approvals.get(key) if key else None
        result = await self.run.acall(
            tool,
            args,
            context=self.context(ctx) if self.context else None,
            approval_id=approval_id,
            handler=handler,
            output_checked=output_checked,
        )
        if key is not None:
            self._remember(key, approval_id, result)
        return result

    def _remember(
        self, key: tuple[str, bytes], used: str | None, result: CallResult
    ) -> None:
        if result.status == "pending" and result.approval_id:
            self.approvals[key] = result.approval_id
        elif used is not None and (
            result.decision.via_approval
            or (result.error is not None and result.error.code in _APPROVAL_GONE)
        ):
            # Consumed (ran once) or unusable: the next identical call asks again.
            # Still pending or denied: keep it, so retries read that status.
            self.approvals.pop(key, None)


class _GuardedInvoker:
    """The guarded tool's ``on_invoke_tool``: the original, behind ``run.acall``."""

    def __init__(self, gate: _Gate, tool: FunctionTool) -> None:
        tool_mod = require("agents.tool")
        self.gate = gate
        self.name = tool.name
        self.original = tool.on_invoke_tool
        # A copy whose failures propagate, so the enclosure logs and counts them.
        inner = copy.copy(tool)
        tool_mod.set_function_tool_failure_error_function(inner, None)
        self.inner = inner.on_invoke_tool
        self.raises = (
            tool_mod.resolve_function_tool_failure_error_function(tool) is None
        )

    async def __call__(self, ctx: Any, raw_args: str) -> Any:
        raised: list[Exception] = []

        async def handler(**kwargs: Any) -> Any:
            text = raw_args if kwargs == _parse(raw_args) else json.dumps(kwargs)
            try:
                return await self.inner(ctx, text)
            except Exception as exc:
                raised.append(exc)
                raise

        result = await self.gate.call(self.name, raw_args, ctx, handler)
        if result.status == "killed":
            raise killed_error(result)
        if result.status == "failed" and self.raises and raised:
            # The tool asked the SDK to raise its errors: one with a redacted message.
            raise _failed_error(self.name, result) from None
        if result.status == "executed":
            return result.value
        if result.status == "simulated":
            return _as_text(result.value)
        return model_text(result)


def _as_text(value: Any) -> Any:
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, sort_keys=True)
    except (TypeError, ValueError):
        return str(value)


def _is_ours(guardrail: Any) -> bool:
    return isinstance(getattr(guardrail, "guardrail_function", None), _GuardrailCheck)


def guard(run: Run, tool: Any, *, context: ContextFn | None = None) -> FunctionTool:
    """A copy of ``tool`` whose every invocation is decided and logged by ``run``.

    The tool's name is the manifest tool's name. ``context`` builds each call's
    ``context`` (visible to rule conditions) from the SDK's ``ToolContext``.

    Raises:
        UsageError: ``tool`` is not a ``FunctionTool`` (``E-INTEGRATION-TOOL``), or
            was already guarded by another run (``E-INTEGRATION-GUARDED``);
            ``E-INTEGRATION-MISSING`` without the SDK.
    """
    return _guard(tool, _Gate(run, context))


def _guard(tool: Any, gate: _Gate) -> FunctionTool:
    agents = require("agents")
    if not isinstance(tool, agents.FunctionTool):
        msg = (
            f"{tool!r} is not a FunctionTool; hosted tools run outside this process "
            "and cannot be guarded: declare a FunctionTool instead"
        )
        raise UsageError(msg, code="E-INTEGRATION-TOOL")
    function_tool: FunctionTool = tool
    invoker = function_tool.on_invoke_tool
    if isinstance(invoker, _GuardedInvoker):
        if invoker.gate.run is gate.run:
            return function_tool
        msg = f"tool {tool.name!r} is already guarded by run {invoker.gate.run.id}"
        raise UsageError(msg, code="E-INTEGRATION-GUARDED")
    guarded: FunctionTool = copy.copy(tool)
    guarded.on_invoke_tool = _GuardedInvoker(gate, tool)
    if tool.tool_input_guardrails:
        kept = [g for g in tool.tool_input_guardrails if not _is_ours(g)]
        guarded.tool_input_guardrails = kept or None
    return guarded


def guard_tools(
    run: Run, tools: Iterable[Any], *, context: ContextFn | None = None
) -> list[FunctionTool]:
    """``guard`` each tool, sharing one approval memory: ``Agent(tools=...)``.

    >>> agent = Agent(name="a", tools=guard_tools(run, [send_email]))  # doctest: +SKIP

    Raises:
        UsageError: as ``guard``.
    """
    gate = _Gate(run, context)
    return [_guard(tool, gate) for tool in tools]


class _GuardrailCheck:
    """The guardrail's function: decide through ``run.acall`` without running."""

    def __init__(self, gate: _Gate) -> None:
        self.gate = gate
        self.__name__ = GUARDRAIL_NAME

    async def __call__(self, data: Any) -> Any:
        out = require("agents").ToolGuardrailFunctionOutput
        ctx = data.context
        for tool in getattr(data.agent, "tools", None) or ():
            if getattr(tool, "name", None) == ctx.tool_name and isinstance(
                getattr(tool, "on_invoke_tool", None), _GuardedInvoker
            ):
                return out.allow()  # the guarded tool decides: decide once

        async def passed(**_: Any) -> str:
            return GUARDRAIL_PASSED

        # ``passed`` is no output of the tool: no output_schema applies to it.
        result = await self.gate.call(
            ctx.tool_name, ctx.tool_arguments, ctx, passed, output_checked=False
        )
        if result.status == "killed":
            raise killed_error(result)
        if result.status == "executed":
            return out.allow(output_info=result)
        if result.status == "simulated":
            return out.reject_content(_as_text(result.value), output_info=result)
        return out.reject_content(model_text(result), output_info=result)


def enclosure_input_guardrail(
    run: Run, *, context: ContextFn | None = None
) -> ToolInputGuardrail[Any]:
    """A tool input guardrail deciding each call by policy, without running it.

    Prefer ``guard_tools``: the guardrail cannot log the tool's result or count its
    failures (see the module docstring). Refusals, pending approvals and simulated
    values reach the model as rejected content; a kill raises ``RunKilled``.

    >>> tool.tool_input_guardrails = [enclosure_input_guardrail(run)]  # doctest: +SKIP

    Raises:
        UsageError: ``E-INTEGRATION-MISSING`` without the SDK.
    """
    agents = require("agents")
    guardrail: ToolInputGuardrail[Any] = agents.ToolInputGuardrail(
        guardrail_function=_GuardrailCheck(_Gate(run, context)), name=GUARDRAIL_NAME
    )
    return guardrail
