import json
import os

import anyio
import mcp_types as types
from mcp.shared.message import SessionMessage

from enclosure.gateway._wire import message_problem, parse_error_line, pipe_streams


def test_lines_become_messages_and_bad_lines_are_reported_not_delivered():
    async def main():
        in_r, in_w = os.pipe()
        out_r, out_w = os.pipe()
        reasons: list[str] = []

        async def bad(reason):
            reasons.append(reason)
            return True

        ping = b'{"jsonrpc": "2.0", "id": 7, "method": "ping"}\n'
        os.write(in_w, b"garbage\n" + b'{"x": 1}\n' + ping)
        os.close(in_w)
        got = []
        with anyio.fail_after(5):
            async with pipe_streams(in_r, out_w, on_bad_line=bad) as pipes:
                got.extend([item async for item in pipes.read])
                reply = types.JSONRPCResponse(jsonrpc="2.0", id=7, result={})
                await pipes.write.send(SessionMessage(reply))
                await pipes.send_raw(parse_error_line("nope"))
                with anyio.fail_after(5):
                    while True:
                        await anyio.wait_readable(out_r)
                        data = os.read(out_r, 65536)
                        if data.count(b"\n") >= 2:
                            break
        for fd in (in_r, out_r, out_w):
            os.close(fd)
        return reasons, got, data

    reasons, got, data = anyio.run(main)
    assert reasons == [
        "a line that is not JSON (7 bytes)",
        "a line that is not a JSON-RPC message (8 bytes)",
    ]
    assert [m.message.id for m in got] == [7]
    answers = [json.loads(line) for line in data.splitlines()]
    [reply] = [a for a in answers if "result" in a]
    [error] = [a for a in answers if "error" in a]
    assert reply == {"jsonrpc": "2.0", "id": 7, "result": {}}
    assert error["error"]["code"] == types.PARSE_ERROR
    assert error["id"] is None


def test_message_problem_tells_json_from_json_rpc():
    assert "not JSON" in message_problem(b"{")
    assert "not a JSON-RPC" in message_problem(b"[]")
