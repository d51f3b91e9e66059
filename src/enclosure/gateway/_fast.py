"""``tools/call`` answered beside the SDK's server loop rather than through it.

Every message a client sends passes the SDK's era replay relay, its dispatcher,
a task, a request context, the OpenTelemetry middleware and the handler lookup:
on a stdio session that costs about as much as the enclosure's own decision. A
plain ``tools/call`` (no ``_meta``: no progress token, no 2026 envelope) on a
handshake-era session is taken off the read stream here instead and answered
with the same checks the SDK makes: the request is validated against the
negotiated version's surface, the result is shaped by it, a bad request is
``invalid params``, and a cancelled call gets no answer. Everything else, and
every call before ``initialize`` was answered, goes to the SDK untouched. The
call itself is ``Gateway.call``, so each one is still decided and logged.
``Tap`` is the matching write stream: it sees each answer leave, which opens
the ``Inbox``, ends a killed session and lets a waiting result event be written.

Must not know: the policy, upstreams, the log; only the gateway's ``call``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Self

import anyio
import mcp_types as types
from anyio.streams.memory import MemoryObjectSendStream
from mcp.shared.exceptions import MCPError
from mcp.shared.message import SessionMessage
from mcp_types.methods import serialize_server_result, validate_client_request
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS
from pydantic import ValidationError

from enclosure.errors import EnclosureError
from enclosure.gateway._wire import put

if TYPE_CHECKING:
    from anyio.abc import TaskGroup

    from enclosure.gateway._gateway import Gateway

__all__ = ["Inbox", "Tap"]

logger = logging.getLogger("enclosure")

_METHOD = "tools/call"


class Inbox:
    """The SDK server's read stream, with plain ``tools/call`` requests taken out.

    Args:
        inner: the client's messages.
        gateway: answers each call taken out.
        send: writes an answer (the gateway's tap on the client's stream).
        group: the session's task group; each call runs in a task of it.
    """

    def __init__(
        self, inner: Any, gateway: Gateway, send: Any, group: TaskGroup
    ) -> None:
        self._inner = inner
        self._gateway = gateway
        self._send = send
        self._group = group
        self._calls: dict[types.RequestId, anyio.CancelScope] = {}
        self._initialize: types.RequestId | None = None
        self.version: str | None = None
        """The handshake-era version the SDK agreed to; None: not taking calls."""

    def answered(self, message: types.JSONRPCMessage) -> None:
        """See the SDK's answers go out: the one to ``initialize`` opens the path."""
        if (
            self.version is None
            and self._initialize is not None
            and isinstance(message, types.JSONRPCResponse)
            and message.id == self._initialize
        ):
            version = message.result.get("protocolVersion")
            if version in HANDSHAKE_PROTOCOL_VERSIONS:
                self.version = version

    # ---- the receive stream the SDK reads -------------------------------------------

    async def receive(self) -> SessionMessage | Exception:
        while True:
            item: SessionMessage | Exception = await self._inner.receive()
            if not self.take(item):
                return item

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> SessionMessage | Exception:
        try:
            return await self.receive()
        except anyio.EndOfStream:
            raise StopAsyncIteration from None

    async def aclose(self) -> None:
        await self._inner.aclose()

    def close(self) -> None:
        self._inner.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ---- the calls taken out --------------------------------------------------------

    def take(self, item: SessionMessage | Exception) -> bool:
        """Whether this gateway answers ``item`` itself (it is then started).

        The stdio transport offers each message here as soon as it is read,
        before it joins the SDK's queue (``serve(intercept=...)``).
        """
        if not isinstance(item, SessionMessage):
            return False
        message = item.message
        if isinstance(message, types.JSONRPCNotification):
            if message.method == "notifications/cancelled" and message.params:
                scope = self._calls.get(message.params.get("requestId"))  # type: ignore[arg-type]  # a JSON value
                if scope is not None:
                    scope.cancel()
            return False
        if not isinstance(message, types.JSONRPCRequest):
            return False
        if message.method == "initialize":
            self._initialize = message.id
            return False
        params = message.params
        if (
            message.method != _METHOD
            or self.version is None
            or message.id in self._calls
            or (params is not None and "_meta" in params)
        ):
            return False
        self._group.start_soon(self._call, message.id, params or {}, self.version)
        return True

    async def _call(
        self, request_id: types.RequestId, params: dict[str, Any], version: str
    ) -> None:
        with anyio.CancelScope() as scope:
            self._calls[request_id] = scope
            try:
                reply = await self._reply(request_id, params, version)
            finally:
                del self._calls[request_id]
        if not scope.cancelled_caught:  # a cancelled request gets no answer
            await self._send.send(SessionMessage(reply))

    async def _reply(
        self, request_id: types.RequestId, params: dict[str, Any], version: str
    ) -> types.JSONRPCResponse | types.JSONRPCError:
        try:
            validate_client_request(_METHOD, version, params)
            call = types.CallToolRequestParams.model_validate(params, by_name=False)
        except ValidationError:
            # As the SDK answers: pydantic's message would echo the client's input.
            return _error(
                request_id, types.INVALID_PARAMS, "Invalid request parameters"
            )
        try:
            result = await self._gateway.call(call.name, call.arguments, request_id)
            dumped = result.model_dump(by_alias=True, mode="json", exclude_none=True)
            shaped = serialize_server_result(_METHOD, version, dumped)
        except EnclosureError as exc:
            return _error(
                request_id, types.INTERNAL_ERROR, f"{exc.code}: {exc.message}"
            )
        except MCPError as exc:
            return types.JSONRPCError(jsonrpc="2.0", id=request_id, error=exc.error)
        except Exception:  # the gateway's call boundary: log, answer, keep serving
            logger.exception("tools/call %r failed in the gateway", call.name)
            message = "E-INTERNAL: a bug in the gateway; its traceback is logged"
            return _error(request_id, types.INTERNAL_ERROR, message)
        return types.JSONRPCResponse(jsonrpc="2.0", id=request_id, result=shaped)


class Tap:
    """The server's write stream, watched for what follows an answer.

    The answer to ``initialize`` opens the ``Inbox``; the killing call's ends
    the session; one with a result still to log has it logged.
    """

    def __init__(self, inner: Any, gateway: Gateway) -> None:
        self._inner = inner
        self._gateway = gateway
        self.inbox: Inbox | None = None

    async def send(self, item: SessionMessage) -> None:
        if isinstance(self._inner, MemoryObjectSendStream):
            await put(self._inner, item)
        else:
            await self._inner.send(item)
        gw = self._gateway
        message = item.message
        if not isinstance(message, types.JSONRPCResponse | types.JSONRPCError):
            return
        if self.inbox is not None and self.inbox.version is None:
            self.inbox.answered(message)
        if gw.ended.is_set():
            gw.answered(message.id)
        if gw.logs_after(message.id):
            try:
                # One turn of the loop: the writer puts the answer on the wire.
                await anyio.lowlevel.checkpoint()
            finally:
                gw.log_results(message.id)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def _error(request_id: types.RequestId, code: int, message: str) -> types.JSONRPCError:
    return types.JSONRPCError(
        jsonrpc="2.0", id=request_id, error=types.ErrorData(code=code, message=message)
    )
