r"""An inbox agent that runs inside the sandbox; its tools are one socket away.

Standard library only, plus ``enclosure.client``, which ``enclosure run`` puts on
its ``PYTHONPATH``. It reads one ticket from ``inbox/``, asks the host for a plan
(a language model, when one is configured there), and otherwise follows its own
script: look the customer up, refund the duplicate charge, ask for a larger credit
(which needs a human), try to close the account (which is off-limits, so it
adapts), and reply (which is simulated). One line per call: tool, status, reason.

    enclosure run --manifest examples/agent/enclosure.yaml -- \\
        python3 "$PWD/examples/agent/agent.py"
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from enclosure.client import Client, ClientError

INBOX = Path(__file__).resolve().parent / "inbox"


def report(tool: str, result: dict[str, Any]) -> dict[str, Any]:
    """Print one line about a call and hand its result on."""
    reason = (result.get("decision") or {}).get("reason", "")
    print(f"{tool:<16} {result['status']:<10} {reason}", flush=True)
    return result


def scripted(client: Client, ticket: str) -> None:
    """The plan when no model is configured: one call per kind of outcome."""
    sender = ticket.splitlines()[0].removeprefix("From:").strip()
    found = report("lookup_customer", client.call("lookup_customer", {"email": sender}))
    customer = (found.get("value") or {}).get("customer", "c-0")
    context = {"ticket": ticket[:500]}
    report(
        "refund",
        client.call(
            "refund",
            {"customer": customer, "amount": 45.0, "reason": "duplicate charge"},
            context=context,
        ),
    )
    credit = report(
        "refund",
        client.call(
            "refund",
            {"customer": customer, "amount": 120.0, "reason": "outage credit"},
            context=context,
        ),
    )
    closed = report(
        "close_account", client.call("close_account", {"customer": customer})
    )
    lines = ["We refunded the duplicate charge of 45.00."]
    if credit["status"] == "pending":
        lines.append(
            f"A colleague will review the 120.00 credit ({credit['approval_id']})."
        )
    if closed["status"] == "blocked":
        # Adapt: do not retry a refused call; tell the customer who can help.
        lines.append("Account closures are handled by our support team directly.")
    report(
        "send_reply", client.call("send_reply", {"to": sender, "text": " ".join(lines)})
    )


def from_plan(client: Client, steps: list[dict[str, Any]]) -> None:
    """Follow the model's plan; refused steps are reported, never retried."""
    for step in steps:
        report(step["tool"], client.call(step["tool"], step["args"]))


def main() -> int:
    """Work one ticket; exit 0 unless the enclosure cannot be reached."""
    try:
        client = Client().connect()
    except ClientError as exc:
        print(f"cannot reach the enclosure: {exc}", file=sys.stderr)
        return 2
    with client:
        info = client.info()
        tools = [t["name"] for t in client.tools() if t["available"]]
        print(f"run {info['run_id']}; tools: {', '.join(tools)}", file=sys.stderr)
        ticket = min(INBOX.glob("*.txt")).read_text(encoding="utf-8")
        planned = report("plan", client.call("plan", {"ticket": ticket}))
        steps = (planned.get("value") or {}).get("steps") or []
        if steps:
            from_plan(client, steps)
        else:
            scripted(client, ticket)
        left = client.info()["remaining"]
        print(f"budget left: {json.dumps(left, sort_keys=True)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
