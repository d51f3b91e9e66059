"""Host-side handlers for the inbox agent's tools (``handler: tools:NAME``).

They run in the ``enclosure`` process on the host, never in the sandbox: this is
where credentials live. ``plan`` calls an OpenAI-compatible endpoint when one is
configured (``ENCLOSURE_LLM_URL`` or ``OPENAI_BASE_URL``, key in
``ENCLOSURE_LLM_KEY`` or ``OPENAI_API_KEY``, model in ``ENCLOSURE_LLM_MODEL``);
the agent only ever sees the plan, never the key or the network.
"""

from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from enclosure.agent import system_prompt
from enclosure.manifest import load_manifest

HERE = Path(__file__).resolve().parent
MAX_STEPS = 10
LLM_TIMEOUT = 30.0

CUSTOMERS = {
    "ana@example.com": {"customer": "c-17", "name": "Ana", "plan": "pro"},
}


def lookup_customer(email: str) -> dict[str, Any]:
    """The customer's record; ``{"found": false}`` for an unknown address."""
    record = CUSTOMERS.get(email.strip().lower())
    return {"found": True, **record} if record else {"found": False}


def refund(customer: str, amount: float, reason: str = "") -> dict[str, Any]:
    """Pretend to refund: a real one would call the payment provider here."""
    return {"refunded": amount, "customer": customer, "reason": reason}


def send_reply(to: str, text: str) -> dict[str, Any]:
    """Never reached while the manifest keeps ``send_reply`` simulated."""
    return {"sent": True, "to": to}


def plan(ticket: str) -> dict[str, Any]:
    """Ask the configured model for a plan; ``configured: false`` without one."""
    base = os.environ.get("ENCLOSURE_LLM_URL") or os.environ.get("OPENAI_BASE_URL")
    if not base:
        return {"configured": False, "steps": []}
    if not base.startswith(("http://", "https://")):
        return {"configured": True, "error": "the LLM URL is not http(s)", "steps": []}
    manifest = load_manifest(HERE / "enclosure.yaml")
    instructions = (
        "Answer with JSON only: "
        '{"steps": [{"tool": "NAME", "args": {...}, "why": "..."}]}, at most '
        f"{MAX_STEPS} steps, each a call of one of the tools below."
    )
    body = {
        "model": os.environ.get("ENCLOSURE_LLM_MODEL", "gpt-4o-mini"),
        "messages": [
            {"role": "system", "content": system_prompt(manifest)},
            {"role": "user", "content": f"{instructions}\n\nThe ticket:\n{ticket}"},
        ],
        "temperature": 0,
    }
    try:
        answer = _post(base.rstrip("/") + "/chat/completions", body)
        content = answer["choices"][0]["message"]["content"]
    except (OSError, ValueError, KeyError, IndexError, TypeError) as exc:
        return {"configured": True, "error": type(exc).__name__, "steps": []}
    return {"configured": True, "steps": _steps(content, set(manifest.tools))}


def _post(url: str, body: dict[str, Any]) -> Any:
    key = os.environ.get("ENCLOSURE_LLM_KEY") or os.environ.get("OPENAI_API_KEY")
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    request = urllib.request.Request(  # noqa: S310 -- scheme checked in plan()
        url, data=json.dumps(body).encode("utf-8"), headers=headers, method="POST"
    )
    with urllib.request.urlopen(request, timeout=LLM_TIMEOUT) as response:  # noqa: S310 -- as above
        return json.loads(response.read())


def _steps(content: str, tools: set[str]) -> list[dict[str, Any]]:
    """The well-formed steps of the model's answer (the policy checks the rest)."""
    match = re.search(r"\{.*\}", content, re.DOTALL)
    try:
        steps = json.loads(match.group(0))["steps"] if match else []
    except (ValueError, KeyError, TypeError):
        return []
    if not isinstance(steps, list):
        return []
    return [
        {"tool": s["tool"], "args": s.get("args") or {}, "why": str(s.get("why", ""))}
        for s in steps[:MAX_STEPS]
        if isinstance(s, dict)
        and isinstance(s.get("tool"), str)
        and s["tool"] in tools
        and isinstance(s.get("args") or {}, dict)
    ]
