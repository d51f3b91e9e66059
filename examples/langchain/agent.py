"""A LangChain agent behind the enclosure, with a scripted model (no API key).

Run: python examples/langchain/agent.py
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from langchain.agents import create_agent
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command

from enclosure import Enclosure
from enclosure.integrations.langchain import EnclosureMiddleware


class ScriptedModel(GenericFakeChatModel):
    """LangChain's fake chat model; it ignores the tools it is bound to."""

    def bind_tools(self, tools: Any, **kwargs: Any) -> ScriptedModel:
        """A real model would learn the tools' schemas here."""
        return self


def call(name: str, args: dict[str, Any], n: int) -> AIMessage:
    """One scripted model turn that calls one tool."""
    return AIMessage("", tool_calls=[{"name": name, "args": args, "id": f"c{n}"}])


@tool
def lookup_order(order: str) -> str:
    """Look an order up."""
    return f"{order}: 2 items, paid 240.00"


@tool
def send_email(to: str, body: str) -> str:
    """Send an email."""
    return f"sent to {to}"


@tool
def refund(order: str, amount: float) -> str:
    """Refund part of an order."""
    return f"refunded {amount:.2f} on {order}"


def main() -> None:
    """Run the agent, approve the refund as the reviewer, show what the model read."""
    here = Path(__file__).parent
    home = Path(tempfile.mkdtemp(prefix="enclosure-langchain-"))
    enc = Enclosure.load(here / "enclosure.yaml", home=home)
    run = enc.start_run(task="refund ORD-7", started_by="refund-service")
    model = ScriptedModel(
        messages=iter(
            [
                call("lookup_order", {"order": "ORD-7"}, 1),
                call("send_email", {"to": "boss@evil.example", "body": "hi"}, 2),
                call("refund", {"order": "ORD-7", "amount": 240}, 3),
                AIMessage("Refund done."),
            ]
        )
    )
    agent = create_agent(
        model=model,
        tools=[lookup_order, send_email, refund],
        middleware=[EnclosureMiddleware(run, reviewer="finance-lead")],
        checkpointer=InMemorySaver(),
    )
    thread = {"configurable": {"thread_id": "ORD-7"}}
    out = agent.invoke({"messages": [HumanMessage("Refund ORD-7")]}, thread)
    [paused] = out["__interrupt__"]
    print("approval asked:", paused.value["action_requests"][0]["description"])
    out = agent.invoke(Command(resume={"decisions": [{"type": "approve"}]}), thread)
    for message in out["messages"]:
        if isinstance(message, ToolMessage):
            print(f"{message.name}: {message.status}: {message.content}")
    run.end()
    print("audit intact:", enc.verify().ok)
    enc.close()


if __name__ == "__main__":
    main()
