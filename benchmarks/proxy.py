"""Latency of a small GET on loopback: direct, through the egress proxy, tinyproxy.

Run: ``.venv/bin/python benchmarks/proxy.py`` (``--help`` for options).

One request is ``GET /small`` answered with a 300-byte JSON body and a
``Content-Length`` (about 430 bytes on the wire). Three processes take part, so
that no Python code of one waits for another's GIL:

* the **client**, this process: a raw socket client that sends a prepared
  request and reads until the response is whole (``Content-Length``, or the
  chunks of a chunked body), timing each request with ``time.perf_counter_ns``;
* the **origin**, a child process: an asyncio server (bare protocols, no HTTP
  library) on 127.0.0.1, plain HTTP on one port and HTTPS on two more, each with
  a leaf from its own test CA (``tunnel.bench.test`` and ``api.bench.test``); it
  answers ``x-bench-credential: injected`` when the request carried the injected
  ``Authorization`` header;
* the **proxies**, a child process: two ``EgressProxy`` instances, each on its own
  thread, with a fake resolver (``*.bench.test`` -> 127.0.0.1) and ``upstream_ca``
  set to the origin's CA. ``plain`` has no credentials; ``inject`` has a broker
  with one credential from an ``env:`` source. ``on_record`` only counts records
  (a run's proxy appends them to the SQLite decision log, not measured here).

Variants. Each opens a **new TCP connection per request** (and closes it once the
response is whole, with ``Connection: close`` sent), the common case for an agent's
tools; the ``_ka`` ones below reuse a kept-alive connection instead.

* ``direct``: the client straight to the origin's plain port, the baseline of the
  plain HTTP variants.
* ``proxy_http``: through the ``plain`` proxy, absolute-form
  (``GET http://127.0.0.1:PORT/small``), allowed by an IP-literal rule with
  ``allow_private: true`` (the origin is on loopback). The same request bytes as
  ``tinyproxy_http``, so neither proxy resolves a name.
* ``proxy_http_strip``: the same through the ``inject`` proxy, whose broker knows a
  secret (it is materialised before the rounds): every response head and body is
  then scanned for secrets, and the body is relayed chunked (the proxy drops the
  ``Content-Length`` of what it may rewrite).
* ``tinyproxy_http``: the same through tinyproxy (the Debian package; installed
  with ``apt-get install -y tinyproxy`` when missing and this runs as root,
  skipped otherwise), started with a generated config on a free loopback port
  (``tinyproxy -d -c CONF``), ready once it accepts a connection.
* ``direct_tls``: the client straight to the origin's HTTPS port (a full TLS 1.3
  handshake, trusting the origin's CA), the baseline of the TLS variants.
* ``proxy_connect``: ``CONNECT tunnel.bench.test:PORT`` through the ``plain``
  proxy, allowed by a host-only rule (a plain tunnel: the proxy copies bytes), then
  TLS with the origin end to end.
* ``proxy_tls_inject``: ``CONNECT api.bench.test:PORT`` through the ``inject``
  proxy, whose rule names methods and a credential, so the proxy terminates TLS
  with a leaf from its run CA (which the client trusts), decides the request
  inside, injects ``Authorization: Bearer <secret>``, opens its own verified TLS
  connection to the origin and strips the secret from what comes back. Every
  response must say the origin saw the credential.

Keep-alive variants (``direct_ka``, ``direct_tls_ka``, ``proxy_http_ka``,
``proxy_connect_ka``, ``proxy_tls_inject_ka``, ``tinyproxy_http_ka``): the same
requests, without ``Connection: close``, on one client connection per variant
made before the warm-up (with its tunnel and TLS session, for the TLS ones); they
time the per-request cost alone. A variant whose server closes the connection
after each response is reported as skipped (tinyproxy 1.11 does, unannounced).

The variants are interleaved: every round runs each once, in a freshly shuffled
(seeded) order, so drift falls on all of them alike. ``--warmup`` rounds come
first and are not counted. Reported per variant: p50 (the median) and p99 (nearest
rank), mean and minimum in ms, and requests/s for one client doing one request at
a time (1 / mean). "Added" latency is a variant's p50 (p99) less its baseline's
(``direct``, ``direct_tls``, or their ``_ka`` forms).

``--throughput-s`` then measures requests/s under load for the plain HTTP
variants (``direct``, ``proxy_http``, ``tinyproxy_http``): ``--concurrency``
connections kept busy by a non-blocking client, a new connection per request,
for that many seconds each. The client's CPU share is reported with it: near 100%
means the client, not the server, set the pace.

``--breakdown`` times the ``plain`` proxy's steps over ``proxy_http`` requests on
a fresh binding: the proxy's methods are wrapped (in its process; nothing in
``src/`` changes) to take timestamps, which line up with the client's because
``perf_counter_ns`` is the system's monotonic clock in every process; steps the
proxy no longer has are left out. ``--profile`` prints a cProfile of the ``plain``
proxy's thread over ``proxy_http`` requests.

Targets (reported as PASS/FAIL; the script does not fail): ``proxy_http``'s added
p50 latency <= 1.5 ms, and <= 2 x tinyproxy's. The last line printed is a JSON
object with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import contextvars
import cProfile
import functools
import importlib
import inspect
import io
import ipaddress
import itertools
import json
import math
import multiprocessing
import os
import platform
import pstats
import random
import resource
import secrets
import selectors
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from enclosure.egress._ca import RunCA
from enclosure.egress._proxy import EgressProxy
from enclosure.egress._rules import Principal
from enclosure.errors import EgressRefused
from enclosure.identity import CredentialBroker
from enclosure.manifest import CredentialSpec, NetworkSpec

if TYPE_CHECKING:
    from collections.abc import Callable
    from multiprocessing.connection import Connection

ROUNDS = 2_000
WARMUP = 50
SEED = 20261126
CONCURRENCY = 8
THROUGHPUT_S = 2.0
PROFILE_REQUESTS = 2_000
BREAKDOWN_REQUESTS = 1_000
TARGET_ADDED_MS = 1.5
TARGET_TINYPROXY_RATIO = 2.0
_ITEMS = [{"id": i, "name": f"item-{i:02d}"} for i in range(9)]
BODY = json.dumps({"ok": True, "items": _ITEMS}, separators=(",", ":")).encode()
BODY += b" " * (300 - len(BODY))
TUNNEL_HOST = "tunnel.bench.test"
API_HOST = "api.bench.test"
CREDENTIAL_ENV = "ENCLOSURE_BENCH_CREDENTIAL"
READ_SIZE = 65536
START_TIMEOUT_S = 20.0
VARIANTS = (
    "direct",
    "proxy_http",
    "proxy_http_strip",
    "tinyproxy_http",
    "direct_tls",
    "proxy_connect",
    "proxy_tls_inject",
    "direct_ka",
    "proxy_http_ka",
    "tinyproxy_http_ka",
    "direct_tls_ka",
    "proxy_connect_ka",
    "proxy_tls_inject_ka",
)
BASELINE = {
    "proxy_http": "direct",
    "proxy_http_strip": "direct",
    "tinyproxy_http": "direct",
    "proxy_connect": "direct_tls",
    "proxy_tls_inject": "direct_tls",
    "proxy_http_ka": "direct_ka",
    "tinyproxy_http_ka": "direct_ka",
    "proxy_connect_ka": "direct_tls_ka",
    "proxy_tls_inject_ka": "direct_tls_ka",
}


class Stats(NamedTuple):
    n: int
    p50_ms: float
    p99_ms: float
    mean_ms: float
    min_ms: float

    @property
    def rps(self) -> float:
        """Requests/s of one client doing one request at a time."""
        return 1000 / self.mean_ms


def summarize(times_ns: list[int]) -> Stats:
    """Nearest-rank p50 and p99, the mean and the minimum, in milliseconds."""
    ordered = sorted(times_ns)

    def pct(q: float) -> float:
        return ordered[max(1, math.ceil(q * len(ordered))) - 1] / 1e6

    mean = sum(ordered) / len(ordered) / 1e6
    return Stats(len(ordered), pct(0.50), pct(0.99), mean, ordered[0] / 1e6)


def nearest_rank(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


# ---- the origin (a child process) ---------------------------------------------------


def _response(*, injected: bool) -> bytes:
    seen = b"injected" if injected else b"none"
    return (
        b"HTTP/1.1 200 OK\r\n"
        b"content-type: application/json\r\n"
        b"content-length: %d\r\n"
        b"x-bench-credential: %s\r\n\r\n%s" % (len(BODY), seen, BODY)
    )


class Origin(asyncio.Protocol):
    """Answers each request head at once (GETs carry no body)."""

    expected = b""
    """``authorization: bearer <secret>``, lower case, set in the origin's process."""
    plain = _response(injected=False)
    injected = _response(injected=True)

    def __init__(self) -> None:
        self.buf = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        buf = self.buf + data
        transport = self.transport
        assert transport is not None
        while (end := buf.find(b"\r\n\r\n")) >= 0:
            head, buf = buf[:end].lower(), buf[end + 4 :]
            seen = b"\r\n" + self.expected in head
            transport.write(self.injected if seen else self.plain)
            if b"\r\nconnection: close" in head:
                transport.close()
                break
        self.buf = buf


def origin_main(conn: Connection, secret: str) -> None:
    """The origin's process: three listeners, until ``conn`` says stop."""
    Origin.expected = f"authorization: bearer {secret}".lower().encode()
    ca = RunCA(name="Bench origin CA")
    loop = asyncio.new_event_loop()
    servers = [
        loop.run_until_complete(loop.create_server(Origin, "127.0.0.1", 0, ssl=tls))
        for tls in (None, ca.server_context(TUNNEL_HOST), ca.server_context(API_HOST))
    ]
    ports = [server.sockets[0].getsockname()[1] for server in servers]
    loop.add_reader(conn.fileno(), loop.stop)
    conn.send((ports, ca.cert_pem))
    loop.run_forever()
    for server in servers:
        server.close()
    loop.close()


# ---- the proxies (a child process) --------------------------------------------------


class FakeResolver:
    """``*.bench.test`` -> 127.0.0.1, as the tests' fake resolver does."""

    async def resolve(
        self, host: str, port: int
    ) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
        del port
        if host.endswith(".bench.test"):
            return [ipaddress.IPv4Address("127.0.0.1")]
        raise EgressRefused(f"cannot resolve {host}", code="E-EGRESS-DNS", status=502)


def _specs(ports: list[int]) -> tuple[NetworkSpec, NetworkSpec]:
    """The ``plain`` and ``inject`` proxies' network specs."""
    http, tunnel, api = ports
    origin_ip = {
        "name": "origin-ip",
        "host": "127.0.0.1",
        "ports": [http],
        "allow_private": True,
    }
    tunnel_rule = {
        "name": "tunnel",
        "host": TUNNEL_HOST,
        "ports": [tunnel],
        "allow_private": True,
    }
    api_rule = {
        "name": "api",
        "host": API_HOST,
        "ports": [api],
        "methods": ["GET"],
        "credential": "bench_credential",
        "allow_private": True,
    }
    return (
        NetworkSpec.model_validate({"rules": [origin_ip, tunnel_rule]}),
        NetworkSpec.model_validate({"rules": [api_rule, origin_ip]}),
    )


_EX, _DIAL = (
    "enclosure.egress._proxy_http:Exchange",
    "enclosure.egress._proxy_peer:Dialer",
)
_STEPS = (
    # (label, "module:Owner.attribute"): timestamps at entry and exit
    ("accept", "enclosure.egress._proxy:Binding._accept"),
    ("exchange", f"{_EX}.run"),
    ("target", f"{_EX}._target"),
    ("decide", f"{_EX}._decide"),
    ("check", f"{_DIAL}.check"),
    ("open", f"{_DIAL}.open"),
    ("send", f"{_EX}._send_request"),
    ("head", f"{_EX}._response_head"),
    ("relay", f"{_EX}._relay_body"),
    ("finish", "enclosure.egress._proxy_record:Draft.finish"),
    ("connection", "enclosure.egress._proxy_conn:ClientConnection.run"),
)

Event = tuple[int, str, str, int]
"""(connection number, step label, "in" or "out", perf_counter_ns)."""


def _timed(
    label: str, fn: Any, events: list[Event], current: contextvars.ContextVar[int]
) -> Any:
    """``fn`` with a timestamp at its entry and exit; ``accept`` numbers a task."""
    clock = time.perf_counter_ns
    numbers = itertools.count()
    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def timed_async(*args: Any, **kwargs: Any) -> Any:
            if label == "accept":  # the top of a connection's task
                current.set(next(numbers))
            events.append((current.get(), label, "in", clock()))
            try:
                return await fn(*args, **kwargs)
            finally:
                events.append((current.get(), label, "out", clock()))

        return timed_async

    @functools.wraps(fn)
    def timed(*args: Any, **kwargs: Any) -> Any:
        events.append((current.get(), label, "in", clock()))
        try:
            return fn(*args, **kwargs)
        finally:
            events.append((current.get(), label, "out", clock()))

    return timed


def instrument(events: list[Event]) -> Callable[[], None]:
    """Wrap the proxy's steps with timestamps; returns the undo.

    Each connection's task gets a number (a context variable set where
    ``Binding._accept`` starts), so every later step is charged to it.
    """
    current: contextvars.ContextVar[int] = contextvars.ContextVar("conn", default=-1)
    undo: list[tuple[object, str, object]] = []
    for label, where in _STEPS:
        module_name, _, path = where.partition(":")
        owner_name, _, attr = path.rpartition(".")
        owner = getattr(importlib.import_module(module_name), owner_name, None)
        original = vars(owner).get(attr) if owner is not None else None
        if original is None:  # the proxy no longer has this step
            continue
        setattr(owner, attr, _timed(label, original, events, current))
        undo.append((owner, attr, original))

    def restore() -> None:
        for owner, attr, original in reversed(undo):
            setattr(owner, attr, original)

    return restore


class Proxies:
    """The proxies' process: two proxies, what they recorded, and the commands."""

    def __init__(self, ports: list[int], origin_ca: str, secret: str) -> None:
        os.environ[CREDENTIAL_ENV] = secret
        credentials = {
            "bench_credential": CredentialSpec.model_validate(
                {
                    "source": f"env:{CREDENTIAL_ENV}",
                    "inject": {"header": "Authorization", "format": "Bearer {secret}"},
                }
            )
        }
        plain, inject = _specs(ports)
        self.records: Counter[tuple[str, str, str, str | None]] = Counter()
        self.who = Principal("run-bench", "agent")
        self.proxies: dict[str, EgressProxy] = {}
        self.bound: dict[str, tuple[int, bytes]] = {}
        for name, spec, broker in (
            ("plain", plain, None),
            ("inject", inject, CredentialBroker(credentials)),
        ):
            ca = RunCA(name=f"Bench run CA ({name})")
            proxy = EgressProxy(
                spec,
                broker=broker,
                ca=ca,
                on_record=self.count,
                resolver=FakeResolver(),
                upstream_ca=origin_ca,
            )
            self.proxies[name] = proxy
            self.bound[name] = (proxy.serve_tcp(self.who).address[1], ca.cert_pem)
        self.profiler = cProfile.Profile()
        self.events: list[Event] = []
        self.cpu: list[tuple[float, float]] = []
        self.restore: Callable[[], None] | None = None
        self.extra: Any = None

    def count(self, record: Any) -> None:
        """``on_record``: counts records by scheme, outcome, code and credential."""
        key = (record.scheme, record.outcome, record.code, record.credential)
        self.records[key] += 1

    def on_plain_thread(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` on the ``plain`` proxy's thread and wait for it."""
        loop = self.proxies["plain"]._loop  # noqa: SLF001 -- to reach its thread
        assert loop is not None
        done = threading.Event()

        def run() -> None:
            fn()
            done.set()

        loop.call_soon_threadsafe(run)
        done.wait(10)

    def thread_cpu(self) -> None:
        """The calling thread's user and system CPU seconds so far."""
        usage = resource.getrusage(resource.RUSAGE_THREAD)
        self.cpu.append((usage.ru_utime, usage.ru_stime))

    def breakdown_on(self) -> int:
        """Instrument; a new binding (an old one keeps the unwrapped accept)."""
        self.restore = instrument(self.events)
        self.extra = self.proxies["plain"].serve_tcp(self.who)
        self.on_plain_thread(self.thread_cpu)
        return int(self.extra.address[1])

    def breakdown_off(self) -> tuple[list[Event], tuple[float, float]]:
        self.on_plain_thread(self.thread_cpu)
        self.extra.close()
        if self.restore is not None:
            self.restore()
        (user0, sys0), (user1, sys1) = self.cpu[-2:]
        return self.events, (user1 - user0, sys1 - sys0)

    def profile_on(self) -> str:
        self.on_plain_thread(self.profiler.enable)
        return "on"

    def profile_off(self) -> str:
        self.on_plain_thread(self.profiler.disable)
        buf = io.StringIO()
        stats = pstats.Stats(self.profiler, stream=buf)
        stats.sort_stats("tottime").print_stats(25)
        stats.sort_stats("tottime").print_stats("enclosure/egress", 40)
        stats.sort_stats("cumulative").print_stats(25)
        return buf.getvalue()

    def stop(self) -> dict[str, Any]:
        """Counted before closing: a kept-alive tunnel still open then is cut."""
        kinds = [[*key, n] for key, n in self.records.items()]
        for proxy in self.proxies.values():
            proxy.close()
        return {"records": sum(n for *_, n in kinds), "by_kind": kinds}


def proxies_main(
    conn: Connection, ports: list[int], origin_ca: str, secret: str
) -> None:
    """The proxies' process: serve until ``conn`` says stop; answer its commands."""
    proxies = Proxies(ports, origin_ca, secret)
    conn.send(proxies.bound)
    commands: dict[str, Callable[[], Any]] = {
        "breakdown on": proxies.breakdown_on,
        "breakdown off": proxies.breakdown_off,
        "profile on": proxies.profile_on,
        "profile off": proxies.profile_off,
    }
    while (command := conn.recv()) != "stop":
        conn.send(commands[command]())
    conn.send(proxies.stop())


# ---- tinyproxy ----------------------------------------------------------------------


def _tail(text: str, lines: int = 5) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def _apt(apt: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 -- apt-get from PATH, fixed arguments
        [apt, *args],
        capture_output=True,
        text=True,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        check=False,
    )


def _apt_install(apt: str) -> subprocess.CompletedProcess[str]:
    install = ("install", "-y", "--no-install-recommends", "tinyproxy")
    done = _apt(apt, *install)
    if done.returncode != 0:  # a stale package list: refresh it once
        print("apt-get install failed; running apt-get update and trying again")
        _apt(apt, "update")
        done = _apt(apt, *install)
    return done


def find_tinyproxy() -> str | None:
    """tinyproxy's path; installed with apt-get when missing and we are root."""
    found = shutil.which("tinyproxy")
    if found is not None:
        return found
    apt = shutil.which("apt-get")
    if os.geteuid() != 0 or apt is None:
        print(
            "tinyproxy is not installed, and this is not root on a Debian system: "
            "skipping tinyproxy_http (apt-get install -y tinyproxy, as root)"
        )
        return None
    print("tinyproxy is not installed: running apt-get install -y tinyproxy")
    done = _apt_install(apt)
    found = shutil.which("tinyproxy")
    if done.returncode != 0 or found is None:
        print(
            f"could not install tinyproxy (apt-get exited {done.returncode}): "
            f"skipping tinyproxy_http\n{_tail(done.stdout + done.stderr)}"
        )
        return None
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Tinyproxy:
    """tinyproxy in the foreground on a loopback port, with a generated config."""

    def __init__(self, binary: str, workdir: Path) -> None:
        self.port = _free_port()
        self.version = _tinyproxy_version(binary)
        conf = workdir / "tinyproxy.conf"
        lines = [
            f"Port {self.port}",
            "Listen 127.0.0.1",
            "Timeout 60",
            "MaxClients 256",
            "LogLevel Error",
            "DisableViaHeader Yes",
        ]
        if os.geteuid() == 0:  # tinyproxy drops root for this user
            lines += ["User nobody", "Group nogroup"]
        conf.write_text("\n".join(lines) + "\n", encoding="ascii")
        self.log_path = workdir / "tinyproxy.log"
        self.log = self.log_path.open("wb")
        self.proc = subprocess.Popen(  # noqa: S603 -- the binary found above
            [binary, "-d", "-c", str(conf)],
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self._wait_ready()

    def _wait_ready(self) -> None:
        """Until a connection to its port succeeds; no fixed sleeps."""
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            except OSError:
                pass
            else:
                return
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(0.005)  # the pause between tries, or its early exit
            if self.proc.returncode is not None or time.monotonic() > deadline:
                self.stop()
                output = self.log_path.read_text(encoding="utf-8", errors="replace")
                code = self.proc.returncode
                msg = f"tinyproxy did not start (exit {code}): {_tail(output)}"
                raise RuntimeError(msg)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def _tinyproxy_version(binary: str) -> str:
    out = subprocess.run(  # noqa: S603 -- the binary found above
        [binary, "-v"], capture_output=True, text=True, check=False
    )
    words = (out.stdout + out.stderr).split()
    return words[-1] if words else "unknown"


# ---- the client ---------------------------------------------------------------------


def _dechunk(buf: bytes | bytearray, at: int) -> bytes | None:
    """A chunked body starting at ``at``, once whole (no trailers); None before."""
    body = bytearray()
    while (eol := buf.find(b"\r\n", at)) >= 0:
        size = int(bytes(buf[at:eol]).split(b";")[0], 16)
        if size == 0:
            return bytes(body) if len(buf) >= eol + 4 else None
        if len(buf) < eol + 2 + size + 2:
            return None
        body += buf[eol + 2 : eol + 2 + size]
        at = eol + 2 + size + 2
    return None


def _whole(buf: bytes | bytearray) -> tuple[bytes, bytes] | None:
    """``(head, body)`` once ``buf`` holds a whole response; None before.

    The head comes back lower-cased. Bodies are framed by ``Content-Length`` or
    chunked; a response with neither never becomes whole (none is expected).
    """
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = bytes(buf[:end]).lower()
    start = end + 4
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name == b"content-length":
            length = int(value)
            if len(buf) - start < length:
                return None
            return head, bytes(buf[start : start + length])
        if name == b"transfer-encoding" and b"chunked" in value:
            body = _dechunk(buf, start)
            return None if body is None else (head, body)
    return None


class Closed(RuntimeError):
    """The server closed the connection before a whole response."""


def _exchange(sock: socket.socket, request: bytes) -> bytes:
    """Send ``request``, read the whole response, check it; its head."""
    sock.sendall(request)
    buf = bytearray()
    while (got := _whole(buf)) is None:
        chunk = sock.recv(READ_SIZE)
        if not chunk:
            msg = f"closed before a whole response: {bytes(buf[:200])!r}"
            raise Closed(msg)
        buf += chunk
    head, body = got
    if not head.startswith((b"http/1.1 200 ", b"http/1.0 200 ")) or body != BODY:
        msg = f"unexpected response: {bytes(buf[:300])!r}"
        raise RuntimeError(msg)
    return head


def _connect(address: tuple[str, int]) -> socket.socket:
    sock = socket.create_connection(address)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _tunnel(proxy: tuple[str, int], host: str, port: int) -> socket.socket:
    """A socket through a CONNECT tunnel, once the proxy said 200."""
    sock = _connect(proxy)
    sock.sendall(
        f"CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
    )
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(READ_SIZE)
        if not chunk:
            break
        buf += chunk
    if not buf.startswith(b"HTTP/1.1 200"):
        sock.close()
        msg = f"CONNECT {host}:{port} refused: {buf[:300]!r}"
        raise RuntimeError(msg)
    return sock


def _request(target: str, host: str, *, close: bool) -> bytes:
    lines = [
        f"GET {target} HTTP/1.1",
        f"Host: {host}",
        "User-Agent: enclosure-bench",
        "Accept: */*",
    ]
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _check_injected(head: bytes) -> None:
    if b"\r\nx-bench-credential: injected" not in head:
        msg = f"the origin did not see the injected credential: {head[:300]!r}"
        raise RuntimeError(msg)


def _framing(head: bytes) -> str:
    if b"\r\ncontent-length:" in head:
        return "with Content-Length"
    if b"\r\ntransfer-encoding: chunked" in head:
        return "chunked"
    return "until EOF"


class Setup(NamedTuple):
    """Where everything listens, and what the clients trust."""

    http: tuple[str, int]
    tunnel_port: int
    api_port: int
    plain_proxy: tuple[str, int]
    inject_proxy: tuple[str, int]
    tinyproxy: tuple[str, int] | None
    origin_tls: ssl.SSLContext
    inject_tls: ssl.SSLContext


class KeptAlive:
    """One client connection reused across requests; remade (untimed) if closed."""

    def __init__(self, opener: Callable[[], socket.socket], request: bytes) -> None:
        self.opener = opener
        self.request = request
        self.sock: socket.socket | None = None
        self.closes = False
        """The server closed it after a response: no keep-alive."""

    def ready(self) -> None:
        if self.sock is None:
            self.sock = self.opener()

    def __call__(self) -> bytes:
        assert self.sock is not None
        head = _exchange(self.sock, self.request)
        if b"\r\nconnection: close" in head or head.startswith(b"http/1.0"):
            self.closes = True
            self.close()
        return head

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


class Client:
    """Every variant as a function that times one request, in ns."""

    def __init__(self, setup: Setup) -> None:
        self.setup = s = setup
        http_host = f"127.0.0.1:{s.http[1]}"
        absolute = f"http://{http_host}/small"
        tunnel_host = f"{TUNNEL_HOST}:{s.tunnel_port}"
        api_host = f"{API_HOST}:{s.api_port}"
        self.requests = {
            "origin": _request("/small", http_host, close=True),
            "absolute": _request(absolute, http_host, close=True),
            "tunnel": _request("/small", tunnel_host, close=True),
            "api": _request("/small", api_host, close=True),
        }
        kept: dict[str, tuple[Callable[[], socket.socket], str, str]] = {
            "direct_ka": (functools.partial(_connect, s.http), "/small", http_host),
            "proxy_http_ka": (
                functools.partial(_connect, s.plain_proxy),
                absolute,
                http_host,
            ),
            "direct_tls_ka": (self.direct_tls_socket, "/small", tunnel_host),
            "proxy_connect_ka": (self.connect_socket, "/small", tunnel_host),
            "proxy_tls_inject_ka": (self.inject_socket, "/small", api_host),
        }
        if s.tinyproxy is not None:
            tiny = functools.partial(_connect, s.tinyproxy)
            kept["tinyproxy_http_ka"] = (tiny, absolute, http_host)
        self.kept = {
            name: KeptAlive(opener, _request(target, host, close=False))
            for name, (opener, target, host) in kept.items()
        }

    def direct_tls_socket(self) -> socket.socket:
        s = self.setup
        raw = _connect(("127.0.0.1", s.tunnel_port))
        return s.origin_tls.wrap_socket(raw, server_hostname=TUNNEL_HOST)

    def connect_socket(self) -> socket.socket:
        s = self.setup
        raw = _tunnel(s.plain_proxy, TUNNEL_HOST, s.tunnel_port)
        return s.origin_tls.wrap_socket(raw, server_hostname=TUNNEL_HOST)

    def inject_socket(self) -> socket.socket:
        s = self.setup
        raw = _tunnel(s.inject_proxy, API_HOST, s.api_port)
        return s.inject_tls.wrap_socket(raw, server_hostname=API_HOST)

    @staticmethod
    def once(opener: Callable[[], socket.socket], request: bytes) -> bytes:
        """One untimed request on a new connection; the response head."""
        sock = opener()
        try:
            return _exchange(sock, request)
        finally:
            sock.close()

    @staticmethod
    def timed(
        opener: Callable[[], socket.socket],
        request: bytes,
        check: Callable[[bytes], None] | None = None,
    ) -> Callable[[], int]:
        """A new connection per request: connect, send, read it whole."""

        def run() -> int:
            t0 = time.perf_counter_ns()
            sock = opener()
            try:
                head = _exchange(sock, request)
                elapsed = time.perf_counter_ns() - t0
            finally:
                sock.close()
            if check is not None:
                check(head)
            return elapsed

        return run

    @staticmethod
    def reused(conn: KeptAlive, *, check: bool) -> Callable[[], int]:
        """One request on a kept-alive connection."""

        def run() -> int:
            conn.ready()  # untimed, and a no-op unless a server closed it
            t0 = time.perf_counter_ns()
            head = conn()
            elapsed = time.perf_counter_ns() - t0
            if check:
                _check_injected(head)
            return elapsed

        return run

    def variants(self) -> dict[str, Callable[[], int]]:
        s, r, timed = self.setup, self.requests, self.timed
        variants = {
            "direct": timed(functools.partial(_connect, s.http), r["origin"]),
            "proxy_http": timed(
                functools.partial(_connect, s.plain_proxy), r["absolute"]
            ),
            "proxy_http_strip": timed(
                functools.partial(_connect, s.inject_proxy), r["absolute"]
            ),
            "direct_tls": timed(self.direct_tls_socket, r["tunnel"]),
            "proxy_connect": timed(self.connect_socket, r["tunnel"]),
            "proxy_tls_inject": timed(self.inject_socket, r["api"], _check_injected),
        }
        if s.tinyproxy is not None:
            tiny = functools.partial(_connect, s.tinyproxy)
            variants["tinyproxy_http"] = timed(tiny, r["absolute"])
        for name, conn in self.kept.items():
            if not conn.closes:
                check = name == "proxy_tls_inject_ka"
                variants[name] = self.reused(conn, check=check)
        return {name: variants[name] for name in VARIANTS if name in variants}

    def probe(self) -> dict[str, str]:
        """One untimed request per variant; what they showed. Raises on a failure.

        Makes the kept-alive connections, finds the servers that close them after
        each response, and materialises the ``inject`` proxy's secret (so that
        ``proxy_http_strip`` is stripped from the first round on).
        """
        s, r = self.setup, self.requests
        _check_injected(self.once(self.inject_socket, r["api"]))
        notes = {"proxy_tls_inject": "the origin saw the injected credential"}
        for name, proxy in (
            ("proxy_http", s.plain_proxy),
            ("proxy_http_strip", s.inject_proxy),
        ):
            head = self.once(functools.partial(_connect, proxy), r["absolute"])
            notes[name] = f"responses relayed {_framing(head)}"
        for name, conn in self.kept.items():
            conn.ready()
            conn()
            conn.ready()
            try:
                conn()
            except (Closed, ConnectionResetError, BrokenPipeError):
                conn.closes = True  # closed after the first response, unannounced
                conn.close()
            if conn.closes:
                notes[name] = "skipped: the server closes the connection each time"
        return notes

    def close(self) -> None:
        for conn in self.kept.values():
            conn.close()


def measure(
    client: Client, rounds: int, warmup: int, seed: int
) -> dict[str, list[int]]:
    """Interleaved rounds; returns the nanoseconds of each variant's requests."""
    variants = client.variants()
    names = list(variants)
    times: dict[str, list[int]] = defaultdict(list)
    rng = random.Random(seed)
    for r in range(-warmup, rounds):
        rng.shuffle(names)
        for name in names:
            elapsed = variants[name]()
            if r >= 0:
                times[name].append(elapsed)
    return times


# ---- where the proxy's time goes ----------------------------------------------------

_SEGMENTS = (
    # (label, from, to): "t0" and "t1" are the client's start and end of a
    # request, "step>" a step's entry and "step<" its exit
    ("client connects -> the proxy's task starts", "t0", "accept>"),
    ("read + parse the request head", "accept>", "exchange>"),
    ("parse the target (Exchange._target)", "target>", "target<"),
    ("policy decision (Exchange._decide)", "decide>", "decide<"),
    ("resolve + SSRF check (Dialer.check)", "check>", "check<"),
    ("connect upstream (Dialer.open)", "open>", "open<"),
    ("write the request", "send>", "send<"),
    ("flush, origin answers, read the head", "head>", "head<"),
    ("relay head + body to the client (bytes out)", "head<", "relay<"),
    ("the client has it (< 0: before relay ends)", "relay<", "t1"),
)
_AFTER = (
    ("after the response: record + close", "relay<", "connection<"),
    ("  of which Draft.finish", "finish>", "finish<"),
)
OTHER = "other (between the steps above)"
TOTAL = "total (the client's time)"


def breakdown(
    events: list[Event], client_ns: list[tuple[int, int]]
) -> dict[str, list[float]]:
    """Per request, the microseconds of each segment of the proxy's timeline.

    Connection n (in accept order) is the client's request n: the client makes
    one at a time.
    """
    marks: dict[int, dict[str, int]] = defaultdict(dict)
    for number, label, phase, ns in events:
        key = f"{label}{'>' if phase == 'in' else '<'}"
        marks[number].setdefault(key, ns)  # the first entry, the first exit
    out: dict[str, list[float]] = defaultdict(list)
    for number, (t0, t1) in enumerate(client_ns):
        m = {**marks.get(number, {}), "t0": t0, "t1": t1}
        covered = 0.0
        for label, start, end in _SEGMENTS + _AFTER:
            if start in m and end in m:
                us = (m[end] - m[start]) / 1000
                out[label].append(us)
                covered += us if (label, start, end) in _SEGMENTS else 0
        out[OTHER].append((t1 - t0) / 1000 - covered)
        out[TOTAL].append((t1 - t0) / 1000)
    return out


def run_breakdown(
    proxies_conn: Connection, client: Client
) -> tuple[dict[str, list[float]], tuple[float, float]]:
    """The steps of ``BREAKDOWN_REQUESTS`` proxy_http requests, and the proxy
    thread's user and system CPU microseconds per request."""
    proxies_conn.send("breakdown on")
    address = ("127.0.0.1", proxies_conn.recv())
    request = client.requests["absolute"]
    client_ns = []
    for _ in range(BREAKDOWN_REQUESTS):
        t0 = time.perf_counter_ns()
        sock = _connect(address)
        _exchange(sock, request)
        client_ns.append((t0, time.perf_counter_ns()))
        sock.close()
    proxies_conn.send("breakdown off")
    events, (user_s, sys_s) = proxies_conn.recv()
    per_request = (user_s * 1e6 / BREAKDOWN_REQUESTS, sys_s * 1e6 / BREAKDOWN_REQUESTS)
    return breakdown(events, client_ns), per_request


def run_profile(proxies_conn: Connection, client: Client) -> str:
    proxies_conn.send("profile on")
    proxies_conn.recv()
    run = client.variants()["proxy_http"]
    for _ in range(PROFILE_REQUESTS):
        run()
    proxies_conn.send("profile off")
    return str(proxies_conn.recv())


# ---- requests/s under load ----------------------------------------------------------


class Load(NamedTuple):
    rps: float
    requests: int
    client_cpu: float
    """The client's CPU time over the wall time: near 1.0 means client-bound."""


def load(
    address: tuple[str, int], request: bytes, concurrency: int, seconds: float
) -> Load:
    """Keep ``concurrency`` connections busy, a new one per request, for ``seconds``."""
    sel = selectors.DefaultSelector()

    def start() -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)  # noqa: FBT003 -- the socket API
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.connect_ex(address)
        sel.register(sock, selectors.EVENT_WRITE, bytearray())

    cpu0, t0 = time.process_time(), time.perf_counter()
    deadline = t0 + seconds
    done = 0
    for _ in range(concurrency):
        start()
    while sel.get_map():
        for key, _ in sel.select(timeout=5):
            sock: socket.socket = key.fileobj  # type: ignore[assignment]
            if key.events == selectors.EVENT_WRITE:  # connected: send the request
                sock.send(request)
                sel.modify(sock, selectors.EVENT_READ, key.data)
                continue
            chunk = sock.recv(READ_SIZE)
            key.data.extend(chunk)
            got = _whole(key.data)
            if got is None and chunk:
                continue
            sel.unregister(sock)
            sock.close()
            if got is None or not got[0].startswith(b"http/1.1 200 "):
                msg = f"bad response under load: {bytes(key.data[:300])!r}"
                raise RuntimeError(msg)
            done += 1
            if time.perf_counter() < deadline:
                start()
    wall = time.perf_counter() - t0
    sel.close()
    return Load(done / wall, done, (time.process_time() - cpu0) / wall)


def run_loads(
    client: Client, concurrency: int, seconds: float, seed: int
) -> dict[str, Load]:
    """Requests/s under load of the plain HTTP variants, in a seeded order."""
    s, r = client.setup, client.requests
    targets = {
        "direct": (s.http, r["origin"]),
        "proxy_http": (s.plain_proxy, r["absolute"]),
    }
    if s.tinyproxy is not None:
        targets["tinyproxy_http"] = (s.tinyproxy, r["absolute"])
    order = list(targets)
    random.Random(seed).shuffle(order)
    return {name: load(*targets[name], concurrency, seconds) for name in order}


# ---- running it ---------------------------------------------------------------------


class Results(NamedTuple):
    times: dict[str, list[int]]
    notes: dict[str, str]
    loads: dict[str, Load]
    steps: dict[str, list[float]]
    proxy_cpu_us: tuple[float, float]
    """The proxy thread's user and system CPU time per request (breakdown)."""
    profile: str
    records: dict[str, Any]
    tinyproxy_version: str | None


def _start_children(
    workdir: Path, secret: str
) -> tuple[list[Any], Connection, Connection, Setup]:
    """The origin, then the proxies (they need its ports and CA)."""
    ctx = multiprocessing.get_context("spawn")
    origin_end, origin_conn = ctx.Pipe()
    origin = ctx.Process(target=origin_main, args=(origin_end, secret), daemon=True)
    origin.start()
    children = [origin]
    if not origin_conn.poll(START_TIMEOUT_S):
        msg = "the origin did not start"
        raise RuntimeError(msg)
    ports, origin_pem = origin_conn.recv()
    ca_file = workdir / "origin-ca.pem"
    ca_file.write_bytes(origin_pem)
    proxies_end, proxies_conn = ctx.Pipe()
    proxies = ctx.Process(
        target=proxies_main,
        args=(proxies_end, ports, str(ca_file), secret),
        daemon=True,
    )
    proxies.start()
    children.append(proxies)
    if not proxies_conn.poll(START_TIMEOUT_S):
        msg = "the proxies did not start"
        raise RuntimeError(msg)
    bound = proxies_conn.recv()
    setup = Setup(
        http=("127.0.0.1", ports[0]),
        tunnel_port=ports[1],
        api_port=ports[2],
        plain_proxy=("127.0.0.1", bound["plain"][0]),
        inject_proxy=("127.0.0.1", bound["inject"][0]),
        tinyproxy=None,
        origin_tls=ssl.create_default_context(cadata=origin_pem.decode()),
        inject_tls=ssl.create_default_context(cadata=bound["inject"][1].decode()),
    )
    return children, origin_conn, proxies_conn, setup


def run(opts: argparse.Namespace, binary: str | None) -> Results:
    """Start everything, measure, stop everything."""
    with tempfile.TemporaryDirectory(prefix="enclosure-bench-") as tmp:
        workdir = Path(tmp)
        children, origin_conn, proxies_conn, setup = _start_children(
            workdir, secrets.token_hex(24)
        )
        tiny = Tinyproxy(binary, workdir) if binary is not None else None
        client = None
        try:
            if tiny is not None:
                setup = setup._replace(tinyproxy=("127.0.0.1", tiny.port))
            client = Client(setup)
            notes = client.probe()
            times = measure(client, opts.rounds, opts.warmup, opts.seed)
            loads = {}
            if opts.throughput_s > 0:
                loads = run_loads(
                    client, opts.concurrency, opts.throughput_s, opts.seed
                )
            steps: dict[str, list[float]] = {}
            cpu_us = (0.0, 0.0)
            if opts.breakdown:
                steps, cpu_us = run_breakdown(proxies_conn, client)
            profile = run_profile(proxies_conn, client) if opts.profile else ""
            client.close()
            proxies_conn.send("stop")
            records = proxies_conn.recv()
        finally:
            if client is not None:
                client.close()
            if tiny is not None:
                tiny.stop()
            with contextlib.suppress(OSError):
                origin_conn.send("stop")
            for child in children:
                child.join(10)
                if child.is_alive():
                    child.terminate()
                    child.join()
    version = tiny.version if tiny is not None else None
    return Results(times, notes, loads, steps, cpu_us, profile, records, version)


# ---- report -------------------------------------------------------------------------


def _options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--warmup", type=int, default=WARMUP)
    parser.add_argument("--seed", type=int, default=SEED, help="for the run order")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=CONCURRENCY,
        help="connections kept busy for the requests/s under load",
    )
    parser.add_argument(
        "--throughput-s",
        type=float,
        default=THROUGHPUT_S,
        metavar="S",
        help="seconds of load per plain HTTP variant (0: skip)",
    )
    parser.add_argument(
        "--breakdown",
        action="store_true",
        help=f"also time the proxy's steps over {BREAKDOWN_REQUESTS} proxy_http "
        "requests",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help=f"also print a cProfile of the proxy's thread over {PROFILE_REQUESTS} "
        "proxy_http requests",
    )
    return parser.parse_args()


def _print_table(
    opts: argparse.Namespace, res: Results, stats: dict[str, Stats]
) -> None:
    tiny = f"tinyproxy {res.tinyproxy_version}" if res.tinyproxy_version else ""
    print(
        f"{opts.rounds} rounds after {opts.warmup} warm-up rounds; a {len(BODY)}-byte "
        f"body; {tiny or 'no tinyproxy'}; {res.records['records']} proxy records"
    )
    print(
        f"{'variant':<21}{'n':>6}{'p50 ms':>9}{'p99 ms':>9}{'mean ms':>9}"
        f"{'min ms':>9}{'req/s':>8}{'added p50':>11}{'added p99':>11}"
    )
    for name, s in stats.items():
        extra = ""
        if (base := stats.get(BASELINE.get(name, ""))) is not None:
            extra = f"{s.p50_ms - base.p50_ms:>11.3f}{s.p99_ms - base.p99_ms:>11.3f}"
        print(
            f"{name:<21}{s.n:>6}{s.p50_ms:>9.3f}{s.p99_ms:>9.3f}{s.mean_ms:>9.3f}"
            f"{s.min_ms:>9.3f}{s.rps:>8.0f}{extra}"
        )
    for name, note in res.notes.items():
        print(f"  {name}: {note}")
    odd = [kind for kind in res.records["by_kind"] if kind[1] != "allowed"]
    if odd:
        print(
            f"  proxy records not allowed (scheme, outcome, code, credential, n): {odd}"
        )


def _print_extras(opts: argparse.Namespace, res: Results) -> None:
    if res.loads:
        print(
            f"requests/s under load ({opts.concurrency} connections, a new one per "
            f"request, {opts.throughput_s:g} s each):"
        )
        for name, ld in res.loads.items():
            print(
                f"  {name:<19}{ld.rps:>8.0f} req/s  ({ld.requests} requests; client "
                f"CPU {ld.client_cpu:.0%} of the wall time)"
            )
    if res.steps:
        print(
            f"inside proxy_http, {BREAKDOWN_REQUESTS} requests (a new connection "
            "each), timestamps on the client's and the proxy's clock (us):"
        )
        print(f"  {'segment':<46}{'median':>8}{'p95':>8}")
        for label, values in res.steps.items():
            median, p95 = nearest_rank(values, 0.5), nearest_rank(values, 0.95)
            print(f"  {label:<46}{median:>8.1f}{p95:>8.1f}")
        user, system = res.proxy_cpu_us
        print(
            f"  the proxy thread's CPU time per request: {user + system:.1f} us "
            f"({user:.1f} us user, {system:.1f} us system; wrappers included)"
        )


def report(opts: argparse.Namespace, res: Results) -> None:
    stats = {name: summarize(res.times[name]) for name in VARIANTS if res.times[name]}
    added = {
        name: (
            stats[name].p50_ms - stats[base].p50_ms,
            stats[name].p99_ms - stats[base].p99_ms,
        )
        for name, base in BASELINE.items()
        if name in stats and base in stats
    }
    ours = added["proxy_http"][0]
    theirs = added["tinyproxy_http"][0] if "tinyproxy_http" in added else None
    ratio = ours / theirs if theirs is not None and theirs > 0 else None
    pass_abs = ours <= TARGET_ADDED_MS
    pass_ratio = ratio <= TARGET_TINYPROXY_RATIO if ratio is not None else None

    if res.profile:
        print(res.profile)
    _print_table(opts, res, stats)
    _print_extras(opts, res)
    print(
        f"target proxy_http added p50 <= {TARGET_ADDED_MS} ms: "
        f"{'PASS' if pass_abs else 'FAIL'} ({ours:.3f} ms)"
    )
    if ratio is None:
        print("target proxy_http added p50 <= 2 x tinyproxy's: SKIPPED (no tinyproxy)")
    else:
        print(
            f"target proxy_http added p50 <= {TARGET_TINYPROXY_RATIO:g} x "
            f"tinyproxy's: {'PASS' if pass_ratio else 'FAIL'} "
            f"({ours:.3f} / {theirs:.3f} ms = {ratio:.2f}x)"
        )

    figures: dict[str, Any] = {"benchmark": "proxy", "rounds": opts.rounds}
    figures |= {"warmup": opts.warmup, "seed": opts.seed, "body_bytes": len(BODY)}
    for name, s in stats.items():
        figures |= {
            f"{name}_p50_ms": round(s.p50_ms, 3),
            f"{name}_p99_ms": round(s.p99_ms, 3),
            f"{name}_mean_ms": round(s.mean_ms, 3),
            f"{name}_rps": round(s.rps),
        }
    for name, (p50, p99) in added.items():
        figures[f"{name}_added_p50_ms"] = round(p50, 3)
        figures[f"{name}_added_p99_ms"] = round(p99, 3)
    for name, ld in res.loads.items():
        figures[f"{name}_load_rps"] = round(ld.rps)
        figures[f"{name}_load_client_cpu"] = round(ld.client_cpu, 3)
    figures |= {
        "concurrency": opts.concurrency if res.loads else None,
        "throughput_s": opts.throughput_s,
        "proxy_over_tinyproxy_added_p50": round(ratio, 3) if ratio else None,
        "target_added_p50_le_1_5ms": pass_abs,
        "target_added_p50_le_2x_tinyproxy": pass_ratio,
        "breakdown_median_us": {
            label: round(nearest_rank(v, 0.5), 1) for label, v in res.steps.items()
        },
        "breakdown_proxy_cpu_us": (
            [round(us, 1) for us in res.proxy_cpu_us] if res.steps else None
        ),
        "proxy_records": res.records["records"],
        "proxy_records_not_allowed": sum(
            kind[-1] for kind in res.records["by_kind"] if kind[1] != "allowed"
        ),
        "tinyproxy_version": res.tinyproxy_version,
        "kernel": platform.release(),
        "nproc": os.cpu_count(),
        "loadavg_1m": round(os.getloadavg()[0], 2),
        "python": platform.python_version(),
    }
    print(json.dumps(figures))


def main() -> None:
    opts = _options()
    report(opts, run(opts, find_tinyproxy()))


if __name__ == "__main__":
    main()
