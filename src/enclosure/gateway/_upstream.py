"""One MCP upstream: its process (or URL), its client session, its failures.

A stdio upstream is started through the run's workspace, so it lives in the
run's sandbox under the manifest's caps, with its network through the egress
proxy; a URL upstream is reached from the gateway's process. Each connection
lives in its own task of the gateway's task group (the SDK's session must be
entered and left by one task); a request handler only waits for it.

Failures become one ``UpstreamError`` with a stable code, never a traceback:
it could not start (``E-UPSTREAM-START``), did not answer in time
(``E-UPSTREAM-TIMEOUT``), exited (``E-UPSTREAM-CRASHED``), wrote something that
is not JSON-RPC (``E-UPSTREAM-PROTOCOL``: it is stopped, as it can no longer be
trusted to frame answers), or answered with a JSON-RPC error
(``E-UPSTREAM-ERROR``). A dead upstream is started again on the next request.

A ``tools/call`` to a stdio upstream goes out and comes back beside the SDK's
client session (its id is the gateway's own, its answer is taken off the pipe
before the session sees it) and is then checked as the session would: against
the negotiated version's result surface and the tool's output schema. Every
other request, and every notification either way, is the session's.

Must not know: the policy, the manifest's tools, pins, the MCP client in front.
"""

from __future__ import annotations

import itertools
import logging
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import mcp_types as types
from mcp.client.session import ClientSession
from mcp.shared.exceptions import MCPError
from mcp.shared.message import SessionMessage
from mcp_types.methods import serialize_server_result
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS

from enclosure.errors import EnclosureError, SandboxUnavailable, UpstreamError
from enclosure.gateway._wire import pipe_streams, put

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from anyio.abc import TaskGroup, TaskStatus
    from anyio.streams.memory import MemoryObjectSendStream

    from enclosure.manifest import UpstreamSpec
    from enclosure.sandbox import Spawned

    Spawn = Callable[[str, UpstreamSpec], Spawned]
    """Starts an upstream's command (the workspace's ``spawn``)."""

__all__ = ["Listing", "Upstream"]

T = TypeVar("T")

logger = logging.getLogger("enclosure")

_PAGES = 50
"""Most pages of one listing read from an upstream."""


@dataclass(slots=True)
class Listing:
    """What an upstream offered when it was last (re)started."""

    tools: dict[str, types.Tool] = field(default_factory=dict)
    resources: list[types.Resource] = field(default_factory=list)
    templates: list[types.ResourceTemplate] = field(default_factory=list)
    prompts: dict[str, types.Prompt] = field(default_factory=dict)


class Upstream:
    """A connection to one upstream, (re)made on demand."""

    def __init__(
        self,
        name: str,
        spec: UpstreamSpec,
        *,
        timeout: float,
        spawn: Spawn,
        group: TaskGroup,
        client_info: types.Implementation,
    ) -> None:
        self.name = name
        self.spec = spec
        self.timeout = timeout
        self.listing = Listing()
        self.generation = 0
        """Bumped on every successful start: a new listing to check."""
        self.problem: UpstreamError | None = None
        """Why the last start or connection failed, if it did."""
        self._spawn = spawn
        self._group = group
        self._client_info = client_info
        self._session: ClientSession | None = None
        self._proc: Spawned | None = None
        self._broken: str | None = None
        self._stop = anyio.Event()
        self._eof = anyio.Event()
        self._lock = anyio.Lock()
        self._wire: MemoryObjectSendStream[SessionMessage] | None = None
        self._ids = itertools.count(1)
        self._pending: dict[str, _Pending] = {}

    def __repr__(self) -> str:
        state = "up" if self._session is not None else "down"
        return f"<Upstream {self.name} {state}>"

    @property
    def up(self) -> bool:
        """Whether a session is open now."""
        return self._session is not None

    async def session(self) -> ClientSession:
        """The open session, starting the upstream first when it is down.

        Raises:
            UpstreamError: it could not be started (the code says why).
        """
        session = self._session
        if session is not None:
            return session
        async with self._lock:
            if self._session is None:
                await self._group.start(self._connection)
            assert self._session is not None  # noqa: S101 -- started says so
            return self._session

    async def close(self) -> None:
        """Stop the connection (and its process); a later request restarts it."""
        self._session = None
        self._stop.set()

    # ---- requests -------------------------------------------------------------------

    async def call_tool(
        self, tool: str, arguments: dict[str, Any]
    ) -> types.CallToolResult:
        """Call ``tool`` on the upstream (its own name there).

        Raises:
            UpstreamError: see the module docstring for the codes.
        """
        session = await self.session()
        what = f"tool {tool!r}"
        if self._wire is not None and session.protocol_version in _HANDSHAKE:
            call = self._call_on_wire(session, self._wire, tool, arguments)
            return await self._request(what, call, limit=self.timeout)
        return await self._request(
            what, session.call_tool(tool, arguments, read_timeout_seconds=self.timeout)
        )

    async def _call_on_wire(
        self,
        session: ClientSession,
        wire: MemoryObjectSendStream[SessionMessage],
        tool: str,
        arguments: dict[str, Any],
    ) -> types.CallToolResult:
        request_id = f"enclosure-{next(self._ids)}"
        pending = self._pending[request_id] = _Pending(wire)
        params = {"name": tool, "arguments": arguments}
        request = types.JSONRPCRequest(
            jsonrpc="2.0", id=request_id, method="tools/call", params=params
        )
        try:
            await put(wire, SessionMessage(request))
            await pending.done.wait()
        except (anyio.ClosedResourceError, anyio.BrokenResourceError):
            pending.answer = None
        except anyio.get_cancelled_exc_class():
            _cancel(wire, request_id)  # a timeout or the client: the upstream stops
            raise
        finally:
            del self._pending[request_id]
        answer = pending.answer
        if answer is None:
            raise MCPError(types.CONNECTION_CLOSED, "Connection closed")
        if isinstance(answer, types.JSONRPCError):
            raise MCPError.from_error_data(answer.error)
        version = session.protocol_version
        assert version is not None  # noqa: S101 -- checked by the caller
        shaped = serialize_server_result("tools/call", version, answer.result)
        result = types.CallToolResult.model_validate(shaped, by_name=False)
        if not result.is_error:
            await session.validate_tool_result(tool, result)
        return result

    def _answered(self, item: SessionMessage) -> bool:
        """Take the answer to a call made on the wire off the pipe."""
        message = item.message
        if not isinstance(message, types.JSONRPCResponse | types.JSONRPCError):
            return False
        pending = self._pending.get(message.id) if isinstance(message.id, str) else None
        if pending is None:
            return False
        pending.answer = message
        pending.done.set()
        return True

    def _hang_up(self, wire: MemoryObjectSendStream[SessionMessage] | None) -> None:
        """A connection is gone: every call still waiting on its wire ends."""
        if wire is None:
            return
        if self._wire is wire:
            self._wire = None
        for pending in self._pending.values():
            if pending.wire is wire:
                pending.done.set()

    async def read_resource(self, uri: str) -> types.ReadResourceResult:
        """Read one resource. Raises ``UpstreamError``."""
        session = await self.session()
        return await self._request(f"resource {uri!r}", session.read_resource(uri))

    async def get_prompt(
        self, name: str, arguments: dict[str, str] | None
    ) -> types.GetPromptResult:
        """Get one prompt. Raises ``UpstreamError``."""
        session = await self.session()
        return await self._request(
            f"prompt {name!r}", session.get_prompt(name, arguments)
        )

    async def _request(
        self, what: str, request: Awaitable[T], *, limit: float | None = None
    ) -> T:
        session = self._session
        try:
            with anyio.fail_after(self.timeout + 1 if limit is None else limit):
                return await request
        except TimeoutError:
            raise self._timed_out(what) from None
        except MCPError as exc:
            if exc.code == types.REQUEST_TIMEOUT:
                raise self._timed_out(what) from None
            if self._session is not session or self._broken is not None:
                raise await self._dead() from None
            closed = self._eof.is_set() or not self.up
            if exc.code == types.CONNECTION_CLOSED and closed:
                raise await self._dead() from None
            msg = f"upstream {self.name!r} refused {what}: {exc.message}"
            raise UpstreamError(msg, code="E-UPSTREAM-ERROR") from None
        except (RuntimeError, ValueError, TypeError) as exc:
            # The SDK rejects an answer it cannot use (a result that does not
            # match the tool's own output schema, an unexpected result shape).
            msg = f"upstream {self.name!r} answered {what} unusably: {exc}"
            raise UpstreamError(
                msg.splitlines()[0], code="E-UPSTREAM-PROTOCOL"
            ) from None

    def _timed_out(self, what: str) -> UpstreamError:
        msg = f"upstream {self.name!r} did not answer {what} within {self.timeout:g} s"
        return UpstreamError(msg, code="E-UPSTREAM-TIMEOUT")

    async def _dead(self) -> UpstreamError:
        """Why the connection is gone: a protocol breach, or the process exited."""
        if self._broken is not None:
            msg = f"upstream {self.name!r} broke the protocol: {self._broken}"
            return UpstreamError(msg, code="E-UPSTREAM-PROTOCOL")
        proc = self._proc
        detail = ""
        if proc is not None:
            code = await anyio.to_thread.run_sync(proc.wait, 2.0)
            detail = f" with status {code}" if code is not None else ""
            if tail := proc.stderr_tail().strip().splitlines()[-1:]:
                detail += f": {tail[0][:300]}"
        msg = f"upstream {self.name!r} exited{detail}"
        return UpstreamError(msg, code="E-UPSTREAM-CRASHED")

    # ---- the connection task ---------------------------------------------------------

    async def _connection(self, *, task_status: TaskStatus[None]) -> None:
        """Start, initialise and list; then hold the session until told or dead."""
        self._broken = None
        stop = self._stop = anyio.Event()  # this connection's own
        started = False
        session: ClientSession | None = None
        wire = None
        try:
            async with AsyncExitStack() as stack:
                session, eof = await self._open(stack)
                wire = self._wire
                self._session = session
                self.generation += 1
                self.problem = None
                started = True
                task_status.started()
                await _first(stop.wait, eof.wait)
                self._hang_up(wire)
        except UpstreamError as exc:
            self.problem = exc
            if not started:
                raise
        except Exception as exc:
            logger.exception("upstream %s failed", self.name)
            self.problem = UpstreamError(
                f"upstream {self.name!r} failed: {type(exc).__name__}",
                code="E-UPSTREAM-START" if not started else "E-UPSTREAM-CRASHED",
            )
            if not started:
                raise self.problem from None
        finally:
            self._hang_up(wire)
            if self._session is session:
                self._session = None

    async def _open(self, stack: AsyncExitStack) -> tuple[ClientSession, anyio.Event]:
        spec = self.spec
        eof = anyio.Event()
        read: Any
        write: Any
        if spec.command is not None:
            proc = await self._start_process(stack)
            pipes = await stack.enter_async_context(
                pipe_streams(
                    proc.stdout,
                    proc.stdin,
                    on_bad_line=self._bad_line,
                    intercept=self._answered,
                )
            )
            read, write, eof = pipes.read, pipes.write, pipes.eof
            self._eof = eof
            wire = self._wire = pipes.write.clone()
            stack.callback(wire.close)
        else:
            from mcp.client.streamable_http import (  # noqa: PLC0415 -- HTTP only
                streamable_http_client,
            )

            assert spec.url is not None  # noqa: S101 -- the manifest checked
            read, write = await stack.enter_async_context(
                streamable_http_client(spec.url)
            )
        session = await stack.enter_async_context(
            ClientSession(read, write, client_info=self._client_info)
        )
        try:
            with anyio.fail_after(self.timeout):
                await session.initialize()
                self.listing = await self._list(session)
        except TimeoutError:
            msg = f"upstream {self.name!r} did not start within {self.timeout:g} s"
            raise UpstreamError(msg, code="E-UPSTREAM-START") from None
        except MCPError as exc:
            if self._broken is not None or eof.is_set():
                raise await self._dead_at_start() from None
            msg = f"upstream {self.name!r} refused to start: {exc.message}"
            raise UpstreamError(msg, code="E-UPSTREAM-START") from None
        return session, eof

    async def _dead_at_start(self) -> UpstreamError:
        dead = await self._dead()
        return UpstreamError(
            dead.message.replace("exited", "exited while starting", 1),
            code="E-UPSTREAM-START",
        )

    async def _start_process(self, stack: AsyncExitStack) -> Spawned:
        try:
            proc = await anyio.to_thread.run_sync(self._spawn, self.name, self.spec)
        except SandboxUnavailable as exc:
            msg = (
                f"upstream {self.name!r} cannot be sandboxed here ({exc.message}); "
                "it is not started (write 'sandbox: none' for it to run it "
                "unisolated on the host)"
            )
            raise UpstreamError(msg, code="E-UPSTREAM-SANDBOX") from None
        except EnclosureError as exc:
            msg = f"upstream {self.name!r} cannot start: {exc.message}"
            raise UpstreamError(msg, code="E-UPSTREAM-START") from None
        except OSError as exc:
            msg = f"upstream {self.name!r} cannot start: {exc.strerror or exc}"
            raise UpstreamError(msg, code="E-UPSTREAM-START") from None
        self._proc = proc
        stack.callback(proc.close)
        return proc

    async def _bad_line(self, reason: str) -> bool:
        """A line that is not JSON-RPC: stop trusting (and running) the upstream."""
        logger.warning("upstream %s sent %s; stopping it", self.name, reason)
        self._broken = reason
        self._session = None  # no new request goes to it from now on
        if self._proc is not None:
            self._proc.kill()
        self._stop.set()
        return False

    async def _list(self, session: ClientSession) -> Listing:
        caps = session.server_capabilities
        listing = Listing()
        cursor: str | None = None
        for _ in range(_PAGES):
            params = types.PaginatedRequestParams(cursor=cursor) if cursor else None
            page = await session.list_tools(params=params)
            listing.tools.update((t.name, t) for t in page.tools)
            cursor = page.next_cursor
            if not cursor:
                break
        if caps is not None and caps.resources is not None and self.spec.resources:
            listing.resources = list((await session.list_resources()).resources)
            templates = await session.list_resource_templates()
            listing.templates = list(templates.resource_templates)
        if caps is not None and caps.prompts is not None and self.spec.prompts:
            prompts = await session.list_prompts()
            listing.prompts = {p.name: p for p in prompts.prompts}
        return listing


_HANDSHAKE = frozenset(HANDSHAKE_PROTOCOL_VERSIONS)


@dataclass(slots=True)
class _Pending:
    """A call made on the wire, until its answer (None: the connection went)."""

    wire: MemoryObjectSendStream[SessionMessage]
    done: anyio.Event = field(default_factory=anyio.Event)
    answer: types.JSONRPCResponse | types.JSONRPCError | None = None


def _cancel(wire: MemoryObjectSendStream[SessionMessage], request_id: str) -> None:
    """Tell the upstream to stop a call (best effort: never waits)."""
    note = types.JSONRPCNotification(
        jsonrpc="2.0",
        method="notifications/cancelled",
        params={"requestId": request_id, "reason": "the gateway stopped waiting"},
    )
    try:
        wire.send_nowait(SessionMessage(note))
    except (anyio.WouldBlock, anyio.ClosedResourceError, anyio.BrokenResourceError):
        logger.debug("could not tell the upstream to cancel %s", request_id)


async def _first(*waits: Callable[[], Any]) -> None:
    """Return as soon as one of ``waits`` returns."""
    async with anyio.create_task_group() as tg:

        async def one(wait: Callable[[], Any]) -> None:
            await wait()
            tg.cancel_scope.cancel()

        for wait in waits:
            tg.start_soon(one, wait)
