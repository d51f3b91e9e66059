import json
import os
import socket
import stat
import threading
from typing import Any

import pytest

from enclosure import Enclosure
from enclosure.agent import Dispatcher, RpcServer
from enclosure.errors import SandboxUnavailable

INFO = b'{"jsonrpc": "2.0", "id": 1, "method": "run/info"}\n'


def echo_handler(line: bytes) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": 1, "result": len(line)}).encode() + b"\n"


@pytest.fixture
def path(sock_dir):
    return sock_dir / "agent.sock"


@pytest.fixture
def served(enc, run, path):
    with RpcServer(Dispatcher(enc, run).handle, path, max_connections=4) as server:
        yield server


def connect(path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(5)
    sock.connect(str(path))
    return sock


def read_line(sock: socket.socket) -> Any:
    data = b""
    while not data.endswith(b"\n"):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return json.loads(data)


def read_to_eof(sock: socket.socket) -> bytes:
    """Everything until the server hangs up (a reset, when we sent unread data)."""
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass
    return data


def test_answers_a_request(served, path, run):
    with connect(path) as sock:
        sock.sendall(INFO)
        assert read_line(sock)["result"]["run_id"] == run.id


def test_a_request_sent_byte_by_byte_is_answered(served, path, run):
    with connect(path) as sock:
        for byte in INFO:
            sock.send(bytes([byte]))
        assert read_line(sock)["result"]["run_id"] == run.id


def test_several_requests_in_one_write_are_answered_in_order(served, path):
    requests = b"".join(
        json.dumps({"jsonrpc": "2.0", "id": n, "method": "run/info"}).encode() + b"\n"
        for n in range(5)
    )
    with connect(path) as sock:
        sock.sendall(b"\n  \n" + requests)
        reader = sock.makefile("rb")
        answers = [json.loads(reader.readline()) for _ in range(5)]
    assert [a["id"] for a in answers] == [0, 1, 2, 3, 4]


def test_garbage_gets_an_error_and_the_connection_keeps_working(served, path, run):
    with connect(path) as sock:
        sock.sendall(b"\x00\xff not json\n")
        assert read_line(sock)["error"]["data"]["code"] == "E-RPC-PARSE"
        sock.sendall(INFO)
        assert read_line(sock)["result"]["run_id"] == run.id


@pytest.mark.parametrize("newline", [b"", b"\n"])
def test_a_line_over_the_cap_closes_only_that_connection(enc, run, path, newline):
    with (
        RpcServer(Dispatcher(enc, run).handle, path, max_message=1024),
        connect(path) as hostile,
        connect(path) as polite,
    ):
        hostile.sendall(b"x" * 70_000 + newline)
        answer, _, rest = read_to_eof(hostile).partition(b"\n")
        error = json.loads(answer)["error"]
        assert error["data"] == {"code": "E-RPC-TOO-LARGE", "closed": True}
        assert rest == b""
        polite.sendall(INFO)
        assert read_line(polite)["result"]["run_id"] == run.id


def test_clients_over_the_limit_are_turned_away(enc, run, path):
    with RpcServer(Dispatcher(enc, run).handle, path, max_connections=2) as server:
        first, second = connect(path), connect(path)
        for sock in (first, second):  # both accepted and served
            sock.sendall(INFO)
            read_line(sock)
        assert server.connections == 2
        with connect(path) as third:
            answer = json.loads(read_to_eof(third))
        assert answer["error"]["data"]["code"] == "E-RPC-BUSY"
        first.sendall(INFO)
        assert read_line(first)["result"]["run_id"] == run.id
        first.close()
        second.close()


def test_many_clients_are_served_at_once(enc, run, path):
    with RpcServer(Dispatcher(enc, run).handle, path, max_connections=32):
        socks = [connect(path) for _ in range(20)]
        for n, sock in enumerate(socks):
            params = {"tool": "echo", "args": {"text": f"c{n}"}}
            message = {
                "jsonrpc": "2.0",
                "id": n,
                "method": "tools/call",
                "params": params,
            }
            sock.sendall(json.dumps(message).encode() + b"\n")
        values = [read_line(sock)["result"]["value"] for sock in socks]
        for sock in socks:
            sock.close()
    assert values == [f"C{n}" for n in range(20)]
    assert run.state.calls == 20


def test_a_client_leaving_mid_request_does_not_disturb_the_server(served, path, run):
    with connect(path) as sock:
        sock.sendall(b'{"jsonrpc": "2.0", "id": 1, "meth')
    with connect(path) as sock:
        sock.sendall(INFO)
        assert read_line(sock)["result"]["run_id"] == run.id
    assert run.state.calls == 0


def test_a_client_that_never_reads_is_dropped(path):
    def huge(line: bytes) -> bytes:
        return b'{"result": "' + b"x" * (1 << 20) + b'"}\n'

    with RpcServer(huge, path, send_timeout=0.2) as server, connect(path) as sock:
        sock.sendall(b"{}\n")
        read_line(sock)  # now the server has accepted it
        (thread,) = server._clients.values()
        sock.sendall(b"{}\n" * 16)
        thread.join(timeout=10)
        assert not thread.is_alive()
        assert server.connections == 0
        with connect(path) as other:
            other.sendall(b"{}\n")
            assert read_line(other)["result"].startswith("xxx")


def test_the_socket_is_private(enc, run, path):
    owner = 65534 if os.geteuid() == 0 else None
    with RpcServer(Dispatcher(enc, run).handle, path, owner=owner):
        info = path.stat()
        assert stat.S_ISSOCK(info.st_mode)
        assert stat.S_IMODE(info.st_mode) == 0o600
        assert info.st_uid == (owner if owner is not None else os.geteuid())


def test_stop_hangs_up_on_clients_and_removes_the_socket(enc, run, path):
    server = RpcServer(Dispatcher(enc, run).handle, path).start()
    sock = connect(path)
    sock.sendall(INFO)
    read_line(sock)
    server.stop()
    assert read_to_eof(sock) == b""
    sock.close()
    assert not path.exists()
    server.stop()  # idempotent


def test_stop_waits_for_a_tool_call_in_progress(enc: Enclosure, run, path):
    entered, release = threading.Event(), threading.Event()

    @enc.tool("spare")
    def slow(key: str):
        entered.set()
        release.wait(5)
        return key

    server = RpcServer(Dispatcher(enc, run).handle, path).start()
    with connect(path) as sock:
        params = {"tool": "spare", "args": {"key": "k"}}
        message = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params}
        sock.sendall(json.dumps(message).encode() + b"\n")
        assert entered.wait(5)
        stopper = threading.Thread(target=server.stop)
        stopper.start()
        release.set()
        stopper.join(10)
    assert not stopper.is_alive()
    assert len(enc.log.events(run_id=run.id, kinds={"result"})) == 1


def test_an_unusable_path_is_a_socket_error(sock_dir):
    server = RpcServer(echo_handler, sock_dir / "missing" / "agent.sock")
    with pytest.raises(SandboxUnavailable) as info:
        server.start()
    assert info.value.code == "E-AGENT-SOCKET"


def test_a_failed_start_leaves_someone_elses_file_alone(path):
    path.write_text("not ours", encoding="utf-8")
    server = RpcServer(echo_handler, path)
    with pytest.raises(SandboxUnavailable):
        server.start()
    server.stop()
    assert path.read_text(encoding="utf-8") == "not ours"
