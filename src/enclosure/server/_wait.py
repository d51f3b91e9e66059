"""Waiting for a decision: the server side of an agent's long poll.

The waiter subscribes to the hub, then reads the approval, so a decision landing in
between is seen either way. It then sleeps until something about that approval
happens: its ``ApprovalEvent`` (from this process, or read back from the log by
the watcher), or a ``Poke`` (a NOTIFY from another process, or the watcher
listening again after a failure). It re-reads the approval on each of those.

Two bounded fallbacks keep a lost wake-up from stranding an agent: every
``RECHECK`` seconds the approval is re-read regardless, and when the approval's
expiry passes the waiter expires overdue approvals itself (each becomes a denial
with its audit event, as the server's sweep does), instead of waiting for the
sweep. Neither is how waiters are normally woken.

Must not know: HTTP, routes, roles or SQL.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import anyio
import anyio.to_thread

from enclosure.audit import ApprovalEvent
from enclosure.server._hub import Live, Poke

if TYPE_CHECKING:
    from enclosure import Enclosure
    from enclosure.approvals import Approval
    from enclosure.server._hub import Hub, Listener

__all__ = ["RECHECK", "wait_decided"]

RECHECK = 10.0
"""Seconds after which a waiter re-reads its approval even if nothing woke it."""
_FLOOR = 0.05


async def wait_decided(
    enc: Enclosure, hub: Hub, approval_id: str, seconds: float
) -> Approval:
    """The approval once it is no longer pending, or as it is after ``seconds``.

    Raises:
        ApprovalError: the approval is unknown (``E-APPROVAL-NOT-FOUND``).
        AuditUnavailable: the log cannot be read.
    """
    listener = hub.listen()  # before reading: a decision in between is not missed
    try:
        current = await anyio.to_thread.run_sync(enc.approvals.get, approval_id)
        deadline = anyio.current_time() + seconds
        while current.status == "pending":
            left = deadline - anyio.current_time()
            if left <= 0:
                break
            overdue_in = current.expires_at - enc.clock.time()
            with anyio.move_on_after(min(left, RECHECK, max(overdue_in, _FLOOR))):
                if not await _woken(listener, approval_id):
                    break  # the server is stopping
            if enc.clock.time() >= current.expires_at:
                await anyio.to_thread.run_sync(enc.approvals.expire)
            current = await anyio.to_thread.run_sync(enc.approvals.get, approval_id)
    finally:
        hub.leave(listener)
    return current


async def _woken(listener: Listener, approval_id: str) -> bool:
    """Wait for news of ``approval_id``; ``False`` when the hub closes."""
    while True:
        item = await listener.queue.get()
        if item is None:  # CLOSED
            return False
        if isinstance(item, Poke):
            if item.approval_id in (None, approval_id):
                return True
        elif (
            isinstance(item, Live)
            and isinstance(item.event, ApprovalEvent)
            and item.event.approval_id == approval_id
        ):
            return True
