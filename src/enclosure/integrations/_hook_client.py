"""The light half of the Claude Code hook: hand the event to a warm decision server.

Claude Code starts one hook process per tool call, and loading the enclosure
(pydantic, SQLAlchemy, CEL, the manifest, the log) takes half a second. So the
first hook process of a home starts a decision server (``_hookd``) that keeps all
of that loaded, and every later hook process only forwards its event to it over
a Unix socket in the home, ``HOME/hook.sock``. This module is that forwarding
and nothing more: it imports the standard library only, which is what makes a
warm hook cost a Python start-up and a few milliseconds.

The server proves each answer with an HMAC over the request's nonce, keyed by
a secret it writes to ``HOME/hook.key`` (mode 0600) when it starts: a process
of the same user that only took over the socket cannot answer for it. (One
that can also read the home can; the example manifest denies the agent's Bash
any access to the home, but a program the agent writes can do what its user
can.)

The server changes nothing about the decision: it runs the same
``claude_code.hook`` on the same bytes, with the client's manifest path,
environment and working directory, and rebuilds the session's run from the log
for every event, so what other processes wrote (a kill, an approval, another
hook's calls) counts exactly as before.

``ask`` returns the answer's bytes, or ``None`` when no server can take the
event (none running yet, ``ENCLOSURE_HOOK_SERVER=off``, a socket path too long
for ``AF_UNIX``, a server left from other code, a socket held by another user):
the caller then decides in its own process, as without a server. Once the event
has been sent, a failure answers ``deny`` (fail closed) rather than deciding a
second time, which could log the call twice.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import socket
import struct
import sys
import time
import zlib
from pathlib import Path

from enclosure._home import default_home

__all__ = [
    "HEADER_LIMIT",
    "KEY_NAME",
    "MAX_EVENT_BYTES",
    "PROTOCOL",
    "SOCKET_NAME",
    "answer",
    "ask",
    "code_fingerprint",
    "peer_uid",
    "proof",
    "read_all",
    "read_key",
    "socket_path",
    "spawn_server",
    "stop_server",
]

MAX_EVENT_BYTES = 1 << 20
"""Largest hook event read from stdin; a bigger one is denied."""

PROTOCOL = 2
"""Bumped whenever the request or the reply changes shape."""

SOCKET_NAME = "hook.sock"
KEY_NAME = "hook.key"
"""The server's secret (mode 0600, new at every start): it signs every answer."""
HEADER_LIMIT = 1 << 20
"""Largest request header (the environment travels in it)."""

_REPLY_LIMIT = 4 << 20
_TIMEOUT_S = 25.0  # under the 30 s hook timeout that ``settings`` writes
_DEADLINE_MARGIN_S = 2.0  # a decision begun this close to the timeout may be late
_SUN_PATH_MAX = 107
_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # noqa: PTH100, PTH120 -- pathlib costs the cold start


def socket_path(home: str) -> str:
    """Where the decision server of ``home`` listens."""
    return os.path.join(home, SOCKET_NAME)  # noqa: PTH118


def read_key(home: str) -> bytes | None:
    """The running server's secret, or ``None`` when there is none to read."""
    try:
        with open(os.path.join(home, KEY_NAME), "rb") as file:  # noqa: PTH118, PTH123
            key = file.read(256)
    except OSError:
        return None
    return key or None


def proof(key: bytes, nonce: str, answer: object) -> str:
    """The server's signature over one answer to the request carrying ``nonce``."""
    body = json.dumps(answer, sort_keys=True, separators=(",", ":")).encode()
    return hmac.new(key, nonce.encode() + b"\n" + body, hashlib.sha256).hexdigest()


def code_fingerprint() -> str:
    """A value that changes whenever any installed enclosure source file does.

    A server answers only clients of the same code: after an upgrade (or an edit
    of an editable install) the old server steps down instead of deciding with
    stale rules.
    """
    parts: list[str] = []
    stack = [_PACKAGE]
    while stack:
        folder = stack.pop()
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    if entry.name != "__pycache__":
                        stack.append(entry.path)
                elif entry.name.endswith(".py"):
                    info = entry.stat()
                    parts.append(f"{entry.path}:{info.st_mtime_ns}:{info.st_size}")
    parts.sort()
    return f"{PROTOCOL}:{zlib.crc32(chr(10).join(parts).encode()):08x}"


def peer_uid(sock: socket.socket) -> int:
    """The user id of the process at the other end of a Unix socket."""
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12)
    return int(struct.unpack("3i", creds)[1])


def _enabled() -> bool:
    return os.environ.get("ENCLOSURE_HOOK_SERVER", "on").lower() not in (
        "off",
        "0",
        "no",
        "false",
    )


def _connect(home: str) -> socket.socket | None:
    """A connection to ``home``'s server run by this user, or ``None``."""
    path = socket_path(home)
    if len(os.fsencode(path)) > _SUN_PATH_MAX:
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(_TIMEOUT_S)
    try:
        sock.connect(path)
        if peer_uid(sock) != os.getuid():
            # Someone else answers on our socket: never let them decide.
            sock.close()
            return None
    except OSError:
        sock.close()
        return None
    return sock


def _exchange(sock: socket.socket, header: dict[str, object], body: bytes) -> bytes:
    """Send one request and read the whole reply; raises ``OSError``."""
    line = json.dumps(header, separators=(",", ":")).encode() + b"\n"
    sock.sendall(line + body)
    sock.shutdown(socket.SHUT_WR)
    reply = read_all(sock, _REPLY_LIMIT)
    if reply is None:
        msg = "the decision server's reply is too large"
        raise OSError(msg)
    return reply


def read_all(sock: socket.socket, limit: int) -> bytes | None:
    """Everything until the peer shuts its side, or ``None`` past ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    while chunk := sock.recv(65536):
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            return None
    return b"".join(chunks)


def _failed(raw: bytes, why: str) -> bytes:
    """The fail-closed answer once the event has left this process."""
    try:
        event = json.loads(raw)
        pre = not isinstance(event, dict) or event.get("hook_event_name") in (
            "PreToolUse",
            None,
        )
    except ValueError:
        pre = True
    if not pre:
        return b"{}"
    reason = f"[enclosure] E-HOOK-SERVER: {why}; the call was not decided"
    answer = {
        "hookSpecificOutput": {
            "hookEventName": "PreToolUse",
            "permissionDecision": "deny",
            "permissionDecisionReason": reason,
        }
    }
    return json.dumps(answer).encode()


def ask(raw: bytes, manifest: str, home: str) -> bytes | None:
    """The server's answer to one event, or ``None``: decide in this process.

    Starts a server for ``home`` when none answers, for the next event.
    """
    if not _enabled() or len(os.fsencode(socket_path(home))) > _SUN_PATH_MAX:
        return None
    sock = _connect(home)
    if sock is None:
        if os.path.isdir(home):  # noqa: PTH112
            spawn_server(home, manifest)
        return None
    key = read_key(home)
    if key is None:  # a socket, but no server of ours wrote a key: decide here
        sock.close()
        return None
    nonce = os.urandom(16).hex()
    header: dict[str, object] = {
        "v": PROTOCOL,
        "code": code_fingerprint(),
        "manifest": os.path.abspath(manifest),  # noqa: PTH100
        "cwd": os.getcwd(),  # noqa: PTH109
        "env": dict(os.environ),
        # Past this (wall clock) the server must not decide: this hook will have
        # given up and denied, and a late decision would log a call as allowed.
        "deadline": time.time() + _TIMEOUT_S - _DEADLINE_MARGIN_S,
        "nonce": nonce,
    }
    with sock:
        try:
            reply = _exchange(sock, header, raw)
        except OSError as exc:
            return _failed(raw, f"the decision server failed ({exc})")
    believed = _believe(raw, reply, key, nonce)
    if believed is None:
        # Built from other code: it is stepping down. Decide here, start anew.
        spawn_server(home, manifest)
    return believed


def _believe(raw: bytes, reply: bytes, key: bytes, nonce: str) -> bytes | None:
    """The answer in ``reply`` if the server proved it; ``None``: it steps down."""
    try:
        decoded = json.loads(reply)
    except ValueError:
        return _failed(raw, "the decision server answered garbage")
    if not isinstance(decoded, dict):
        return _failed(raw, "the decision server answered garbage")
    if decoded.get("stale"):
        return None
    answer = decoded.get("answer")
    if not isinstance(answer, dict):
        return _failed(raw, "the decision server answered garbage")
    signed = decoded.get("proof")
    if not isinstance(signed, str) or not hmac.compare_digest(
        signed, proof(key, nonce, answer)
    ):
        # Something else listens on the socket (same user): never believe it.
        return _failed(raw, "the decision server could not prove itself")
    return json.dumps(answer).encode()


def answer(
    raw: bytes, manifest: str | Path, home: str | Path | None, *, server: bool = True
) -> str:
    """One hook process's answer: from the home's decision server, else decided here.

    ``home`` defaults as everywhere (``default_home``). Without ``server`` (or
    with ``ENCLOSURE_HOOK_SERVER=off``) the event is always decided here.
    """
    home = home or default_home()
    if server and len(raw) <= MAX_EVENT_BYTES:
        reply = ask(raw, str(manifest), str(home))
        if reply is not None:
            return reply.decode()
    from enclosure.integrations.claude_code import hook  # noqa: PLC0415 -- cold path

    return json.dumps(hook(raw, Path(manifest), Path(home)))


def spawn_server(home: str, manifest: str | None = None, *, wait: bool = False) -> bool:
    """Start ``home``'s decision server in the background.

    It loads ``manifest`` ahead of the first event it is sent. The server takes
    a lock in the home before it binds, so of several hooks that start one at
    once, one server stays. A hook does not wait; with ``wait`` (tests, tools)
    this returns once the server listens. Returns ``False`` when it could not
    start, or (with ``wait``) when it did not come up, as when another server
    holds the home.
    """
    argv = [sys.executable, "-m", "enclosure.integrations._hookd", "--home", home]
    if manifest is not None:
        argv += ["--manifest", os.path.abspath(manifest)]  # noqa: PTH100
    ready, notify = os.pipe() if wait else (-1, -1)
    if wait:
        os.set_inheritable(notify, True)  # noqa: FBT003
        argv += ["--notify-fd", str(notify)]
    # posix_spawn, not Popen: nothing here waits for the server, and a Popen
    # dropped while its child runs warns. Its stdio is /dev/null, so it never
    # holds the pipes Claude Code reads the hook's answer from.
    null = [(os.POSIX_SPAWN_OPEN, fd, os.devnull, os.O_RDWR, 0) for fd in (0, 1, 2)]
    try:
        os.posix_spawn(sys.executable, argv, os.environ, file_actions=null, setsid=True)
    except OSError:
        return False
    finally:
        if wait:
            os.close(notify)
    if not wait:
        return True
    with os.fdopen(ready, "rb") as pipe:
        return pipe.readline() == b"ready\n"


def stop_server(home: str) -> int | None:
    """Ask ``home``'s server to exit; its process id, or ``None`` if none answered."""
    sock = _connect(home)
    if sock is None:
        return None
    with sock:
        try:
            reply = json.loads(_exchange(sock, {"v": PROTOCOL, "op": "stop"}, b""))
        except (OSError, ValueError):
            return None
    pid = reply.get("stopped") if isinstance(reply, dict) else None
    return pid if isinstance(pid, int) else None
