"""What every integration shares: the missing-extra message and model-readable text.

A framework shows a tool's result to the model. When the enclosure refused the
call, parked it for a human, or the tool failed, the model should read one short,
stable sentence saying so and what to do (and never a traceback); when the run
was killed, the framework's loop must stop, so that becomes an exception.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from enclosure.errors import UsageError

if TYPE_CHECKING:
    from types import ModuleType

    from enclosure.models import CallResult

__all__ = ["EXTRAS", "model_text", "require"]

EXTRAS = {
    "langchain": "langchain",
    "langgraph": "langchain",
    "agents": "openai-agents",
    "pydantic_ai": "pydantic-ai",
    "claude_agent_sdk": "claude",
    "mcp": "mcp",
}
"""Top-level module -> the ``enclosure[extra]`` that installs it."""


def require(module: str) -> ModuleType:
    """Import a framework, or say which extra installs it (``E-INTEGRATION-MISSING``).

    Raises:
        UsageError: the framework is not installed.
    """
    try:
        return importlib.import_module(module)
    except ImportError:
        extra = EXTRAS.get(module.partition(".")[0], module)
        msg = (
            f"this integration needs {module!r}, which is not installed: "
            f"pip install 'enclosure[{extra}]'"
        )
        raise UsageError(msg, code="E-INTEGRATION-MISSING") from None


def model_text(result: CallResult) -> str:
    """One line the model reads when a call did not simply run.

    For a call that ran or was simulated, its value is what the model should see
    (the integration passes it on); this covers the other outcomes.
    """
    tool = result.decision.tool
    if result.status == "pending":
        return (
            f"[enclosure] {tool} needs a human's approval ({result.decision.reason}); "
            f"approval {result.approval_id} is pending. Do not retry it with other "
            "arguments; wait for the decision or continue without it."
        )
    if result.status == "blocked":
        return (
            f"[enclosure] {tool} was refused: {result.decision.reason} "
            f"(rule {result.decision.rule}). Do not retry the same call."
        )
    if result.status == "killed":
        reason = result.error.message if result.error else result.decision.reason
        return f"[enclosure] the run was stopped: {reason}"
    if result.status == "failed":
        code = result.error.code if result.error else "E-TOOL-FAILED"
        message = result.error.message if result.error else "the tool failed"
        return f"[enclosure] {tool} failed ({code}): {message}"
    if result.status == "simulated":
        return f"[enclosure] {tool} was simulated (not actually run): {result.value!r}"
    return str(result.value)
