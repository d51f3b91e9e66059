"""A scripted support agent under the quickstart manifest: one call per outcome.

Run it from the repository root: ``.venv/bin/python examples/quickstart/agent.py``.
The decision log goes to ``$ENCLOSURE_HOME`` (default ``./.enclosure``).
"""

from __future__ import annotations

from pathlib import Path

from enclosure import Enclosure

HERE = Path(__file__).parent


def main() -> None:
    """Load the manifest, register the tools and make one call per outcome."""
    enc = Enclosure.load(HERE / "enclosure.yaml")

    @enc.tool()
    def read_ticket(ticket_id: str) -> dict[str, str]:
        return {"id": ticket_id, "text": "I was charged twice, please refund 30."}

    @enc.tool()
    def reply(ticket_id: str, text: str) -> str:
        return f"sent to {ticket_id}"  # never reached: the tool is in simulate mode

    @enc.tool()
    def refund(customer: str, amount: float) -> dict[str, float]:
        return {"refunded": amount}

    with enc, enc.start_run(task="ticket T-7", started_by="support-service") as run:
        calls = [
            ("read_ticket", {"ticket_id": "T-7"}),
            ("read_ticket", {"ticket_id": "../etc/passwd"}),
            ("reply", {"ticket_id": "T-7", "text": "Refunded, sorry!"}),
            ("refund", {"customer": "c-1", "amount": 30}),
            ("refund", {"customer": "c-1", "amount": 300}),
            ("refund", {"customer": "c-1", "amount": 5000}),
            ("delete_account", {"customer": "c-1"}),
        ]
        for tool, args in calls:
            result = run.call(tool, args)
            print(f"{tool:<15} {result.status:<10} {result.decision.reason}")
        print(f"audit intact: {enc.verify().ok}")


if __name__ == "__main__":
    main()
