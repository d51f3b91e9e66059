"""Suite-wide pytest configuration.

Tests marked ``slow`` run only with --runslow; tests marked ``sandbox`` skip
themselves (with the reason) where bubblewrap or user namespaces are missing.
``receiver`` is a real HTTP server on loopback for webhooks and OTLP/HTTP.
"""

from __future__ import annotations

import functools
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, NamedTuple

import pytest

if TYPE_CHECKING:
    from collections.abc import Iterator


@functools.cache
def sandbox_problem() -> str | None:
    """Why no bubblewrap sandbox can run here, or None when one can."""
    from enclosure.errors import SandboxUnavailable  # noqa: PLC0415
    from enclosure.manifest import ComputeSpec  # noqa: PLC0415
    from enclosure.sandbox import BwrapSandbox, SandboxSpec  # noqa: PLC0415

    try:
        BwrapSandbox(SandboxSpec(ComputeSpec())).cleanup()
    except SandboxUnavailable as exc:
        return exc.message
    return None


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--runslow",
        action="store_true",
        default=False,
        help="also run the tests marked slow",
    )


def pytest_collection_modifyitems(
    config: pytest.Config, items: list[pytest.Item]
) -> None:
    runslow = config.getoption("--runslow")
    skip_slow = pytest.mark.skip(reason="slow: run with --runslow")
    for item in items:
        if not runslow and item.get_closest_marker("slow") is not None:
            item.add_marker(skip_slow)
        if item.get_closest_marker("sandbox") is not None and (
            problem := sandbox_problem()
        ):
            if os.environ.get("ENCLOSURE_REQUIRE_SANDBOX") == "1":
                # scripts/test sets this: a CI machine without a sandbox must fail,
                # not pass by skipping every boundary test.
                pytest.fail(f"ENCLOSURE_REQUIRE_SANDBOX=1 but: {problem}")
            item.add_marker(pytest.mark.skip(reason=f"no sandbox here: {problem}"))


class Received(NamedTuple):
    path: str
    headers: dict[str, str]
    body: bytes


class Receiver:
    """A real HTTP server on loopback that records every POST it is sent."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self._cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                with receiver._cond:
                    receiver.requests.append(
                        Received(self.path, dict(self.headers.items()), body)
                    )
                    receiver._cond.notify_all()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def wait_for(self, count: int, path: str | None = None) -> list[Received]:
        """Wait (at most 5 s) until ``count`` requests (to ``path``) arrived."""

        def matching() -> list[Received]:
            return [r for r in self.requests if path is None or r.path == path]

        with self._cond:
            assert self._cond.wait_for(lambda: len(matching()) >= count, 5.0), (
                f"only {len(matching())} of {count} requests arrived"
            )
            return matching()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A loopback HTTP receiver (webhooks, OTLP/HTTP); ``receiver.url``."""
    server = Receiver()
    yield server
    server.close()
