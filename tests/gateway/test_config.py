import json

from enclosure.cli import main
from enclosure.gateway import CLIENTS, client_config


def test_each_client_gets_the_gateway_in_place_of_the_upstream(tmp_path):
    manifest = tmp_path / "m.yaml"
    for client in ("claude", "cursor"):
        snippet = client_config(
            manifest, tmp_path, name="e", client=client, command="x"
        )
        title, body = snippet.split("\n", 1)
        assert title.startswith("# ")
        server = json.loads(body)["mcpServers"]["e"]
        assert server["command"] == "x"
        assert server["args"] == ["mcp", "--manifest", str(manifest.resolve())]
        assert server["env"] == {"ENCLOSURE_HOME": str(tmp_path.resolve())}
    vscode = client_config(manifest, tmp_path, name="e", client="vscode", command="x")
    assert json.loads(vscode.split("\n", 1)[1])["servers"]["e"]["type"] == "stdio"
    agents = client_config(manifest, tmp_path, name="e", client="openai-agents")
    assert "MCPServerStdio(name='e'" in agents
    http = client_config(
        manifest, tmp_path, name="e", client="cursor", url="http://127.0.0.1:9/mcp"
    )
    assert json.loads(http.split("\n", 1)[1])["mcpServers"]["e"] == {
        "url": "http://127.0.0.1:9/mcp"
    }


def test_print_config_prints_every_client_and_starts_nothing(tmp_path, capsys):
    manifest = tmp_path / "m.yaml"
    manifest.write_text(
        "agent: {name: bot}\nupstreams:\n  t: {command: [t]}\n", encoding="utf-8"
    )
    assert main(["--home", str(tmp_path), "mcp", "--manifest", str(manifest),
                 "--print-config"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert out.count("# ") == len(CLIENTS)
    assert '"enclosure-bot"' in out
    assert not (tmp_path / "enclosure.db").exists()
