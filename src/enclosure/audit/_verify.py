"""Verify a log end to end: chain, columns, Merkle roots, signed checkpoints, copies.

``verify_log`` streams rows once. For each it checks the row's place and link and
its hash (as ``_chain`` does), reads the body with a fast JSON parser to check the
indexed columns, and extends the Merkle tree. At each ``CheckpointEvent`` it
recomputes the root the checkpoint claims and, given trusted public keys, checks
the signature; checkpoint copies kept outside the database are checked the same
way when the tree reaches their size.

The fast path. A body whose hash matches is exactly what the writer hashed, and
the writer only hashes canonical, valid events; so once a checkpoint signed by a
trusted key commits to a row's hash, parsing and re-encoding that body again
proves nothing more. Rows are therefore held (at most ``_HOLD`` of them) until a
good checkpoint covers them, and only rows no checkpoint vouches for get the full
schema check (``schema_problem``). Without trusted keys every row gets it.

Pure: rows, keys and checkpoints in, a report out.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, NamedTuple

from pydantic import ValidationError
from pydantic_core import from_json

from enclosure.audit._chain import (
    GENESIS,
    ChainRow,
    VerifyReport,
    event_hash,
    place_problem,
    schema_problem,
)
from enclosure.audit._checkpoint import Checkpoint, signature_problem
from enclosure.audit._events import CheckpointEvent, parse_event
from enclosure.audit._merkle import CompactRange, leaf_hash

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

__all__ = ["CheckpointCopyRecord", "verify_log"]

_HOLD = 32768
"""Rows awaiting a checkpoint before they get the full check anyway."""
_ROOTS_KEPT = 4096
"""Earlier tree states kept for a checkpoint that trails its own event."""


class CheckpointCopyRecord(NamedTuple):
    """A checkpoint as kept outside the database, and the event it was chained as."""

    seq: int
    checkpoint: Checkpoint


class _Problem(Exception):
    def __init__(self, seq: int, message: str) -> None:
        super().__init__(message)
        self.seq = seq
        self.message = message


def verify_log(
    rows: Iterable[ChainRow],
    *,
    anchor: tuple[int, str] | None = None,
    public_keys: Mapping[str, Ed25519PublicKey] | None = None,
    copies: Iterable[CheckpointCopyRecord] = (),
    require_signed: bool = False,
    expected_events: int | None = None,
) -> VerifyReport:
    """Check a whole log given in ``seq`` order; report its first problem.

    Args:
        rows: every stored event, in order (``columns`` ``None`` for an export).
        anchor: the ``(seq, hash)`` the log is known to have reached.
        public_keys: trusted keys by ``key_id``; ``None`` skips signatures (and
            the fast path).
        copies: checkpoints kept elsewhere; each must match the log.
        require_signed: fail unless some checkpoint signed by a trusted key
            covers events (an export checked offline).
        expected_events: the number of events the source says it holds (an
            export's trailer); fewer means it was cut.

    Returns:
        ``ok`` with counts, or the first bad ``seq`` and what is wrong there.
    """
    state = _Walk(public_keys, copies, anchor or (0, GENESIS))
    try:
        for row in rows:
            state.feed(row)
        state.finish(require_signed=require_signed, expected=expected_events)
    except _Problem as exc:
        try:
            state.check_held(before=exc.seq)
        except _Problem as earlier:
            exc = earlier
        return VerifyReport(
            ok=False,
            events=exc.seq - 1,
            first_bad_seq=exc.seq,
            problem=exc.message,
            checkpoints=state.checkpoints,
            signed_events=state.signed,
        )
    return VerifyReport(
        ok=True,
        events=state.seq,
        first_bad_seq=None,
        problem=None,
        checkpoints=state.checkpoints,
        signed_events=state.signed,
    )


class _Walk:
    """The state of one pass over a log."""

    def __init__(
        self,
        public_keys: Mapping[str, Ed25519PublicKey] | None,
        copies: Iterable[CheckpointCopyRecord],
        anchor: tuple[int, str],
    ) -> None:
        self.keys = public_keys
        self.anchor = anchor
        self.seq = 0
        self.prev = GENESIS
        self.range = CompactRange()
        self.roots: deque[tuple[int, tuple[bytes, ...]]] = deque(maxlen=_ROOTS_KEPT)
        self.held: deque[ChainRow] = deque()
        self.hold = _HOLD if public_keys is not None else 0
        self.checkpoints = 0
        self.signed = 0
        self.copies = sorted(copies, key=lambda c: c.checkpoint.tree_size)
        self.next_copy = 0

    def feed(self, row: ChainRow) -> None:
        seq = self.seq + 1
        problem = place_problem(row, seq, self.prev)
        if problem is None and event_hash(row.prev_hash, seq, row.body) != row.hash:
            problem = f"event {seq}: hash does not match its content (edited?)"
        if problem is None:
            problem, kind = _columns_problem(row)
        if problem is None and seq == self.anchor[0] and row.hash != self.anchor[1]:
            problem = f"event {seq}: hash differs from the log's anchor (rewritten?)"
        if problem is not None:
            raise _Problem(seq, problem)
        self.seq, self.prev = seq, row.hash
        self.roots.append((self.range.size, tuple(self.range.hashes)))
        self.range.append(leaf_hash(bytes.fromhex(row.hash)))
        self.held.append(row)
        if kind == "checkpoint":
            self._checkpoint(row)
        while len(self.held) > self.hold:
            self._full_check(self.held.popleft())
        while (
            self.next_copy < len(self.copies)
            and self.copies[self.next_copy].checkpoint.tree_size <= seq
        ):
            self._copy(self.copies[self.next_copy])
            self.next_copy += 1

    def finish(self, *, require_signed: bool, expected: int | None) -> None:
        self.check_held(before=None)
        anchor_seq = self.anchor[0]
        if self.seq < anchor_seq:
            first = self.seq + 1
            gap = (
                f"event {first}"
                if first == anchor_seq
                else f"events {first}-{anchor_seq}"
            )
            msg = f"{gap}: missing (deleted?); the log had reached event {anchor_seq}"
            raise _Problem(first, msg)
        if expected is not None and self.seq < expected:
            msg = f"events {self.seq + 1}-{expected}: missing (truncated?)"
            raise _Problem(self.seq + 1, msg)
        if self.next_copy < len(self.copies):
            copy = self.copies[self.next_copy].checkpoint
            msg = (
                f"events {self.seq + 1}-{copy.tree_size}: missing (truncated?); a "
                f"checkpoint copy covers {copy.tree_size} events"
            )
            raise _Problem(self.seq + 1, msg)
        if require_signed and self.seq and not self.signed:
            msg = "no checkpoint signed by a trusted key covers these events"
            raise _Problem(1, msg)

    def check_held(self, before: int | None) -> None:
        while self.held and (before is None or self.held[0].seq < before):
            self._full_check(self.held.popleft())

    def _full_check(self, row: ChainRow) -> None:
        problem = schema_problem(row)
        if problem is not None:
            raise _Problem(row.seq, problem)

    def _root_at(self, size: int) -> bytes | None:
        if size == self.range.size:
            return self.range.root()
        for kept_size, hashes in reversed(self.roots):
            if kept_size == size:
                return CompactRange(size, hashes).root()
            if kept_size < size:
                break
        return None

    def _checkpoint(self, row: ChainRow) -> None:
        seq = row.seq
        try:
            event = parse_event(row.body)
        except ValidationError as exc:
            msg = f"event {seq}: body is not a valid event (edited?)"
            raise _Problem(seq, msg) from exc
        assert isinstance(event, CheckpointEvent)  # noqa: S101 -- kind was read
        where = f"checkpoint at event {seq}"
        if not 0 < event.tree_size < seq:
            msg = f"{where}: tree size {event.tree_size} is impossible here (forged?)"
            raise _Problem(seq, msg)
        root = self._root_at(event.tree_size)
        if root is None:
            msg = f"{where}: tree size {event.tree_size} is too far behind to check"
            raise _Problem(seq, msg)
        if root.hex() != event.root_hash:
            msg = (
                f"{where}: root does not match events 1-{event.tree_size} "
                "(forged checkpoint, or events rewritten?)"
            )
            raise _Problem(seq, msg)
        checkpoint = Checkpoint(
            event.tree_size, event.root_hash, event.ts, event.key_id, event.signature
        )
        self._signature(seq, where, checkpoint)

    def _copy(self, record: CheckpointCopyRecord) -> None:
        cp = record.checkpoint
        where = f"checkpoint copy of tree size {cp.tree_size}"
        root = self._root_at(cp.tree_size)
        if root is None or root.hex() != cp.root_hash:
            msg = (
                f"{where}: the log's events 1-{cp.tree_size} do not match it "
                "(database rewritten?)"
            )
            raise _Problem(min(cp.tree_size, self.seq), msg)
        self._signature(min(record.seq, self.seq), where, cp)

    def _signature(self, seq: int, where: str, checkpoint: Checkpoint) -> None:
        if self.keys is None:
            return
        problem = signature_problem(checkpoint, self.keys)
        if problem is not None:
            raise _Problem(seq, f"{where}: {problem}")
        self.checkpoints += 1
        if checkpoint.tree_size > self.signed:
            self.signed = checkpoint.tree_size
            while self.held and self.held[0].seq <= checkpoint.tree_size:
                self.held.popleft()


def _columns_problem(row: ChainRow) -> tuple[str | None, str | None]:
    """Read the body just enough to check its indexed columns; return its kind."""
    try:
        data = from_json(row.body)
    except ValueError:
        return f"event {row.seq}: body is not a valid event (edited?)", None
    if not isinstance(data, dict) or not isinstance(data.get("kind"), str):
        return f"event {row.seq}: body is not a valid event (edited?)", None
    if row.columns is not None:
        get = data.get
        found = (  # the body's values, whatever their types
            get("ts"),
            get("run_id"),
            get("kind"),
            get("tool"),
            get("call_id"),
            get("outcome"),
            get("disposition"),
            get("cost"),
        )
        if found != row.columns:
            msg = f"event {row.seq}: indexed columns disagree with its body (edited?)"
            return msg, None
    return None, data["kind"]
