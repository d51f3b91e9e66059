"""Upstreams for real, and upstreams that fail.

Real peers: the published ``mcp-server-git`` (on a temporary repository) and
``mcp-server-fetch`` (its egress through the run's proxy to an HTTP origin on
loopback) from the Python package index, npm's ``server-filesystem`` and
``server-everything`` (installed by ``scripts/npm-peers``; skipped without Node),
all inside bubblewrap; and a streamable HTTP server reached by URL. Then the
failures: crash, hang, garble, refuse; sandboxed or not at all.
"""

from __future__ import annotations

import selectors
import shutil
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from enclosure.audit import EgressEvent
from enclosure.gateway import Gateway

pytestmark = pytest.mark.sandbox

TOOLS = """\
tools:
  echo: {effect: read}
  hang: {effect: read}
  crash: {effect: read}
  garble: {effect: read}
  fail: {effect: read}
"""


def code(result):
    return result.meta["enclosure"]["code"]


def test_a_crash_or_a_hang_fails_the_call_clearly_and_the_gateway_stays_up(h, make):
    enc = make(f"upstreams:\n  up: {h.fake(timeout=1)}\n" + TOOLS)

    async def main():
        async with h.connect(Gateway(enc)) as session:
            hung = await session.call_tool("hang", {})
            after_hang = await session.call_tool("echo", {"text": "still here"})
            crashed = await session.call_tool("crash", {})
            restarted = await session.call_tool("echo", {"text": "back"})
            failed = await session.call_tool("fail", {})
            return hung, after_hang, crashed, restarted, failed

    hung, after_hang, crashed, restarted, failed = h.run(main)
    assert code(hung) == "E-UPSTREAM-TIMEOUT"
    assert h.text(after_hang) == "still here"
    assert code(crashed) == "E-UPSTREAM-CRASHED"
    assert "status 3" in h.text(crashed)
    assert h.text(restarted) == "back"  # started again on demand
    assert failed.is_error  # the upstream's own tool error passes through
    results = [s.event for s in enc.log.events(kinds=("result",))]
    assert [r.error.code if r.error else None for r in results] == [
        "E-UPSTREAM-TIMEOUT",
        None,
        "E-UPSTREAM-CRASHED",
        None,
        "E-UPSTREAM-TOOL-ERROR",
    ]


def test_an_upstream_that_writes_garbage_is_stopped_and_restarted(h, make):
    enc = make(f"upstreams:\n  up: {h.fake()}\n" + TOOLS)

    async def main():
        async with h.connect(Gateway(enc)) as session:
            garbled = await session.call_tool("garble", {})
            again = await session.call_tool("echo", {"text": "fine"})
            return garbled, again

    garbled, again = h.run(main)
    assert code(garbled) == "E-UPSTREAM-PROTOCOL"
    assert "not JSON" in h.text(garbled)
    assert h.text(again) == "fine"


def test_an_upstream_that_cannot_be_sandboxed_is_not_started(h, make, monkeypatch):
    monkeypatch.setenv("ENCLOSURE_BWRAP", "/nonexistent/bwrap")
    enc = make(f"upstreams:\n  up: {h.fake()}\n" + TOOLS)

    async def main():
        async with h.connect(Gateway(enc)) as session:
            listed = (await session.list_tools()).tools
            return listed, await session.call_tool("echo", {"text": "x"})

    listed, answer = h.run(main)
    assert listed == []
    assert code(answer) == "E-UPSTREAM-SANDBOX"
    assert "sandbox: none" in h.text(answer)


def test_sandbox_none_runs_it_on_the_host_with_a_warning(h, make, monkeypatch):
    monkeypatch.setenv("ENCLOSURE_BWRAP", "/nonexistent/bwrap")
    enc = make(f"upstreams:\n  up: {h.fake(sandbox='none')}\n" + TOOLS)

    async def main():
        async with h.connect(Gateway(enc)) as session:
            return await session.call_tool("echo", {"text": "on the host"})

    assert h.text(h.run(main)) == "on the host"
    alerts = [s.event for s in enc.log.events(kinds=("alert",))]
    assert any(a.rule == "upstreams.sandbox" for a in alerts)


# --- real peers ----------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]
NPM = ROOT / ".cache" / "npm"
NPM_SERVERS = NPM / "node_modules" / "@modelcontextprotocol"


def decisions(enc):
    return [
        (s.event.tool, s.event.disposition) for s in enc.log.events(kinds=("decision",))
    ]


def listed_and_called(h, enc, calls):
    """List the tools, then make each ``(tool, args)`` call, through the gateway."""

    async def main():
        async with h.connect(Gateway(enc)) as session:
            names = {t.name for t in (await session.list_tools()).tools}
            return names, [await session.call_tool(t, a) for t, a in calls]

    return h.run(main, limit=60)


def test_git_server_lists_what_is_declared_reads_and_is_refused_a_commit(
    h, make, tmp_path
):
    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-C", str(repo)]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    (repo / "notes.txt").write_text("hello\n", encoding="utf-8")
    subprocess.run([*git, "add", "notes.txt"], check=True)
    enc = make(
        f"""\
        upstreams:
          git: {{command: ['{h.bin / "mcp-server-git"}', --repository, '{repo}']}}
        tools:
          git_status: {{effect: read}}
          git_commit:
            effect: write
            rules: [{{then: deny, reason: the repository is read-only here}}]
        """,
        read=[str(tmp_path)],
    )
    names, (status, commit) = listed_and_called(
        h,
        enc,
        [
            ("git_status", {"repo_path": str(repo)}),
            ("git_commit", {"repo_path": str(repo), "message": "sneaky"}),
        ],
    )
    assert names == {"git_status", "git_commit"}  # the other dozen are not offered
    assert not status.is_error
    assert "notes.txt" in h.text(status)
    assert code(commit) == "E-DENIED"
    assert "read-only here" in h.text(commit)
    head = subprocess.run([*git, "rev-parse", "-q", "--verify", "HEAD"], check=False)
    assert head.returncode != 0  # no commit was made
    assert decisions(enc) == [("git_status", "dispatched"), ("git_commit", "blocked")]


class _Origin(BaseHTTPRequestHandler):
    seen: list[str]

    def do_GET(self) -> None:
        self.seen.append(self.path)
        body = b"words from the loopback origin\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        del args


@pytest.fixture
def origin():
    """A plain HTTP server on 127.0.0.1 and the paths it was asked for."""
    seen: list[str] = []
    handler = type("Origin", (_Origin,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], seen
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_fetch_server_reaches_an_allowed_origin_only_through_the_proxy(h, make, origin):
    port, seen = origin
    fetch = h.bin / "mcp-server-fetch"
    enc = make(
        f"""\
        upstreams:
          fetch: {{command: ['{fetch}', --ignore-robots-txt, --allow-private-ips]}}
        tools:
          fetch: {{effect: read}}
        network:
          rules:
            - {{name: origin, host: localhost, ports: [{port}], allow_private: true}}
        """
    )
    # Port 9 (discard) is on no rule: the proxy refuses it without connecting.
    names, (allowed, refused) = listed_and_called(
        h,
        enc,
        [
            ("fetch", {"url": f"http://localhost:{port}/page"}),
            ("fetch", {"url": "http://localhost:9/elsewhere"}),
        ],
    )
    assert names == {"fetch"}
    assert not allowed.is_error
    assert "words from the loopback origin" in h.text(allowed)
    assert refused.is_error
    assert seen == ["/page"]
    egress = [s.event for s in enc.log.events(kinds=("egress",))]
    assert all(isinstance(e, EgressEvent) and e.principal == "fetch" for e in egress)
    assert [(e.port, e.path, e.outcome) for e in egress] == [
        (port, "/page", "allowed"),
        (9, "/elsewhere", "denied"),
    ]
    assert egress[0].rule == "origin"


@pytest.fixture(scope="session")
def npm_servers() -> Path:
    """The npm servers, installed by ``scripts/npm-peers`` (a no-op once done)."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are not installed: no npm MCP servers to run")
    subprocess.run(
        [str(ROOT / "scripts" / "npm-peers")], check=True, stdout=subprocess.DEVNULL
    )
    return NPM_SERVERS


def node_server(npm_servers: Path, name: str, *args: str) -> str:
    argv = [shutil.which("node"), str(npm_servers / name / "dist" / "index.js"), *args]
    return "{command: [" + ", ".join(repr(a) for a in argv) + "]}"


def test_npm_filesystem_server_reads_and_is_refused_a_write(
    h, make, tmp_path, npm_servers
):
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "note.txt").write_text("a note", encoding="utf-8")
    server = node_server(npm_servers, "server-filesystem", str(shared))
    enc = make(
        f"""\
        upstreams:
          fs: {server}
        tools:
          read_text_file: {{effect: read}}
          write_file: {{effect: write, rules: [{{then: deny, reason: no writes}}]}}
        """,
        read=[str(NPM), str(shared)],
    )
    written = shared / "planted.txt"
    names, (read, write) = listed_and_called(
        h,
        enc,
        [
            ("read_text_file", {"path": str(shared / "note.txt")}),
            ("write_file", {"path": str(written), "content": "x"}),
        ],
    )
    assert names == {"read_text_file", "write_file"}
    assert not read.is_error
    assert "a note" in h.text(read)
    assert code(write) == "E-DENIED"
    assert not written.exists()
    assert decisions(enc) == [
        ("read_text_file", "dispatched"),
        ("write_file", "blocked"),
    ]


def test_npm_everything_server_echoes_simulates_and_denies(h, make, npm_servers):
    enc = make(
        f"""\
        upstreams:
          everything: {node_server(npm_servers, "server-everything", "stdio")}
        tools:
          echo: {{effect: read}}
          get-sum: {{effect: read, mode: simulate}}
          get-env: {{effect: read, rules: [{{then: deny, reason: env is private}}]}}
        """,
        read=[str(NPM)],
    )
    names, (echo, total, env) = listed_and_called(
        h,
        enc,
        [("echo", {"message": "hi"}), ("get-sum", {"a": 1, "b": 2}), ("get-env", {})],
    )
    assert names == {"echo", "get-sum", "get-env"}
    assert "hi" in h.text(echo)
    assert not total.is_error
    assert total.meta["enclosure"]["status"] == "simulated"
    assert code(env) == "E-DENIED"
    assert [d for _, d in decisions(enc)] == ["dispatched", "simulated", "blocked"]


@pytest.fixture
def http_upstream():
    """``programs/upstream.py`` serving streamable HTTP on loopback: its URL."""
    proc = subprocess.Popen(
        [
            sys.executable,
            str(Path(__file__).parent / "programs" / "upstream.py"),
            "--http",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        ready = sel.select(timeout=20)
    url = proc.stdout.readline().decode().strip() if ready else ""
    try:
        assert url.startswith("http://127.0.0.1:"), "the HTTP upstream did not start"
        yield url
    finally:
        proc.kill()
        proc.wait(5)
        proc.stdout.close()


def test_an_http_upstream_is_listed_called_and_denied_through_the_gateway(
    h, make, http_upstream
):
    enc = make(
        f"""\
        upstreams:
          web: {{url: '{http_upstream}'}}
        tools:
          echo:
            effect: read
            rules: [{{when: "args.text == 'secret'", then: deny, reason: not that}}]
          fail: {{effect: read}}
        """
    )
    names, (echoed, denied, failed) = listed_and_called(
        h,
        enc,
        [("echo", {"text": "over http"}), ("echo", {"text": "secret"}), ("fail", {})],
    )
    assert names == {"echo", "fail"}  # hang, crash and garble are not declared
    assert h.text(echoed) == "over http"
    assert code(denied) == "E-DENIED"
    assert failed.is_error
    assert decisions(enc) == [
        ("echo", "dispatched"),
        ("echo", "blocked"),
        ("fail", "dispatched"),
    ]
    results = [s.event for s in enc.log.events(kinds=("result",))]
    assert [r.error.code if r.error else None for r in results] == [
        None,
        "E-UPSTREAM-TOOL-ERROR",
    ]
