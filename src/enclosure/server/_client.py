"""The HTTP client for agents and operators: calls, decisions, and waiting on them.

``call`` makes a guarded call in a run. When the call is parked for approval,
``call(..., wait=True)`` blocks on the server's long poll for that approval (one
request that returns the moment a decision lands, no polling loop), then redeems
an approval with the same arguments or returns the refusal.

Errors: ``ServerError`` with the server's ``code`` (``E-...``) and HTTP status.
"""

from __future__ import annotations

import time
from typing import Any, Self

import httpx

__all__ = ["ServerClient", "ServerError"]


class ServerError(Exception):
    """The server refused a request; ``code`` and ``status`` say why."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message


class ServerClient:
    """One token's view of a server at ``url``."""

    def __init__(self, url: str, token: str, *, timeout: float = 30.0) -> None:
        self._http = httpx.Client(
            base_url=url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout,
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the connections."""
        self._http.close()

    def request(
        self, method: str, path: str, body: dict[str, Any] | None = None, **kw: Any
    ) -> Any:
        """One API request; its JSON answer, or ``ServerError``."""
        response = self._http.request(method, path, json=body, **kw)
        data = response.json()
        if response.status_code >= 400:  # noqa: PLR2004 -- HTTP's error range
            error = data.get("error", {}) if isinstance(data, dict) else {}
            raise ServerError(
                response.status_code,
                str(error.get("code", "E-HTTP")),
                str(error.get("message", "")),
            )
        return data

    def start_run(self, task: str, **fields: Any) -> dict[str, Any]:
        """Start a run as this token's identity."""
        run: dict[str, Any] = self.request(
            "POST", "/api/runs", {"task": task, **fields}
        )
        return run

    def call(
        self,
        run_id: str,
        tool: str,
        args: dict[str, Any] | None = None,
        *,
        wait: bool = False,
        timeout: float = 300.0,
        approval_id: str | None = None,
        context: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Make a guarded call; with ``wait``, see a parked one through its decision.

        ``context`` is what led to the call (shown to approvers, read by rules).
        """
        body = {
            "tool": tool,
            "args": args or {},
            "approval_id": approval_id,
            "context": context,
        }
        result: dict[str, Any] = self.request("POST", f"/api/runs/{run_id}/calls", body)
        if not wait or result["status"] != "pending" or not result.get("approval_id"):
            return result
        decided = self.wait_for_decision(result["approval_id"], timeout=timeout)
        if decided["status"] != "approved":
            return {**result, "approval": decided}
        return self.call(
            run_id, tool, args, approval_id=decided["approval_id"], context=context
        )

    def escalate(
        self, run_id: str, justification: str, *, kind: str = "tool", **fields: Any
    ) -> dict[str, Any]:
        """Ask, for this run only, for what its manifest does not grant.

        ``escalate(run, why, tool="wire")``; ``kind="host", host=..., ports=[...],
        methods=[...]``; ``kind="limit", tool=..., limit=N``. Returns the pending
        approval; ``wait_for_decision`` waits for a human to decide it.
        """
        body = {"kind": kind, "justification": justification, **fields}
        approval: dict[str, Any] = self.request(
            "POST", f"/api/runs/{run_id}/escalations", body
        )
        return approval

    def wait_for_decision(self, approval_id: str, *, timeout: float) -> dict[str, Any]:
        """Block until the approval is decided (or ``timeout`` passes); return it."""
        deadline = time.monotonic() + timeout
        while True:  # one long poll per server-side limit (300 s), not a poll loop
            left = max(0, int(deadline - time.monotonic()))
            wait = min(left, 300)
            approval: dict[str, Any] = self.request(
                "GET",
                f"/api/approvals/{approval_id}/wait",
                params={"timeout": wait},
                timeout=wait + 30,
            )
            if approval["status"] != "pending" or wait == left:
                return approval

    def approve(self, approval_id: str, reason: str | None = None) -> dict[str, Any]:
        """Approve a parked call as this token's identity."""
        decided: dict[str, Any] = self.request(
            "POST", f"/api/approvals/{approval_id}/approve", {"reason": reason}
        )
        return decided

    def deny(self, approval_id: str, reason: str | None = None) -> dict[str, Any]:
        """Deny a parked call as this token's identity."""
        decided: dict[str, Any] = self.request(
            "POST", f"/api/approvals/{approval_id}/deny", {"reason": reason}
        )
        return decided

    def kill(self, run_id: str, reason: str) -> dict[str, Any]:
        """Kill a run (operator)."""
        run: dict[str, Any] = self.request(
            "POST", f"/api/runs/{run_id}/kill", {"reason": reason}
        )
        return run
