import ast
import json
import shutil
import socket
import sys
import tempfile
import threading
from pathlib import Path

import pytest

import enclosure.client as client_module
from enclosure.agent import Dispatcher, RpcServer
from enclosure.client import Client, ClientError, RpcError, ToolError, connect
from enclosure.testing import make_enclosure

MANIFEST = """
agent: {name: helper}
tools:
  echo: {effect: read}
  off: {mode: deny}
  draft: {mode: simulate}
  refund:
    rules:
      - {when: "args.amount > 100", then: approve, reason: large refunds need a human}
  broken: {}
kill_switch: {max_calls: 20}
"""


@pytest.fixture
def sock_dir():
    folder = Path(tempfile.mkdtemp(prefix="enc-test-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def enc(tmp_path):
    enc = make_enclosure(MANIFEST, tmp_path / "home")

    @enc.tool()
    def echo(text: str) -> str:
        return text.upper()

    @enc.tool()
    def refund(amount: float) -> dict[str, float]:
        return {"refunded": amount}

    @enc.tool()
    def broken() -> None:
        raise RuntimeError("boom")

    with enc:
        yield enc


@pytest.fixture
def run(enc):
    return enc.start_run(task="client test")


@pytest.fixture
def path(enc, run, sock_dir):
    path = sock_dir / "agent.sock"
    with RpcServer(Dispatcher(enc, run).handle, path, max_message=4096):
        yield str(path)


@pytest.fixture
def client(path):
    with Client(path, timeout=5) as client:
        yield client


class RawServer:
    """A misbehaving server: answers each request line with ``reply(request)``."""

    def __init__(self, path: Path, reply, *, hang_up: bool = False):
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(str(path))
        self.listener.listen(1)
        self.reply = reply
        self.hang_up = hang_up
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        conn, _ = self.listener.accept()
        with conn:
            reader = conn.makefile("rb")
            request = json.loads(reader.readline())
            for chunk in self.reply(request):
                conn.sendall(chunk)
            if not self.hang_up:
                self.done.wait(5)

    def close(self) -> None:
        self.done.set()
        self.thread.join(5)
        self.listener.close()


@pytest.fixture
def raw(sock_dir):
    servers = []

    def start(reply, *, hang_up=False):
        server = RawServer(sock_dir / "raw.sock", reply, hang_up=hang_up)
        servers.append(server)
        return str(sock_dir / "raw.sock")

    yield start
    for server in servers:
        server.close()


def answer(request, **fields) -> bytes:
    return (
        json.dumps({"jsonrpc": "2.0", "id": request["id"], **fields}).encode() + b"\n"
    )


def test_call_returns_the_call_result_with_its_value(client, run):
    result = client.call("echo", {"text": "hi"})
    assert result["status"] == "executed"
    assert result["value"] == "HI"
    assert result["receipt"]["run_id"] == run.id


def test_refusals_are_results(client):
    result = client.call("off")
    assert result["status"] == "blocked"
    assert result["error"]["code"] == "E-DENIED"
    assert result["decision"]["reason"]


def test_call_or_raise_returns_the_value(client):
    assert client.call_or_raise("echo", {"text": "a"}) == "A"
    assert client.call_or_raise("draft", {"x": 1})["simulated"] is True


@pytest.mark.parametrize(
    ("tool", "args", "status", "code"),
    [
        ("off", {}, "blocked", "E-DENIED"),
        ("refund", {"amount": 500}, "pending", "E-APPROVAL-PENDING"),
        ("broken", {}, "failed", "E-TOOL-FAILED"),
    ],
)
def test_call_or_raise_raises_a_coded_tool_error(client, tool, args, status, code):
    with pytest.raises(ToolError) as info:
        client.call_or_raise(tool, args)
    assert info.value.code == code
    assert info.value.status == status
    assert info.value.result["status"] == status


def test_a_pending_tool_error_names_the_approval(client):
    with pytest.raises(ToolError) as info:
        client.call_or_raise("refund", {"amount": 500})
    assert (info.value.approval_id or "").startswith("apr_")


def test_context_and_approval_id_are_sent(client, enc, run):
    result = client.call("echo", {"text": "a"}, context={"ticket": "T-9"})
    assert result["status"] == "executed"
    result = client.call("refund", {"amount": 500}, approval_id="apr_unknown")
    assert result["status"] == "blocked"
    assert result["error"]["code"] == "E-APPROVAL-NOT-FOUND"


def test_tools_lists_the_manifest(client):
    names = [t["name"] for t in client.tools()]
    assert names == ["echo", "off", "draft", "refund", "broken"]


def test_info_reports_the_run_and_its_budget(client, run):
    client.call("echo", {"text": "a"})
    info = client.info()
    assert info["run_id"] == run.id
    assert info["remaining"]["calls"] == 19


def test_prompt_is_the_system_prompt(client):
    assert "`echo`" in client.prompt()


def test_an_unknown_method_is_a_coded_rpc_error(client):
    with pytest.raises(RpcError) as info:
        client.request("tools/delete")
    assert info.value.code == "E-RPC-METHOD"
    assert info.value.rpc_code == -32601


def test_a_call_on_an_ended_run_is_refused_as_ended(client, run):
    run.end()
    with pytest.raises(RpcError) as info:
        client.call("echo", {"text": "a"})
    assert info.value.code == "E-RUN-ENDED"


def test_the_socket_comes_from_the_environment(path, monkeypatch):
    monkeypatch.setenv("ENCLOSURE_SOCKET", path)
    assert Client().path == path
    with connect() as client:
        assert client.call("echo", {"text": "a"})["value"] == "A"


def test_the_default_socket_is_the_sandbox_one(monkeypatch):
    monkeypatch.delenv("ENCLOSURE_SOCKET", raising=False)
    assert Client().path == "/run/enclosure/agent.sock"


def test_no_server_is_a_connect_error(sock_dir):
    with pytest.raises(ClientError) as info:
        connect(str(sock_dir / "nobody.sock"))
    assert info.value.code == "E-CLIENT-CONNECT"


def test_arguments_that_are_not_json_are_refused_before_sending(client, run):
    with pytest.raises(ClientError) as info:
        client.call("echo", {"text": {1, 2}})
    assert info.value.code == "E-CLIENT-ARGS"
    assert run.state.calls == 0


def test_a_request_over_the_servers_cap_is_refused_then_the_client_reconnects(client):
    with pytest.raises(RpcError) as info:
        client.call("echo", {"text": "x" * 10_000})
    assert info.value.code == "E-RPC-TOO-LARGE"
    assert client.call("echo", {"text": "a"})["value"] == "A"


def test_a_request_over_the_clients_cap_is_never_sent(client, monkeypatch, run):
    monkeypatch.setattr(client_module, "MAX_MESSAGE", 100)
    with pytest.raises(ClientError) as info:
        client.call("echo", {"text": "x" * 200})
    assert info.value.code == "E-CLIENT-TOO-LARGE"
    assert run.state.calls == 0


def test_an_answer_in_one_byte_pieces_is_put_together(raw):
    def reply(request):
        data = answer(request, result={"tools": [{"name": "é" * 3}]})
        return [data[i : i + 1] for i in range(len(data))]

    with Client(raw(reply), timeout=5) as client:
        assert client.tools() == [{"name": "ééé"}]


def test_an_answer_over_the_cap_is_too_large(raw, monkeypatch):
    monkeypatch.setattr(client_module, "MAX_MESSAGE", 1000)
    with (
        Client(raw(lambda request: [b"x" * 70_000]), timeout=5) as client,
        pytest.raises(ClientError) as info,
    ):
        client.info()
    assert info.value.code == "E-CLIENT-TOO-LARGE"


def test_a_silent_server_times_out(raw):
    with (
        Client(raw(lambda request: []), timeout=0.2) as client,
        pytest.raises(ClientError) as info,
    ):
        client.info()
    assert info.value.code == "E-CLIENT-TIMEOUT"


@pytest.mark.parametrize(
    "reply",
    [
        lambda request: [b"not json\n"],
        lambda request: [answer({"id": 999}, result={})],
        lambda request: [answer(request)],
        lambda request: [b"[1, 2]\n"],
        lambda request: [answer(request, result=[1])],
    ],
)
def test_a_confused_server_is_a_protocol_error(raw, reply):
    with Client(raw(reply), timeout=5) as client, pytest.raises(ClientError) as info:
        client.call("echo")
    assert info.value.code == "E-CLIENT-PROTOCOL"


def test_a_server_that_hangs_up_is_a_connect_error(raw):
    path = raw(lambda request: [b'{"jsonrpc": "2.0"'], hang_up=True)
    with Client(path, timeout=5) as client, pytest.raises(ClientError) as info:
        client.info()
    assert info.value.code == "E-CLIENT-CONNECT"


def test_the_client_uses_only_the_standard_library():
    tree = ast.parse(Path(client_module.__file__).read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0
            imported.add((node.module or "").split(".")[0])
    assert imported
    assert imported <= sys.stdlib_module_names | {"__future__"}


def test_a_server_too_busy_to_accept_is_a_connect_error(sock_dir):
    path = str(sock_dir / "full.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(path)
        listener.listen(0)  # room for one waiting connection, never accepted
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as first:
            first.connect(path)
            with pytest.raises(ClientError) as info:
                connect(path, timeout=0.2)
    assert info.value.code == "E-CLIENT-CONNECT"
