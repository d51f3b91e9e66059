"""A Pydantic AI agent whose tools go through the enclosure; no API key needed.

A ``FunctionModel`` plays the model and the real ``Agent.run`` loop runs. Run it
from the repository root: ``python examples/pydantic_ai/agent.py``. The decision
log goes to ``$ENCLOSURE_HOME`` (default ``./.enclosure``).
"""

from __future__ import annotations

from pathlib import Path

import anyio
from pydantic_ai import Agent, FunctionToolset
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
)
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.tools import DeferredToolRequests, DeferredToolResults

from enclosure import Enclosure
from enclosure.errors import RunKilled
from enclosure.integrations.pydantic_ai import EnclosureToolset

HERE = Path(__file__).parent

tools: FunctionToolset[None] = FunctionToolset()


@tools.tool_plain
def lookup_order(order: str) -> dict[str, str | int]:
    """Look up an order."""
    return {"order": order, "customer": "ana@customers.example", "total": 240}


@tools.tool_plain
def send_email(to: str, body: str) -> str:
    """Send an email."""
    return f"sent to {to}"


@tools.tool_plain
def refund(order: str, amount: int) -> str:
    """Refund an order."""
    return f"refunded {amount} on {order}"


@tools.tool_plain
def post_update(text: str) -> str:
    """Post a status update."""
    return "posted"  # never reached: the manifest simulates it


def scripted(turns: list[list[ToolCallPart]]) -> FunctionModel:
    """A model that makes these tool calls turn by turn, then says it is done."""
    script = iter(turns)

    def respond(messages: list[ModelMessage], _: AgentInfo) -> ModelResponse:
        if isinstance(last := messages[-1], ModelRequest):
            for part in last.parts:
                if isinstance(part, ToolReturnPart):
                    print(
                        f"  model reads ({part.outcome}): {part.model_response_str()}"
                    )
        turn = next(script, None)
        return ModelResponse(parts=turn or [TextPart("done")])

    return FunctionModel(respond)


async def main() -> None:
    """Every outcome, an approval round trip, then a runaway loop the kill stops."""
    enc = Enclosure.load(HERE / "enclosure.yaml")
    with enc, enc.start_run(task="order A-1", started_by="support-service") as run:
        model = scripted(
            [
                [ToolCallPart("lookup_order", {"order": "A-1"}, "c1")],
                [ToolCallPart("send_email", {"to": "x@evil.example", "body": "hi"})],
                [ToolCallPart("post_update", {"text": "refund on its way"})],
                [ToolCallPart("refund", {"order": "A-1", "amount": 240}, "c4")],
            ]
        )
        agent = Agent(
            model,
            toolsets=[EnclosureToolset(run, tools, approver="finance-lead")],
            output_type=[str, DeferredToolRequests],
        )
        first = await agent.run("Refund order A-1")
        if not isinstance(first.output, DeferredToolRequests):
            raise SystemExit("expected the refund to wait for an approval")
        for call in first.output.approvals:
            meta = first.output.metadata[call.tool_call_id]
            print(f"needs approval: {call.tool_name} {call.args} ({meta['reason']})")
        approve = DeferredToolResults(approvals={"c4": True})
        await agent.run(
            message_history=first.all_messages(), deferred_tool_results=approve
        )

        emails = [
            [ToolCallPart("send_email", {"to": "ana@customers.example", "body": "hi"})]
        ] * 10
        runaway = Agent(scripted(emails), toolsets=[EnclosureToolset(run, tools)])
        try:
            await runaway.run("Keep the customer posted")
        except RunKilled as exc:
            print(f"Agent.run stopped: {exc.code}")
        print(f"audit intact: {enc.verify().ok}")


if __name__ == "__main__":
    anyio.run(main)
