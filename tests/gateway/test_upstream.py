"""Upstreams that fail: crash, hang, garble, refuse; sandboxed or not at all."""

from __future__ import annotations

import pytest

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
