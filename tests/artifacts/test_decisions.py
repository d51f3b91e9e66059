from pathlib import Path

import pytest

from enclosure.artifacts import Artifact, PromotionApproval
from enclosure.artifacts._decisions import (
    check_findings,
    decided,
    event,
    keep_decision,
    pick,
    promotion_reason,
    replace,
)
from enclosure.artifacts._scan import Found
from enclosure.errors import ArtifactError, UsageError


def art(n: int, **changes) -> Artifact:
    fields = {
        "id": f"art_{n}",
        "run_id": "run_1",
        "path": Path(f"/out/{n}"),
        "change": "added",
        "kind": "file",
        "sha256": f"{n:064x}",
    }
    return Artifact.model_validate(fields | changes)


ENTRIES = [Found(0, "1", art(1)), Found(0, "2", art(2, state="rejected"))]


def test_pick_returns_each_named_entry_once_in_order():
    assert pick(ENTRIES, ["art_2", "art_1", "art_2"]) == [ENTRIES[1], ENTRIES[0]]


@pytest.mark.parametrize(
    ("ids", "code"),
    [
        ([], "E-USAGE"),
        (["art_9"], "E-ARTIFACT-NOT-FOUND"),
        (["art_2"], "E-ARTIFACT-DECIDED"),
    ],
)
def test_pick_refuses(ids, code):
    with pytest.raises((ArtifactError, UsageError)) as exc:
        pick(ENTRIES, ids, pending=True)
    assert exc.value.code == code


def test_findings_need_acceptance_and_unsafe_ones_are_never_accepted():
    check_findings(art(1), accept_findings=False)
    exe = art(1, findings=("executable",))
    with pytest.raises(ArtifactError) as exc:
        check_findings(exe, accept_findings=False)
    assert exc.value.code == "E-ARTIFACT-FINDINGS"
    check_findings(exe, accept_findings=True)
    link = art(1, kind="symlink", findings=("symlink", "path-traversal"))
    with pytest.raises(ArtifactError) as exc:
        check_findings(link, accept_findings=True)
    assert exc.value.code == "E-ARTIFACT-UNSAFE"


def test_the_reason_says_how_it_was_approved():
    person = PromotionApproval("bob")
    assert promotion_reason(art(1), person) is None
    reason = promotion_reason(
        art(1, findings=("binary",)), PromotionApproval("ci", "token")
    )
    assert reason == "approved with the CI promotion token; findings accepted: binary"


def test_events_carry_the_decision():
    record = event(
        art(1, findings=("binary",)), "rejected", by="bob", reason="no", now=0
    )
    assert (record.action, record.by, record.reason) == ("rejected", "bob", "no")
    assert record.findings == ["binary"]
    assert record.ts.startswith("1970-01-01T00:00:00")


def test_a_decision_survives_a_rescan_only_while_the_content_is_the_same():
    promoted = decided(art(1), "promoted", by="bob", reason=None)
    same = Found(0, "1", art(1))
    assert keep_decision(same, promoted).artifact.state == "promoted"
    changed = Found(0, "1", art(1, sha256="f" * 64))
    assert keep_decision(changed, promoted).artifact.state == "pending"
    assert keep_decision(same, None) is same


def test_replace_swaps_the_entry_with_the_same_id():
    promoted = decided(art(1), "promoted", by="bob", reason=None)
    assert [f.artifact.state for f in replace(ENTRIES, promoted)] == [
        "promoted",
        "rejected",
    ]
