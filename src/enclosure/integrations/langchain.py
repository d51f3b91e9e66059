"""LangChain / LangGraph: the enclosure in front of every tool an agent calls.

Three doors onto one decision path (``Run.propose``, then the framework's own tool
call through the router, then ``Run.record_result``, so a tool runs only when the
enclosure allows it):

- ``EnclosureMiddleware(run)``: agent middleware for ``create_agent``; it wraps
  every tool call (``wrap_tool_call`` / ``awrap_tool_call``);
- ``guard_tool_node(run, tools)``: a LangGraph ``ToolNode`` whose calls go through
  the same wrapper, for hand-built graphs;
- ``guard_tool(run, tool)``: one guarded ``BaseTool``, for any other caller.

What each outcome becomes, in LangChain's own terms: allow runs the tool and
returns its own ``ToolMessage``; deny and a failed tool become a ``ToolMessage``
with ``status="error"`` and the enclosure's one-line reason; simulate returns the
simulated value as the message content; approve pauses the graph with LangGraph's
``interrupt()``, with the payload and decisions of LangChain's
``HumanInTheLoopMiddleware`` (approve / reject / edit), resumed with
``Command(resume=...)`` (with several calls waiting, LangGraph wants each answer
by its interrupt's id: ``Command(resume={i.id: {"decisions": [d]}, ...})``); an
answer that cannot be recorded (unreadable, or from the run's own
``started_by``) is refused and the reviewer asked again, the error in the new
request's ``enclosure.error``; kill raises ``GraphRunKilled`` (a ``RunKilled``),
which ends the graph run.

LangGraph re-runs an interrupted task from its start on resume, so the calls
parked for approval are remembered per tool call (in this process): the replay
finds its parked call instead of proposing it again, and each proposal stays one
decision event; a call of the task that has ended already (a ``ToolNode`` task
with several calls is replayed after each answer) gets the same end again, not
a second decision and run. A tool that pauses the graph itself (``interrupt()``
inside the tool) is not a failure: its call stays dispatched with no result, and
the replay runs that same call again, its approval used once. That memory is
this gate's: a graph resumed by another process (or another middleware) decides
its calls anew, but each parks on the approval its reviewer was shown (its id
comes from the run, the LangGraph thread and task, the tool-call id and the
arguments), so LangGraph's stored answer goes to that approval and a call it
already released is not released again. The module is imported only when the
user imports it; a missing extra raises ``E-INTEGRATION-MISSING`` with the
install command.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Generator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from enclosure._json import sha256_json
from enclosure.errors import ApprovalError, EnclosureError, RunKilled, UsageError
from enclosure.integrations._common import model_text, require
from enclosure.models import CallResult, Decision, ErrorInfo, ToolCall

try:
    from langchain.agents.middleware import AgentMiddleware, ToolCallRequest
    from langchain_core.messages import ToolMessage
    from langchain_core.runnables import RunnableConfig  # noqa: TC002 -- BaseTool reads _run's hints
    from langchain_core.tools import BaseTool, ToolException
    from langgraph.config import get_config
    from langgraph.errors import GraphBubbleUp
    from langgraph.prebuilt import ToolNode
    from langgraph.types import Command, interrupt
    from pydantic import ValidationError
    from pydantic.v1 import ValidationError as ValidationErrorV1
except ImportError:  # pragma: no cover -- the extra is installed wherever tests run
    require("langchain.agents.middleware")
    require("langgraph.prebuilt")
    raise

if TYPE_CHECKING:
    from enclosure._run import Run
    from enclosure.types import JSONObject

__all__ = ["EnclosureMiddleware", "GraphRunKilled", "guard_tool", "guard_tool_node"]

Handler = Callable[[ToolCallRequest], "ToolMessage | Command[Any]"]
AsyncHandler = Callable[[ToolCallRequest], "Awaitable[ToolMessage | Command[Any]]"]
ContextFn = Callable[[ToolCallRequest], "JSONObject"]

DECISIONS = ["approve", "edit", "reject"]
"""What a reviewer may answer; ``respond`` is not offered: the tool's result must
come from the tool (or its simulator), decided and logged."""

_UNSET: Any = object()


class GraphRunKilled(RunKilled, GraphBubbleUp):
    """The run was killed, so the graph run ends (``E-RUN-KILLED``).

    It is the core's ``RunKilled`` (``except RunKilled`` catches it) and also a
    LangGraph ``GraphBubbleUp``, so no ``ToolNode(handle_tool_errors=...)``,
    retry policy or error handler can turn the kill into a message the model
    reads and then carries on from.
    """


class ToolReportedError(Exception):
    """The framework ran the tool and answered with an error ``ToolMessage``.

    Raised inside the handler so the enclosure records the call as failed (it
    counts toward ``max_consecutive_errors``). The model reads the enclosure's
    one line for a failed call, as for any other, redacted like the log: never
    the framework's message, which may hold a secret the tool echoed.
    """


@dataclass(slots=True)
class _Step:
    """One proposal of a tool call to the enclosure, and what running it gave."""

    args: dict[str, Any]
    approval_id: str | None = None
    asked: int = 0
    """How many approvals the tool call asked about before this proposal."""
    out: Any = _UNSET
    """What the framework's own tool call returned (a ToolMessage, a Command)."""


@dataclass(slots=True)
class _Final:
    """How a tool call ended: the last result, or a reviewer's rejection."""

    result: CallResult | None
    step: _Step
    edited: bool = False
    rejected: str | None = None


class _Answer(NamedTuple):
    """A reviewer's answer that was recorded on the approval."""

    kind: str
    args: dict[str, Any] | None = None
    """An edit's new arguments."""
    reason: str | None = None


class _Key(NamedTuple):
    """One tool call, as the gate remembers it across LangGraph's replays.

    The framework's id alone is not enough: some servers send none, or the same
    one for parallel calls, and an approval must never pass to other arguments.
    """

    tool_call_id: str | None
    call: str
    """The tool's name and its arguments as canonical JSON."""
    task: str | None = None
    """The LangGraph thread and task the call runs in (``_task``): the same on
    every replay of the task, in any process, and another for each new task."""

    @classmethod
    def of(cls, tool_call_id: str | None, name: str, args: dict[str, Any]) -> _Key:
        text = json.dumps(args, sort_keys=True, default=str)
        return cls(tool_call_id or None, f"{name}:{text}", _task())


def _task() -> str | None:
    """The running LangGraph thread and task (``checkpoint_ns``), else ``None``."""
    try:
        configurable = get_config().get("configurable") or {}
    except RuntimeError:  # not inside a graph
        return None
    thread, task = configurable.get("thread_id"), configurable.get("checkpoint_ns")
    if not isinstance(task, str) or not task:
        return None
    return f"{thread}\n{task}"


_DONE_KEPT = 4096
"""How many ended tool calls a gate keeps for replays: far more than one task makes."""

_SETTLED = ("E-APPROVAL-DECIDED", "E-APPROVAL-EXPIRED", "E-APPROVAL-NOT-FOUND")
"""Approval errors the next call settles (refused, fail-closed): not the reviewer's."""


@dataclass(frozen=True, slots=True)
class _Held:
    """A dispatched call whose tool paused the graph (``interrupt()`` inside it)."""

    args: dict[str, Any]
    call: ToolCall


Executor = Callable[[_Step], Callable[..., Any]]
"""Makes the function that runs one step's call through the framework."""


class _Gate:
    """The decision path shared by the middleware, the ToolNode and ``guard_tool``.

    ``flow`` is a generator so the sync and async doors share it: it yields each
    proposal, is sent the ``CallResult``, asks the human through ``interrupt()``
    in between, and returns how the call ended. ``run_sync`` and ``run_async``
    drive it: each step is decided with ``Run.propose``, run through the router
    and its result logged with ``Run.record_result``, so that a tool which pauses
    the graph itself (LangGraph's ``interrupt()`` inside the tool) leaves its call
    dispatched and open, with no result: the replay after the resume runs that
    same call again (one decision, its approval used once), not a new one.
    """

    def __init__(self, run: Run, *, reviewer: str, description_prefix: str) -> None:
        self.run = run
        self.reviewer = reviewer
        self.description_prefix = description_prefix
        self._parked: dict[_Key, list[CallResult]] = {}
        self._held: dict[_Key, _Held] = {}
        self._done: OrderedDict[_Key, _Final] = OrderedDict()
        """How recent tool calls (those with the framework's id) ended, for replays."""

    def run_sync(
        self,
        name: str,
        args: dict[str, Any],
        key: _Key,
        execute: Executor,
        context: JSONObject | None = None,
    ) -> _Final:
        """Decide, log and (if allowed) run one tool call of a sync graph."""
        done = self._replayed(key)
        if done is not None:
            return done
        router = self.run.enclosure.router
        flow = self.flow(name, args, key)
        try:
            step = next(flow)
            while True:
                todo = self._decide(name, step, key, context)
                if isinstance(todo, ToolCall):
                    try:
                        value = router.execute(
                            todo,
                            command=self.run.workspace.run_command,
                            handler=execute(step),
                        )
                    except Exception as exc:  # noqa: BLE001 -- the tool boundary, as in Run.call
                        todo = self._ended(key, step, todo, exc)
                    else:
                        todo = self._finished(key, todo, value, None)
                step = flow.send(todo)
        except StopIteration as stop:
            return self._ended_call(key, stop.value)

    async def run_async(
        self,
        name: str,
        args: dict[str, Any],
        key: _Key,
        execute: Executor,
        context: JSONObject | None = None,
    ) -> _Final:
        """``run_sync`` for async graphs."""
        done = self._replayed(key)
        if done is not None:
            return done
        router = self.run.enclosure.router
        flow = self.flow(name, args, key)
        try:
            step = next(flow)
            while True:
                todo = self._decide(name, step, key, context)
                if isinstance(todo, ToolCall):
                    try:
                        value = await router.aexecute(
                            todo,
                            command=self.run.workspace.run_command,
                            handler=execute(step),
                        )
                    except Exception as exc:  # noqa: BLE001 -- the tool boundary, as in Run.acall
                        todo = self._ended(key, step, todo, exc)
                    else:
                        todo = self._finished(key, todo, value, None)
                step = flow.send(todo)
        except StopIteration as stop:
            return self._ended_call(key, stop.value)

    def _replayed(self, key: _Key) -> _Final | None:
        """How this tool call ended, when LangGraph replays a task that made it.

        A task with several calls (a ``ToolNode`` given several) is replayed
        from its start after each answer to a later call's question, so a call
        that has ended already comes again, in the same thread and task, with
        its id: it gets the same end (its message, its refusal), not a second
        decision and a second run. A new task (the next turn, another thread)
        is never answered from here, nor a run killed since: those are decided.
        Calls with no id (``guard_tool`` called by a node) are decided again.
        """
        if key.tool_call_id is None or key.task is None:
            return None
        done = self._done.get(key)
        if done is None or self.run.status != "running":
            return None
        self._done.move_to_end(key)
        return done

    def _ended_call(self, key: _Key, final: _Final) -> _Final:
        if key.tool_call_id is not None and key.task is not None:
            self._done[key] = final
            while len(self._done) > _DONE_KEPT:
                self._done.popitem(last=False)
        return final

    def _decide(
        self, name: str, step: _Step, key: _Key, context: JSONObject | None
    ) -> CallResult | ToolCall:
        """The call to run for ``step``, or the result that says why none runs.

        A call whose tool paused the graph is already decided and dispatched:
        the replay after the resume runs it again (unless the run was closed
        meanwhile) instead of proposing it anew.
        """
        held = self._held.get(key)
        if held is not None and held.args == step.args:
            self._still_open(key, held)
            return held.call
        if step.approval_id is not None:
            used = self._used(name, step.approval_id)
            if used is not None:
                return used
        result = self.run.propose(
            name,
            step.args,
            context=context,
            approval_id=step.approval_id,
            approval_key=self._approval_key(name, step, key),
        )
        if result.status != "dispatched" or result.receipt is None:
            return result
        call = ToolCall.model_construct(
            tool=name,
            args=step.args,
            context=context or {},
            call_id=result.receipt.call_id,
        )
        checked = self.run.enclosure.router.check_args(call)
        if checked.ok and checked.value is not call.args:
            call = call.model_copy(update={"args": checked.value})
        return call

    def _used(self, name: str, approval_id: str) -> CallResult | None:
        """Why a call is not released again: its approval has released it already.

        A task replayed by another process (or a new middleware) asks about its
        calls again, under the same approvals (``_approval_key``); one whose
        approval is spent was released before the restart. Releasing it again
        would only be refused, and logged and counted as a denial nobody made;
        nothing is logged, and the model is told it was released before, not
        what became of it (the result stays in the log, its value is not kept).
        """
        enc = self.run.enclosure
        try:
            approval = enc.approvals.get(approval_id)
        except ApprovalError:
            return None  # the release decides, and says why
        if approval.status != "consumed":
            return None
        reason = (
            f"{name} was already released by approval {approval_id} before this "
            "graph was resumed here, so it was not run again; what became of it "
            "is in the enclosure's decision log"
        )
        decision = Decision(
            outcome="deny",
            rule="approval",
            reason=reason,
            tool=name,
            manifest_sha256=enc.policy.manifest_sha256,
        )
        return CallResult(
            status="blocked",
            decision=decision,
            error=ErrorInfo(code="E-APPROVAL-USED", message=reason),
            approval_id=approval_id,
        )

    def _approval_key(self, name: str, step: _Step, key: _Key) -> str | None:
        """The id of the approval this proposal parks on, the same in every process.

        From the run, the LangGraph thread and task, the framework's tool-call
        id, the tool, the arguments and how many approvals the call asked about
        before (an edit asks anew): a
        graph resumed in another process (a durable checkpointer) proposes the
        call again and finds the approval its reviewer was shown, so LangGraph's
        stored answer is recorded on it (or refused by it, when decided
        meanwhile) and no second approval is asked. No id, no key.
        """
        if key.tool_call_id is None or key.task is None:
            return None
        if step.approval_id is not None:
            return None
        try:
            digest = sha256_json(
                [self.run.id, key.task, key.tool_call_id, name, step.args, step.asked]
            )
        except (TypeError, ValueError):
            return None
        return f"apr_{digest[:32]}"

    def _still_open(self, key: _Key, held: _Held) -> None:
        """Raise, closing the held call, when its run was killed while it paused."""
        run = self.run
        run.refresh()
        if run.status == "running":
            return
        self._held.pop(key, None)
        run.record_result(
            held.call.call_id,
            error=f"the run was closed while {held.call.tool} was paused",
            code="E-RUN-KILLED" if run.status == "killed" else "E-RUN-ENDED",
        )
        _ensure_alive(run)
        run.ensure_running()

    def _ended(
        self, key: _Key, step: _Step, call: ToolCall, exc: Exception
    ) -> CallResult:
        """The result of a call whose tool raised; a pause is re-raised, unlogged."""
        if isinstance(exc, GraphBubbleUp) and not isinstance(exc, RunKilled):
            # LangGraph's own control flow (an interrupt() in the tool): not a
            # failure and not a result; the call stays dispatched until it ends.
            self._held[key] = _Held(step.args, call)
            raise exc
        return self._finished(key, call, None, exc)

    def _finished(
        self, key: _Key, call: ToolCall, value: Any, exc: Exception | None
    ) -> CallResult:
        self._held.pop(key, None)
        if exc is None:
            return self.run.record_result(call.call_id, value=value)
        if isinstance(exc, EnclosureError):
            code, detail = exc.code, exc.message
        else:
            code, detail = "E-TOOL-FAILED", (str(exc).splitlines() or [""])[0]
        if not isinstance(exc, ToolReportedError):
            detail = f"{type(exc).__name__}: {detail}"
        return self.run.record_result(call.call_id, error=detail, code=code)

    def flow(
        self, name: str, args: dict[str, Any], key: _Key
    ) -> Generator[_Step, CallResult, _Final]:
        step = _Step(args)
        edited = False
        asked = 0
        parked = self._parked.get(key) if self._parked else None
        while True:
            if parked is not None and asked < len(parked):
                result = parked[asked]  # LangGraph replays the task after a resume
            else:
                result = yield step
            if result.status != "pending":
                self._parked.pop(key, None)
                return _Final(result, step, edited=edited)
            if parked is None:
                parked = self._parked.setdefault(key, [])
            if asked == len(parked):
                parked.append(result)
            asked += 1
            answer = self._review(name, step.args, result, key)
            if answer.kind == "approve":
                step = _Step(step.args, approval_id=result.approval_id or "")
            elif answer.kind == "reject":
                self._parked.pop(key, None)
                return _Final(None, step, edited=edited, rejected=answer.reason)
            else:
                step, edited = _Step(answer.args or {}, asked=asked), True

    def _review(
        self, name: str, args: dict[str, Any], result: CallResult, key: _Key
    ) -> _Answer:
        """Ask the reviewer until an answer can be recorded.

        LangGraph saves every resume value and, on each later resume, replays the
        task's ``interrupt()`` calls in order with them. So an answer that cannot
        be recorded (unreadable, an edit to another tool, a reviewer who started
        the run) is not raised, which would fail every later resume with it: the
        reviewer is asked again, the error in the request, and on the replays
        the bad answer is refused the same way and passed over.
        """
        problem: ErrorInfo | None = None
        while True:
            answer = interrupt(self._request(name, args, result, key, problem))
            try:
                return self._record(name, result.approval_id or "", answer)
            except (UsageError, ApprovalError) as exc:
                problem = ErrorInfo(code=exc.code, message=exc.message)

    def _request(
        self,
        name: str,
        args: dict[str, Any],
        result: CallResult,
        key: _Key,
        problem: ErrorInfo | None,
    ) -> dict[str, Any]:
        """A ``HumanInTheLoopMiddleware`` request for one parked call."""
        d = result.decision
        description = (
            f"{self.description_prefix}\n\nTool: {name}\nArgs: {args}\n"
            f"Reason: {d.reason} (rule {d.rule}); approval {result.approval_id}"
        )
        about: dict[str, Any] = {
            "run_id": self.run.id,
            "approval_id": result.approval_id,
            "rule": d.rule,
            "reason": d.reason,
            "tool_call": key.tool_call_id,
        }
        if problem is not None:
            description = (
                f"The last answer was refused ({problem.code}): {problem.message}"
                f"\n\n{description}"
            )
            about["error"] = problem.model_dump()
        return {
            "action_requests": [
                {"name": name, "args": args, "description": description}
            ],
            "review_configs": [
                {"action_name": name, "allowed_decisions": list(DECISIONS)}
            ],
            "enclosure": about,
        }

    def _record(self, name: str, approval_id: str, answer: Any) -> _Answer:
        """Record one answer on the approval; raise if it cannot be recorded.

        Raises:
            UsageError: an unreadable answer (``E-LANGCHAIN-DECISION``) or an
                edit to another tool (``E-LANGCHAIN-EDIT-TOOL``).
            ApprovalError: the reviewer may not decide it (``E-APPROVAL-SELF``).
        """
        decision = _one_decision(answer)
        by = str(decision.get("by") or self.reviewer)
        kind = decision["type"]
        if kind == "approve":
            self._settle(approval_id, by, None)
            return _Answer("approve")
        if kind == "reject":
            reason = str(decision.get("message") or "").strip()
            self._settle(approval_id, by, reason or "rejected by the reviewer")
            return _Answer("reject", reason=reason)
        new = _edited_args(name, decision)
        self._settle(approval_id, by, "edited by the reviewer; decided anew")
        return _Answer("edit", args=new)

    def _settle(self, approval_id: str, by: str, deny: str | None) -> None:
        """Approve (``deny`` is None) or deny the approval as ``by``.

        Decided elsewhere (or on an earlier pass of this replay), expired or
        unknown: the core's single-use check on the next call settles it and
        the model reads why. A reviewer who may not decide it raises.
        """
        desk = self.run.enclosure.approvals
        try:
            if deny is None:
                desk.approve(approval_id, by=by)
            else:
                desk.deny(approval_id, by=by, reason=deny)
        except ApprovalError as exc:
            if exc.code not in _SETTLED:
                raise


def _one_decision(answer: Any) -> dict[str, Any]:
    """A decision from a ``HITLResponse`` (``{"decisions": [d]}``) or a bare ``d``."""
    if isinstance(answer, dict) and "decisions" in answer:
        decisions = answer["decisions"]
        if isinstance(decisions, list) and len(decisions) == 1:
            answer = decisions[0]
    if isinstance(answer, dict) and answer.get("type") in DECISIONS:
        return answer
    msg = (
        "resume an enclosure approval with Command(resume={'decisions': [d]}) where "
        f"d is one of {DECISIONS} (edit with 'edited_action'); got {answer!r}"
    )
    raise UsageError(msg, code="E-LANGCHAIN-DECISION")


def _edited_args(name: str, decision: dict[str, Any]) -> dict[str, Any]:
    action = decision.get("edited_action")
    if not isinstance(action, dict) or not isinstance(action.get("args"), dict):
        msg = "an edit decision needs 'edited_action': {'name': ..., 'args': {...}}"
        raise UsageError(msg, code="E-LANGCHAIN-DECISION")
    if action.get("name", name) != name:
        msg = (
            f"an edit may change the arguments of {name!r}, not the tool "
            f"({action.get('name')!r}); reject it and let the model call that tool"
        )
        raise UsageError(msg, code="E-LANGCHAIN-EDIT-TOOL")
    args: dict[str, Any] = action["args"]
    return args


def _content(value: Any) -> str:
    """A value as message content: text stays text, anything else is JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, default=str)


def _ensure_alive(run: Run) -> None:
    """Raise ``GraphRunKilled`` once ``run`` is killed, here or elsewhere."""
    run.refresh()
    if run.status == "killed":
        msg = f"run {run.id} was killed: {run.state.killed}"
        raise GraphRunKilled(msg)


def _killed(result: CallResult) -> GraphRunKilled:
    d = result.decision
    code = result.error.code if result.error else None
    return GraphRunKilled(f"{model_text(result)} (rule {d.rule})", code=code)


def _rejected_text(name: str, reason: str | None) -> str:
    why = f": {reason}" if reason else ""
    return (
        f"[enclosure] a human reviewer rejected {name}{why}. It was not run; do not "
        "retry it unless the user asks."
    )


def _edit_notice(args: dict[str, Any]) -> str:
    return (
        "[enclosure] a human reviewer edited this call before it ran; it ran with "
        f"arguments {json.dumps(args, default=str)}."
    )


# ---- the middleware and the ToolNode ----------------------------------------------


def _value_of(out: Any) -> Any:
    """What the enclosure records as the tool's result (the message content)."""
    if isinstance(out, ToolMessage):
        if out.status == "error":
            raise ToolReportedError(str(out.content))
        return out.content
    return None  # a Command: its state update is the graph's business


class EnclosureMiddleware(AgentMiddleware[Any, Any, Any]):
    """Agent middleware that puts ``run`` in front of every tool call.

    >>> agent = create_agent(model, tools, middleware=[EnclosureMiddleware(run)],
    ...                      checkpointer=InMemorySaver())       # doctest: +SKIP

    List it first, so it wraps other tool-call middleware (retries, error
    handling). A checkpointer is needed for approvals (``interrupt()``).
    """

    def __init__(
        self,
        run: Run,
        *,
        reviewer: str = "langgraph-reviewer",
        context: ContextFn | None = None,
        description_prefix: str = "The enclosure needs a human's approval",
    ) -> None:
        """Guard every tool call of an agent with ``run``.

        Args:
            run: the run every call is decided and logged in.
            reviewer: who decides approvals answered through ``Command(resume=...)``
                (a decision may name its own with a ``by`` key); it may not be the
                run's ``started_by`` (``E-APPROVAL-SELF``: the reviewer is asked
                again).
            context: builds a call's ``context`` (visible to manifest conditions)
                from the ``ToolCallRequest``, e.g. where the task came from.
            description_prefix: the first line of the reviewer's description.
        """
        super().__init__()
        self.run = run
        self._context = context
        self._gate = _Gate(
            run, reviewer=reviewer, description_prefix=description_prefix
        )

    def wrap_model_call(self, request: Any, handler: Callable[[Any], Any]) -> Any:
        """Stop before the next model call once the run is killed.

        A kill raised by a tool call already ends the graph run; this also stops
        it when the run was killed from outside (in this process, or by another
        one sharing the decision log: a cheap check of the log), or when a
        ``ToolNode`` with ``handle_tool_errors=True`` turned the kill into a
        message. It wraps the
        model call rather than adding a ``before_model`` node, which would cost
        the graph a step per turn.

        Raises:
            GraphRunKilled: the run was killed.
        """
        _ensure_alive(self.run)
        return handler(request)

    async def awrap_model_call(
        self, request: Any, handler: Callable[[Any], Awaitable[Any]]
    ) -> Any:
        """``wrap_model_call`` for async graphs.

        Raises:
            GraphRunKilled: the run was killed.
        """
        _ensure_alive(self.run)
        return await handler(request)

    def wrap_tool_call(
        self, request: ToolCallRequest, handler: Handler
    ) -> ToolMessage | Command[Any]:
        """Decide, log and (if allowed) run one tool call.

        Raises:
            GraphRunKilled: the run is killed; the graph run ends.
        """
        call = request.tool_call
        name = call["name"]
        context = self._context(request) if self._context is not None else None
        final = self._gate.run_sync(
            name,
            call["args"],
            _Key.of(call["id"], name, call["args"]),
            lambda step: _sync_executor(request, handler, step),
            context,
        )
        return _message(final, request)

    async def awrap_tool_call(
        self, request: ToolCallRequest, handler: AsyncHandler
    ) -> ToolMessage | Command[Any]:
        """``wrap_tool_call`` for async graphs (``ainvoke``, ``astream``).

        Raises:
            GraphRunKilled: the run is killed; the graph run ends.
        """
        call = request.tool_call
        name = call["name"]
        context = self._context(request) if self._context is not None else None
        final = await self._gate.run_async(
            name,
            call["args"],
            _Key.of(call["id"], name, call["args"]),
            lambda step: _async_executor(request, handler, step),
            context,
        )
        return _message(final, request)


def _request_for(request: ToolCallRequest, args: dict[str, Any]) -> ToolCallRequest:
    call = request.tool_call
    if args is call["args"] or args == call["args"]:
        return request
    return request.override(tool_call={**call, "args": args})


def _sync_executor(
    request: ToolCallRequest, handler: Handler, step: _Step
) -> Callable[..., Any]:
    def execute(**args: Any) -> Any:
        step.out = handler(_request_for(request, args))
        return _value_of(step.out)

    return execute


def _async_executor(
    request: ToolCallRequest, handler: AsyncHandler, step: _Step
) -> Callable[..., Awaitable[Any]]:
    async def execute(**args: Any) -> Any:
        step.out = await handler(_request_for(request, args))
        return _value_of(step.out)

    return execute


def _message(final: _Final, request: ToolCallRequest) -> ToolMessage | Command[Any]:
    call = request.tool_call
    name, call_id = call["name"], call["id"] or ""
    result, out = final.result, final.step.out
    if result is None:
        text = _rejected_text(name, final.rejected)
        return ToolMessage(text, name=name, tool_call_id=call_id, status="error")
    status = result.status
    if status == "killed":
        raise _killed(result)
    if status == "executed" and out is not _UNSET:
        if final.edited and isinstance(out, ToolMessage):
            return _with_notice(out, final.step.args)
        return out  # type: ignore[no-any-return]  # the framework's own message
    if status in ("executed", "simulated"):
        content = _content(result.value)
        return ToolMessage(content, name=name, tool_call_id=call_id)
    text = model_text(result)
    return ToolMessage(text, name=name, tool_call_id=call_id, status="error")


def _with_notice(message: ToolMessage, args: dict[str, Any]) -> ToolMessage:
    notice = _edit_notice(args)
    content = message.content
    if isinstance(content, str):
        new: Any = f"{notice}\n\n{content}" if content else notice
    else:
        new = [{"type": "text", "text": notice}, *content]
    return message.model_copy(update={"content": new})


def guard_tool_node(
    run: Run,
    tools: ToolNode | Sequence[BaseTool | Callable[..., Any]],
    **options: Any,
) -> ToolNode:
    """A LangGraph ``ToolNode`` whose every call goes through ``run``.

    Args:
        run: the run every call is decided and logged in.
        tools: the tools, or an existing ``ToolNode`` (its tools and name are
            kept; pass its other options again).
        **options: ``EnclosureMiddleware`` keywords (``reviewer``, ``context``,
            ``description_prefix``), the rest go to ``ToolNode``.

    Returns:
        A new ``ToolNode``; use it in place of the unguarded one.
    """
    keys = ("reviewer", "context", "description_prefix")
    mine = {k: options.pop(k) for k in keys if k in options}
    guard = EnclosureMiddleware(run, **mine)
    if isinstance(tools, ToolNode):
        options.setdefault("name", tools.name)
        tools = list(tools.tools_by_name.values())
    return ToolNode(
        tools,
        wrap_tool_call=guard.wrap_tool_call,
        awrap_tool_call=guard.awrap_tool_call,
        **options,
    )


# ---- one BaseTool -----------------------------------------------------------------


def _call_fields(tool: BaseTool) -> frozenset[str]:
    """The arguments the model fills in (injected ones excluded)."""
    schema = tool.tool_call_schema
    if isinstance(schema, dict):
        return frozenset(schema.get("properties", {}))
    fields: dict[str, Any] | None = getattr(schema, "model_fields", None)
    if fields is None:  # a pydantic.v1 schema
        fields = getattr(schema, "__fields__", {})
    return frozenset(fields or ())


class _GuardedTool(BaseTool):
    """A ``BaseTool`` that proposes each call to the enclosure before running it."""

    inner: BaseTool
    gate: Any
    call_fields: frozenset[str]

    def _split(self, kwargs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        args = {k: v for k, v in kwargs.items() if k in self.call_fields}
        injected = {k: v for k, v in kwargs.items() if k not in self.call_fields}
        return args, injected

    def _parse_input(
        self, tool_input: str | dict[str, Any], tool_call_id: str | None
    ) -> str | dict[str, Any]:
        """Validate as the tool would; arguments it refuses are a refusal on record.

        ``BaseTool`` validates before ``_run``, so without this a call with bad
        arguments would leave no decision at all. It is logged as a call the
        front door refused (``E-ARGS-INVALID``, a denial) and the framework's
        own validation error follows as before.
        """
        try:
            return super()._parse_input(tool_input, tool_call_id)
        except (ValidationError, ValidationErrorV1) as exc:
            raw = tool_input if isinstance(tool_input, dict) else {"input": tool_input}
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}"
                for e in exc.errors()
            )
            gate: _Gate = self.gate
            gate.run.refuse(
                self.name,
                self._split(raw)[0] or raw,
                rule="langchain.args_schema",
                reason=f"arguments do not match the tool's schema: {problems}"[:500],
                code="E-ARGS-INVALID",
            )
            raise

    def _run(self, config: RunnableConfig, **kwargs: Any) -> Any:
        args, injected = self._split(kwargs)
        inner = self.inner

        def execute(_step: _Step) -> Callable[..., Any]:
            return lambda **a: inner.invoke({**a, **injected}, config)

        gate: _Gate = self.gate
        key = _Key.of(None, self.name, args)
        final = gate.run_sync(self.name, args, key, execute)
        return _tool_value(final, self.name)

    async def _arun(self, config: RunnableConfig, **kwargs: Any) -> Any:
        args, injected = self._split(kwargs)
        inner = self.inner

        def execute(_step: _Step) -> Callable[..., Awaitable[Any]]:
            async def run(**a: Any) -> Any:
                return await inner.ainvoke({**a, **injected}, config)

            return run

        gate: _Gate = self.gate
        key = _Key.of(None, self.name, args)
        final = await gate.run_async(self.name, args, key, execute)
        return _tool_value(final, self.name)


def _tool_value(final: _Final, name: str) -> Any:
    """The tool's return value, or a ``ToolException`` the framework shows the model."""
    result = final.result
    if result is None:
        raise ToolException(_rejected_text(name, final.rejected))
    if result.status == "killed":
        raise _killed(result)
    if result.status in ("executed", "simulated"):
        return result.value
    raise ToolException(model_text(result))


def guard_tool(
    run: Run,
    tool: BaseTool,
    *,
    reviewer: str = "langgraph-reviewer",
    description_prefix: str = "The enclosure needs a human's approval",
) -> BaseTool:
    """One ``BaseTool`` whose every call goes through ``run``.

    Same name, description and argument schema as ``tool``. Deny, a failed tool
    and a rejection raise ``ToolException`` (``handle_tool_error`` is on, so the
    model reads the reason as an error ``ToolMessage``); approve calls
    ``interrupt()`` and so needs a LangGraph graph with a checkpointer; kill
    raises ``RunKilled``. A ``content_and_artifact`` tool returns its content only.
    Arguments the tool's schema refuses are logged as a refused call
    (``E-ARGS-INVALID``); the framework's validation error follows as before.
    An error the tool would handle itself (its ``handle_tool_error``) is recorded
    as a failed call, and the model reads the enclosure's redacted line for it.

    Returns:
        The guarded tool; give it to the agent in place of ``tool``.
    """
    gate = _Gate(run, reviewer=reviewer, description_prefix=description_prefix)
    return _GuardedTool(
        name=tool.name,
        description=tool.description,
        args_schema=tool.args_schema,
        return_direct=tool.return_direct,
        tags=tool.tags,
        metadata=tool.metadata,
        handle_tool_error=True,
        # The tool's own error handling would turn a failure into a plain
        # result: the guard records it as failed and shows the model its line.
        inner=tool.model_copy(
            update={"handle_tool_error": False, "handle_validation_error": False}
        ),
        gate=gate,
        call_fields=_call_fields(tool),
    )
