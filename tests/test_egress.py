"""End to end: real clients in a run's sandbox, its egress proxy, real servers.

Every test starts a run whose manifest has (or, once, lacks) a ``network``
section and drives real programs inside the sandbox (curl, Python's urllib, raw
sockets, Node if present) at real servers on loopback: ``Origin``, plain HTTP
or HTTPS under a test CA of its own that the proxy trusts through
``$ENCLOSURE_EGRESS_CA_FILE``. The rules name ``localhost``, which the proxy
resolves through /etc/hosts (to 127.0.0.1 or ::1, so an origin listens on both
where it can); two tests give the proxy a fake resolver instead. Nothing here
reaches the internet.

What is checked, each time from outside as well as from what the client saw:
what reached the origin, and the run's ``EgressEvent``s (exactly one per request,
with its principal and tool call). Then the attacks: containment without the
proxy, SSRF shapes through it, request smuggling, and a secret that must appear
nowhere but on the wire to the origin.

No test sleeps: servers signal with events, every client has a short timeout,
and the one held response ends by itself after ``HOLD_S``.
"""

from __future__ import annotations

import base64
import errno
import gzip
import ipaddress
import json
import logging
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple
from urllib.parse import quote

import pytest

from enclosure._egress import CA_PATH, PROXY_PORT, RunEgress, proxy_env
from enclosure._enclosure import open_log
from enclosure.audit import EgressEvent
from enclosure.egress._ca import RunCA
from enclosure.errors import EgressRefused, UsageError
from enclosure.server._escalate import escalate
from enclosure.server._models import HostEscalation
from enclosure.testing import make_enclosure

if TYPE_CHECKING:
    import ssl
    from collections.abc import Callable, Iterator

    from enclosure import Enclosure

pytestmark = pytest.mark.sandbox

HOLD_S = 10.0
"""How long ``/hold`` keeps a response open; the kill test ends it much sooner."""
WAIT_S = 5.0
"""Every wait on an event and every client timeout."""
CURL = ["curl", "-sS", "-i", "--max-time", "5", "--connect-timeout", "3"]
PYTHON = "/usr/bin/python3"
SECRET_VAR = "ENCLOSURE_TEST_EGRESS_SECRET"

# --- the origin -------------------------------------------------------------------


@dataclass
class Seen:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Origin:
    """A recording HTTP(S) server on loopback.

    ``/hold`` sends a head and 3 of 10 bytes, sets ``holding``, then waits for the
    proxy to close the connection (``closed``), for ``release()``, or ``HOLD_S``.
    ``/malformed`` reflects the Authorization header in a header line no HTTP
    parser accepts.
    Everything else echoes the request as JSON (gzip if the client accepts it, or
    always for ``/always-gzip``), the Authorization header also in ``x-echo-auth``.
    """

    servers: list[_Server]
    """On 127.0.0.1, and on ::1 with the same port where the host has it."""
    scheme: str
    seen: list[Seen] = field(default_factory=list)
    connections: int = 0
    holding: threading.Event = field(default_factory=threading.Event)
    closed: threading.Event = field(default_factory=threading.Event)
    held: list[socket.socket] = field(default_factory=list)
    released: bool = False

    @property
    def port(self) -> int:
        return int(self.servers[0].server_address[1])

    def url(self, path: str = "/", host: str = "localhost") -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"

    def targets(self) -> list[str]:
        return [s.target for s in self.seen]

    def release(self) -> None:
        """End every held response from this side (the client sees it cut short)."""
        self.released = True
        for sock in self.held:
            sock.shutdown(socket.SHUT_RDWR)


def _read_chunked(rfile: Any) -> bytes:
    out = b""
    while size := int(rfile.readline().split(b";")[0], 16):
        out += rfile.read(size)
        rfile.readline()
    while rfile.readline() not in {b"\r\n", b""}:
        pass
    return out


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Any

    def log_message(self, *args: object) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        self.server.origin.connections += 1

    def _handle(self) -> None:
        origin: Origin = self.server.origin
        if "chunked" in self.headers.get("transfer-encoding", ""):
            body = _read_chunked(self.rfile)
        else:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
        headers = {k.lower(): v for k, v in self.headers.items()}
        origin.seen.append(Seen(self.command, self.path, headers, body))
        auth = headers.get("authorization", "")
        if self.path == "/hold":
            self._hold(origin)
            return
        if self.path == "/malformed":
            self.send_response(200)
            self.send_header("x-echo auth", auth)  # a space: no valid header name
            self.send_header("content-length", "0")
            self.end_headers()
            return
        echo = json.dumps(
            {"method": self.command, "target": self.path, "headers": headers}
        ).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("x-echo-auth", auth)
        gzip_ok = "gzip" in headers.get("accept-encoding", "")
        if gzip_ok or self.path == "/always-gzip":
            echo = gzip.compress(echo)
            self.send_header("content-encoding", "gzip")
        self.send_header("content-length", str(len(echo)))
        self.end_headers()
        self.wfile.write(echo)

    do_GET = do_POST = do_PUT = do_DELETE = _handle  # noqa: N815 -- http.server names

    def _hold(self, origin: Origin) -> None:
        self.send_response(200)
        self.send_header("content-length", "10")
        self.end_headers()
        self.wfile.write(b"abc")
        self.wfile.flush()
        origin.held.append(self.connection)
        origin.holding.set()
        self.connection.settimeout(HOLD_S)
        try:
            while self.connection.recv(1):
                pass
        except TimeoutError:
            return  # nobody closed it: the kill test fails on `closed`
        except OSError:
            pass  # reset (an abort) is a close too
        finally:
            self.close_connection = True
        if not origin.released:
            origin.closed.set()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    context: ssl.SSLContext | None = None

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client refusing our certificate is part of some tests

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, addr = super().get_request()
        if self.context is None:
            return sock, addr
        # The handshake happens in the handler's thread, not the accept loop.
        wrapped = self.context.wrap_socket(
            sock, server_side=True, do_handshake_on_connect=False
        )
        return wrapped, addr


class _Server6(_Server):
    address_family = socket.AF_INET6


def _listen(tls: RunCA | None) -> list[_Server]:
    """127.0.0.1 and ::1 on one port: the proxy may resolve localhost to either."""
    for _ in range(20):
        first = _Server(("127.0.0.1", 0), _Handler)
        try:
            second = _Server6(("::1", first.server_address[1]), _Handler)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                first.server_close()
                continue  # the port is taken on ::1; try another
            return [first]  # no IPv6 here: localhost is 127.0.0.1 only
        servers = [first, second]
        break
    else:
        pytest.fail("no port free on both 127.0.0.1 and ::1")
    if tls is not None:
        context = tls.server_context("localhost")
        for server in servers:
            server.context = context
    return servers


def start_origin(tls: RunCA | None = None) -> Origin:
    origin = Origin(_listen(tls), "https" if tls else "http")
    for server in origin.servers:
        server.origin = origin  # type: ignore[attr-defined]
        threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
    return origin


class Origins(NamedTuple):
    http: Origin
    https: Origin
    ca_file: Path
    """The HTTPS origin's CA, readable inside the sandbox at the same path."""


@pytest.fixture
def origins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Origins]:
    ca = RunCA(name="Test origin CA")
    trust = tmp_path / "trust"
    trust.mkdir()
    ca_file = trust / "origin-ca.pem"
    ca_file.write_bytes(ca.cert_pem)
    monkeypatch.setenv("ENCLOSURE_EGRESS_CA_FILE", str(ca_file))
    plain, tls = start_origin(), start_origin(ca)
    yield Origins(plain, tls, ca_file)
    for origin in (plain, tls):
        for server in origin.servers:
            server.shutdown()
            server.server_close()


# --- the enclosure ----------------------------------------------------------------


FETCHER: dict[str, Any] = {
    "effect": "read",
    "command": [*CURL, "{url}"],
    "input_schema": {
        "type": "object",
        "properties": {"url": {"type": "string"}},
        "required": ["url"],
    },
}
"""A command tool that fetches ``{url}`` with curl (head and body on stdout)."""


@pytest.fixture
def enclose(tmp_path: Path) -> Iterator[Callable[..., Enclosure]]:
    """Makes an ``Enclosure`` from manifest sections; closes them all at the end."""
    made: list[Enclosure] = []

    def make(network: dict[str, Any] | None = None, **sections: Any) -> Enclosure:
        doc: dict[str, Any] = {
            "version": 1,
            "agent": {"name": "egress-e2e"},
            "compute": {"wall_time": "20s"},
            **sections,
        }
        if network is not None:
            doc["network"] = network
        # JSON is YAML.
        enc = make_enclosure(json.dumps(doc), tmp_path / "home")
        made.append(enc)
        return enc

    yield make
    for enc in made:
        enc.close()


def local(port: int, **rule: Any) -> dict[str, Any]:
    """A rule for ``localhost:port`` (a loopback origin: ``allow_private``)."""
    return {"host": "localhost", "ports": [port], "allow_private": True, **rule}


def egress_events(
    enc: Enclosure, after: int = 0, upto: int | None = None
) -> list[EgressEvent]:
    """The log's egress events, optionally those with ``after < seq <= upto``."""
    return [
        stored.event
        for stored in enc.log.events(kinds=["egress"], after_seq=after)
        if isinstance(stored.event, EgressEvent)
        and (upto is None or stored.seq <= upto)
    ]


def last_seq(enc: Enclosure) -> int:
    stored = enc.log.events()
    return stored[-1].seq if stored else 0


class Response(NamedTuple):
    status: int
    headers: dict[str, str]
    body: str

    def json(self) -> Any:
        return json.loads(self.body)


def parse(out: bytes | str) -> Response:
    """What ``curl -i`` printed (after any CONNECT answer), or status 0 if nothing."""
    text = out.decode("utf-8", "replace") if isinstance(out, bytes) else out
    while text.startswith("HTTP/1.1 200 Connection established\r\n"):
        text = text.partition("\r\n\r\n")[2]  # the proxy's answer to CONNECT
    if not text.startswith("HTTP/"):
        return Response(0, {}, text)
    head, _, rest = text.partition("\r\n\r\n")
    lines = head.split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Response(status, headers, rest)


def curl(run: Any, url: str, *args: str) -> Response:
    """``curl -i`` as the agent; the response it printed."""
    result = run.workspace.exec([*CURL, *args, url])
    return parse(result.stdout)


URLLIB = """
import sys, urllib.request, urllib.error
method = sys.argv[2] if len(sys.argv) > 2 else "GET"
request = urllib.request.Request(sys.argv[1], method=method)
try:
    with urllib.request.urlopen(request, timeout=5) as response:
        print(response.status, response.read().decode())
except urllib.error.HTTPError as exc:
    print(exc.code, exc.read().decode())
except OSError as exc:
    print(0, type(exc).__name__, exc)
"""


def urllib_get(run: Any, url: str, method: str = "GET") -> tuple[int, str]:
    """Python's urllib in the sandbox (it reads the proxy variables itself)."""
    out = run.workspace.exec([PYTHON, "-c", URLLIB, url, method]).stdout.decode()
    status, _, body = out.partition(" ")
    return int(status), body


RAW = """
import socket, sys
data = sys.stdin.buffer.read()
out = b""
try:
    with socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        while chunk := sock.recv(65536):
            out += chunk
except OSError as exc:
    out += b"<" + type(exc).__name__.encode() + b">"
sys.stdout.buffer.write(out)
"""


def raw(run: Any, data: bytes) -> bytes:
    """Send ``data`` to the proxy from inside the sandbox; all it answered."""
    answer: bytes = run.workspace.exec(
        [PYTHON, "-c", RAW, str(PROXY_PORT)], input=data
    ).stdout
    return answer


def statuses(answer: bytes) -> list[int]:
    """The status of every response in a raw answer, in order."""
    return [int(code) for code in re.findall(rb"HTTP/1\.1 (\d{3}) ", answer)]


# --- 1. allowed and denied, one event each ----------------------------------------


def test_proxy_variables_and_the_run_ca_are_set_for_the_program(origins, enclose):
    enc = enclose({"rules": [local(origins.http.port)]})
    with enc.start_run(task="t") as run:
        out = run.workspace.exec(["sh", "-c", f"env; echo; cat {CA_PATH}"])
        env_text, _, bundle = out.stdout.decode().partition("\n\n")
        env = dict(line.split("=", 1) for line in env_text.splitlines())
        egress = run.workspace.egress
        assert isinstance(egress, RunEgress)
    for name, value in proxy_env().items():
        assert env[name] == value
    assert env["HTTPS_PROXY"] == f"http://127.0.0.1:{PROXY_PORT}"
    assert "BEGIN CERTIFICATE" in bundle
    assert egress.ca.cert_pem.decode().strip() in bundle


def test_an_allowed_host_is_reached_and_others_get_a_403_naming_the_reason(
    origins, enclose
):
    port = origins.http.port
    enc = enclose({"rules": [local(port, name="origin")]})
    with enc.start_run(task="t") as run:
        ok = curl(run, origins.http.url("/curl"))
        status, body = urllib_get(run, origins.http.url("/urllib"))
        other = curl(run, f"http://other.localhost:{port}/x")
        port_denied = curl(run, f"http://localhost:{port + 1 if port < 65535 else 1}/")
    assert ok.status == 200
    assert ok.json()["target"] == "/curl"
    assert status == 200
    assert json.loads(body)["target"] == "/urllib"
    assert origins.http.targets() == ["/curl", "/urllib"]
    assert other.status == 403
    assert other.headers["content-type"] == "application/json"
    assert other.json() == {
        "error": "E-EGRESS-DENIED",
        "rule": None,
        "reason": "no rule allows host other.localhost",
        "host": "other.localhost",
        "method": "GET",
    }
    assert port_denied.status == 403
    assert port_denied.json()["rule"] == "origin"
    assert "port" in port_denied.json()["reason"]
    events = egress_events(enc)
    assert [(e.path, e.status, e.outcome, e.code) for e in events] == [
        ("/curl", 200, "allowed", "allowed"),
        ("/urllib", 200, "allowed", "allowed"),
        ("/x", 403, "denied", "E-EGRESS-DENIED"),
        ("/", 403, "denied", "E-EGRESS-DENIED"),
    ]
    for event in events:
        assert (event.principal, event.call_id, event.run_id) == ("agent", None, run.id)
        assert event.scheme == "http"
    assert events[0].rule == "origin"
    assert events[0].address in {"127.0.0.1", "::1"}
    assert events[0].bytes_down > 0
    assert events[2].address is None  # refused before any connection


@pytest.mark.parametrize(
    ("method", "path", "status", "reason"),
    [
        ("GET", "/api/items", 200, None),
        ("GET", "/api/items/7?full=1", 200, None),
        ("POST", "/api/items", 403, "rule 'api' allows GET, HEAD, not POST"),
        ("DELETE", "/api/items/7", 403, "not DELETE"),
        ("GET", "/admin", 403, "rule 'api' allows paths /api/**, not /admin"),
        ("GET", "/api/../admin", 403, "not /admin"),
        ("GET", "/api/%2e%2e/admin", 403, "not /admin"),
        ("GET", "/api/..;/admin", 403, "not /admin"),
        ("GET", "/api%2F..%2Fadmin", 403, "is not normalised"),
        ("GET", "/api\\..\\admin", 403, "is not normalised"),
        ("GET", "//api/../admin", 403, "not /admin"),
    ],
)
def test_method_and_path_rules_decide_each_request(
    origins, enclose, method, path, status, reason
):
    rule = local(
        origins.http.port, name="api", methods=["GET", "HEAD"], paths=["/api/**"]
    )
    enc = enclose({"rules": [rule]})
    with enc.start_run(task="t") as run:
        answer = curl(run, origins.http.url(path), "-X", method, "--path-as-is")
    assert answer.status == status
    (event,) = egress_events(enc)
    assert event.method == method
    assert event.rule == "api"
    if status == 200:
        assert origins.http.targets() == [path]
        assert event.outcome == "allowed"
        assert event.path == path.partition("?")[0]
    else:
        assert origins.http.seen == []
        body = answer.json()
        assert body["error"] == "E-EGRESS-DENIED"
        assert body["rule"] == "api"
        assert reason in body["reason"]
        assert (event.outcome, event.code, event.status) == (
            "denied",
            "E-EGRESS-DENIED",
            403,
        )
        assert reason in event.reason


def test_a_rule_for_a_tool_lets_that_tool_through_and_nobody_else(origins, enclose):
    enc = enclose(
        {"rules": [local(origins.http.port, name="for-fetcher", tools=["fetcher"])]},
        tools={"fetcher": FETCHER, "other": FETCHER},
    )
    with enc.start_run(task="t") as run:
        mark = last_seq(enc)
        allowed = run.call("fetcher", {"url": origins.http.url("/tool")})
        after_tool = last_seq(enc)
        refused = run.call("other", {"url": origins.http.url("/other")})
        after_other = last_seq(enc)
        agent = curl(run, origins.http.url("/agent"))
    assert allowed.status == "executed"
    assert parse(allowed.value["stdout"]).status == 200
    assert origins.http.targets() == ["/tool"]
    (tool_event,) = egress_events(enc, mark, after_tool)
    assert (tool_event.principal, tool_event.call_id) == (
        "fetcher",
        allowed.receipt.call_id,
    )
    assert tool_event.outcome == "allowed"
    assert tool_event.rule == "for-fetcher"

    other_answer = parse(refused.value["stdout"])
    assert other_answer.status == 403
    assert other_answer.json()["rule"] == "for-fetcher"
    assert other_answer.json()["reason"] == "no rule lets tool 'other' reach localhost"
    (other_event,) = egress_events(enc, after_tool, after_other)
    assert (other_event.principal, other_event.call_id) == (
        "other",
        refused.receipt.call_id,
    )
    assert other_event.outcome == "denied"

    assert agent.status == 403
    assert agent.json()["reason"] == "no rule lets the agent reach localhost"
    (agent_event,) = egress_events(enc, after_other)
    assert (agent_event.principal, agent_event.call_id) == ("agent", None)
    assert agent_event.rule == "for-fetcher"
    assert len(egress_events(enc)) == 3


def test_a_tools_network_is_not_the_agents_even_while_the_tool_runs(origins, enclose):
    origin = origins.http
    enc = enclose(
        {"rules": [local(origin.port, name="for-fetcher", tools=["fetcher"])]},
        tools={"fetcher": FETCHER},
    )
    with enc.start_run(task="t") as run:
        done: list[Any] = []
        url = origin.url("/hold")
        worker = threading.Thread(
            target=lambda: done.append(run.call("fetcher", {"url": url}))
        )
        worker.start()
        try:
            assert origin.holding.wait(WAIT_S)
            # The agent, meanwhile, in the same run: its own port 3128, its own name.
            agent = curl(run, origin.url("/agent"))
            direct = curl(run, origin.url("/agent"), "--noproxy", "*")
        finally:
            origin.release()
            worker.join(WAIT_S)
        assert not worker.is_alive()
    assert agent.status == 403
    assert agent.json()["reason"] == "no rule lets the agent reach localhost"
    assert direct.status == 0
    assert origin.targets() == ["/hold"]
    (call,) = done
    by_principal = {(e.principal, e.call_id, e.path) for e in egress_events(enc)}
    assert by_principal == {
        ("fetcher", call.receipt.call_id, "/hold"),
        ("agent", None, "/agent"),
    }


def test_enclosure_exec_goes_through_the_proxy_as_the_agent(origins, tmp_path):
    manifest = tmp_path / "enclosure.yaml"
    doc = {
        "version": 1,
        "agent": {"name": "cli"},
        "network": {"rules": [local(origins.http.port, name="origin")]},
    }
    manifest.write_text(json.dumps(doc), encoding="utf-8")
    home = tmp_path / "cli-home"
    cli = Path(sys.executable).with_name("enclosure")
    env = {**os.environ, "ENCLOSURE_HOME": str(home)}
    done = subprocess.run(
        [cli, "exec", "-m", manifest, "--", *CURL, origins.http.url("/cli")],
        env=env,
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert parse(done.stdout).json()["target"] == "/cli"
    with open_log(home) as log:
        (event,) = [e.event for e in log.events() if isinstance(e.event, EgressEvent)]
    assert (event.principal, event.call_id, event.rule) == ("agent", None, "origin")


# --- 2. rate limits ---------------------------------------------------------------


def test_a_rate_limited_rule_answers_429_after_its_limit(origins, enclose):
    rules = [local(origins.http.port, name="slow-api", rate="2/minute")]
    enc = enclose({"rules": rules})
    with enc.start_run(task="t") as run:
        answers = [curl(run, origins.http.url(f"/n{i}")) for i in range(3)]
    assert [a.status for a in answers] == [200, 200, 429]
    assert answers[2].json()["error"] == "E-EGRESS-RATE"
    assert answers[2].json()["rule"] == "slow-api"
    assert int(answers[2].headers["retry-after"]) >= 1
    assert origins.http.targets() == ["/n0", "/n1"]
    events = egress_events(enc)
    assert [(e.status, e.code) for e in events] == [
        (200, "allowed"),
        (200, "allowed"),
        (429, "E-EGRESS-RATE"),
    ]
    assert events[2].outcome == "denied"


def test_a_rate_limit_counts_each_request_on_one_kept_alive_connection(
    origins, enclose
):
    enc = enclose({"rules": [local(origins.http.port, rate="2/minute")]})
    urls = [origins.http.url(f"/k{i}") for i in range(3)]
    with enc.start_run(task="t") as run:
        out = run.workspace.exec([*CURL, *urls]).stdout  # one connection, reused
    assert statuses(out) == [200, 200, 429]
    assert origins.http.targets() == ["/k0", "/k1"]
    assert origins.http.connections == 1
    assert [e.code for e in egress_events(enc)] == [
        "allowed",
        "allowed",
        "E-EGRESS-RATE",
    ]


# --- 3. HTTPS: tunnels and interception -------------------------------------------


def test_a_host_only_https_rule_is_a_tunnel_where_the_client_checks_the_origin(
    origins, enclose
):
    enc = enclose(
        {"rules": [local(origins.https.port, name="tls")]},
        filesystem={"read": [str(origins.ca_file.parent)]},
    )
    cacert = str(origins.ca_file)
    with enc.start_run(task="t") as run:
        # Trusting only the origin's own CA works: the proxy never touched TLS.
        own = curl(run, origins.https.url("/own"), "--cacert", cacert)
        # Trusting only the run's CA fails: this is not the proxy's certificate.
        run_ca = curl(run, origins.https.url("/run-ca"), "--cacert", CA_PATH)
        python = run.workspace.exec(
            [
                PYTHON,
                "-c",
                (
                    "import ssl, sys, urllib.request\n"
                    "ctx = ssl.create_default_context(cafile=sys.argv[2])\n"
                    "print(urllib.request.urlopen(sys.argv[1], context=ctx,"
                    " timeout=5).read().decode())"
                ),
                origins.https.url("/python"),
                cacert,
            ]
        )
    assert own.status == 200
    assert own.json()["target"] == "/own"
    assert run_ca.status == 0
    assert json.loads(python.stdout)["target"] == "/python"
    assert origins.https.targets() == ["/own", "/python"]
    events = egress_events(enc)
    assert [(e.method, e.scheme, e.path, e.status) for e in events] == [
        ("CONNECT", "tunnel", "", 200),
        ("CONNECT", "tunnel", "", 200),
        ("CONNECT", "tunnel", "", 200),
    ]
    assert all(e.rule == "tls" and e.bytes_up > 0 for e in events)
    assert all(e.bytes_down > 0 for e in events)
    # A tunnel ends when both sides have closed; if the command's end closes its
    # binding first, the record says the proxy cut it (a timing race, not a
    # failure: everything was relayed).
    assert {(e.outcome, e.code) for e in events} <= {
        ("allowed", "allowed"),
        ("error", "E-EGRESS-CLOSED"),
    }


def test_an_https_rule_with_methods_is_terminated_with_the_run_ca(origins, enclose):
    enc = enclose(
        {"rules": [local(origins.https.port, name="tls-get", methods=["GET"])]},
        filesystem={"read": [str(origins.ca_file.parent)]},
    )
    with enc.start_run(task="t") as run:
        got = curl(run, origins.https.url("/get"))  # trusts CURL_CA_BUNDLE
        status, body = urllib_get(run, origins.https.url("/urllib"))  # SSL_CERT_FILE
        posted = curl(run, origins.https.url("/post"), "-X", "POST")
        origin_ca_only = curl(
            run, origins.https.url("/pinned"), "--cacert", str(origins.ca_file)
        )
    assert got.status == 200
    assert got.json()["target"] == "/get"
    assert (status, json.loads(body)["target"]) == (200, "/urllib")
    assert posted.status == 403
    assert posted.json()["reason"] == "rule 'tls-get' allows GET, not POST"
    assert origin_ca_only.status == 0  # the leaf comes from the run's CA
    assert origins.https.targets() == ["/get", "/urllib"]
    events = egress_events(enc)
    requests = [(e.method, e.scheme, e.path, e.status) for e in events]
    assert requests == [
        ("GET", "https", "/get", 200),
        ("GET", "https", "/urllib", 200),
        ("POST", "https", "/post", 403),
        ("CONNECT", "https", "", 200),
    ]
    assert events[3].outcome == "error"
    # The client's TLS alert, unless the command's end cut the tunnel first.
    assert events[3].code in {"E-EGRESS-CLIENT-TLS", "E-EGRESS-CLOSED"}


# --- 4. credentials and the leak sweep --------------------------------------------


def secret_forms(secret: str, user: str = "bot") -> set[bytes]:
    raw = secret.encode()
    return {
        raw,
        base64.b64encode(raw),
        base64.b64encode(f"{user}:{secret}".encode()).rstrip(b"="),
        quote(secret, safe="").encode(),
    }


def assert_nowhere(forms: set[bytes], where: str, data: bytes | str) -> None:
    blob = data.encode() if isinstance(data, str) else data
    found = [form for form in forms if form in blob]
    assert not found, f"the secret is in {where}"


INJECTIONS = {
    "header": {"header": "Authorization", "format": "Bearer {secret}"},
    "api-key header": {"header": "X-Api-Key"},
    "basic": {"basic_username": "bot"},
    "query": {"query": "api_key"},
}


def assert_sent(seen: list[Seen], secret: str, how: str) -> None:
    """The origin got the secret each time, in the form the credential says."""
    expected = {
        "header": f"Bearer {secret}",
        "basic": "Basic " + base64.b64encode(f"bot:{secret}".encode()).decode(),
    }
    for request in seen:
        if how == "query":
            assert request.target.endswith(f"api_key={secret}")
        elif how == "api-key header":
            assert request.headers["x-api-key"] == secret
        else:
            assert request.headers["authorization"] == expected[how]


CANARY = "canary-5e1f0c"
SWEEP = rf"""
echo {CANARY} > /tmp/canary.txt
cat /proc/self/environ /proc/1/environ; echo
for p in /proc/[0-9]*; do cat $p/environ $p/cmdline 2>/dev/null; done; echo
cat {CA_PATH}; echo
grep -rlF -f /dev/stdin /etc /tmp /run /var /home /opt /srv /dev/shm 2>/dev/null |
    sed 's/^/FOUND:/'
echo swept
"""
"""Dumps what the sandbox can see, and greps every writable or small tree for the
patterns on stdin: the secret, and a canary it plants to prove the grep works."""


@pytest.mark.parametrize("how", sorted(INJECTIONS))
def test_a_credential_is_injected_on_the_wire_and_appears_nowhere_else(
    origins, enclose, tmp_path, monkeypatch, caplog, how
):
    caplog.set_level(logging.DEBUG)
    secret = f"sk-test-{secrets.token_hex(16)}"
    forms = secret_forms(secret)
    monkeypatch.setenv(SECRET_VAR, secret)
    inject = INJECTIONS[how]
    out = tmp_path / "out"
    out.mkdir()
    enc = enclose(
        {
            "rules": [local(origins.https.port, name="api", credential="token")],
            "log_bodies": True,
        },
        credentials={"token": {"source": f"env:{SECRET_VAR}", "inject": inject}},
        tools={"fetcher": FETCHER},
        filesystem={"write": [str(out)]},
    )
    with enc.start_run(task="t") as run:
        tool = run.call("fetcher", {"url": origins.https.url("/tool")})
        agent = run.workspace.exec(
            [*CURL, "-o", str(out / "answer.txt"), origins.https.url("/agent?q=1")]
        )
        saved = run.workspace.exec(["cat", str(out / "answer.txt")])
        status, python_body = urllib_get(run, origins.https.url("/python"))
        sweep = run.workspace.exec(
            ["sh", "-c", SWEEP], input=f"{secret}\n{CANARY}\n".encode()
        )
        egress = run.workspace.egress
        assert egress is not None
        on_host = [p.read_bytes() for p in egress._dir.rglob("*") if p.is_file()]
        events_during = [e.event.model_dump_json() for e in enc.log.events()]

    # It was on the wire to the origin, each time, in the form asked for.
    assert len(origins.https.seen) == 3
    assert_sent(origins.https.seen, secret, how)

    # The echo came back with it stripped, to the tool, the agent and its file.
    assert tool.status == "executed"
    answer = parse(tool.value["stdout"])
    assert answer.status == 200
    assert "[REDACTED:token]" in answer.body
    assert_nowhere(forms, "the tool's result", json.dumps(tool.value))
    assert_nowhere(forms, "the agent's stdout", agent.stdout)
    assert_nowhere(forms, "the agent's stderr", agent.stderr)
    assert "[REDACTED:token]" in saved.stdout.decode()
    assert_nowhere(forms, "the file the agent wrote", saved.stdout)
    assert status == 200
    assert "[REDACTED:token]" in python_body
    assert_nowhere(forms, "what urllib read", python_body)

    # The sandbox never held it: environment, command lines, CA bundle, files.
    assert_swept_clean(forms, sweep.stdout)
    for data in on_host:
        assert_nowhere(forms, "the CA bundle folder", data)

    # Nor the log: events, the database files (WAL too), the quarantine.
    events = egress_events(enc)
    assert len(events) == 3
    assert {e.credential for e in events} == {"token"}
    assert all(e.request_headers is not None for e in events)
    for text in events_during:
        assert_nowhere(forms, "the decision log's events", text)
    home = tmp_path / "home"
    assert_home_clean(forms, enc, home)
    assert any(p.name == "answer.txt" for p in (home / "quarantine").rglob("*"))
    for record in caplog.records:
        assert_nowhere(forms, "a log message", record.getMessage())
        if record.exc_info:
            trace = logging.Formatter().formatException(record.exc_info)
            assert_nowhere(forms, "a logged traceback", trace)
    enc.close()
    for path in (p for p in home.rglob("*") if p.is_file()):
        assert_nowhere(forms, f"{path.name} after close", path.read_bytes())


def assert_swept_clean(forms: set[bytes], swept: bytes) -> None:
    """What ``SWEEP`` printed: it ran through, grepped, and saw no secret."""
    assert swept.rstrip().endswith(b"swept")
    found = [line for line in swept.splitlines() if line.startswith(b"FOUND:")]
    assert found == [b"FOUND:/tmp/canary.txt"]
    assert b"BEGIN CERTIFICATE" in swept
    assert_nowhere(forms, "the sandbox (environ, cmdline, files)", swept)


def assert_home_clean(forms: set[bytes], enc: Enclosure, home: Path) -> None:
    """No event, and no byte of any file under ``home``, holds a secret form."""
    for stored in enc.log.events():
        assert_nowhere(
            forms, "the decision log's events", stored.event.model_dump_json()
        )
    files = [p for p in home.rglob("*") if p.is_file()]
    assert any(p.name == "enclosure.db" for p in files)
    for path in files:
        assert_nowhere(forms, str(path.relative_to(home)), path.read_bytes())


def bearer_enclosure(enclose: Callable[..., Enclosure], port: int) -> Enclosure:
    """A run whose requests to ``localhost:port`` carry ``$SECRET_VAR`` as a bearer."""
    inject = {"header": "Authorization", "format": "Bearer {secret}"}
    return enclose(
        {"rules": [local(port, credential="token")]},
        credentials={"token": {"source": f"env:{SECRET_VAR}", "inject": inject}},
    )


def test_a_compressed_echo_cannot_carry_the_secret_past_the_stripper(
    origins, enclose, monkeypatch
):
    secret = f"sk-test-{secrets.token_hex(16)}"
    monkeypatch.setenv(SECRET_VAR, secret)
    enc = bearer_enclosure(enclose, origins.https.port)
    with enc.start_run(task="t") as run:
        # --compressed: the client asks for gzip and would decode it itself.
        asked = curl(run, origins.https.url("/echo"), "--compressed")
        forced = curl(run, origins.https.url("/always-gzip"), "--compressed")
    first, second = origins.https.seen
    assert first.headers["authorization"] == f"Bearer {secret}"
    assert first.headers["accept-encoding"] == "identity"
    assert asked.status == 200
    assert "[REDACTED:token]" in asked.body
    assert secret not in asked.body
    # An origin that compresses anyway is refused: the body cannot be checked.
    assert second.headers["accept-encoding"] == "identity"
    assert forced.status == 502
    assert forced.json()["error"] == "E-EGRESS-UPSTREAM"
    assert secret not in forced.body
    events = egress_events(enc)
    assert [(e.status, e.code) for e in events] == [
        (200, "allowed"),
        (502, "E-EGRESS-UPSTREAM"),
    ]


@pytest.mark.parametrize("case", ["malformed upstream answer", "unsendable secret"])
def test_a_protocol_error_does_not_carry_the_secret_into_the_sandbox(
    origins, enclose, monkeypatch, case
):
    secret = f"sk-test-{secrets.token_hex(16)}"
    path = "/malformed"
    if case == "unsendable secret":
        # Fetched and accepted by the broker, but no valid header value for h11.
        secret, path = f"{secret} ", "/echo"
    monkeypatch.setenv(SECRET_VAR, secret)
    enc = bearer_enclosure(enclose, origins.https.port)
    with enc.start_run(task="t") as run:
        answer = curl(run, origins.https.url(path))
    assert answer.status == 502
    assert answer.json()["error"] == "E-EGRESS-UPSTREAM"
    assert secret.strip() not in answer.body
    (event,) = egress_events(enc)
    assert event.code == "E-EGRESS-UPSTREAM"
    assert secret.strip() not in event.model_dump_json()


def test_a_credential_outside_its_tools_is_refused_before_it_is_fetched(
    origins, enclose, monkeypatch
):
    secret = f"sk-test-{secrets.token_hex(16)}"
    monkeypatch.setenv(SECRET_VAR, secret)
    enc = enclose(
        {"rules": [local(origins.https.port, name="api", credential="token")]},
        credentials={
            "token": {
                "source": f"env:{SECRET_VAR}",
                "inject": {"header": "X-Api-Key"},
                "tools": ["fetcher"],
            }
        },
        tools={"fetcher": FETCHER},
    )
    with enc.start_run(task="t") as run:
        refused = curl(run, origins.https.url("/agent"))
        egress = run.workspace.egress
        assert egress is not None
        assert egress.broker is not None
        assert egress.broker.secrets() == []  # never materialised
        allowed = run.call("fetcher", {"url": origins.https.url("/tool")})
    assert refused.status == 403
    assert refused.json()["error"] == "E-CREDENTIAL-SCOPE"
    assert refused.json()["rule"] == "api"
    assert secret not in refused.body
    assert parse(allowed.value["stdout"]).status == 200
    assert [s.target for s in origins.https.seen] == ["/tool"]
    assert origins.https.seen[0].headers["x-api-key"] == secret
    events = egress_events(enc)
    assert [(e.principal, e.code) for e in events] == [
        ("agent", "E-CREDENTIAL-SCOPE"),
        ("fetcher", "allowed"),
    ]


# --- 5. kill during an open connection --------------------------------------------


@pytest.mark.parametrize(("scheme", "who"), [("http", "fetcher"), ("https", "agent")])
def test_killing_the_run_cuts_an_open_connection(origins, enclose, scheme, who):
    origin = origins.http if scheme == "http" else origins.https
    enc = enclose(
        {"rules": [local(origin.port)]},
        tools={"fetcher": FETCHER},
    )
    run = enc.start_run(task="t")
    url = origin.url("/hold")
    done: list[Any] = []

    def work() -> None:
        if who == "agent":  # a plain tunnel: the client does not check the cert
            done.append(run.workspace.exec([*CURL, "--insecure", url]))
        else:
            done.append(run.call("fetcher", {"url": url}))

    worker = threading.Thread(target=work)
    worker.start()
    try:
        assert origin.holding.wait(WAIT_S), "the request never reached the origin"
        run.kill("test")
        worker.join(WAIT_S)
        assert not worker.is_alive(), "the command outlived the kill"
        assert origin.closed.wait(WAIT_S), "the origin's connection stayed open"
    finally:
        worker.join(HOLD_S)
    (outcome,) = done
    if who == "agent":
        assert not outcome.ok
    else:
        assert outcome.status == "failed"
        assert outcome.error.code == "E-SANDBOX-LIMIT"
    assert run.status == "killed"
    (event,) = egress_events(enc)
    if scheme == "http":  # the proxy waits on the origin: only the cut ends it
        assert (event.outcome, event.code) == ("error", "E-EGRESS-CLOSED")
    else:  # a tunnel may see the killed client's EOF first and end cleanly
        assert (event.outcome, event.code) in {
            ("error", "E-EGRESS-CLOSED"),
            ("allowed", "allowed"),
        }
    assert event.principal == who
    if who == "fetcher":
        assert event.call_id == outcome.receipt.call_id
    assert event.method == ("GET" if scheme == "http" else "CONNECT")
    # The cut request is on record before the run's end.
    kinds = [e.event.kind for e in enc.log.events(run_id=run.id)]
    assert kinds.index("egress") < kinds.index("run_ended")


# --- 6. containment ---------------------------------------------------------------

ESCAPES = """
import json, socket, sys
port, abstract = int(sys.argv[1]), sys.argv[2]
def attempt(family, address, kind=socket.SOCK_STREAM):
    try:
        with socket.socket(family, kind) as sock:
            sock.settimeout(3)
            sock.connect(address)
            if kind == socket.SOCK_DGRAM:
                sock.send(b"x")
                sock.recv(1)
        return "connected"
    except OSError as exc:
        return type(exc).__name__
def resolve(name):
    try:
        return str(socket.getaddrinfo(name, 80))
    except OSError as exc:
        return type(exc).__name__
print(json.dumps({
    "public_ip": attempt(socket.AF_INET, ("1.1.1.1", 80)),
    "public_ipv6": attempt(socket.AF_INET6, ("2606:4700:4700::1111", 80)),
    "host_loopback": attempt(socket.AF_INET, ("127.0.0.1", port)),
    "host_loopback_v6": attempt(socket.AF_INET6, ("::1", port)),
    "host_udp_dns": attempt(socket.AF_INET, ("127.0.0.53", 53), socket.SOCK_DGRAM),
    "abstract_unix": attempt(socket.AF_UNIX, "\\0" + abstract),
    "dns": resolve("example.com"),
    "dns_localhost_origin": attempt(socket.AF_INET, ("localhost", port)),
}))
"""


def test_nothing_but_the_proxy_is_reachable_from_inside(origins, enclose):
    port = origins.http.port
    abstract = f"enclosure-egress-test-{secrets.token_hex(4)}"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind("\0" + abstract)
    listener.listen()
    enc = enclose({"rules": [local(port)]})
    try:
        with enc.start_run(task="t") as run:
            out = run.workspace.exec([PYTHON, "-c", ESCAPES, str(port), abstract])
            noproxy = curl(run, origins.http.url("/direct"), "--noproxy", "*")
            env_off = run.workspace.exec(
                ["env", "-i", "PATH=/usr/bin", *CURL, origins.http.url("/unset")]
            )
            proxied = curl(run, origins.http.url("/proxied"))
    finally:
        listener.close()
    tried = json.loads(out.stdout)
    assert tried["dns"] == "gaierror"
    for what, outcome in tried.items():
        assert outcome != "connected", f"{what} reached something"
    assert noproxy.status == 0
    assert parse(env_off.stdout).status == 0
    assert proxied.status == 200  # the way out that exists still works
    assert origins.http.targets() == ["/proxied"]
    assert origins.http.connections == 1
    assert len(egress_events(enc)) == 1


@pytest.mark.skipif(shutil.which("node") is None, reason="no node here")
def test_node_fetch_ignores_the_proxy_variables_and_so_has_no_network(origins, enclose):
    version = subprocess.run(
        ["node", "--version"], capture_output=True, text=True, check=True
    ).stdout
    honours_proxy = int(version.lstrip("v").split(".")[0]) >= 24
    script = (
        "fetch(process.argv[1], {signal: AbortSignal.timeout(5000)})"
        ".then(async r => console.log(r.status, await r.text()),"
        " e => console.log(0, (e.cause && e.cause.code) || e.name))"
    )
    enc = enclose({"rules": [local(origins.http.port)]})
    with enc.start_run(task="t") as run:
        out = run.workspace.exec(["node", "-e", script, origins.http.url("/node")])
    status, _, body = out.stdout.decode().strip().partition(" ")
    if honours_proxy:
        assert status == "200"
        assert origins.http.targets() == ["/node"]
        assert len(egress_events(enc)) == 1
    else:
        assert (status, body) == ("0", "ECONNREFUSED"), out
        assert origins.http.seen == []
        assert origins.http.connections == 0
        assert egress_events(enc) == []


@pytest.mark.parametrize(
    ("rule", "url", "code"),
    [
        # A name that resolves to loopback, without allow_private.
        ({"host": "localhost"}, "http://localhost:{port}/", "E-EGRESS-SSRF"),
        ({"host": "localhost"}, "http://localhost.:{port}/", "E-EGRESS-SSRF"),
        ({"host": "localhost"}, "http://LOCALHOST:{port}/", "E-EGRESS-SSRF"),
        # IP literals no rule names, however they are spelt.
        ({"host": "localhost"}, "http://127.0.0.1:{port}/", "E-EGRESS-DENIED"),
        ({"host": "localhost"}, "http://[::1]:{port}/", "E-EGRESS-DENIED"),
        (
            {"host": "localhost"},
            "http://[::ffff:127.0.0.1]:{port}/",
            "E-EGRESS-DENIED",
        ),
        (
            {"host": "localhost", "allow_private": True},
            "http://[::ffff:7f00:1]:{port}/",
            "E-EGRESS-DENIED",
        ),
        (
            {"host": "localhost", "allow_private": True},
            "http://169.254.169.254/latest/meta-data/",
            "E-EGRESS-DENIED",
        ),
        # A rule that names the metadata address still does not open it.
        (
            {"host": "169.254.169.254", "ports": [80]},
            "http://169.254.169.254/latest/meta-data/",
            "E-EGRESS-SSRF",
        ),
        (
            {"host": "127.0.0.1"},
            "http://127.0.0.1:{port}/",
            "E-EGRESS-SSRF",
        ),
    ],
)
def test_ssrf_through_the_proxy_fails_closed(origins, enclose, rule, url, code):
    port = origins.http.port
    enc = enclose({"rules": [{"ports": [port], **rule}]})
    with enc.start_run(task="t") as run:
        answer = curl(run, url.format(port=port), "--path-as-is")
    assert answer.status == 403, answer
    assert answer.json()["error"] == code
    assert origins.http.connections == 0
    (event,) = egress_events(enc)
    assert (event.outcome, event.code, event.address) == ("denied", code, None)


class _Resolver:
    """DNS for the proxy: ``NAME.test`` answers from ``ANSWERS``, the rest fail."""

    ANSWERS: ClassVar[dict[str, list[str]]] = {
        "dual.test": ["127.0.0.2", "127.0.0.1"],  # the first refuses connections
        "mixed.test": ["93.184.215.14", "127.0.0.1"],
        "granted.test": ["127.0.0.1"],  # a "public" name that resolves privately
    }

    async def resolve(self, host: str, port: int) -> list[Any]:
        if host not in self.ANSWERS:
            raise EgressRefused(
                f"cannot resolve {host}", code="E-EGRESS-DNS", status=502
            )
        return [ipaddress.ip_address(a) for a in self.ANSWERS[host]]


def test_a_name_with_a_private_answer_among_public_ones_is_refused_whole(
    origins, enclose, monkeypatch
):
    monkeypatch.setattr("enclosure.egress._proxy.SystemResolver", _Resolver)
    port = origins.http.port
    enc = enclose({"rules": [{"host": "mixed.test", "ports": [port]}]})
    with enc.start_run(task="t") as run:
        answer = curl(run, f"http://mixed.test:{port}/")
    assert answer.status == 403
    assert answer.json()["error"] == "E-EGRESS-SSRF"
    (event,) = egress_events(enc)
    assert (event.code, event.address) == ("E-EGRESS-SSRF", None)


def test_when_the_first_checked_address_refuses_the_next_one_is_tried(
    origins, enclose, monkeypatch
):
    monkeypatch.setattr("enclosure.egress._proxy.SystemResolver", _Resolver)
    port = origins.http.port
    enc = enclose({"rules": [local(port, host="dual.test")]})
    with enc.start_run(task="t") as run:
        answer = curl(run, f"http://dual.test:{port}/fallback")
    (event,) = egress_events(enc)
    assert (event.status, event.address) == (200, "127.0.0.1"), event.reason
    assert answer.status == 200
    assert origins.http.targets() == ["/fallback"]


def request(
    target: str, host: str, *headers: str, body: bytes = b"", method: str = "GET"
) -> bytes:
    """A raw request; ``host`` is its Host header (HTTP/1.1 requires one)."""
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}", *headers, "", ""]
    return "\r\n".join(lines).encode() + body


BAD = (400, "E-EGRESS-BAD-REQUEST")
DENIED = (403, "E-EGRESS-DENIED")
OK = (200, "allowed")


def attacks(port: int) -> dict[str, tuple[bytes, list[tuple[int, str]]]]:
    """Raw requests a hostile program might send the proxy, and what it must answer.

    The rule opens ``localhost:port`` for ``/public/**`` only; each attack tries to
    reach ``/secret``, or somewhere else, anyway. The expected answers are the
    statuses and codes of the proxy's responses (and of its events), in order.
    """
    origin = f"localhost:{port}"
    base = f"http://{origin}"
    smuggled = f"GET {base}/secret HTTP/1.1\r\nHost: {origin}\r\n\r\n".encode()
    chunked_then_smuggled = b"0\r\n\r\n" + smuggled

    def post(*headers: str, body: bytes) -> bytes:
        return request(f"{base}/public/a", origin, *headers, body=body, method="POST")

    def literal(host: str) -> bytes:
        return request(f"http://{host}:{port}/public/x", f"{host}:{port}")

    return {
        # The host a rule names, and nothing that merely resolves to the same place.
        "ip shorthand 127.1": (literal("127.1"), [DENIED]),
        "decimal ip": (literal("2130706433"), [DENIED]),
        "hex ip": (literal("0x7f000001"), [DENIED]),
        "octal ip": (literal("0177.0.0.1"), [DENIED]),
        "ipv6 zone id": (literal("[fe80::1%25lo]"), [DENIED]),
        "host header differs": (
            request("http://evil.test/public/x", origin),
            [DENIED],
        ),
        "userinfo": (
            request(f"http://{origin}@evil.test/public/x", "evil.test"),
            [BAD],
        ),
        "userinfo before the real host": (
            request(f"http://evil.test@{origin}/public/x", origin),
            [BAD],
        ),
        "backslash authority": (
            request(f"http://evil.test\\@{origin}/public/x", origin),
            [BAD],
        ),
        "origin form": (request("/secret", origin), [BAD]),
        "unsupported scheme": (request(f"ftp://{origin}/public/x", origin), [BAD]),
        "connect to an unlisted port": (
            request("localhost:22", "localhost:22", method="CONNECT"),
            [DENIED],
        ),
        "connect to the ip literal": (
            request(f"127.0.0.1:{port}", f"127.0.0.1:{port}", method="CONNECT"),
            [DENIED],
        ),
        "connect to another host": (
            request(f"evil.test:{port}", f"evil.test:{port}", method="CONNECT"),
            [DENIED],
        ),
        # Request smuggling: the proxy parses every request itself and decides each
        # one it parses, so a smuggled request is at worst a refused request.
        "cl.te": (
            post(
                f"Content-Length: {len(chunked_then_smuggled)}",
                "Transfer-Encoding: chunked",
                body=chunked_then_smuggled,
            ),
            [BAD, DENIED],
        ),
        # Content-Length 0 is a length too: forwarded beside the chunked body, an
        # origin that honours it would read the chunk as a request of its own.
        "cl0.te": (
            post(
                "Content-Length: 0",
                "Transfer-Encoding: chunked",
                body=b"%x\r\n" % len(smuggled) + smuggled + b"\r\n0\r\n\r\n",
            ),
            [BAD],
        ),
        "te obfuscated": (
            post(
                "Content-Length: 5",
                "Transfer-Encoding: xchunked",
                body=chunked_then_smuggled,
            ),
            [BAD],
        ),
        "te twice": (
            post(
                "Transfer-Encoding: chunked",
                "Transfer-Encoding: identity",
                body=chunked_then_smuggled,
            ),
            [BAD],
        ),
        "te space before colon": (
            post(
                "Transfer-Encoding : chunked",
                "Content-Length: 5",
                body=chunked_then_smuggled,
            ),
            [BAD],
        ),
        "two content lengths": (
            post(
                "Content-Length: 0", f"Content-Length: {len(smuggled)}", body=smuggled
            ),
            [BAD],
        ),
        "signed content length": (
            post(f"Content-Length: +{len(smuggled)}", body=smuggled),
            [BAD],
        ),
        "folded transfer-encoding": (
            post(
                "X-Folded: a",
                " Transfer-Encoding: chunked",
                "Content-Length: 5",
                body=chunked_then_smuggled,
            ),
            [OK, DENIED],
        ),
        "pipelined": (request(f"{base}/public/a", origin) + smuggled, [OK, DENIED]),
        "crlf in the target": (
            f"GET {base}/public/a\r\nX: y HTTP/1.1\r\n\r\n".encode(),
            [BAD],
        ),
        "nul in a header": (
            request(f"{base}/public/a", origin, "X-Evil: a\x00b"),
            [BAD],
        ),
        "websocket upgrade": (
            request(
                f"{base}/public/ws",
                origin,
                "Connection: Upgrade",
                "Upgrade: websocket",
            ),
            [(403, "E-EGRESS-UNSUPPORTED")],
        ),
        "h2c upgrade": (
            request(
                f"{base}/public/ws",
                origin,
                "Connection: Upgrade, HTTP2-Settings",
                "Upgrade: h2c",
                "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA",
            ),
            [(403, "E-EGRESS-UNSUPPORTED")],
        ),
        "tls without connect": (
            b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + b"\0" * 40,
            [BAD],
        ),
        "socks5": (b"\x05\x01\x00", [BAD]),
    }


@pytest.mark.parametrize("name", sorted(attacks(1)))
def test_hostile_requests_to_the_proxy_fail_closed(origins, enclose, name):
    port = origins.http.port
    enc = enclose({"rules": [local(port, name="public", paths=["/public/**"])]})
    payload, expected = attacks(port)[name]
    with enc.start_run(task="t") as run:
        answer = raw(run, payload)
    assert statuses(answer) == [status for status, _ in expected], answer
    events = egress_events(enc)
    assert [(e.status, e.code) for e in events] == expected
    assert {e.principal for e in events} == {"agent"}
    # Whatever reached the origin was decided and logged as allowed, one for one.
    assert origins.http.targets() == ["/public/a"] * expected.count(OK)


RAW_TLS = r"""
import socket, ssl, sys
host, port, proxy = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
data = sys.stdin.buffer.read()
out = b""
try:
    sock = socket.create_connection(("127.0.0.1", proxy), timeout=5)
    authority = f"{host}:{port}"
    sock.sendall(f"CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n".encode())
    while not out.endswith(b"\r\n\r\n"):
        byte = sock.recv(1)  # one at a time: no byte of TLS is read here
        if not byte:
            raise ConnectionResetError
        out += byte
    out += b"--tls--"
    tls = ssl.create_default_context().wrap_socket(sock, server_hostname=host)
    tls.sendall(data)
    while chunk := tls.recv(65536):
        out += chunk
except OSError as exc:
    out += b"<" + type(exc).__name__.encode() + b">"
sys.stdout.buffer.write(out)
"""


def tls_attacks(port: int) -> dict[str, tuple[bytes, list[tuple[int, str]]]]:
    """Requests sent inside an intercepted tunnel to ``localhost:port``."""
    origin = f"localhost:{port}"
    close = "Connection: close"

    def get(target: str, host: str = origin) -> bytes:
        return request(target, host, close)

    return {
        "absolute form to another host": (
            request("http://evil.test/public/x", "evil.test", close),
            [BAD],
        ),
        "host header names another host": (get("/public/x", "evil.test"), [OK]),
        "dot segments": (get("/public/../secret"), [DENIED]),
        "escaped dot segments": (get("/public/%2e%2e/secret"), [DENIED]),
        "escaped slash": (get("/public%2F..%2Fsecret"), [DENIED]),
        "pipelined": (request("/public/a", origin) + get("/secret"), [OK, DENIED]),
        "cl.te": (
            request(
                "/public/a",
                origin,
                "Content-Length: 30",
                "Transfer-Encoding: chunked",
                body=b"0\r\n\r\n" + get("/secret"),
                method="POST",
            ),
            [BAD, DENIED],
        ),
    }


@pytest.mark.parametrize("name", sorted(tls_attacks(1)))
def test_hostile_requests_inside_an_intercepted_tunnel_fail_closed(
    origins, enclose, name
):
    port = origins.https.port
    enc = enclose({"rules": [local(port, name="public", paths=["/public/**"])]})
    payload, expected = tls_attacks(port)[name]
    with enc.start_run(task="t") as run:
        answer = tls_exchange(run, port, payload)
    assert statuses(answer) == [status for status, _ in expected], answer
    events = egress_events(enc)
    assert [(e.status, e.code) for e in events] == expected
    # Each is logged as a request to the tunnel's origin, refused or not.
    assert {(e.scheme, e.host, e.port) for e in events} == {
        ("https", "localhost", port)
    }
    seen = origins.https.seen
    assert len(seen) == expected.count(OK)
    for s in seen:
        assert s.target.startswith("/public/")
        assert s.headers["host"] == f"localhost:{port}"


def tls_exchange(run: Any, port: int, payload: bytes) -> bytes:
    """``payload`` inside an intercepted tunnel to ``localhost:port``; the answer."""
    out: bytes = run.workspace.exec(
        [PYTHON, "-c", RAW_TLS, "localhost", str(port), str(PROXY_PORT)],
        input=payload,
    ).stdout
    connected, _, answer = out.partition(b"--tls--")
    assert statuses(connected) == [200]
    return answer


def test_a_different_host_header_does_not_change_where_a_request_goes(origins, enclose):
    port = origins.http.port
    enc = enclose({"rules": [local(port)]})
    with enc.start_run(task="t") as run:
        answer = curl(run, origins.http.url("/x"), "-H", "Host: evil.test")
    assert answer.status == 200
    assert origins.http.seen[0].headers["host"] == f"localhost:{port}"
    (event,) = egress_events(enc)
    assert event.host == "localhost"


# --- 7. no network section --------------------------------------------------------


def test_a_run_without_network_rules_has_no_proxy_and_no_network(origins, enclose):
    enc = enclose(None)
    with enc.start_run(task="t") as run:
        env = run.workspace.exec(["env"]).stdout.decode()
        proxied = run.workspace.exec(
            [*CURL, "-x", f"http://127.0.0.1:{PROXY_PORT}", origins.http.url("/a")]
        )
        direct = run.workspace.exec([*CURL, origins.http.url("/b")])
        bundle = run.workspace.exec(["cat", CA_PATH])
        assert run.workspace.egress is None
    assert "proxy" not in env.lower()
    assert CA_PATH not in env
    assert proxied.exit_code == 7  # couldn't connect
    assert direct.exit_code == 7
    assert bundle.exit_code != 0
    assert origins.http.connections == 0
    assert egress_events(enc) == []


# --- escalations: a host granted to one run ------------------------------------------


def grant_host(enc: Enclosure, run: Any, host: str, port: int) -> str:
    """Escalate ``host:port`` for ``run`` (started by ada); bob approves it."""
    body = HostEscalation(kind="host", host=host, ports=[port], justification="needed")
    approval = escalate(enc, run, body)
    enc.approvals.approve(approval.approval_id, by="bob")
    return approval.approval_id


def test_a_granted_host_is_reached_by_its_run_only_while_it_runs(origins, enclose):
    # The manifest opens the HTTPS origin's port on localhost (a private name it
    # allows); the escalation asks for the plain HTTP origin's port besides.
    enc = enclose({"rules": [local(origins.https.port, name="origin")]})
    url = origins.http.url
    run = enc.start_run(task="t", started_by="ada")
    other = enc.start_run(task="other", started_by="ada")
    before = curl(run, url("/before"))
    body = HostEscalation(
        kind="host", host="localhost", ports=[origins.http.port], justification="x"
    )
    pending = escalate(enc, run, body)
    while_pending = curl(run, url("/pending"))
    enc.approvals.approve(pending.approval_id, by="bob")
    mark = last_seq(enc)
    after = curl(run, url("/after"))
    elsewhere = curl(other, url("/elsewhere"))
    egress = RunEgress(run)  # what any proxy of this run would ask
    held = egress._grants(run.id)  # the proxy's own lookup
    run.end()
    ended = egress._grants(run.id)
    egress.close()
    other.end()
    with pytest.raises(UsageError) as exc:  # no program of the run runs any more
        curl(run, url("/ended"))
    assert exc.value.code == "E-RUN-ENDED"
    assert (before.status, while_pending.status) == (403, 403)
    assert before.json()["rule"] == "origin"
    assert after.status == 200
    assert after.json()["target"] == "/after"
    assert elsewhere.status == 403
    assert origins.http.targets() == ["/after"]
    granted, refused = egress_events(enc, mark)
    assert (granted.rule, granted.outcome) == (
        f"escalation.{pending.approval_id}",
        "allowed",
    )
    assert (refused.run_id, refused.outcome) == (other.id, "denied")
    assert enc.approvals.get(pending.approval_id).status == "consumed"
    assert [g.host for g in held] == ["localhost"]
    assert ended == ()


def test_a_granted_host_that_resolves_privately_is_still_refused(
    origins, enclose, monkeypatch
):
    monkeypatch.setattr("enclosure.egress._proxy.SystemResolver", _Resolver)
    port = origins.http.port
    enc = enclose({"rules": [local(origins.https.port)]})
    with enc.start_run(task="t", started_by="ada") as run:
        approval_id = grant_host(enc, run, "granted.test", port)
        answer = curl(run, f"http://granted.test:{port}/")
    assert answer.status == 403
    assert answer.json()["error"] == "E-EGRESS-SSRF"
    assert origins.http.connections == 0
    (event,) = egress_events(enc)
    assert (event.rule, event.code) == (f"escalation.{approval_id}", "E-EGRESS-SSRF")
