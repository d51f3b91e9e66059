"""``enclosure mcp --print-config``: what a client needs to use the gateway.

Each MCP client keeps its servers in its own file and shape; the snippet puts
``enclosure mcp --manifest M`` where the upstream's own command would have gone,
with ``ENCLOSURE_HOME`` fixed so every session logs to the same decision log.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Literal

__all__ = ["CLIENTS", "client_config"]

Client = Literal["claude", "cursor", "vscode", "openai-agents"]
CLIENTS: tuple[Client, ...] = ("claude", "cursor", "vscode", "openai-agents")
_WHERE = {
    "claude": "Claude Desktop: claude_desktop_config.json",
    "cursor": "Cursor: .cursor/mcp.json (or ~/.cursor/mcp.json)",
    "vscode": "VS Code: .vscode/mcp.json",
    "openai-agents": "OpenAI Agents SDK (Python)",
}


def client_config(
    manifest: Path,
    home: Path,
    *,
    name: str,
    client: Client,
    url: str | None = None,
    command: str | None = None,
) -> str:
    """The snippet for ``client``: a titled JSON object (Python for the Agents SDK).

    Args:
        manifest: the manifest (made absolute).
        home: the decision log's directory (made absolute).
        name: the server's name in the client's list.
        client: which client.
        url: the gateway's streamable HTTP URL, when it runs with ``--http``.
        command: the ``enclosure`` executable; found on PATH by default.
    """
    exe = command or _enclosure_command()
    args = ["mcp", "--manifest", str(manifest.resolve())]
    env = {"ENCLOSURE_HOME": str(home.resolve())}
    title = f"# {_WHERE[client]}"
    if client == "openai-agents":
        return f"{title}\n{_agents_sdk(name, exe, args, env, url)}"
    server: dict[str, object]
    if url is not None:
        server = {"type": "http", "url": url} if client == "vscode" else {"url": url}
    else:
        server = {"command": exe, "args": args, "env": env}
        if client == "vscode":
            server = {"type": "stdio", **server}
    key = "servers" if client == "vscode" else "mcpServers"
    body = json.dumps({key: {name: server}}, indent=2)
    return f"{title}\n{body}"


def _enclosure_command() -> str:
    """The ``enclosure`` executable: on PATH, else beside this Python."""
    found = shutil.which("enclosure")
    if found:
        return found
    beside = Path(sys.executable).parent / "enclosure"
    return str(beside) if beside.is_file() else "enclosure"


def _agents_sdk(
    name: str, exe: str, args: list[str], env: dict[str, str], url: str | None
) -> str:
    if url is not None:
        return (
            "from agents.mcp import MCPServerStreamableHttp\n\n"
            f"server = MCPServerStreamableHttp(name={name!r}, "
            f"params={{'url': {url!r}}})"
        )
    params = {"command": exe, "args": args, "env": env}
    return (
        "from agents.mcp import MCPServerStdio\n\n"
        f"server = MCPServerStdio(name={name!r}, params={params!r})"
    )
