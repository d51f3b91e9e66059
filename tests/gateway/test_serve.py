"""``enclosure mcp`` as a process: stdio framing, bad input, hang-ups, HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import anyio
import pytest
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

from enclosure.errors import UsageError
from enclosure.gateway import Gateway, loopback_address, serve_http

pytestmark = pytest.mark.sandbox

ENCLOSURE = [sys.executable, "-c", "from enclosure.cli import entrypoint; entrypoint()"]


def manifest(h, make, tmp_path):
    make(
        f"upstreams:\n  up: {h.fake()}\n"
        "tools:\n  echo: {effect: read}\n  hang: {effect: read}\n"
    )
    return tmp_path / "enclosure.yaml"


def test_a_line_that_is_not_json_rpc_gets_a_parse_error_and_the_session_goes_on(
    h, make, tmp_path
):
    path = manifest(h, make, tmp_path)
    init = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "t", "version": "1"},
        },
    }
    lines = [b"{not json\n", b'{"jsonrpc": "2.0", "method": 5}\n']
    lines.append(json.dumps(init).encode() + b"\n")
    proc = subprocess.run(
        [*ENCLOSURE, "--home", str(tmp_path / "home"), "mcp", "--manifest", str(path)],
        input=b"".join(lines),
        capture_output=True,
        timeout=60,
        check=False,
    )
    answers = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [a.get("error", {}).get("code") for a in answers[:2]] == [-32700, -32700]
    assert answers[2]["id"] == 1
    assert "enclosure" in answers[2]["result"]["serverInfo"]["name"]
    assert proc.returncode == 0
    assert b"Traceback" not in proc.stderr


def test_a_client_that_hangs_up_mid_call_leaves_the_call_logged(h, make, tmp_path):
    path = manifest(h, make, tmp_path)
    home = tmp_path / "home"
    params = StdioServerParameters(
        command=ENCLOSURE[0],
        args=[*ENCLOSURE[1:], "--home", str(home), "mcp", "--manifest", str(path)],
        env={"PATH": os.environ["PATH"]},
    )

    async def main():
        async with (
            stdio_client(params) as (read, write),
            ClientSession(read, write) as session,
        ):
            await session.initialize()
            with anyio.move_on_after(1):  # the client gives up and leaves
                await session.call_tool("hang", {})

    h.run(main, limit=60)
    enc = make(f"upstreams:\n  up: {h.fake()}\ntools:\n  hang: {{}}\n")
    results = [s.event for s in enc.log.events(kinds=("result",))]
    assert [r.error.code for r in results] == ["E-MCP-CANCELLED"]
    [run] = enc.log.list_runs()
    assert run.status == "completed"


def test_http_serves_on_loopback_only_and_stops_by_itself(h, make):
    enc = make(
        f"upstreams:\n  time: {h.time_server()}\ntools:\n  get_current_time: {{}}\n"
    )
    with pytest.raises(UsageError) as refused:
        loopback_address("0.0.0.0")  # noqa: S104 -- the point: it is refused
    assert refused.value.code == "E-USAGE-ARG"

    async def main():
        gateway = Gateway(enc)
        stop = anyio.Event()
        urls: list[str] = []
        ready = anyio.Event()

        def on_ready(url: str) -> None:
            urls.append(url)
            ready.set()

        async with gateway.running(), anyio.create_task_group() as tg:
            tg.start_soon(
                lambda: serve_http(gateway, "127.0.0.1", 0, ready=on_ready, stop=stop)
            )
            await ready.wait()
            async with (
                streamable_http_client(urls[0]) as (read, write),
                ClientSession(read, write) as session,
            ):
                await session.initialize()
                result = await session.call_tool(
                    "get_current_time", {"timezone": "UTC"}
                )
            stop.set()
        return urls[0], result

    url, result = h.run(main, limit=60)
    assert url.startswith("http://127.0.0.1:")
    assert result.structured_content["timezone"] == "UTC"
