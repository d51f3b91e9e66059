"""The agent's side of the enclosure socket: list tools and call them. Stdlib only.

This module is copied into every sandbox ``enclosure run`` starts, as a package of
its own (``enclosure/__init__.py`` empty, plus this file) on ``PYTHONPATH``, so it
must not import pydantic, enclosure or anything outside the standard library. It
knows the wire protocol and nothing about policy: the router on the host decides
every call, logs it and holds every credential; the agent only ever sees results.

The protocol: JSON-RPC 2.0 over a Unix stream socket, one JSON object per line
(UTF-8, no newline inside a message), at most ``MAX_MESSAGE`` bytes a line.

    >>> from enclosure.client import Client            # doctest: +SKIP
    >>> with Client() as client:                        # doctest: +SKIP
    ...     result = client.call("read_ticket", {"ticket_id": "T-7"})
    ...     result["status"], result["value"]

Errors, each with a stable ``code`` (``E-...``):

    ClientError                  the socket cannot be used (connect, timeout, framing)
    ├── RpcError                 the server answered the request with an error
    └── ToolError                ``call_or_raise``: the call did not run or failed
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from typing import Self  # only for the checker: the client runs on older Pythons

__all__ = [
    "DEFAULT_SOCKET",
    "MAX_MESSAGE",
    "Client",
    "ClientError",
    "RpcError",
    "ToolError",
    "connect",
]

DEFAULT_SOCKET = "/run/enclosure/agent.sock"
"""Where ``enclosure run`` binds the socket inside the sandbox."""
MAX_MESSAGE = 8 * 1024 * 1024
"""Longest line either side sends or accepts, in bytes."""
DEFAULT_TIMEOUT = 300.0
"""Seconds to wait for one answer; a tool may take long (approvals do not wait)."""
_CHUNK = 65536
_FIRST_PAUSE = 0.005
_LAST_PAUSE = 0.25


class ClientError(Exception):
    """The socket could not be used; ``code`` says why (``E-CLIENT-...``)."""

    def __init__(self, message: str, *, code: str) -> None:
        self.code = code
        self.message = message
        super().__init__(f"{code}: {message}")


class RpcError(ClientError):
    """The server answered with a JSON-RPC error; ``code`` is its ``E-...`` code."""

    def __init__(self, message: str, *, code: str, rpc_code: int, data: Any) -> None:
        self.rpc_code = rpc_code
        """The JSON-RPC error number (-32700 parse error, -32601 no such method)."""
        self.data = data
        super().__init__(message, code=code)


class ToolError(ClientError):
    """A call was blocked, is pending approval, failed, or its run was killed."""

    def __init__(self, result: dict[str, Any]) -> None:
        self.result = result
        """The whole call result, as ``Client.call`` returns it."""
        self.status: str = result.get("status", "")
        self.approval_id: str | None = result.get("approval_id")
        error = result.get("error") or {}
        reason = (result.get("decision") or {}).get("reason", "")
        super().__init__(
            error.get("message") or reason or self.status,
            code=error.get("code") or "E-DENIED",
        )


class Client:
    """A connection to the enclosure's socket; thread-safe, one request at a time.

    Connects lazily and again after a timeout or a broken connection, so a
    long-lived agent can keep one client.
    """

    def __init__(
        self, path: str | None = None, *, timeout: float | None = DEFAULT_TIMEOUT
    ) -> None:
        """Prepare a client (nothing is opened until the first request).

        Args:
            path: the socket; default ``$ENCLOSURE_SOCKET``, else ``DEFAULT_SOCKET``.
            timeout: seconds to wait for connecting and for each answer; ``None``
                waits for ever.
        """
        self.path = path or os.environ.get("ENCLOSURE_SOCKET") or DEFAULT_SOCKET
        self.timeout = timeout
        self._sock: socket.socket | None = None
        self._buffer = bytearray()
        self._next_id = 0
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        state = "connected" if self._sock is not None else "not connected"
        return f"<Client {self.path} {state}>"

    def __enter__(self) -> Self:
        return self.connect()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def connect(self) -> Self:
        """Open the connection now rather than on the first request.

        Raises:
            ClientError: no enclosure listens there (``E-CLIENT-CONNECT``).
        """
        with self._lock:
            self._ensure()
        return self

    def close(self) -> None:
        """Close the connection; a later request opens a new one."""
        with self._lock:
            self._drop()

    # ---- the methods ---------------------------------------------------------

    def tools(self) -> list[dict[str, Any]]:
        """Every tool of the manifest: name, description, effect, mode, schema."""
        result = self.request("tools/list")
        return list(result["tools"])

    def call(
        self,
        tool: str,
        args: dict[str, Any] | None = None,
        *,
        context: dict[str, Any] | None = None,
        approval_id: str | None = None,
    ) -> dict[str, Any]:
        """Propose one call; the host decides, logs and (maybe) runs it.

        Returns:
            The call result: ``status`` (executed, simulated, pending, blocked,
            failed, killed), ``value``, ``error`` (``code``, ``message``),
            ``decision`` (``outcome``, ``rule``, ``reason``), ``approval_id``.

        Raises:
            RpcError: the request itself was refused (``E-RUN-ENDED``, ...).
            ClientError: the socket failed.
        """
        params: dict[str, Any] = {"tool": tool, "args": args or {}}
        if context is not None:
            params["context"] = context
        if approval_id is not None:
            params["approval_id"] = approval_id
        result = self.request("tools/call", params)
        if not isinstance(result, dict):
            raise ClientError("tools/call answered no object", code="E-CLIENT-PROTOCOL")
        return result

    def call_or_raise(
        self,
        tool: str,
        args: dict[str, Any] | None = None,
        *,
        context: dict[str, Any] | None = None,
        approval_id: str | None = None,
    ) -> Any:
        """``call``, returning only the value.

        Raises:
            ToolError: the call did not run or failed; ``code`` and ``status``
                say why, ``approval_id`` names a pending approval.
        """
        result = self.call(tool, args, context=context, approval_id=approval_id)
        if result.get("status") not in ("executed", "simulated") or result.get("error"):
            raise ToolError(result)
        return result.get("value")

    def info(self) -> dict[str, Any]:
        """The run: id, agent, task, status, limits, usage and remaining budget."""
        result = self.request("run/info")
        return dict(result)

    def prompt(self) -> str:
        """The sandbox-aware system prompt for this run's manifest."""
        return str(self.request("run/prompt")["prompt"])

    # ---- the wire ------------------------------------------------------------

    def request(self, method: str, params: dict[str, Any] | None = None) -> Any:
        """Send one JSON-RPC request and return its ``result``.

        Raises:
            RpcError: the server answered with an error.
            ClientError: connecting, sending or reading failed or timed out
                (``E-CLIENT-CONNECT``, ``E-CLIENT-TIMEOUT``, ``E-CLIENT-PROTOCOL``,
                ``E-CLIENT-TOO-LARGE``); the connection is closed and the next
                request opens a new one.
        """
        with self._lock:
            self._next_id += 1
            request_id = self._next_id
            message: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id}
            message["method"] = method
            if params is not None:
                message["params"] = params
            line = _encode(message)
            sock = self._ensure()
            try:
                sock.sendall(line)
                answer = self._read_line(sock)
            except TimeoutError:
                self._drop()
                msg = f"no answer to {method} within {self.timeout} s"
                raise ClientError(msg, code="E-CLIENT-TIMEOUT") from None
            except ClientError:
                self._drop()
                raise
            except OSError as exc:
                self._drop()
                msg = f"the connection to {self.path} broke: {exc}"
                raise ClientError(msg, code="E-CLIENT-CONNECT") from exc
            try:
                return _result_of(answer, request_id)
            except RpcError as exc:
                if isinstance(exc.data, dict) and exc.data.get("closed"):
                    self._drop()  # the server hung up after answering
                raise
            except ClientError:
                self._drop()
                raise

    def _ensure(self) -> socket.socket:
        if self._sock is not None:
            return self._sock
        started = time.monotonic()
        pause = _FIRST_PAUSE
        while True:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(self.timeout)
            try:
                sock.connect(self.path)
                break
            except BlockingIOError as exc:
                # The server's queue of new connections is full: wait for room.
                sock.close()
                waited = time.monotonic() - started
                if self.timeout is not None and waited + pause > self.timeout:
                    msg = f"the enclosure at {self.path} is too busy to connect"
                    raise ClientError(msg, code="E-CLIENT-CONNECT") from exc
                time.sleep(pause)
                pause = min(pause * 2, _LAST_PAUSE)
            except OSError as exc:
                sock.close()
                msg = f"cannot connect to the enclosure at {self.path}: {exc}"
                raise ClientError(msg, code="E-CLIENT-CONNECT") from exc
        self._sock = sock
        self._buffer.clear()
        return sock

    def _drop(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        self._buffer.clear()

    def _read_line(self, sock: socket.socket) -> bytes:
        scanned = 0
        while True:
            end = self._buffer.find(b"\n", scanned)
            if end >= 0:
                line = bytes(self._buffer[:end])
                del self._buffer[: end + 1]
                return line
            scanned = len(self._buffer)
            if scanned > MAX_MESSAGE:
                msg = f"an answer is longer than {MAX_MESSAGE} bytes"
                raise ClientError(msg, code="E-CLIENT-TOO-LARGE")
            chunk = sock.recv(_CHUNK)
            if not chunk:
                msg = "the enclosure closed the connection"
                raise ClientError(msg, code="E-CLIENT-CONNECT")
            self._buffer += chunk


def connect(
    path: str | None = None, *, timeout: float | None = DEFAULT_TIMEOUT
) -> Client:
    """A connected ``Client`` (see ``Client.__init__``).

    Raises:
        ClientError: no enclosure listens there (``E-CLIENT-CONNECT``).
    """
    return Client(path, timeout=timeout).connect()


def _encode(message: dict[str, Any]) -> bytes:
    try:
        line = json.dumps(message, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        msg = f"the request is not JSON: {exc}"
        raise ClientError(msg, code="E-CLIENT-ARGS") from exc
    data = line.encode("utf-8") + b"\n"
    if len(data) > MAX_MESSAGE:
        msg = f"the request is longer than {MAX_MESSAGE} bytes"
        raise ClientError(msg, code="E-CLIENT-TOO-LARGE")
    return data


def _result_of(line: bytes, request_id: int) -> Any:
    try:
        answer = json.loads(line)
    except (ValueError, RecursionError) as exc:
        msg = f"the enclosure answered something that is not JSON: {exc}"
        raise ClientError(msg, code="E-CLIENT-PROTOCOL") from None
    if not isinstance(answer, dict) or answer.get("id") not in (request_id, None):
        msg = "the enclosure answered another request"
        raise ClientError(msg, code="E-CLIENT-PROTOCOL")
    error = answer.get("error")
    if isinstance(error, dict):
        data = error.get("data")
        code = data.get("code") if isinstance(data, dict) else None
        number = error.get("code")
        raise RpcError(
            str(error.get("message", "")),
            code=str(code or "E-RPC-ERROR"),
            rpc_code=number if isinstance(number, int) else 0,
            data=data,
        )
    if "result" not in answer or answer.get("id") is None:
        msg = "the enclosure's answer has no result for this request"
        raise ClientError(msg, code="E-CLIENT-PROTOCOL")
    return answer["result"]
