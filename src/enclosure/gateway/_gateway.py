"""The gateway: an MCP server whose every tool call goes through one enclosure run.

One ``Gateway`` is one run. It starts the manifest's upstreams, offers the tools
the manifest declares (pinned, see ``_catalog``), and answers each ``tools/call``
by deciding it in the run first: an allowed call goes to its upstream and its
result is logged; a refused, simulated or parked call is answered with one line
the model can read (``isError`` unless simulated); a call that kills the run is
answered, then the session ends. Resources and prompts pass through only where
the upstream's manifest entry allows them.

Room: a front door. It calls the facade (``Run.propose``, ``record_result``,
``refuse``, ``Workspace.spawn``) and the SDK; nothing in the core imports it.
"""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio
import mcp_types as types
from mcp.server.lowlevel.server import Server
from mcp.shared.exceptions import MCPError

from enclosure._clock import iso
from enclosure._json import canonical_json
from enclosure.agent import system_prompt
from enclosure.audit import AlertEvent, ToolPinEvent
from enclosure.errors import EnclosureError, UpstreamError
from enclosure.gateway._catalog import Entry, offered, withhold
from enclosure.gateway._fast import Inbox, Tap
from enclosure.gateway._upstream import Upstream
from enclosure.integrations import model_text

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from anyio.abc import TaskGroup
    from mcp.server.context import ServerRequestContext

    from enclosure._enclosure import Enclosure
    from enclosure._run import Run
    from enclosure.manifest import UpstreamSpec
    from enclosure.models import CallResult
    from enclosure.sandbox import Spawned

__all__ = ["Gateway"]

logger = logging.getLogger("enclosure")

NAME = "enclosure"
_POLL_S = 0.05
_ALL = object()
_APPROVAL_GONE = frozenset(
    {"E-APPROVAL-EXPIRED", "E-APPROVAL-NOT-FOUND", "E-APPROVAL-MISMATCH"}
)


class Gateway:
    """One MCP session's worth of enclosure: a run, its upstreams, its server.

    Args:
        enc: the enclosure (manifest, policy, decision log).
        task: the run's task, as the log shows it.
        approval_wait: seconds a call parked for approval waits for a human
            before it is answered as pending (0: answer at once; the client
            retries the same call, which then runs once if approved).
        started_by: who started the run (may not decide its approvals).
        on_pending: called with each approval id a call starts waiting on.
    """

    def __init__(
        self,
        enc: Enclosure,
        *,
        task: str = "mcp",
        approval_wait: float = 0.0,
        started_by: str | None = None,
        on_pending: Callable[[str], None] | None = None,
    ) -> None:
        self.enc = enc
        self.task = task
        self.approval_wait = approval_wait
        self.started_by = started_by
        self.on_pending = on_pending
        self.ended = anyio.Event()
        """Set when the run was killed: the session is over."""
        self._run: Run | None = None
        self.upstreams: dict[str, Upstream] = {}
        self.entries: dict[str, Entry] = {}
        self._seen: dict[str, int] = {}
        self._reported: set[tuple[str, str, str]] = set()
        self._approvals: dict[tuple[str, bytes], str] = {}
        self._kill_request: Any = None
        self._flushed = anyio.Event()
        self._serving = 0
        self._unlogged: dict[Any, list[Callable[[], object]]] = {}
        """Result events not yet written, by the request they answer (see ``_log``)."""

    @property
    def run(self) -> Run:
        """The run every call goes through (once ``running``)."""
        if self._run is None:
            msg = "the gateway is not running"
            raise RuntimeError(msg)
        return self._run

    # ---- lifecycle -------------------------------------------------------------------

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Gateway]:
        """Start the run and the upstreams; stop both on the way out.

        An upstream that cannot start does not stop the others: its tools are
        not offered, calls to them fail with its code, and each request tries
        to start it again.
        """
        enc = self.enc
        self._run = enc.start_run(self.task, started_by=self.started_by)
        client = types.Implementation(name=NAME, version=_version())
        try:
            async with anyio.create_task_group() as tg:
                self.upstreams = {
                    name: Upstream(
                        name,
                        spec,
                        timeout=spec.timeout or enc.manifest.compute.wall_time,
                        spawn=self._spawn,
                        group=tg,
                        client_info=client,
                    )
                    for name, spec in enc.manifest.upstreams.items()
                }
                await self._start_all(tg)
                try:
                    yield self
                finally:
                    self.log_results()
                    tg.cancel_scope.cancel()
        finally:
            self.log_results()
            self._run.end()

    async def _start_all(self, tg: TaskGroup) -> None:
        del tg
        async with anyio.create_task_group() as starters:
            for upstream in self.upstreams.values():
                starters.start_soon(self._try_start, upstream)
        self.refresh()

    async def _try_start(self, upstream: Upstream) -> None:
        try:
            await upstream.session()
        except UpstreamError as exc:
            logger.warning("%s", exc.message)
            self._alert("warning", f"upstreams.{upstream.name}", exc.message)

    def _spawn(self, name: str, spec: UpstreamSpec) -> Spawned:
        assert spec.command is not None  # noqa: S101 -- only command upstreams spawn
        backend = spec.sandbox or self.enc.manifest.compute.backend
        return self.run.workspace.spawn(
            spec.command,
            cwd=spec.cwd,
            env=spec.env,
            principal=name,
            isolated=backend != "none",
        )

    # ---- what is offered -------------------------------------------------------------

    def refresh(self) -> dict[str, Entry]:
        """Recompute the offered tools from the upstreams' listings, checking pins."""
        listings = {n: u.listing for n, u in self.upstreams.items() if u.up}
        entries = offered(self.enc.manifest, listings)
        self.entries = {name: self._pinned(e) for name, e in entries.items()}
        for name, upstream in self.upstreams.items():
            self._seen[name] = upstream.generation
        return self.entries

    def _pinned(self, entry: Entry) -> Entry:
        if entry.withheld is not None:
            return entry
        enc = self.enc
        agent, log = enc.manifest.agent.name, enc.log
        stored = log.get_pin(agent, entry.upstream, entry.remote)
        wanted = enc.manifest.tools[entry.name].pin
        if entry.sha256 in (wanted, stored) or (wanted is None and stored is None):
            if stored != entry.sha256:
                action = "pinned" if stored is None else "repinned"
                log.set_pin(
                    agent, entry.upstream, entry.remote, entry.sha256, now=_now(enc)
                )
                self._pin_event(entry, action, stored)
            return entry
        pinned = wanted or stored
        reason = (
            f"upstream {entry.upstream!r} changed tool {entry.remote!r} since it was "
            f"pinned (sha256 {pinned}, now {entry.sha256}); it is withheld until "
            f"the manifest pins the new definition (pin: {entry.sha256})"
        )
        seen = (entry.upstream, entry.remote, entry.sha256)
        if seen not in self._reported:  # once per gateway, not once per listing
            self._reported.add(seen)
            self._pin_event(entry, "changed", pinned)
            self._alert("critical", f"tools.{entry.name}.pin", reason)
        return withhold(entry, reason, "E-TOOL-CHANGED")

    def _pin_event(self, entry: Entry, action: str, pinned: str | None) -> None:
        self.enc.log.append(
            ToolPinEvent(
                run_id=self.run.id,
                ts=iso(_now(self.enc)),
                upstream=entry.upstream,
                tool=entry.remote,
                action=action,  # type: ignore[arg-type]  # one of the Literal values
                sha256=entry.sha256,
                pinned_sha256=pinned,
            )
        )

    def _alert(self, severity: str, rule: str, message: str) -> None:
        self.enc.log.append(
            AlertEvent(
                run_id=self.run.id,
                ts=iso(_now(self.enc)),
                severity=severity,  # type: ignore[arg-type]  # a Literal value
                rule=rule,
                message=message,
            )
        )

    async def list_tools(self) -> list[types.Tool]:
        """The tools offered now (upstreams re-listed, pins re-checked)."""
        for upstream in self.upstreams.values():
            if upstream.up:
                await _relist(upstream)
        self.refresh()
        return [self._offer(e) for e in self.entries.values() if e.withheld is None]

    def _offer(self, entry: Entry) -> types.Tool:
        """The tool as listed; no output schema where a simulated answer may come.

        A client checks a result against the tool's output schema, which a
        simulator's preview need not follow.
        """
        manifest = self.enc.manifest
        spec = manifest.tools[entry.name]
        rules = [*spec.rules, *manifest.rules]
        if entry.tool.output_schema is None or not (
            spec.mode == "simulate" or any(r.then == "simulate" for r in rules)
        ):
            return entry.tool
        return entry.tool.model_copy(update={"output_schema": None})

    # ---- tools/call ------------------------------------------------------------------

    async def call(
        self, name: str, arguments: dict[str, Any] | None, request_id: Any = None
    ) -> types.CallToolResult:
        """Decide one call in the run, then act on the decision."""
        # The results before it first: the policy counts them (errors, cost).
        self.log_results()
        args: dict[str, Any] = arguments or {}
        entry = await self._current(name)
        run = self.run
        context: dict[str, Any] = {"via": "mcp"}
        if entry is not None:
            context["upstream"] = entry.upstream
        if entry is not None and entry.withheld is not None:
            result = run.refuse(
                name,
                args,
                rule=f"tools.{name}.pin"
                if entry.code == "E-TOOL-CHANGED"
                else "gateway",
                reason=entry.withheld,
                code=entry.code,
                context=context,
            )
            return self._answer(result, request_id)
        result = self._propose(name, args, context)
        waits = self.approval_wait > 0 and result.status == "pending"
        if waits and result.approval_id and await self._wait_for(result.approval_id):
            result = self._propose(name, args, context)
        if result.status != "dispatched":
            return self._answer(result, request_id)
        assert result.receipt is not None  # noqa: S101 -- dispatched has one
        return await self._dispatch(
            entry, name, args, result.receipt.call_id, request_id
        )

    async def _current(self, name: str) -> Entry | None:
        """The tool's entry, its upstream started (again) and re-checked if needed."""
        entry = self.entries.get(name)
        upstream = self.upstreams.get(entry.upstream) if entry else None
        if entry is None:
            # Declared, but its upstream may have been down when tools were listed.
            down = [u for u in self.upstreams.values() if not u.up]
            for u in down:
                await self._try_restart(u)
            if down:
                self.refresh()
            return self.entries.get(name)
        if upstream is not None and not upstream.up:
            await self._try_restart(upstream)
        if (
            upstream is not None
            and self._seen.get(upstream.name) != upstream.generation
        ):
            self.refresh()
        return self.entries.get(name, entry)

    async def _try_restart(self, upstream: Upstream) -> None:
        try:
            await upstream.session()
        except UpstreamError as exc:
            logger.warning("%s", exc.message)

    def _propose(self, name: str, args: dict[str, Any], context: Any) -> CallResult:
        # The key of a parked call: only needed once some call was parked.
        key = _approval_key(name, args) if self._approvals else None
        used = self._approvals.get(key) if key else None
        result = self.run.propose(name, args, context=context, approval_id=used)
        if result.status == "pending" and result.approval_id:
            key = key or _approval_key(name, args)
            if key is not None:
                self._approvals[key] = result.approval_id
        elif (
            key is not None
            and used is not None
            and (
                result.decision.via_approval
                or (result.error is not None and result.error.code in _APPROVAL_GONE)
            )
        ):
            self._approvals.pop(key, None)
        return result

    async def _wait_for(self, approval_id: str) -> bool:
        """Wait (bounded) until a human decides; True once it is no longer pending."""
        if self.on_pending is not None:
            self.on_pending(approval_id)
        desk = self.enc.approvals
        with anyio.move_on_after(self.approval_wait):
            while True:
                if desk.get(approval_id).status != "pending":
                    return True
                await anyio.sleep(_POLL_S)
        return False

    async def _dispatch(
        self,
        entry: Entry | None,
        name: str,
        args: dict[str, Any],
        call_id: str,
        request_id: Any,
    ) -> types.CallToolResult:
        run = self.run
        upstream = self.upstreams.get(entry.upstream) if entry else None
        try:
            if entry is None or upstream is None:
                raise self._not_offered(name)
            value = await upstream.call_tool(entry.remote, args)
        except UpstreamError as exc:
            result = run.record_result(call_id, error=exc.message, code=exc.code)
            return self._answer(result, None)
        except anyio.get_cancelled_exc_class():
            # The client cancelled or hung up: the call's result is still logged
            # (synchronously, so the cancellation cannot interrupt it).
            run.record_result(
                call_id,
                error="the MCP client cancelled the call or went away",
                code="E-MCP-CANCELLED",
            )
            raise
        self._log(request_id, lambda: _record(run, call_id, value))
        return value

    def _log(self, request_id: Any, record: Callable[[], object]) -> None:
        """Write a result event now, or just after the answer leaves (``serve``).

        Served over a stream, the event is written once the answer is handed to
        the writer (``_Tap``), while the client reads it, instead of before: the
        commit is off the call's critical path. It is still written before the
        next call is decided (``call`` starts with ``log_results``) and before
        the run ends; the decision event, which is what lets a call run, was
        committed before the upstream saw the call.
        """
        if request_id is None or not self._serving:
            record()
        else:
            self._unlogged.setdefault(request_id, []).append(record)

    def logs_after(self, request_id: Any) -> bool:
        """Whether result events wait for the answer to ``request_id`` to leave."""
        return request_id in self._unlogged

    def log_results(self, request_id: Any = _ALL) -> None:
        """Write the result events still waiting (all, or one request's)."""
        if request_id is _ALL:
            waiting = [r for rs in self._unlogged.values() for r in rs]
            self._unlogged.clear()
        else:
            waiting = self._unlogged.pop(request_id, [])
        for record in waiting:
            record()

    def _not_offered(self, name: str) -> UpstreamError:
        problems = [u.problem for u in self.upstreams.values() if u.problem]
        if problems:
            return UpstreamError(problems[0].message, code=problems[0].code)
        msg = f"no upstream offers tool {name!r}"
        return UpstreamError(msg, code="E-UPSTREAM-START")

    def _answer(self, result: CallResult, request_id: Any) -> types.CallToolResult:
        """What the client reads for a call that did not simply run."""
        meta = {
            "enclosure": {
                "status": result.status,
                "code": result.error.code if result.error else None,
                "rule": result.decision.rule,
                "approval_id": result.approval_id,
            }
        }
        if result.status == "killed":
            self._kill_request = request_id
            self.ended.set()
        text = model_text(result)
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=text)],
            is_error=result.status != "simulated",
            meta=meta,
        )

    # ---- the MCP server --------------------------------------------------------------

    def answered(self, request_id: Any) -> None:
        """The server sent an answer; once the killing call's, the session may end."""
        if self._kill_request is None or request_id == self._kill_request:
            self._flushed.set()

    def instructions(self) -> str:
        """The sandbox-aware system prompt the server hands its client."""
        return system_prompt(self.enc.manifest, via="mcp")

    def server(self) -> Server[Any]:
        """A low-level SDK server answering from this gateway."""
        gateway = self

        async def list_tools(
            ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
        ) -> types.ListToolsResult:
            del ctx, params
            return types.ListToolsResult(tools=await gateway.list_tools())

        async def call_tool(
            ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
        ) -> types.CallToolResult:
            try:
                return await gateway.call(params.name, params.arguments, ctx.request_id)
            except EnclosureError as exc:
                raise MCPError(
                    types.INTERNAL_ERROR, f"{exc.code}: {exc.message}"
                ) from None

        handlers: dict[str, Any] = {
            "on_list_tools": list_tools,
            "on_call_tool": call_tool,
        }
        from enclosure.gateway._passthrough import passthrough_handlers  # noqa: PLC0415

        handlers |= passthrough_handlers(self)
        return Server(
            NAME,
            version=_version(),
            instructions=self.instructions(),
            **handlers,
        )

    async def serve(
        self,
        read_stream: Any,
        write_stream: Any,
        *,
        on_inbox: Callable[[Inbox], None] | None = None,
    ) -> None:
        """Serve one client over SDK message streams until it leaves or the run dies.

        A killed run ends the session once the killing call's answer is on its
        way (or after 5 s): the server is cancelled then, rather than fed an
        end of stream through a relay, which would cost a hop per message.
        Plain ``tools/call`` requests are answered beside the SDK's loop
        (``_fast``); everything else goes through it. ``on_inbox`` gets the
        session's ``Inbox``, for a transport to offer it messages first.
        """
        server = self.server()
        tap = Tap(write_stream, self)
        self._serving += 1

        async def end_on_kill(scope: anyio.CancelScope) -> None:
            await self.ended.wait()
            with anyio.move_on_after(5):
                await self._flushed.wait()
            scope.cancel()

        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(end_on_kill, tg.cancel_scope)
                inbox = tap.inbox = Inbox(read_stream, self, tap, tg)
                if on_inbox is not None:
                    on_inbox(inbox)
                options = server.create_initialization_options()
                await server.run(inbox, tap, options)
                tg.cancel_scope.cancel()
        finally:
            self._serving -= 1
            self.log_results()


async def _relist(upstream: Upstream) -> None:
    """Read the upstream's tools again (a changed tool shows up here)."""
    try:
        session = await upstream.session()
        with anyio.fail_after(upstream.timeout):
            page = await session.list_tools()
        upstream.listing.tools = {t.name: t for t in page.tools}
    except (UpstreamError, MCPError, TimeoutError) as exc:
        logger.warning(
            "upstream %s: tools could not be listed again: %s", upstream.name, exc
        )


def _approval_key(name: str, args: dict[str, Any]) -> tuple[str, bytes] | None:
    try:
        return (name, canonical_json(args))
    except (TypeError, ValueError):
        return None


def _record(run: Run, call_id: str, value: types.CallToolResult) -> None:
    """Log what the upstream answered to a call it ran: its result event."""
    if value.is_error:
        text = next(
            (c.text for c in value.content if isinstance(c, types.TextContent)), ""
        )
        run.record_result(
            call_id,
            error=f"the upstream tool reported an error: {text[:300]}",
            code="E-UPSTREAM-TOOL-ERROR",
        )
        return
    logged = value.structured_content
    if logged is None:
        logged = [c.model_dump(mode="json") for c in value.content]
    run.record_result(call_id, value=logged)


def _now(enc: Enclosure) -> float:
    return enc.clock.time()


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415

    try:
        return version("enclosure")
    except PackageNotFoundError:  # pragma: no cover -- run from a checkout
        return "0"
