"""Plain Python and OpenAI-style tool calls: guard a function, dispatch ``tool_calls``.

No framework needed. ``guard(run, fn)`` (also ``run.tool(fn)``) returns a function
that proposes every call to the run and returns the tool's value, or raises the
coded error (``ToolDenied``, ``ApprovalPending``, ``RunKilled``, ``ToolFailed``).

``dispatch(run, tool_calls)`` (also ``run.dispatch``) takes the ``tool_calls`` of a
Chat Completions assistant message, or the ``function_call`` items of a Responses
API output, as dicts or as the OpenAI SDK's objects, and returns the messages to
send back: ``{"role": "tool", ...}`` or ``{"type": "function_call_output", ...}``.
Refusals and pending approvals come back as text the model can read; a killed run
raises ``RunKilled`` so the caller's loop stops.

Approvals: the pending text names the approval id. The model's (or the caller's)
identical retry, same tool and same arguments, carries that id: while no human has
decided it reads "pending" again (not a denial); once approved, it runs exactly
once; denied, it reads the denial. The next identical call after that asks again.
"""

from __future__ import annotations

import functools
import inspect
import json
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, cast

from enclosure.errors import RunKilled
from enclosure.integrations._common import model_text

if TYPE_CHECKING:
    from enclosure._run import Run
    from enclosure.models import CallResult
    from enclosure.types import JSONObject

__all__ = ["dispatch", "guard", "tool_output"]

F = TypeVar("F", bound=Callable[..., Any])


def guard(run: Run, fn: F, *, name: str | None = None) -> F:
    """``fn`` behind the enclosure: each call is decided, logged, then run (or not).

    Args:
        run: the run the calls belong to.
        fn: the function; its name (or ``name``) must be a tool in the manifest.
        name: the manifest tool, when it differs from ``fn.__name__``.

    The policy and the log see exactly the arguments ``fn`` runs with, by name:
    positional ones bound to their parameters, defaults filled in, ``**kwargs``
    flattened in beside the named ones and ``*args`` as a list under its name.
    A call that does not fit the signature is refused (``E-ARGS-INVALID``), on
    record, and never runs.

    A call parked for approval raises ``ApprovalPending``; once a human approves
    it, calling the function again with the same arguments runs it exactly once.
    """
    tool = name or fn.__name__
    binder = _Binder(fn)

    if inspect.iscoroutinefunction(fn):

        async def run_async(**args: Any) -> Any:
            return await binder.call(fn, args)

        @functools.wraps(fn)
        async def guarded_async(*args: Any, **kwargs: Any) -> Any:
            bound = binder.bind(args, kwargs)
            if isinstance(bound, str):
                return _unfit(run, tool, args, kwargs, bound).unwrap()
            approval_id = run.parked_approval(tool, bound)
            result = await run.acall(
                tool, bound, approval_id=approval_id, handler=run_async
            )
            return result.unwrap()

        return cast("F", guarded_async)

    def run_sync(**args: Any) -> Any:
        return binder.call(fn, args)

    @functools.wraps(fn)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        bound = binder.bind(args, kwargs)
        if isinstance(bound, str):
            return _unfit(run, tool, args, kwargs, bound).unwrap()
        approval_id = run.parked_approval(tool, bound)
        result = run.call(tool, bound, approval_id=approval_id, handler=run_sync)
        return result.unwrap()

    return cast("F", guarded)


_VAR_POSITIONAL = inspect.Parameter.VAR_POSITIONAL
_VAR_KEYWORD = inspect.Parameter.VAR_KEYWORD


class _Binder:
    """A function's call as the named arguments the policy sees, and back again."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.signature = inspect.signature(fn)
        params = self.signature.parameters
        self.var_keyword = next(
            (p.name for p in params.values() if p.kind is _VAR_KEYWORD), None
        )
        self.named = {n for n, p in params.items() if p.kind is not _VAR_KEYWORD}

    def bind(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> JSONObject | str:
        """The call's arguments by name, or why they do not fit the signature."""
        try:
            bound = self.signature.bind(*args, **kwargs)
        except TypeError as exc:
            return str(exc)
        bound.apply_defaults()
        out: dict[str, Any] = {}
        for name, value in bound.arguments.items():
            kind = self.signature.parameters[name].kind
            if kind is _VAR_KEYWORD:
                if clash := sorted(set(value) & self.named):
                    return f"keyword arguments {clash} clash with parameter names"
                out.update(value)
            elif kind is _VAR_POSITIONAL:
                out[name] = list(value)
            else:
                out[name] = value
        return out

    def call(self, fn: Callable[..., Any], args: dict[str, Any]) -> Any:
        """Run ``fn`` with the (decided, possibly validated) named arguments."""
        arguments: dict[str, Any] = {}
        for name, param in self.signature.parameters.items():
            if param.kind is _VAR_KEYWORD:
                arguments[name] = {k: v for k, v in args.items() if k not in self.named}
            elif name in args:
                value = args[name]
                arguments[name] = (
                    tuple(value) if param.kind is _VAR_POSITIONAL else value
                )
        bound = inspect.BoundArguments(self.signature, arguments)
        return fn(*bound.args, **bound.kwargs)


def _unfit(
    run: Run,
    tool: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    why: str,
) -> CallResult:
    """One refused decision on record for a call that does not fit ``tool``."""
    raw: JSONObject = {"args": list(args), "kwargs": kwargs}
    if run.status == "killed":
        return run.call(tool, raw)  # the core logs the kill; unwrap raises RunKilled
    return run.refuse(
        tool,
        raw,
        rule="guard.signature",
        reason=f"the arguments do not fit {tool}(): {why}",
        code="E-ARGS-INVALID",
    )


def tool_output(result: CallResult) -> str:
    """The text a model gets back for one call: the value (JSON unless a string)."""
    if result.status != "executed":
        return model_text(result)
    value = result.value
    if isinstance(value, str):
        return value
    return json.dumps(value, default=str)


def dispatch(
    run: Run,
    tool_calls: Sequence[Any],
    *,
    tools: Mapping[str, Callable[..., Any]] | None = None,
) -> list[dict[str, Any]]:
    """Run each tool call through the enclosure; return the messages for the model.

    A Responses API ``response.output`` can be passed whole: its items other
    than ``function_call`` (reasoning, messages) are skipped.

    Args:
        run: the run the calls belong to.
        tool_calls: Chat Completions ``message.tool_calls`` (``{"id", "function":
            {"name", "arguments"}}``) or Responses API ``function_call`` items
            (``{"type": "function_call", "call_id", "name", "arguments"}``), as
            dicts or SDK objects.
        tools: handlers by tool name; without one, the tool's registered handler.

    Raises:
        RunKilled: the run was killed (by these calls or before); stop the loop.
    """
    out = []
    for item in tool_calls:
        parsed = _parse(item)
        if parsed is None:
            continue  # a reasoning or message item of a Responses output
        call_id, name, raw, responses = parsed
        text = _one(run, name, raw, (tools or {}).get(name))
        if responses:
            out.append(
                {"type": "function_call_output", "call_id": call_id, "output": text}
            )
        else:
            out.append({"role": "tool", "tool_call_id": call_id, "content": text})
    return out


def _one(run: Run, name: str, raw: Any, handler: Callable[..., Any] | None) -> str:
    args = _arguments(raw)
    approval_id = run.parked_approval(name, args) if isinstance(args, dict) else None
    result = run.call(name, args, approval_id=approval_id, handler=handler)
    if result.status == "killed":
        message = result.error.message if result.error else result.decision.reason
        raise RunKilled(message)
    return tool_output(result)


def _arguments(raw: Any) -> Any:
    """The model's arguments: a mapping as it is, JSON text parsed.

    Anything else (text that is not JSON, JSON that is not an object) is passed
    on as it is, so the run refuses it as one decision on record
    (``E-ARGS-INVALID``), counted toward ``max_denials``.
    """
    if isinstance(raw, Mapping):
        return dict(raw)
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return {}
    if not isinstance(raw, str | bytes):
        return raw
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _field(item: Any, key: str) -> Any:
    if isinstance(item, Mapping):
        return item.get(key)
    return getattr(item, key, None)


def _parse(item: Any) -> tuple[str, str, Any, bool] | None:
    """(call id, tool name, arguments as sent, whether it is a Responses API item).

    ``None`` for an item that is not a function call: a Responses API output
    also holds ``reasoning`` and ``message`` items, which get no answer.
    """
    function = _field(item, "function")
    if function is not None:  # Chat Completions
        return (
            str(_field(item, "id") or ""),
            str(_field(function, "name") or ""),
            _field(function, "arguments"),
            False,
        )
    kind = _field(item, "type")
    if kind != "function_call" and (kind is not None or _field(item, "name") is None):
        return None
    return (  # Responses API function_call
        str(_field(item, "call_id") or _field(item, "id") or ""),
        str(_field(item, "name") or ""),
        _field(item, "arguments"),
        True,
    )
