"""Notifications: new approvals, kills and alerts as Slack-compatible webhooks.

``Notifier`` observes the decision log; for the three kinds of event people must
act on it sends ``{"text": ..., "enclosure": {...}}``: Slack (and most chat
tools) show ``text``; ``enclosure`` carries the event for machines. Each body is
HMAC-signed when the webhook has a secret and retried by ``Webhook``; sending
never blocks the appending thread.

Must not know: HTTP routes, roles or storage.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from enclosure.audit import AlertEvent, ApprovalEvent, KillEvent

if TYPE_CHECKING:
    from collections.abc import Sequence

    from enclosure._webhook import Webhook
    from enclosure.audit import Appended, Event

__all__ = ["Notifier", "message_for"]


def message_for(event: Event, *, dashboard: str | None = None) -> str | None:
    """The chat line for ``event``, or ``None`` when nobody needs to act on it."""
    if isinstance(event, ApprovalEvent) and event.action == "requested":
        where = f" {dashboard}/approvals/{event.approval_id}" if dashboard else ""
        return (
            f":hourglass: approval needed: `{event.tool}` in run {event.run_id} "
            f"({event.approval_id}){where}"
        )
    if isinstance(event, KillEvent):
        return f":octagonal_sign: run {event.run_id} killed: {event.reason}"
    if isinstance(event, AlertEvent):
        return (
            f":rotating_light: {event.severity} alert ({event.rule}): {event.message}"
        )
    return None


class Notifier:
    """A decision-log observer that posts what needs a human to ``webhooks``."""

    def __init__(
        self, webhooks: Sequence[Webhook], *, dashboard: str | None = None
    ) -> None:
        self._webhooks = list(webhooks)
        self._dashboard = dashboard

    def observe(self, appended: Appended, event: Event) -> None:
        """Queue a notification for ``event`` if it is one; quick, never raises."""
        text = message_for(event, dashboard=self._dashboard)
        if text is None:
            return
        payload: dict[str, Any] = {
            "text": text,
            "enclosure": {"seq": appended.seq, **event.model_dump(mode="json")},
        }
        for hook in self._webhooks:
            hook.send(payload)

    def close(self) -> None:
        """Deliver what is queued (bounded) and stop the senders."""
        for hook in self._webhooks:
            hook.close()
