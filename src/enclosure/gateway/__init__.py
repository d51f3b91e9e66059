"""The MCP gateway: any MCP client and any MCP server, with the enclosure between.

Room: a front door. ``enclosure mcp --manifest M`` is an MCP server (stdio, or
streamable HTTP on loopback) built on the official SDK (``enclosure[mcp]``).
Behind it, the manifest's ``upstreams`` run in the run's sandbox (``command``) or
are reached by URL; in front, a client sees only the tools the manifest
declares, each call decided, logged and answered by the one facade path
(``Run.propose`` and ``record_result``). Parts:

- ``_gateway``: the run, the offered tools, the call path, the SDK server;
- ``_fast``: plain ``tools/call`` answered beside the SDK's loop, and the tap
  that watches answers leave;
- ``_upstream``: one upstream's process or URL, session, failures and restarts;
- ``_catalog``: which upstream tool each manifest tool is, and tool pinning;
- ``_passthrough``: resources and prompts, where the manifest allows them;
- ``_wire``: newline-delimited JSON-RPC on pipe descriptors;
- ``_serve``: the stdio and HTTP transports; ``_config``: client snippets.

Must not know: how the policy decides, how the sandbox confines, how the log
chains. Nothing in the core imports it; only the CLI does.
"""

from enclosure.gateway._catalog import Entry, tool_sha256
from enclosure.gateway._config import CLIENTS, client_config
from enclosure.gateway._gateway import Gateway
from enclosure.gateway._serve import loopback_address, serve_http, serve_stdio
from enclosure.gateway._upstream import Listing, Upstream

__all__ = [
    "CLIENTS",
    "Entry",
    "Gateway",
    "Listing",
    "Upstream",
    "client_config",
    "loopback_address",
    "serve_http",
    "serve_stdio",
    "tool_sha256",
]
