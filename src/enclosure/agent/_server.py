"""The agent's socket: a Unix stream server, newline framing, a thread per client.

It knows framing, caps and permissions, not the protocol: each complete line goes
to a handler (``Dispatcher.handle``) and its answer goes back. The client on the
other side is untrusted, so every cap is enforced here: a line longer than the
cap gets ``E-RPC-TOO-LARGE`` and the connection is closed (the framing cannot be
trusted after it); a client beyond ``max_connections`` gets ``E-RPC-BUSY``; a
client that stops reading its answers is dropped after ``send_timeout``. None of
it stops the server, which keeps serving the others.
"""

from __future__ import annotations

import contextlib
import logging
import os
import selectors
import socket
import threading
from typing import TYPE_CHECKING, Self

from enclosure.agent._rpc import INVALID_REQUEST, SERVER_ERROR, Fault, error_line
from enclosure.client import MAX_MESSAGE
from enclosure.errors import SandboxUnavailable

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

__all__ = ["RpcServer"]

logger = logging.getLogger("enclosure")

_CHUNK = 65536
_TOO_LARGE = Fault(
    INVALID_REQUEST,
    "E-RPC-TOO-LARGE",
    f"a request line is longer than the cap ({MAX_MESSAGE} bytes); closing",
    closed=True,
)
_BUSY = Fault(
    SERVER_ERROR,
    "E-RPC-BUSY",
    "too many connections to the enclosure; reuse one",
    closed=True,
)


class RpcServer:
    """Serves ``handler`` on a Unix socket at ``path`` until ``stop()``."""

    def __init__(
        self,
        handler: Callable[[bytes], bytes | None],
        path: Path,
        *,
        owner: int | None = None,
        max_connections: int = 16,
        max_message: int = MAX_MESSAGE,
        send_timeout: float = 30.0,
    ) -> None:
        """Prepare a server; ``start()`` binds it.

        Args:
            handler: answers one request line (``None``: no answer).
            path: where to bind; its folder must exist and be private.
            owner: the uid that may connect besides us (the sandbox's uid); the
                socket is made its own, mode 0600.
            max_connections: clients served at once; more are turned away.
            max_message: the longest request line accepted, in bytes.
            send_timeout: seconds a client may take to read one answer.
        """
        self.handler = handler
        self.path = path
        self.owner = owner
        self.max_connections = max_connections
        self.max_message = max_message
        self.send_timeout = send_timeout
        self._listener: socket.socket | None = None
        self._clients: dict[socket.socket, threading.Thread] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._wake_r = self._wake_w = -1
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def connections(self) -> int:
        """Clients connected right now."""
        with self._lock:
            return len(self._clients)

    def start(self) -> Self:
        """Bind the socket and serve it from a background thread.

        Raises:
            SandboxUnavailable: the socket cannot be bound (``E-AGENT-SOCKET``);
                the agent cannot run without it.
        """
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        bound = False
        try:
            listener.bind(str(self.path))
            bound = True
            self.path.chmod(0o600)
            if self.owner is not None:
                os.chown(self.path, self.owner, self.owner)
            listener.listen(socket.SOMAXCONN)  # bursts queue; the cap is enforced below
        except OSError as exc:
            listener.close()
            if bound:
                self.path.unlink(missing_ok=True)
            msg = f"cannot open the agent socket at {self.path}: {exc}"
            raise SandboxUnavailable(msg, code="E-AGENT-SOCKET") from exc
        self._listener = listener
        self._wake_r, self._wake_w = os.pipe()
        self._thread = threading.Thread(
            target=self._serve, name="enclosure-agent-socket", daemon=True
        )
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting, hang up on every client, remove the socket; idempotent.

        A client thread in the middle of a tool call finishes it in the
        background; ``timeout`` bounds how long this waits for each thread.
        """
        if self._stopping.is_set():
            return
        self._stopping.set()
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")
        if self._thread is not None:
            self._thread.join(timeout)
        with self._lock:
            clients = list(self._clients.items())
        for conn, _thread in clients:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        for _conn, thread in clients:
            thread.join(timeout)
        for fd in (self._wake_r, self._wake_w):
            if fd >= 0:
                os.close(fd)
        if self._listener is not None:  # only a socket we bound is ours to remove
            self._listener.close()
            with contextlib.suppress(OSError):
                self.path.unlink()

    # ---- accepting ----------------------------------------------------------------

    def _serve(self) -> None:
        assert self._listener is not None  # noqa: S101 -- start() set it
        with selectors.DefaultSelector() as sel:
            sel.register(self._listener, selectors.EVENT_READ, "accept")
            sel.register(self._wake_r, selectors.EVENT_READ, "wake")
            while not self._stopping.is_set():
                for key, _ in sel.select():
                    if key.data == "wake":
                        return
                    self._accept(sel)

    def _accept(self, sel: selectors.BaseSelector) -> None:
        assert self._listener is not None  # noqa: S101 -- start() set it
        try:
            conn, _ = self._listener.accept()
        except OSError:
            # Out of file descriptors, say: wait for a client to leave (or stop).
            logger.warning("agent socket: accept failed", exc_info=True)
            sel.select(timeout=0.1)
            return
        with self._lock:
            full = len(self._clients) >= self.max_connections
            if not full:
                thread = threading.Thread(
                    target=self._client,
                    args=(conn,),
                    name="enclosure-agent-client",
                    daemon=True,
                )
                self._clients[conn] = thread
        if full:
            _turn_away(conn)
            return
        thread.start()

    # ---- one client ---------------------------------------------------------------

    def _client(self, conn: socket.socket) -> None:
        try:
            self._converse(conn)
        except OSError:
            pass  # the client went away or stopped reading: only it is affected
        finally:
            with self._lock:
                self._clients.pop(conn, None)
            conn.close()

    def _converse(self, conn: socket.socket) -> None:
        buffer = bytearray()
        scanned = 0
        while not self._stopping.is_set():
            end = buffer.find(b"\n", scanned)
            if end < 0:
                if len(buffer) > self.max_message:
                    self._send(conn, error_line(None, _TOO_LARGE))
                    return
                scanned = len(buffer)
                chunk = conn.recv(_CHUNK)
                if not chunk:
                    return
                buffer += chunk
                continue
            line = bytes(buffer[:end])
            del buffer[: end + 1]
            scanned = 0
            if len(line) > self.max_message:
                self._send(conn, error_line(None, _TOO_LARGE))
                return
            if not line.strip():
                continue
            answer = self.handler(line)
            if answer is not None:
                self._send(conn, answer)

    def _send(self, conn: socket.socket, data: bytes) -> None:
        conn.settimeout(self.send_timeout)
        try:
            conn.sendall(data)
        finally:
            conn.settimeout(None)


def _turn_away(conn: socket.socket) -> None:
    """Tell a client over the limit why, without ever blocking on it."""
    conn.setblocking(False)  # noqa: FBT003 -- the stdlib's own signature
    with contextlib.suppress(OSError):
        conn.send(error_line(None, _BUSY))
    conn.close()
