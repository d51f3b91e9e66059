"""Put the enclosure in front of the tools of the agent frameworks people use.

Room: a front door. Each framework has its own module, imported only when used,
behind its own extra, so ``pip install enclosure`` stays light:

- ``enclosure.integrations.langchain``: LangChain ``create_agent`` middleware,
  ``BaseTool`` and LangGraph ``ToolNode`` wrappers (``enclosure[langchain]``);
- ``enclosure.integrations.openai_agents``: OpenAI Agents SDK ``FunctionTool``
  wrappers and guardrails (``enclosure[openai-agents]``);
- ``enclosure.integrations.pydantic_ai``: a Pydantic AI wrapper toolset with
  deferred approvals (``enclosure[pydantic-ai]``);
- ``enclosure.integrations.claude_code``: the ``PreToolUse``/``PostToolUse`` hook
  and the Claude Agent SDK's ``can_use_tool`` (``enclosure[claude]`` for the SDK).

Every call still goes through ``Run.call``: the same policy, rate limits, kill
switch, approvals bound to exact arguments and decision events.
"""

from enclosure.integrations._common import (
    EXTRAS,
    model_text,
    require,
)

__all__ = ["EXTRAS", "model_text", "require"]
