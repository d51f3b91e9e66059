"""``enclosure run``: an agent program inside the sandbox, its tools over a socket.

Room: a front door. It wires the facade's runs to a Unix socket speaking JSON-RPC
(``_rpc`` the protocol, ``_server`` the socket) and starts the agent in the run's
sandbox (``_launch``); ``_prompt`` tells the model where it is. It must not know
how the policy decides or how the sandbox confines: it only calls ``Run.call``
and ``Workspace.exec``. The agent's half, ``enclosure.client``, is stdlib only.
"""

from enclosure.agent._launch import (
    LIB_DIR,
    SOCKET_DIR,
    AgentResult,
    AgentSession,
    run_agent,
)
from enclosure.agent._prompt import system_prompt
from enclosure.agent._rpc import Dispatcher
from enclosure.agent._server import RpcServer
from enclosure.agent._summary import ToolSummary, manifest_summary, tool_summaries

__all__ = [
    "LIB_DIR",
    "SOCKET_DIR",
    "AgentResult",
    "AgentSession",
    "Dispatcher",
    "RpcServer",
    "ToolSummary",
    "manifest_summary",
    "run_agent",
    "system_prompt",
    "tool_summaries",
]
