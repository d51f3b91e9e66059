import hashlib
from collections.abc import Iterator

import pytest

from enclosure.audit import (
    GENESIS,
    AlertEvent,
    ApprovalEvent,
    ChainRow,
    DecisionEvent,
    Event,
    IndexColumns,
    KillEvent,
    ResultEvent,
    RunEndedEvent,
    RunStartedEvent,
    encode_event,
    event_hash,
    index_columns,
    parse_event,
    verify_rows,
)
from enclosure.audit._chain import data_columns
from enclosure.models import ErrorInfo
from enclosure.testing import decision_event

TS = "2025-01-02T03:04:05.000006Z"


decision = decision_event


def one_of_each_kind() -> list[Event]:
    return [
        RunStartedEvent(
            run_id="run-1", ts=TS, agent="mailer", task="t", manifest_sha256="c" * 64
        ),
        decision(1, error=ErrorInfo(code="E-X", message="m"), approval_id="ap-1"),
        ResultEvent(
            run_id="run-1",
            ts=TS,
            call_id="call-1",
            tool="send_email",
            disposition="executed",
            receipt={"id": 7},
            latency_us=3,
            cost=1.5,
        ),
        KillEvent(run_id="run-1", ts=TS, rule="kill_switch.max_calls", reason="r"),
        AlertEvent(run_id="run-1", ts=TS, severity="warning", rule="r", message="m"),
        ApprovalEvent(
            run_id="run-1",
            ts=TS,
            approval_id="ap-1",
            action="requested",
            tool="send_email",
            binding_sha256="d" * 64,
        ),
        RunEndedEvent(
            run_id="run-1",
            ts=TS,
            status="completed",
            calls=1,
            cost=1.5,
            denials=0,
            errors=0,
        ),
    ]


def row(
    seq: int, prev: str, body: bytes, columns: IndexColumns, digest: str | None = None
) -> ChainRow:
    return ChainRow(seq, prev, digest or event_hash(prev, seq, body), body, columns)


def chain(events: list[Event] | list[DecisionEvent]) -> list[ChainRow]:
    rows, prev = [], GENESIS
    for seq, event in enumerate(events, start=1):
        rows.append(row(seq, prev, encode_event(event), index_columns(event)))
        prev = rows[-1].hash
    return rows


def test_genesis_is_sixty_four_zeros():
    assert GENESIS == "0" * 64


def test_event_hash_covers_previous_hash_sequence_number_and_body():
    expected = hashlib.sha256(GENESIS.encode() + b"\n7\n" + b"{}").hexdigest()
    assert event_hash(GENESIS, 7, b"{}") == expected
    assert event_hash(GENESIS, 8, b"{}") != expected
    assert event_hash("1" * 64, 7, b"{}") != expected


@pytest.mark.parametrize("event", one_of_each_kind(), ids=lambda e: e.kind)
def test_encoding_round_trips_through_parse_event(event):
    body = encode_event(event)
    assert parse_event(body) == event
    assert encode_event(parse_event(body)) == body


def test_encoding_is_canonical_with_none_fields_kept():
    body = encode_event(decision(1))
    assert body.startswith(b'{"agent":"mailer","approval_id":null,"args":')
    assert b" " not in body.replace(b"send_email", b"")


def test_encoding_refuses_nan():
    with pytest.raises(ValueError, match="JSON"):
        encode_event(decision(1, cost=float("nan")))


def test_index_columns_copy_the_queryable_fields():
    columns = index_columns(decision(3))
    assert columns.kind == "decision"
    assert columns.tool == "send_email"
    assert columns.call_id == "call-3"
    assert columns.outcome == "allow"
    assert columns.disposition == "dispatched"
    assert columns.cost == 0.25
    kill = index_columns(one_of_each_kind()[3])
    assert (kill.tool, kill.outcome, kill.cost) == (None, None, None)


@pytest.mark.parametrize(
    "event",
    [*one_of_each_kind(), KillEvent(run_id="r", ts=TS, rule="r", reason="r", by="o")],
)
def test_data_columns_agree_with_index_columns(event):
    # The append path reads the columns off the dumped body; verify compares
    # them with index_columns of the parsed body.
    assert data_columns(event.model_dump(mode="json")) == index_columns(event)


def test_an_intact_chain_verifies():
    report = verify_rows(chain(one_of_each_kind()))
    assert report.ok
    assert report.events == 7
    assert report.first_bad_seq is None
    assert report.problem is None


def test_an_empty_chain_verifies():
    assert verify_rows([]).ok


def test_verification_consumes_rows_lazily_and_stops_at_the_first_problem():
    rows = chain([decision(n) for n in range(1, 6)])
    rows[1] = rows[1]._replace(hash="f" * 64)
    seen = []

    def stream() -> Iterator[ChainRow]:
        for r in rows:
            seen.append(r.seq)
            yield r

    report = verify_rows(stream())
    assert report.first_bad_seq == 2
    assert report.events == 1
    assert seen == [1, 2]


def edit_body(rows):
    rows[2] = rows[2]._replace(body=rows[2].body.replace(b"call-3", b"call-9"))


def edit_hash(rows):
    rows[2] = rows[2]._replace(hash="e" * 64)


def delete_middle_row(rows):
    del rows[2]


def delete_first_row(rows):
    del rows[0]


def renumber_after_a_deletion(rows):
    del rows[2]
    rows[2:] = [r._replace(seq=r.seq - 1) for r in rows[2:]]


def append_forged_row(rows):
    rows.append(row(7, rows[-1].hash, rows[0].body, rows[0].columns, "1" * 64))


def insert_forged_row(rows):
    forged = row(3, rows[1].hash, rows[0].body, rows[0].columns)
    rows[2:] = [forged, *(r._replace(seq=r.seq + 1) for r in rows[2:])]


def swap_seq(rows):
    rows[2], rows[4] = rows[4]._replace(seq=3), rows[2]._replace(seq=5)


def edit_column(rows):
    rows[2] = rows[2]._replace(columns=rows[2].columns._replace(tool="other"))


def replace_body_with_non_event(rows):
    rows[2] = row(3, rows[1].hash, b'{"kind":"bogus"}', rows[2].columns)


def replace_body_with_non_canonical(rows):
    body = rows[2].body.replace(b'"agent":', b'"agent": ')
    rows[2] = row(3, rows[1].hash, body, rows[2].columns)


def start_first_row_elsewhere(rows):
    rows[0] = row(1, "9" * 64, rows[0].body, rows[0].columns)


@pytest.mark.parametrize(
    ("tamper", "first_bad", "says"),
    [
        (edit_body, 3, "hash does not match its content"),
        (edit_hash, 3, "hash does not match its content"),
        (delete_middle_row, 3, "missing"),
        (delete_first_row, 1, "missing"),
        (renumber_after_a_deletion, 3, "does not link"),
        (append_forged_row, 7, "hash does not match its content"),
        (insert_forged_row, 4, "does not link"),
        (swap_seq, 3, "does not link"),
        (edit_column, 3, "indexed columns disagree"),
        (replace_body_with_non_event, 3, "not a valid event"),
        (replace_body_with_non_canonical, 3, "not in canonical form"),
        (start_first_row_elsewhere, 1, "does not link to the genesis hash"),
    ],
    ids=lambda v: getattr(v, "__name__", str(v)),
)
def test_tampering_is_reported_at_the_first_bad_event(tamper, first_bad, says):
    rows = chain([decision(n) for n in range(1, 7)])
    tamper(rows)
    report = verify_rows(rows)
    assert not report.ok
    assert report.first_bad_seq == first_bad
    assert report.events == first_bad - 1
    assert report.problem is not None
    assert report.problem.startswith(f"event {first_bad}")
    assert says in report.problem
    assert "\n" not in report.problem


def test_a_gap_of_several_events_is_named_as_a_range():
    rows = chain([decision(n) for n in range(1, 7)])
    del rows[1:4]
    report = verify_rows(rows)
    assert report.first_bad_seq == 2
    assert report.problem is not None
    assert report.problem.startswith("events 2-4: missing")


def test_a_duplicated_row_is_reported():
    rows = chain([decision(n) for n in range(1, 4)])
    rows.insert(2, rows[1])
    report = verify_rows(rows)
    assert report.first_bad_seq == 3
    assert report.problem is not None
    assert "found event 2" in report.problem


def test_events_missing_after_the_anchor_are_reported():
    rows = chain([decision(n) for n in range(1, 7)])
    anchor = (rows[-1].seq, rows[-1].hash)
    assert verify_rows(rows, anchor=anchor).ok
    report = verify_rows(rows[:3], anchor=anchor)
    assert report.first_bad_seq == 4
    assert report.events == 3
    assert report.problem == (
        "events 4-6: missing (deleted?); the log had reached event 6"
    )
    assert verify_rows(rows[:5], anchor=anchor).problem == (
        "event 6: missing (deleted?); the log had reached event 6"
    )


def test_an_anchored_event_with_another_hash_is_reported():
    rows = chain([decision(n) for n in range(1, 7)])
    report = verify_rows(rows, anchor=(4, "f" * 64))
    assert report.first_bad_seq == 4
    assert report.problem is not None
    assert "anchor" in report.problem


def test_events_after_the_anchor_are_fine():
    rows = chain([decision(n) for n in range(1, 7)])
    assert verify_rows(rows, anchor=(2, rows[1].hash)).ok
