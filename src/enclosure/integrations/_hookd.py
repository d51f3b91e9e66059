"""The Claude Code hook's decision server: the enclosure kept loaded between events.

``python -m enclosure.integrations._hookd --home H [--idle SECONDS]``, started by
the first hook process of a home (see ``_hook_client``). It listens on
``H/hook.sock`` (mode 0600, and it answers only processes of its own user, by
``SO_PEERCRED``), answers one event per connection with ``claude_code.hook``
(never one whose client has gone or whose deadline has passed: that client has
denied already) and exits after ``--idle`` seconds without one (default
``ENCLOSURE_HOOK_IDLE``, else 600), when asked to stop, when its socket is taken
away, or when a client runs other code than it does.

One server per home: it holds ``H/hook.lock`` while it lives, so a second one
started at the same moment exits at once. Events are answered one at a time;
the per-run file lock still keeps out in-process hooks deciding the same run.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import select
import socket
import sys
import time
from pathlib import Path
from typing import Any

from enclosure.integrations._hook_client import (
    HEADER_LIMIT,
    KEY_NAME,
    PROTOCOL,
    code_fingerprint,
    peer_uid,
    proof,
    read_all,
    socket_path,
)
from enclosure.integrations.claude_code import MAX_EVENT_BYTES, EnclosureCache, hook

__all__ = ["DEFAULT_IDLE_S", "main", "serve"]

DEFAULT_IDLE_S = 600.0
_READ_TIMEOUT_S = 5.0
_WAKE_S = 30.0  # how often an idle server checks that its socket is still its own


def _read_request(conn: socket.socket) -> bytes | None:
    """The whole request, or ``None`` when it is too large."""
    return read_all(conn, HEADER_LIMIT + MAX_EVENT_BYTES + 2)


def _gone(conn: socket.socket) -> bool:
    """The client has closed its end (it gave up), not only its sending half."""
    poller = select.poll()
    poller.register(conn, select.POLLHUP)
    return any(event & select.POLLHUP for _, event in poller.poll(0))


class _Server:
    def __init__(
        self,
        home: Path,
        listener: socket.socket,
        inode: int,
        idle: float,
        cache: EnclosureCache,
        key: bytes,
    ) -> None:
        self.key = key
        self.home = home
        self.listener = listener
        self.inode = inode
        self.idle = idle
        self.code = code_fingerprint()
        self.cache = cache

    def answer(self, request: bytes) -> tuple[dict[str, Any], bool]:  # noqa: PLR0911 -- one return per refusal
        """The reply to one request, and whether to stop after sending it."""
        line, _, body = request.partition(b"\n")
        try:
            header = json.loads(line)
        except ValueError:
            return {"error": "bad request"}, False
        if not isinstance(header, dict) or not isinstance(header.get("v"), int):
            return {"error": "bad request"}, False
        if header["v"] != PROTOCOL:
            return {"stale": True}, True  # a client of another version
        if header.get("op") == "stop":
            return {"stopped": os.getpid()}, True
        code = header.get("code")
        if not isinstance(code, str):
            return {"error": "bad request"}, False
        if code != self.code:
            return {"stale": True}, True  # a client of other code: step down
        manifest, cwd = header.get("manifest"), header.get("cwd")
        env, deadline = header.get("env"), header.get("deadline", float("inf"))
        nonce = header.get("nonce", "")
        if not (
            isinstance(manifest, str)
            and isinstance(cwd, str)
            and isinstance(env, dict)
            and all(isinstance(v, str) for v in env.values())
            and isinstance(deadline, int | float)
            and isinstance(nonce, str)
        ):
            return {"error": "bad request"}, False
        if time.time() > deadline:
            # The client has given up (and denied): deciding now would log a
            # call as allowed that never ran.
            return {"error": "expired"}, False
        # Decide exactly as the client's own process would: its environment
        # (the manifest's redact.env values, ENCLOSURE_DB_SYNC) and directory.
        os.environ.clear()
        os.environ.update(env)
        with contextlib.suppress(OSError):
            os.chdir(cwd)
        answer = hook(body, Path(manifest), self.home, cache=self.cache)
        return {"answer": answer, "proof": proof(self.key, nonce, answer)}, False

    def serve(self) -> None:
        self.listener.settimeout(min(self.idle, _WAKE_S))
        last = time.monotonic()
        while True:
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                if time.monotonic() - last >= self.idle or not self._owns_socket():
                    return
                continue
            last = time.monotonic()
            with conn:
                stop = self._one(conn)
            if stop:
                return

    def _owns_socket(self) -> bool:
        try:
            return Path(socket_path(str(self.home))).stat().st_ino == self.inode
        except OSError:
            return False

    def _one(self, conn: socket.socket) -> bool:
        try:
            if peer_uid(conn) != os.getuid():
                return False
            conn.settimeout(_READ_TIMEOUT_S)
            request = _read_request(conn)
            if request is None or _gone(conn):
                return False  # no one is waiting for this decision: do not make it
            reply, stop = self.answer(request)
            conn.sendall(json.dumps(reply, separators=(",", ":")).encode())
        except OSError:
            return False
        return stop


def _new_key(home: Path) -> bytes:
    """A fresh secret in ``home`` (0600), written whole before anyone reads it."""
    key = os.urandom(32).hex().encode()
    temporary = home / f"{KEY_NAME}.{os.getpid()}"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, key)
    finally:
        os.close(fd)
    temporary.replace(home / KEY_NAME)
    return key


def serve(
    home: Path,
    *,
    idle: float = DEFAULT_IDLE_S,
    manifest: Path | None = None,
    notify_fd: int | None = None,
) -> int:
    """Run ``home``'s decision server until it is idle for ``idle`` seconds.

    ``manifest`` is loaded before the socket opens (its errors are left for the
    first event to report). a line ``ready`` is written to ``notify_fd`` once the
    socket listens; it is closed either way. Returns 0, also when another
    server has the home.
    """
    notify = [] if notify_fd is None else [notify_fd]
    try:
        return _serve(home, idle, manifest, notify)
    finally:
        for fd in notify:
            with contextlib.suppress(OSError):
                os.close(fd)


def _serve(home: Path, idle: float, manifest: Path | None, notify: list[int]) -> int:
    home = home.resolve()
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    lock = os.open(home / "hook.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return 0  # another server has this home
        cache = EnclosureCache()
        if manifest is not None:
            with contextlib.suppress(Exception):
                cache.get(manifest, home)
        key = _new_key(home)
        path = socket_path(str(home))
        with contextlib.suppress(FileNotFoundError):
            Path(path).unlink()  # left by a server that was killed
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        mask = os.umask(0o177)
        try:
            listener.bind(path)
        finally:
            os.umask(mask)
        inode = Path(path).stat().st_ino
        listener.listen(64)
        for fd in notify:
            os.write(fd, b"ready\n")
            os.close(fd)
        notify.clear()
        server = _Server(home, listener, inode, idle, cache, key)
        try:
            server.serve()
        finally:
            listener.close()
            with contextlib.suppress(OSError):
                if Path(path).stat().st_ino == inode:
                    Path(path).unlink()
            server.cache.close()
    finally:
        os.close(lock)
    return 0


def main(argv: list[str] | None = None) -> int:
    """The decision server, as ``_hook_client.spawn_server`` starts it.

    ``python -m enclosure.integrations._hookd --home H [--idle S] [--manifest M]
    [--notify-fd FD]``
    """
    args = list(sys.argv[1:] if argv is None else argv)
    home: str | None = None
    manifest: str | None = None
    notify: str | None = None
    idle_text = os.environ.get("ENCLOSURE_HOOK_IDLE") or str(DEFAULT_IDLE_S)
    while args:
        flag = args.pop(0)
        if flag in ("--home", "--idle", "--manifest", "--notify-fd") and args:
            value = args.pop(0)
            if flag == "--home":
                home = value
            elif flag == "--manifest":
                manifest = value
            elif flag == "--notify-fd":
                notify = value
            else:
                idle_text = value
        else:
            sys.stderr.write(f"_hookd: unexpected argument {flag!r}\n")
            return 2
    if home is None:
        sys.stderr.write("_hookd: --home is required\n")
        return 2
    try:
        idle = float(idle_text)
    except ValueError:
        idle = -1.0
    if not idle > 0:
        sys.stderr.write(f"_hookd: --idle takes seconds > 0, not {idle_text!r}\n")
        return 2
    return serve(
        Path(home),
        idle=idle,
        manifest=Path(manifest) if manifest else None,
        notify_fd=int(notify) if notify and notify.isdigit() else None,
    )


if __name__ == "__main__":
    sys.exit(main())
