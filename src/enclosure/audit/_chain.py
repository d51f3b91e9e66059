r"""The hash chain: how an event's bytes are fixed and how a stored log is checked.

Each event is stored as its canonical JSON body and chained to the one before it:
``hash = sha256(prev_hash + "\n" + str(seq) + "\n" + body)``, starting from
``GENESIS``. Editing, deleting, inserting or reordering a stored event therefore
breaks the chain at the first event touched, and ``verify_rows`` names that event.

Deleting the newest events leaves a shorter chain that is still intact, so the store
also keeps an anchor, the ``(seq, hash)`` of a recent event, outside the chain;
``verify_rows`` reports events missing up to it, or an anchored event rewritten. A
hash chain without a secret key cannot stop someone who rewrites every row after
the anchor and the anchor too; receipts held elsewhere (and later, signed
checkpoints) are what catch that.

This module is pure: it works on bytes, rows and models and never opens a file or a
database. The decision log (``_event_store``) feeds it rows; tests feed it lists.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any, NamedTuple

from pydantic import ValidationError

from enclosure._json import canonical_json
from enclosure.audit._events import Event, parse_event

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

__all__ = [
    "GENESIS",
    "ChainRow",
    "IndexColumns",
    "VerifyReport",
    "content_problem",
    "data_columns",
    "encode_event",
    "event_hash",
    "index_columns",
    "place_problem",
    "schema_problem",
    "verify_rows",
]

GENESIS = "0" * 64
"""The ``prev_hash`` of the first event."""


def event_hash(prev_hash: str, seq: int, body: bytes) -> str:
    """Return the chain hash of the event stored at ``seq`` with ``body``.

    The sequence number is hashed so that swapping two events' numbers is caught
    even when each row keeps its own body and hash.
    """
    digest = hashlib.sha256(f"{prev_hash}\n{seq}\n".encode("ascii"))
    digest.update(body)
    return digest.hexdigest()


def encode_event(event: Event) -> bytes:
    """Return the canonical JSON bytes of ``event``, the form that is hashed.

    Fields that are ``None`` are kept, so ``parse_event`` of the bytes gives back an
    equal event and encoding that event again gives the same bytes.

    Raises:
        ValueError: the event holds NaN or infinity.
        TypeError: the event holds a value JSON cannot represent.
    """
    return canonical_json(event.model_dump(mode="json"))


class IndexColumns(NamedTuple):
    """Copies of event fields that the store keeps in columns for queries.

    They are not hashed, so ``verify_rows`` checks that they agree with the body.
    """

    ts: str
    run_id: str
    kind: str
    tool: str | None
    call_id: str | None
    outcome: str | None
    disposition: str | None
    cost: float | None


def index_columns(event: Event) -> IndexColumns:
    """Return the indexed column values of ``event`` (``None`` where it has none)."""
    return IndexColumns(
        ts=event.ts,
        run_id=event.run_id,
        kind=event.kind,
        tool=getattr(event, "tool", None),
        call_id=getattr(event, "call_id", None),
        outcome=getattr(event, "outcome", None),
        disposition=getattr(event, "disposition", None),
        cost=getattr(event, "cost", None),
    )


def data_columns(data: Mapping[str, Any]) -> IndexColumns:
    """``index_columns`` of the event whose ``model_dump(mode="json")`` is ``data``.

    The append path has that dict at hand: reading it skips the missed attribute
    lookups (each one a raised and caught ``AttributeError``) of ``index_columns``.
    """
    get = data.get
    return IndexColumns(
        data["ts"],
        data["run_id"],
        data["kind"],
        get("tool"),
        get("call_id"),
        get("outcome"),
        get("disposition"),
        get("cost"),
    )


class ChainRow(NamedTuple):
    """One stored event as read back: chain fields, body bytes and indexed columns.

    ``columns`` is ``None`` for an exported event, which has no columns to check.
    """

    seq: int
    prev_hash: str
    hash: str
    body: bytes
    columns: IndexColumns | None


class VerifyReport(NamedTuple):
    """The outcome of checking a chain; ``problem`` is one line a person can read."""

    ok: bool
    events: int
    """How many events were found intact before the first problem (all if ``ok``)."""
    first_bad_seq: int | None
    problem: str | None
    checkpoints: int = 0
    """Signed checkpoints whose root and signature were checked."""
    signed_events: int = 0
    """Events covered by the newest good checkpoint; the rest are chained only."""


def verify_rows(
    rows: Iterable[ChainRow], *, anchor: tuple[int, str] | None = None
) -> VerifyReport:
    """Check a chain given in storage order and report its first broken event.

    Each row is checked for, in this order: its place in the sequence (a gap means
    events were deleted), its link to the event before, its hash against its body,
    that its body is a canonical event, and that its indexed columns agree with the
    body. Checking stops at the first problem; ``rows`` is consumed lazily, so a
    store can stream a log of any size.

    Args:
        rows: the stored events in ascending ``seq`` order.
        anchor: the ``(seq, hash)`` the log is known to have reached. Events up to
            it must exist, and the event at its ``seq`` must have its hash.

    Returns:
        ``ok`` with the number of events when the chain is intact; otherwise the
        first bad sequence number and what is wrong with it.
    """
    anchor_seq, anchor_hash = anchor or (0, GENESIS)
    expected_seq = 1
    prev_hash = GENESIS
    for row in rows:
        problem = place_problem(row, expected_seq, prev_hash) or content_problem(row)
        if problem is None and row.seq == anchor_seq and row.hash != anchor_hash:
            problem = (
                f"event {row.seq}: hash differs from the log's anchor (rewritten?)"
            )
        if problem is not None:
            return _bad(expected_seq, problem)
        expected_seq += 1
        prev_hash = row.hash
    if expected_seq <= anchor_seq:
        first = expected_seq
        gap = (
            f"event {first}" if first == anchor_seq else f"events {first}-{anchor_seq}"
        )
        reached = f"the log had reached event {anchor_seq}"
        return _bad(first, f"{gap}: missing (deleted?); {reached}")
    return VerifyReport(
        ok=True, events=expected_seq - 1, first_bad_seq=None, problem=None
    )


def _bad(seq: int, problem: str) -> VerifyReport:
    return VerifyReport(ok=False, events=seq - 1, first_bad_seq=seq, problem=problem)


def place_problem(row: ChainRow, seq: int, prev_hash: str) -> str | None:
    """Why ``row`` is not event ``seq`` linked to ``prev_hash``, or ``None``."""
    if row.seq > seq:
        gap = f"event {seq}" if row.seq == seq + 1 else f"events {seq}-{row.seq - 1}"
        return f"{gap}: missing (deleted?); the next stored event is {row.seq}"
    if row.seq < seq:
        return f"event {seq}: found event {row.seq} in its place (reordered?)"
    if row.prev_hash != prev_hash:
        before = "the genesis hash" if seq == 1 else "the event before it"
        return f"event {seq}: does not link to {before} (deleted or inserted?)"
    return None


def content_problem(row: ChainRow) -> str | None:
    """Why ``row``'s body does not match its hash, schema or columns, or ``None``."""
    if event_hash(row.prev_hash, row.seq, row.body) != row.hash:
        return f"event {row.seq}: hash does not match its content (edited?)"
    return schema_problem(row)


def schema_problem(row: ChainRow) -> str | None:
    """Why ``row``'s body is not a canonical event matching its columns, or ``None``.

    Costs a full parse and re-encode (~13 µs); see ``_verify`` for when a signed
    checkpoint makes it redundant.
    """
    try:
        event = parse_event(row.body)
    except ValidationError:
        return f"event {row.seq}: body is not a valid event (edited?)"
    if encode_event(event) != row.body:
        return f"event {row.seq}: body is not in canonical form (edited?)"
    if row.columns is not None and index_columns(event) != row.columns:
        return f"event {row.seq}: indexed columns disagree with its body (edited?)"
    return None
