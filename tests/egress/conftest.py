"""Real servers and clients for the egress proxy tests, all on 127.0.0.1.

``Origin`` is a small HTTP/1.1 server (plain, or TLS with its own test CA, so the
proxy must verify it) that records what reached it: method, target, headers and
body, per connection. Paths choose what it answers:

- anything else: 200 with a JSON echo of the request (headers and query too, so
  an injected credential comes back for the proxy to strip);
- ``/big/N``: N bytes with a Content-Length; ``/stream/N``: N bytes, chunked;
- ``/slow``: the head and 3 of 10 bytes, then nothing until the test ends;
- ``/malformed``: a header whose name has a space, its value the Authorization;
- the echo is gzipped when the client accepts gzip, and ``/gzip`` always is.

``make_proxy`` builds an ``EgressProxy`` for some rules with a fake resolver
(``*.test`` -> 127.0.0.1) and collects its records; everything is closed at the
end of the test.
"""

from __future__ import annotations

import gzip
import http.client
import ipaddress
import json
import socket
import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest

from enclosure.egress._ca import RunCA
from enclosure.egress._proxy import EgressProxy
from enclosure.egress._rules import Principal
from enclosure.errors import EgressRefused
from enclosure.manifest import NetworkSpec

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from enclosure.egress._proxy import Binding, RequestRecord

HOLD_S = 10.0  # how long /slow holds a response; the tests end it sooner


@dataclass
class Seen:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes
    connection: int


@dataclass
class Origin:
    """A recording HTTP server; ``tls`` set when it speaks HTTPS."""

    server: ThreadingHTTPServer
    tls: RunCA | None = None
    seen: list[Seen] = field(default_factory=list)
    got: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    connections: int = 0

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])


def _read_chunked(rfile: Any) -> bytes:
    out = b""
    while True:
        size = int(rfile.readline().split(b";")[0], 16)
        if size == 0:
            while rfile.readline() not in {b"\r\n", b""}:
                pass
            return out
        out += rfile.read(size)
        rfile.readline()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: Any

    def log_message(self, *args: object) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        origin: Origin = self.server.origin
        origin.connections += 1
        self.connection_id = origin.connections

    def _body(self) -> bytes:
        if "chunked" in self.headers.get("transfer-encoding", ""):
            return _read_chunked(self.rfile)
        return self.rfile.read(int(self.headers.get("content-length") or 0))

    def _handle(self) -> None:
        origin: Origin = self.server.origin
        body = self._body()
        headers = {k.lower(): v for k, v in self.headers.items()}
        seen = Seen(self.command, self.path, headers, body, self.connection_id)
        origin.seen.append(seen)
        origin.got.set()
        path = urlsplit(self.path).path
        if path.startswith("/big/"):
            self._send(200, b"x" * int(path.rsplit("/", 1)[1]))
        elif path.startswith("/stream/"):
            self._stream(int(path.rsplit("/", 1)[1]))
        elif path == "/slow":
            self._slow(origin)
        elif path == "/malformed":
            self.send_response(200)
            self.send_header("x-echo auth", headers.get("authorization", ""))
            self.send_header("content-length", "0")
            self.end_headers()
        else:
            echo = {
                "method": self.command,
                "target": self.path,
                "headers": headers,
                "body": body.decode("latin-1"),
            }
            extra = (("x-echo-auth", headers.get("authorization", "")),)
            data = json.dumps(echo).encode()
            if path == "/gzip" or "gzip" in headers.get("accept-encoding", ""):
                data = gzip.compress(data)
                extra = (*extra, ("content-encoding", "gzip"))
            self._send(200, data, extra)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle  # noqa: N815 -- http.server names

    def _send(
        self, status: int, body: bytes, extra: tuple[tuple[str, str], ...] = ()
    ) -> None:
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        for name, value in extra:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _stream(self, size: int) -> None:
        self.send_response(200)
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        for start in range(0, size, 4096):
            piece = b"y" * min(4096, size - start)
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
        self.wfile.write(b"0\r\n\r\n")

    def _slow(self, origin: Origin) -> None:
        self.send_response(200)
        self.send_header("content-length", "10")
        self.end_headers()
        self.wfile.write(b"abc")
        self.wfile.flush()
        origin.release.wait(HOLD_S)
        self.close_connection = True


class _Quiet:
    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client the proxy cut is expected here, not a failure


class _TLSServer(_Quiet, ThreadingHTTPServer):
    daemon_threads = True
    context: ssl.SSLContext
    origin: Origin

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, addr = super().get_request()
        return self.context.wrap_socket(sock, server_side=True), addr


class _PlainServer(_Quiet, ThreadingHTTPServer):
    daemon_threads = True
    origin: Origin


def start_origin(*, tls: bool = False) -> Origin:
    ca = RunCA(name="Test origin CA") if tls else None
    server: _TLSServer | _PlainServer
    if ca is not None:
        server = _TLSServer(("127.0.0.1", 0), _Handler)
        server.context = ca.server_context("api.test")
    else:
        server = _PlainServer(("127.0.0.1", 0), _Handler)
    origin = Origin(server, ca)
    server.origin = origin
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    ).start()
    return origin


def stop_origin(origin: Origin) -> None:
    origin.release.set()
    origin.server.shutdown()
    origin.server.server_close()


@pytest.fixture
def origin() -> Iterator[Origin]:
    server = start_origin()
    yield server
    stop_origin(server)


@pytest.fixture
def tls_origin() -> Iterator[Origin]:
    server = start_origin(tls=True)
    yield server
    stop_origin(server)


@pytest.fixture
def origin_ca(tls_origin: Origin, tmp_path: Path) -> str:
    """The TLS origin's CA as a file, for the proxy's ``upstream_ca``."""
    assert tls_origin.tls is not None
    path = tmp_path / "origin-ca.pem"
    path.write_bytes(tls_origin.tls.cert_pem)
    return str(path)


class FakeResolver:
    """Names -> addresses from a table; a list of answers per name is used in
    turn (the last one repeats), which is how a rebinding DNS server behaves."""

    def __init__(self, table: dict[str, list[list[str]]] | None = None) -> None:
        self.table = table or {}
        self.calls: list[str] = []

    async def resolve(
        self, host: str, port: int
    ) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
        self.calls.append(host)
        if host in self.table:
            answers = self.table[host]
            turn = min(self.calls.count(host), len(answers)) - 1
            return [ipaddress.ip_address(a) for a in answers[turn]]
        if host.endswith(".test"):
            return [ipaddress.ip_address("127.0.0.1")]
        raise EgressRefused(f"cannot resolve {host}", code="E-EGRESS-DNS", status=502)


@pytest.fixture
def resolver_for() -> Callable[..., FakeResolver]:
    """Makes a ``FakeResolver`` from a table of answers."""
    return FakeResolver


class Records(list["RequestRecord"]):
    """What ``on_record`` got, with a way to wait for the proxy's thread."""

    def __init__(self) -> None:
        super().__init__()
        self.changed = threading.Condition()

    def add(self, record: RequestRecord) -> None:
        with self.changed:
            self.append(record)
            self.changed.notify_all()

    def wait(self, count: int = 1, timeout: float = 5.0) -> list[RequestRecord]:
        """At least ``count`` records, once the proxy has emitted them."""
        with self.changed:
            assert self.changed.wait_for(lambda: len(self) >= count, timeout), self
            return list(self)


@dataclass
class Proxied:
    """A running proxy, its first binding and what it recorded."""

    proxy: EgressProxy
    binding: Binding
    records: Records
    ca: RunCA
    resolver: FakeResolver

    @property
    def port(self) -> int:
        return self.binding.address[1]

    def http(self, timeout: float = 5.0) -> http.client.HTTPConnection:
        """A plain connection to the proxy (absolute-form requests)."""
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def tunnel(self, host: str, port: int, cadata: bytes | None = None) -> Any:
        """HTTPS through CONNECT; trusts ``cadata`` (the proxy's CA by default)."""
        pem = (cadata or self.ca.cert_pem).decode()
        context = ssl.create_default_context(cadata=pem)
        conn = http.client.HTTPSConnection(
            "127.0.0.1", self.port, context=context, timeout=5.0
        )
        conn.set_tunnel(host, port)
        return conn

    def raw(self, data: bytes) -> bytes:
        """Send bytes, read until the proxy closes (or 5 s pass)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=5.0) as sock:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
            out = b""
            while chunk := sock.recv(65536):
                out += chunk
            return out


@pytest.fixture
def make_proxy() -> Iterator[Callable[..., Proxied]]:
    made: list[EgressProxy] = []

    def make(
        rules: list[dict[str, Any]],
        *,
        who: Principal | None = None,
        broker: Any = None,
        resolver: FakeResolver | None = None,
        upstream_ca: str | None = None,
        clock: Any = None,
        on_record: Callable[[RequestRecord], None] | None = None,
        **spec: Any,
    ) -> Proxied:
        records = Records()
        ca = RunCA()
        resolver = resolver or FakeResolver()
        proxy = EgressProxy(
            NetworkSpec.model_validate({"rules": rules, **spec}),
            broker=broker,
            ca=ca,
            on_record=on_record or records.add,
            resolver=resolver,
            upstream_ca=upstream_ca,
            clock=clock,
        )
        made.append(proxy)
        binding = proxy.serve_tcp(who or Principal("run-1", "agent"))
        return Proxied(proxy, binding, records, ca, resolver)

    yield make
    for proxy in made:
        proxy.close()
