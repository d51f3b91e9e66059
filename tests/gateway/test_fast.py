"""tools/call beside the SDK's loop: the same answers, on the wire, as through it."""

from __future__ import annotations

import anyio
import mcp_types as types
import pytest
from mcp.shared.message import SessionMessage

from enclosure.gateway import Gateway
from enclosure.gateway._fast import Inbox

pytestmark = pytest.mark.sandbox


def request(rid, method, params=None):
    return SessionMessage(
        types.JSONRPCRequest(jsonrpc="2.0", id=rid, method=method, params=params)
    )


def notification(method, params=None):
    return SessionMessage(
        types.JSONRPCNotification(jsonrpc="2.0", method=method, params=params)
    )


INITIALIZE = {
    "protocolVersion": "2025-11-25",
    "capabilities": {},
    "clientInfo": {"name": "raw", "version": "0"},
}


async def raw_session(gateway, script):
    """Serve ``gateway`` to ``script(send, answer)``, which speaks raw JSON-RPC.

    ``answer(id)`` waits for the answer to request ``id``; ``answer.seen`` lists
    the ids of every answer read so far.
    """
    c2s_send, c2s_recv = anyio.create_memory_object_stream(16)
    s2c_send, s2c_recv = anyio.create_memory_object_stream(16)
    seen: list[object] = []

    async def answer(rid):
        async for item in s2c_recv:
            seen.append(getattr(item.message, "id", None))
            if seen[-1] == rid:
                return item.message.model_dump(by_alias=True, exclude_none=True)
        raise AssertionError(rid)

    answer.seen = seen

    try:
        async with gateway.running(), anyio.create_task_group() as tg:
            tg.start_soon(gateway.serve, c2s_recv, s2c_send)
            await c2s_send.send(request(0, "initialize", INITIALIZE))
            await answer(0)
            await c2s_send.send(notification("notifications/initialized"))
            result = await script(c2s_send.send, answer)
            tg.cancel_scope.cancel()
    finally:
        for stream in (c2s_send, c2s_recv, s2c_send, s2c_recv):
            stream.close()
    return result


def test_a_plain_call_and_one_with_meta_get_the_same_answer(h, make, monkeypatch):
    enc = make(f"upstreams:\n  up: {h.fake()}\ntools:\n  echo: {{effect: read}}\n")
    taken: list[str] = []
    take = Inbox.take

    def spy(self, item):
        took = take(self, item)
        if took:
            taken.append(item.message.method)
        return took

    monkeypatch.setattr(Inbox, "take", spy)

    async def script(send, answer):
        args = {"name": "echo", "arguments": {"text": "same"}}
        await send(request(1, "tools/call", args))
        plain = await answer(1)
        await send(request(2, "tools/call", {**args, "_meta": {"progressToken": 7}}))
        with_meta = await answer(2)
        await send(request(3, "tools/call", {"name": 5}))
        invalid = await answer(3)
        return plain, with_meta, invalid

    plain, with_meta, invalid = h.run(raw_session, Gateway(enc), script)
    assert taken == ["tools/call", "tools/call"]  # the plain one and the invalid one
    assert plain["result"] == with_meta["result"]
    assert plain["result"]["content"][0]["text"] == "same"
    assert invalid["error"]["code"] == types.INVALID_PARAMS
    decisions = [s.event.disposition for s in enc.log.events(kinds=("decision",))]
    assert decisions == ["dispatched", "dispatched"]


def test_a_cancelled_call_gets_no_answer_and_is_logged_cancelled(h, make):
    enc = make(
        f"upstreams:\n  up: {h.fake()}\n"
        "tools:\n  hang: {effect: read}\n  echo: {effect: read}\n"
    )
    upstream_called = anyio.Event()
    gateway = Gateway(enc)
    call = gateway.call

    async def noted(name, arguments, request_id=None):
        if name == "hang":
            upstream_called.set()
        return await call(name, arguments, request_id)

    gateway.call = noted

    async def script(send, answer):
        await send(request(1, "tools/call", {"name": "hang", "arguments": {}}))
        await upstream_called.wait()
        params = {"requestId": 1, "reason": "changed my mind"}
        await send(notification("notifications/cancelled", params))
        await send(
            request(2, "tools/call", {"name": "echo", "arguments": {"text": "on"}})
        )
        return await answer(2), list(answer.seen)

    after, seen = h.run(raw_session, gateway, script)
    assert after["result"]["content"][0]["text"] == "on"
    assert seen == [0, 2]  # initialize's, then echo's: none for the cancelled call
    results = [s.event for s in enc.log.events(kinds=("result",))]
    codes = sorted(r.error.code if r.error else "" for r in results)
    assert codes == ["", "E-MCP-CANCELLED"]
