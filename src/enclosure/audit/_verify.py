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

import hashlib
from collections import deque
from itertools import islice
from typing import TYPE_CHECKING, NamedTuple

from pydantic import ValidationError
from pydantic_core import SchemaValidator
from pydantic_core import core_schema as cs

from enclosure.audit._chain import (
    GENESIS,
    ChainRow,
    IndexColumns,
    VerifyReport,
    place_problem,
    schema_problem,
)
from enclosure.audit._checkpoint import Checkpoint, signature_problem
from enclosure.audit._events import CheckpointEvent, parse_event
from enclosure.audit._merkle import CompactRange

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

__all__ = ["CheckpointCopyRecord", "verify_log"]

_HOLD = 32768
"""Rows awaiting a checkpoint before they get the full check anyway."""
_ROOTS_KEPT = 4096
"""How far back a checkpoint may trail its own event and still be checked."""
_SNAP_EVERY = 64
"""Leaves between two kept tree states (a trailing checkpoint replays fewer)."""
_NO_COPY = 1 << 62
"""``next_copy`` once every copy has been checked."""
_sha256 = hashlib.sha256
_COLUMNS = SchemaValidator(
    cs.typed_dict_schema(
        {
            name: cs.typed_dict_field(cs.any_schema(), required=False)
            for name in IndexColumns._fields
        },
        extra_behavior="ignore",
    )
)
"""The indexed fields of a JSON body, as they are; the rest parsed, then dropped."""


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
    """The state of one pass over a log.

    ``feed`` runs once per event, so it inlines what ``_chain`` and ``_merkle``
    spell out as functions (the chain hash, the leaf hash) and keeps the raw
    digest it computes rather than decoding the stored hex again. Earlier tree
    states, which only a checkpoint that trails its own event needs, come from a
    snapshot every ``_SNAP_EVERY`` leaves and the recent leaves replayed on it.
    """

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
        # Enough to replay any of the last _ROOTS_KEPT sizes from a snapshot.
        self.leaves: deque[bytes] = deque(maxlen=_ROOTS_KEPT + _SNAP_EVERY)
        self.snapshots: deque[tuple[int, tuple[bytes, ...]]] = deque(
            maxlen=_ROOTS_KEPT // _SNAP_EVERY + 2
        )
        self.held: deque[ChainRow] = deque()
        self.hold = _HOLD if public_keys is not None else 0
        self.checkpoints = 0
        self.signed = 0
        self.copies = sorted(copies, key=lambda c: c.checkpoint.tree_size)
        self.next_copy = (
            self.copies[0].checkpoint.tree_size if self.copies else _NO_COPY
        )
        self.copy_index = 0

    def feed(self, row: ChainRow) -> None:
        seq = self.seq + 1
        prev = self.prev
        if row.seq != seq or row.prev_hash != prev:
            raise _Problem(seq, place_problem(row, seq, prev) or "")
        digest = _sha256(f"{prev}\n{seq}\n".encode("ascii") + row.body).digest()
        if digest.hex() != row.hash:
            msg = f"event {seq}: hash does not match its content (edited?)"
            raise _Problem(seq, msg)
        kind = _columns_kind(row)
        if seq == self.anchor[0] and row.hash != self.anchor[1]:
            msg = f"event {seq}: hash differs from the log's anchor (rewritten?)"
            raise _Problem(seq, msg)
        self.seq, self.prev = seq, row.hash
        if kind == "checkpoint":  # its tree ends before it: check that first
            self._checkpoint(row)
        size = self.range.size
        if not size % _SNAP_EVERY:
            self.snapshots.append((size, tuple(self.range.hashes)))
        leaf = _sha256(b"\x00" + digest).digest()
        self.leaves.append(leaf)
        self.range.append(leaf)
        held = self.held
        held.append(row)
        if len(held) > self.hold:
            self._full_check(held.popleft())
        if seq >= self.next_copy:
            self._copies_up_to(seq)

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
        if self.copy_index < len(self.copies):
            copy = self.copies[self.copy_index].checkpoint
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
        """The root of the first ``size`` leaves, if still within reach."""
        current = self.range.size
        if size == current:
            return self.range.root()
        first_kept = current - len(self.leaves)
        for snap_size, hashes in reversed(self.snapshots):
            if snap_size <= size:
                if snap_size < first_kept:
                    return None
                replay = CompactRange(snap_size, hashes)
                start = snap_size - first_kept
                for leaf in islice(self.leaves, start, start + size - snap_size):
                    replay.append(leaf)
                return replay.root()
        return None

    def _copies_up_to(self, seq: int) -> None:
        copies = self.copies
        while self.copy_index < len(copies):
            record = copies[self.copy_index]
            if record.checkpoint.tree_size > seq:
                self.next_copy = record.checkpoint.tree_size
                return
            self._copy(record)
            self.copy_index += 1
        self.next_copy = _NO_COPY

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


def _columns_kind(row: ChainRow) -> str:
    """Read the body just enough to check its indexed columns; return its kind.

    ``_COLUMNS`` parses the whole body as JSON, as ``from_json`` would, but
    builds Python objects only for the indexed fields, whatever their types.

    Raises:
        _Problem: the body is not a JSON object with a string ``kind``, or a
            column disagrees with it.
    """
    try:
        data = _COLUMNS.validate_json(row.body)
    except ValidationError:
        data = {}
    kind = data.get("kind")
    if kind.__class__ is not str:
        msg = f"event {row.seq}: body is not a valid event (edited?)"
        raise _Problem(row.seq, msg)
    columns = row.columns
    if columns is not None:
        get = data.get
        found = (  # the body's values, whatever their types
            get("ts"),
            get("run_id"),
            kind,
            get("tool"),
            get("call_id"),
            get("outcome"),
            get("disposition"),
            get("cost"),
        )
        if found != columns:
            msg = f"event {row.seq}: indexed columns disagree with its body (edited?)"
            raise _Problem(row.seq, msg)
    return kind
