"""MCP's stdio framing over two pipe descriptors, as the SDK's message streams.

Both sides of the gateway speak newline-delimited JSON-RPC over pipes: to the
client on the gateway's own stdin and stdout, and to each stdio upstream on the
pipes of its sandboxed process. The SDK's own stdio transports read through a
worker thread and own the process; this one reads and writes the descriptors
directly on the event loop (non-blocking, no thread hop per message), caps the
length of a line, and reports a line that is not JSON-RPC to its owner instead
of guessing: the server side answers it with a parse error, the upstream side
treats the upstream as broken.

Must not know: the policy, the run, what the messages mean.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections import deque
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

import anyio
import mcp_types as types
from mcp.shared.message import SessionMessage
from pydantic import ValidationError

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

    from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

__all__ = [
    "MAX_LINE",
    "PipeStreams",
    "claimed_stdio",
    "parse_error_line",
    "pipe_streams",
    "put",
]

T = TypeVar("T")

MAX_LINE = 16 * 1024 * 1024
"""Longest JSON-RPC line accepted by default (16 MiB)."""
_CHUNK = 256 * 1024
_AHEAD = 4
"""Chunks read ahead of the consumer before reading pauses."""


@dataclass(slots=True)
class PipeStreams:
    """The SDK-facing ends of one pipe pair, and what happened to it."""

    read: MemoryObjectReceiveStream[SessionMessage | Exception]
    write: MemoryObjectSendStream[SessionMessage]
    eof: anyio.Event
    """Set once the peer closed its end (or the descriptor failed)."""
    send_raw: Callable[[bytes], Awaitable[None]]
    """Write bytes on the wire between whole messages (a parse-error reply)."""


def parse_error_line(message: str) -> bytes:
    """A JSON-RPC parse-error response (``id`` null), framed for the wire."""
    error = types.JSONRPCError(
        jsonrpc="2.0",
        id=None,
        error=types.ErrorData(code=types.PARSE_ERROR, message=message),
    )
    return error.model_dump_json(by_alias=True, exclude_unset=True).encode() + b"\n"


@asynccontextmanager
async def pipe_streams(
    read_fd: int,
    write_fd: int,
    *,
    max_line: int = MAX_LINE,
    on_bad_line: Callable[[str], Awaitable[bool]] | None = None,
    intercept: Callable[[SessionMessage], bool] | None = None,
) -> AsyncIterator[PipeStreams]:
    """Serve JSON-RPC lines from ``read_fd`` and to ``write_fd`` while inside.

    Both descriptors are switched to non-blocking mode and are not closed here.
    A line that is not a JSON-RPC message is dropped and reported to
    ``on_bad_line`` with a short reason; reading goes on only if it returns
    True. A line over ``max_line`` is reported the same way and always ends
    reading (the stream cannot be resynchronised). ``intercept`` sees each
    message first; one it returns True for is its own and is not delivered.
    """
    os.set_blocking(read_fd, False)
    os.set_blocking(write_fd, False)
    to_session, from_wire = anyio.create_memory_object_stream[
        SessionMessage | Exception
    ](16)
    # One queue and one writer for messages and raw bytes alike: whole lines
    # never interleave, and no lock is taken (and yielded on) per message.
    to_wire, from_session = anyio.create_memory_object_stream[SessionMessage | bytes](
        16
    )
    raw = to_wire.clone()  # the SDK closes its end; a parse error may follow
    eof = anyio.Event()

    async def send_raw(data: bytes) -> None:
        await put(raw, data)

    async def bad(reason: str) -> bool:
        return on_bad_line is not None and await on_bad_line(reason)

    async def reader() -> None:
        try:
            await _read_lines(read_fd, to_session, max_line, bad, intercept)
        finally:
            eof.set()  # before the close, so a waiter woken by it sees why
            to_session.close()

    async def writer() -> None:
        with from_session:
            if not await _write_lines(write_fd, from_session):
                eof.set()  # the peer is gone: the reader sees EOF too

    async with anyio.create_task_group() as tg:
        tg.start_soon(reader)
        tg.start_soon(writer)
        try:
            yield PipeStreams(from_wire, to_wire, eof, send_raw)
        finally:
            tg.cancel_scope.cancel()
            from_wire.close()
            to_wire.close()
            raw.close()


async def put(send: MemoryObjectSendStream[T], item: T) -> None:
    """Send ``item``, yielding to the event loop only when the buffer is full.

    ``send`` always passes a checkpoint first: one loop turn per message that
    the hot path (a line in, a message out) does not need.
    """
    try:
        send.send_nowait(item)
    except anyio.WouldBlock:
        await send.send(item)


async def _write_lines(
    fd: int, items: MemoryObjectReceiveStream[SessionMessage | bytes]
) -> bool:
    """Write each message (or raw line) as it comes; False once the peer is gone."""
    while True:
        try:
            item = items.receive_nowait()
        except anyio.WouldBlock:
            try:
                item = await items.receive()
            except anyio.EndOfStream:
                return True
        except anyio.EndOfStream:
            return True
        if isinstance(item, bytes):
            data = item
        else:
            text = item.message.model_dump_json(by_alias=True, exclude_unset=True)
            data = text.encode() + b"\n"
        try:
            await _write_all(fd, data)
        except OSError:
            return False


async def _read_lines(
    fd: int,
    send: MemoryObjectSendStream[SessionMessage | Exception],
    max_line: int,
    bad: Callable[[str], Awaitable[bool]],
    intercept: Callable[[SessionMessage], bool] | None,
) -> None:
    buf = bytearray()
    chunks = _Chunks(fd)
    try:
        while chunk := await chunks.read():
            start = len(buf)
            buf += chunk
            end = buf.find(b"\n", start)
            while end >= 0:
                line = bytes(buf[:end]).strip()
                del buf[: end + 1]
                if not await _deliver(line, send, max_line, bad, intercept):
                    return
                end = buf.find(b"\n")
            if len(buf) > max_line:
                await bad(f"a message of more than {max_line} bytes is over the cap")
                return
    finally:
        chunks.close()


class _Chunks:
    """What a non-blocking descriptor yields, chunk by chunk; ``b""`` at the end.

    On asyncio the descriptor stays registered with the loop, which reads it in
    a callback and wakes the reader: ``anyio.wait_readable`` would register and
    unregister it (two ``epoll_ctl`` calls and a handle) for every message.
    Reading pauses while ``_AHEAD`` chunks wait. Other event loops fall back to
    ``wait_readable``.
    """

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._chunks: deque[bytes] = deque()
        self._done = False
        self._waiter: asyncio.Future[None] | None = None
        self._reading = False
        try:
            self._loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:  # not asyncio (trio)
            self._loop = None
        else:
            self._resume()

    async def read(self) -> bytes:
        if self._loop is None:
            return await _read_once(self._fd)
        while not self._chunks:
            if self._done:
                return b""
            self._waiter = self._loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        chunk = self._chunks.popleft()
        if not self._reading and not self._done:
            self._resume()
        return chunk

    def close(self) -> None:
        """Unregister the descriptor (before its owner closes it)."""
        self._done = True
        if self._reading:
            self._pause()

    def _resume(self) -> None:
        assert self._loop is not None  # noqa: S101 -- asyncio only
        self._loop.add_reader(self._fd, self._on_readable)
        self._reading = True

    def _pause(self) -> None:
        assert self._loop is not None  # noqa: S101 -- asyncio only
        self._loop.remove_reader(self._fd)
        self._reading = False

    def _on_readable(self) -> None:
        try:
            chunk = os.read(self._fd, _CHUNK)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if chunk:
            self._chunks.append(chunk)
            if len(self._chunks) >= _AHEAD:
                self._pause()
        else:
            self._done = True
            self._pause()
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


async def _read_once(fd: int) -> bytes:
    while True:
        try:
            await anyio.wait_readable(fd)
            return os.read(fd, _CHUNK)
        except BlockingIOError:
            continue
        except (OSError, anyio.ClosedResourceError):
            return b""


async def _deliver(
    line: bytes,
    send: MemoryObjectSendStream[SessionMessage | Exception],
    max_line: int,
    bad: Callable[[str], Awaitable[bool]],
    intercept: Callable[[SessionMessage], bool] | None = None,
) -> bool:
    """Pass one line on as a message, or report it; whether to keep reading."""
    if len(line) > max_line:
        await bad(f"a message of {len(line)} bytes is over the cap")
        return False
    if not line:
        return True
    message = await _parse(line)
    if message is None:
        return await bad(message_problem(line))
    item = SessionMessage(message)
    if intercept is None or not intercept(item):
        await put(send, item)
    return True


async def _parse(line: bytes) -> types.JSONRPCMessage | None:
    try:
        return types.jsonrpc_message_adapter.validate_json(line, by_name=False)
    except ValidationError:
        return None


def message_problem(line: bytes) -> str:
    """What is wrong with a line that did not parse as a JSON-RPC message."""
    try:
        json.loads(line)
    except ValueError:
        return f"a line that is not JSON ({len(line)} bytes)"
    return f"a line that is not a JSON-RPC message ({len(line)} bytes)"


async def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view) :]
        except BlockingIOError:
            await anyio.wait_writable(fd)


@contextlib.contextmanager
def claimed_stdio() -> Iterator[tuple[int, int]]:
    """Private copies of fds 0 and 1; the originals point at /dev/null and stderr.

    While serving, nothing else in the process (a stray ``print``, a child that
    inherits fd 1) can write into the protocol stream. Restored on exit.
    """
    wire_in, wire_out = os.dup(0), os.dup(1)
    saved_in, saved_out = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDONLY)
    try:
        os.dup2(null, 0)
        os.dup2(2, 1)
        yield wire_in, wire_out
    finally:
        os.dup2(saved_in, 0)
        os.dup2(saved_out, 1)
        for fd in (null, saved_in, saved_out, wire_in, wire_out):
            with contextlib.suppress(OSError):
                os.close(fd)
