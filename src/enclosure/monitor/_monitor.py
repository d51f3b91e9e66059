"""The monitor: detectors on the live event stream, alerts, notices and kills.

``Monitor`` subscribes to the decision log (``DecisionLog.subscribe``), so it sees
every event of every part (calls, results, egress, usage) right after it is stored.
A finding becomes an ``AnomalyEvent`` in the log, a line on stdout and in the
``enclosure`` logger, a JSON POST to each webhook (HMAC-signed when configured),
and, when the detector says ``kill: true``, a kill of the run. The time from the
triggering event's acknowledgement to the stored alert is kept per alert
(``latency_us``, and ``latencies`` here).

Must not know: the policy engine or how a run is killed (a callback does it).
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from typing import TYPE_CHECKING, Any, Literal

from enclosure._clock import iso
from enclosure.audit import AlertEvent, AnomalyEvent, CheckpointEvent, KillEvent
from enclosure.monitor._detectors import build_detectors, observe_all

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from enclosure._webhook import Webhook
    from enclosure.audit import Appended, DecisionLog, Event
    from enclosure.manifest import MonitoringSpec
    from enclosure.monitor._detectors import Finding
    from enclosure.types import Clock

__all__ = ["Monitor"]

logger = logging.getLogger("enclosure")
_SKIP = (AnomalyEvent, KillEvent, AlertEvent, CheckpointEvent)


class Monitor:
    """Runs the manifest's detectors over every stored event.

    Args:
        log: the decision log to watch (and to record alerts in).
        spec: the manifest's ``monitoring`` section.
        clock: the enclosure's clock; detectors get its monotonic time.
        kill: called with ``(run_id, reason, rule)`` for a detector with
            ``kill: true``.
        webhooks: where alerts are posted.
    """

    def __init__(
        self,
        log: DecisionLog,
        spec: MonitoringSpec,
        clock: Clock,
        kill: Callable[[str, str, str], None],
        webhooks: Sequence[Webhook] = (),
    ) -> None:
        self._log = log
        self._spec = spec
        self._clock = clock
        self._kill = kill
        self._webhooks = list(webhooks)
        tools, hosts = log.seen_names()
        self._detectors = build_detectors(spec.detectors, tools, hosts)
        self._lock = threading.Lock()
        self.latencies: list[float] = []
        """Seconds from each triggering event's acknowledgement to its alert."""
        log.subscribe(self.observe)

    def observe(self, appended: Appended, event: Event) -> None:
        """The log observer: detect, then alert (outside the detectors' lock)."""
        if isinstance(event, _SKIP):
            return
        acked = time.perf_counter()
        with self._lock:
            findings = observe_all(self._detectors, event, self._clock.monotonic())
        for finding in findings:
            self._alert(finding, appended.seq, acked)

    def _alert(self, finding: Finding, trigger_seq: int, acked: float) -> None:
        action: Literal["notify", "kill"] = "kill" if finding.kill else "notify"
        latency = time.perf_counter() - acked
        self._log.append(
            AnomalyEvent(
                run_id=finding.run_id,
                ts=iso(self._clock.time()),
                detector=finding.detector,
                severity="critical" if finding.kill else "warning",
                message=finding.message,
                action=action,
                trigger_seq=trigger_seq,
                latency_us=int(latency * 1_000_000),
            )
        )
        self.latencies.append(time.perf_counter() - acked)
        line = f"ALERT [{finding.detector}] run {finding.run_id}: {finding.message}"
        notify = self._spec.notify
        if notify.stdout:
            sys.stdout.write(f"enclosure: {line}\n")
            sys.stdout.flush()
        if notify.log:
            logger.warning("%s", line)
        payload: dict[str, Any] = {
            "type": "enclosure.alert",
            "detector": finding.detector,
            "run_id": finding.run_id,
            "message": finding.message,
            "action": action,
            "trigger_seq": trigger_seq,
        }
        for hook in self._webhooks:
            hook.send(payload)
        if finding.kill:
            reason = f"monitor: {finding.message}"
            self._kill(finding.run_id, reason, f"monitor.{finding.detector}")
