"""Running the server on uvicorn: in the foreground (``serve``) or a thread.

``Server`` binds its socket before starting uvicorn, so its URL accepts
connections the moment the constructor returns (the kernel queues them until
uvicorn accepts): nobody waits or polls for the server to come up.

Must not know: routes.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import threading
from typing import TYPE_CHECKING, Any, Self

import uvicorn

from enclosure.server._app import create_app
from enclosure.server._hosts import default_hosts
from enclosure.server._hub import Hub

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    from enclosure import Enclosure
    from enclosure.server._notify import Notifier

__all__ = ["Server", "serve"]


def _config(app: Any, **options: Any) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,  # request lines could carry query values; never tokens
        timeout_graceful_shutdown=2,
        **options,
    )


def serve(
    enc: Enclosure,
    *,
    host: str = "127.0.0.1",
    port: int = 8350,
    ready: Callable[[str], None] | None = None,
    notifier: Notifier | None = None,
    allowed_hosts: Sequence[str] = (),
) -> None:
    """Serve ``enc`` until interrupted (SIGINT or SIGTERM).

    The socket is bound first, so ``port=0`` picks a free port; ``ready`` is told
    the URL once connections are accepted. SIGTERM (a service manager's stop)
    shuts down gracefully and returns; SIGINT still ends in ``KeyboardInterrupt``.
    Requests must name ``host`` (and ``localhost`` on loopback) or one of
    ``allowed_hosts`` in their ``Host`` header.

    Raises:
        UsageError: ``E-USAGE-HOST``, a bind to every interface without
            ``allowed_hosts``.
    """
    hosts = default_hosts(host, allowed_hosts)
    sock = socket.create_server((host, port), backlog=512)
    url = f"http://{host}:{sock.getsockname()[1]}"
    if ready is not None:
        ready(url)
    try:
        app = create_app(enc, notifier=notifier, allowed_hosts=hosts)
        with _sigterm_is_a_clean_stop():
            uvicorn.Server(_config(app)).run(sockets=[sock])
    finally:
        sock.close()


@contextlib.contextmanager
def _sigterm_is_a_clean_stop() -> Iterator[None]:
    """Swallow the SIGTERM uvicorn re-raises after its graceful shutdown.

    uvicorn restores the handler it found before re-raising the signals it
    caught; when that handler is this no-op, the process goes on to exit 0.
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread handles signals (and uvicorn's own too)
        return
    previous = signal.signal(signal.SIGTERM, lambda _sig, _frame: None)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class Server:
    """The server in a background thread on ``host`` and an ephemeral port.

    >>> with Server(enc) as server:             # doctest: +SKIP
    ...     ServerClient(server.url, token).runs()
    """

    def __init__(
        self,
        enc: Enclosure,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        sweep_seconds: float | None = None,
        notifier: Notifier | None = None,
        allowed_hosts: Sequence[str] = (),
    ) -> None:
        self.hub = Hub()
        self.app = create_app(
            enc,
            hub=self.hub,
            sweep_seconds=sweep_seconds,
            notifier=notifier,
            allowed_hosts=default_hosts(host, allowed_hosts),
        )
        self._socket = socket.create_server((host, port), backlog=512)
        self.port = int(self._socket.getsockname()[1])
        self.url = f"http://{host}:{self.port}"
        self._server = uvicorn.Server(_config(self.app))
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._socket]},
            name=f"enclosure server {self.port}",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """End the live streams, stop uvicorn and wait for its thread."""
        self.hub.close()
        self._server.should_exit = True
        self._thread.join(10)
        self._socket.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
