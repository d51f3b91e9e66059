"""The writer's side of checkpoints: when to sign, what, and where copies go.

``Checkpointer`` keeps a ``CompactRange`` of the tree so far. After every append
the log asks ``due``: a checkpoint is due once ``every_events`` events have been
appended since the last one, or ``every_seconds`` have passed and something new
was appended; a run's end and closing the log force one. The checkpoint is chained
as a ``CheckpointEvent``, then each copy (a JSON-lines file, a webhook) gets the
signed tree head, so rewriting the database alone no longer goes unnoticed.

A process that opens an existing log resumes from the newest checkpoint's
``frontier`` once its root checks out, and reads only the events after it.

Must not know: runs, policy or monitoring.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from typing import TYPE_CHECKING, NamedTuple, Protocol

from enclosure._clock import iso
from enclosure.audit._checkpoint import Checkpoint, sign_checkpoint
from enclosure.audit._events import CheckpointEvent
from enclosure.audit._merkle import CompactRange, leaf_hash
from enclosure.errors import AuditUnavailable

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from pathlib import Path

    from enclosure._webhook import Webhook
    from enclosure.audit._event_store import EventTable
    from enclosure.audit._keys import SigningKeys
    from enclosure.types import Clock

__all__ = [
    "CheckpointCopy",
    "CheckpointFile",
    "CheckpointTimer",
    "CheckpointWebhook",
    "Checkpointer",
    "Checkpointing",
    "Stop",
    "copy_record",
]

logger = logging.getLogger("enclosure")
_MIN_WAIT = 0.05
"""The timer's shortest sleep, so a clock that stands still cannot make it spin."""


class CheckpointCopy(Protocol):
    """Somewhere outside the database that keeps each signed tree head."""

    def save(self, record: dict[str, object]) -> None:
        """Store ``record``; raise ``OSError`` if it could not be kept."""


class CheckpointFile:
    """Appends each checkpoint as one JSON line to a file, fsynced."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __repr__(self) -> str:
        return f"<CheckpointFile {self.path}>"

    def save(self, record: dict[str, object]) -> None:
        """Append ``record`` and fsync; ``OSError`` if it could not be written."""
        line = json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)


class CheckpointWebhook:
    """Posts each checkpoint to a webhook (queued; failures are logged)."""

    def __init__(self, webhook: Webhook) -> None:
        self.webhook = webhook

    def __repr__(self) -> str:
        return f"<CheckpointWebhook {self.webhook.where}>"

    def save(self, record: dict[str, object]) -> None:
        """Queue ``record`` for the webhook."""
        self.webhook.send({"type": "enclosure.checkpoint", **record})


class Checkpointing(NamedTuple):
    """How a decision log signs checkpoints; see ``Checkpointer``."""

    keys: SigningKeys
    clock: Clock
    every_events: int = 1000
    every_seconds: float = 60.0
    copies: Sequence[CheckpointCopy] = ()
    timer: bool = True
    """Also sign on time while no event is appended (``CheckpointTimer``)."""


def copy_record(seq: int, checkpoint: Checkpoint) -> dict[str, object]:
    """The JSON object a copy keeps: the signed tree head and the event's ``seq``."""
    return {"seq": seq, **checkpoint._asdict()}


class Checkpointer:
    """Signs checkpoints of one event table; thread-safe."""

    def __init__(self, table: EventTable, settings: Checkpointing) -> None:
        self._table = table
        self._settings = settings
        self._lock = threading.Lock()
        self._range = CompactRange()
        self._last_size = 0
        """Tree size of the newest checkpoint (ours or found on open)."""
        self._last_seq = 0
        """Where that checkpoint event sits; a head there means nothing new."""
        self._last_time = settings.clock.monotonic()
        self._resume()

    @property
    def settings(self) -> Checkpointing:
        """What it was built with."""
        return self._settings

    def due(self, head: int) -> bool:
        """Whether a checkpoint is due with the chain at ``head``; cheap."""
        if head <= self._last_seq:
            return False
        s = self._settings
        return (
            head - self._last_size >= s.every_events
            or s.clock.monotonic() - self._last_time >= s.every_seconds
        )

    def tick(self) -> float:
        """Sign a checkpoint if one is due; return the seconds until the next may be.

        What ``CheckpointTimer`` calls while no append asks ``due``.

        Raises:
            AuditUnavailable: as ``checkpoint``.
        """
        if self.due(self._table.head):
            self.checkpoint("")
        s = self._settings
        left = s.every_seconds - (s.clock.monotonic() - self._last_time)
        return max(left, _MIN_WAIT)

    def checkpoint(self, run_id: str) -> Checkpoint | None:
        """Sign and chain a checkpoint of every event so far, then copy it out.

        Returns:
            The checkpoint, or ``None`` when nothing was appended since the last.

        Raises:
            AuditUnavailable: the log cannot be read or written, or the key is
                unusable (``E-AUDIT-KEY``): nothing was signed.
        """
        with self._lock:
            settings = self._settings
            for digest in self._table.hashes(after=self._range.size):
                self._range.append(leaf_hash(bytes.fromhex(digest)))
            size = self._range.size
            if size in (0, self._last_seq):
                return None
            key = settings.keys.signer()
            root = self._range.root().hex()
            signed = sign_checkpoint(key, size, root, iso(settings.clock.time()))
            event = CheckpointEvent(
                run_id=run_id,
                ts=signed.ts,
                tree_size=size,
                root_hash=root,
                key_id=signed.key_id,
                signature=signed.signature,
                frontier=[h.hex() for h in self._range.hashes],
            )
            table = self._table
            appended = table.append((table.prepare(event),))[0]
            self._last_size, self._last_seq = size, appended.seq
            self._last_time = settings.clock.monotonic()
        record = copy_record(appended.seq, signed)
        for copy in settings.copies:
            try:
                copy.save(record)
            except OSError:
                logger.exception("checkpoint %d: copy to %r failed", size, copy)
        return signed

    def _resume(self) -> None:
        """Start from the newest checkpoint's frontier when its root checks out."""
        stored = self._table.last_of_kind("checkpoint")
        if stored is None or not isinstance(stored.event, CheckpointEvent):
            return
        event = stored.event
        try:
            resumed = CompactRange(
                event.tree_size, [bytes.fromhex(h) for h in event.frontier]
            )
        except ValueError:
            resumed = None
        if resumed is None or resumed.root().hex() != event.root_hash:
            msg = (
                f"checkpoint event {stored.seq} does not add up (edited?); "
                "run `enclosure audit verify`"
            )
            raise AuditUnavailable(msg)
        self._range = resumed
        self._last_size, self._last_seq = event.tree_size, stored.seq


class Stop(Protocol):
    """What the timer sleeps on: ``threading.Event``, or a test's stand-in."""

    def wait(self, timeout: float | None = None) -> bool:
        """Sleep up to ``timeout`` seconds; ``True`` once told to stop."""

    def set(self) -> None:
        """Tell the sleeper to stop."""


class CheckpointTimer:
    """Signs the checkpoints that fall due on time while nothing is appended.

    Appends ask ``due`` themselves; without this, events appended just before a
    quiet spell (a run waiting hours for an approval) would stay unsigned until
    the next append, the run's end or ``close``. A daemon thread sleeps until the
    next checkpoint may be due (real time; the log's clock decides whether it
    is), signs it if so, and ends by itself once the log is closed. ``stop``
    ends it sooner; ``DecisionLog.close`` calls it first.

    Args:
        checkpointer: whose ``tick`` to call.
        closed: whether the log is closed (the timer then ends).
        stop: what to sleep on; a ``threading.Event`` unless a test hands in one.
    """

    def __init__(
        self,
        checkpointer: Checkpointer,
        closed: Callable[[], bool],
        stop: Stop | None = None,
    ) -> None:
        self._checkpointer = checkpointer
        self._closed = closed
        self._stop: Stop = stop if stop is not None else threading.Event()
        self._thread = threading.Thread(
            target=self.run, name="enclosure-checkpoints", daemon=True
        )

    @property
    def alive(self) -> bool:
        """Whether the thread is running."""
        return self._thread.is_alive()

    def start(self) -> None:
        """Start the thread."""
        self._thread.start()

    def run(self) -> None:
        """The thread's loop (tests call it directly with a scripted ``stop``)."""
        wait = self._checkpointer.settings.every_seconds
        while not self._stop.wait(wait):
            if self._closed():
                return
            try:
                wait = self._checkpointer.tick()
            except AuditUnavailable:
                # The next append would fail the same way and tell its caller;
                # here there is no caller, so say it and try again later.
                logger.exception("timed checkpoint failed")
                wait = self._checkpointer.settings.every_seconds

    def stop(self) -> None:
        """Wake the thread and wait (at most 5 s) for it to end."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=5.0)
