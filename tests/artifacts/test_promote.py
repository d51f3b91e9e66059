import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from enclosure.artifacts import Artifact, PromotionApproval, Quarantine
from enclosure.artifacts._promote import Destination, conflict
from enclosure.audit import DecisionLog
from enclosure.errors import ArtifactError, AuditUnavailable

RUN = "run_0123456789abcdef"
BOB = PromotionApproval("bob")


def promote(setup: Any, log: DecisionLog, ids: list[str], **options: Any) -> Any:
    return setup.quarantine.promote(ids, approval=BOB, log=log, now=0.0, **options)


def only(setup: Any) -> Artifact:
    artifacts: list[Artifact] = setup.quarantine.scan()
    [artifact] = artifacts
    return artifact


def leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.startswith(".enclosure-")]


def refused(code: str, call: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    with pytest.raises(ArtifactError) as exc:
        call(*args, **kwargs)
    assert exc.value.code == code


# ---- what promotion does ------------------------------------------------------------


def test_a_modified_file_replaces_the_host_file_and_is_logged(setup, log, logged):
    (setup.data / "a.txt").write_text("new content\n", encoding="utf-8")
    artifact = only(setup)
    [done] = promote(setup, log, [artifact.id])
    assert (setup.out / "a.txt").read_text(encoding="utf-8") == "new content\n"
    assert (done.state, done.decided_by) == ("promoted", "bob")
    assert setup.quarantine.artifacts() == [done]
    [event] = logged()
    assert event["action"] == "promoted"
    assert event["by"] == "bob"
    assert event["artifact_id"] == artifact.id
    assert event["sha256"] == artifact.sha256
    assert leftovers(setup.out) == []


def test_added_files_get_their_folders_and_deleted_files_go(setup, log):
    (setup.data / "b.txt").unlink()
    (setup.data / "x" / "y").mkdir(parents=True)
    (setup.data / "x" / "y" / "z.txt").write_text("deep\n", encoding="utf-8")
    ids = [a.id for a in setup.quarantine.scan()]
    promote(setup, log, ids)
    assert not (setup.out / "b.txt").exists()
    assert (setup.out / "x" / "y" / "z.txt").read_text(encoding="utf-8") == "deep\n"


def test_modes_are_kept_without_setuid_and_files_belong_to_the_promoter(setup, log):
    tool = setup.data / "tool.sh"
    tool.write_text("#!/bin/sh\n", encoding="utf-8")
    tool.chmod(0o6755)
    artifact = only(setup)
    assert artifact.findings == ("executable", "setuid")
    promote(setup, log, [artifact.id], accept_findings=True)
    st = (setup.out / "tool.sh").stat()
    assert stat.S_IMODE(st.st_mode) == 0o755
    assert st.st_uid == os.getuid()


def test_a_missing_write_path_is_created_on_promotion(tmp_path, log):
    target = tmp_path / "fresh" / "out"
    q = Quarantine.create(tmp_path / "q", RUN, [target])
    (q.mounts[0].host / "n.txt").write_text("n", encoding="utf-8")
    [artifact] = q.scan()
    q.promote([artifact.id], approval=BOB, log=log, now=0.0)
    assert (target / "n.txt").read_text(encoding="utf-8") == "n"


def test_a_single_file_write_path_is_promoted_in_place(tmp_path, log):
    report = tmp_path / "report.txt"
    report.write_text("v1\n", encoding="utf-8")
    q = Quarantine.create(tmp_path / "q", RUN, [report])
    q.mounts[0].host.write_text("v2\n", encoding="utf-8")
    [artifact] = q.scan()
    q.promote([artifact.id], approval=BOB, log=log, now=0.0)
    assert report.read_text(encoding="utf-8") == "v2\n"


def test_an_odd_name_is_promoted_under_its_exact_name(setup, log):
    name = os.fsdecode(b"caf\xe9\n.txt")
    (setup.data / name).write_text("x", encoding="utf-8")
    artifact = only(setup)
    promote(setup, log, [artifact.id], accept_findings=True)
    assert (setup.out / name).read_text(encoding="utf-8") == "x"


def test_a_symlink_inside_the_write_path_is_promoted_as_a_link(setup, log):
    (setup.data / "latest").symlink_to("a.txt")
    artifact = only(setup)
    promote(setup, log, [artifact.id], accept_findings=True)
    assert (setup.out / "latest").readlink() == Path("a.txt")


# ---- what promotion refuses ---------------------------------------------------------


def test_findings_need_acceptance_and_the_acceptance_is_logged(setup, log, logged):
    (setup.data / "creds").write_text(
        'aws_access_key_id = "AKIAIOSFODNN7EXAMPLE"\n', encoding="utf-8"
    )
    artifact = only(setup)
    refused("E-ARTIFACT-FINDINGS", promote, setup, log, [artifact.id])
    assert not (setup.out / "creds").exists()
    promote(setup, log, [artifact.id], accept_findings=True)
    assert logged()[0]["reason"] == "findings accepted: secret:AWS Access Key"


@pytest.mark.parametrize("kind", ["link-out", "fifo"])
def test_links_out_and_special_files_are_never_promoted(setup, log, kind):
    if kind == "fifo":
        os.mkfifo(setup.data / "entry")
    else:
        (setup.data / "entry").symlink_to("/etc/passwd")
    artifact = only(setup)
    refused(
        "E-ARTIFACT-UNSAFE", promote, setup, log, [artifact.id], accept_findings=True
    )
    assert not os.path.lexists(setup.out / "entry")


def test_a_decided_artifact_cannot_be_decided_again(setup, log):
    (setup.data / "x").write_text("1", encoding="utf-8")
    artifact = only(setup)
    promote(setup, log, [artifact.id])
    refused("E-ARTIFACT-DECIDED", promote, setup, log, [artifact.id])
    refused(
        "E-ARTIFACT-DECIDED",
        setup.quarantine.reject,
        [artifact.id],
        by="bob",
        reason="late",
        log=log,
        now=0.0,
    )


def test_an_unknown_id_is_not_found(setup, log):
    refused("E-ARTIFACT-NOT-FOUND", promote, setup, log, ["art_nope"])


def test_a_file_changed_after_the_scan_is_refused(setup, log):
    (setup.data / "a.txt").write_text("reviewed\n", encoding="utf-8")
    artifact = only(setup)
    (setup.data / "a.txt").write_text("swapped\n", encoding="utf-8")
    refused("E-ARTIFACT-CHANGED", promote, setup, log, [artifact.id])
    assert (setup.out / "a.txt").read_text(encoding="utf-8") == "one\ntwo\nthree\n"


def test_a_file_swapped_for_a_symlink_after_the_scan_is_refused(setup, log):
    (setup.data / "a.txt").write_text("reviewed\n", encoding="utf-8")
    artifact = only(setup)
    (setup.data / "a.txt").unlink()
    (setup.data / "a.txt").symlink_to("/etc/passwd")
    refused("E-ARTIFACT-CHANGED", promote, setup, log, [artifact.id])
    assert (setup.out / "a.txt").read_text(encoding="utf-8") == "one\ntwo\nthree\n"


def test_a_folder_swapped_for_a_symlink_after_the_scan_is_refused(tmp_path, setup, log):
    (setup.data / "sub" / "c.txt").write_text("reviewed\n", encoding="utf-8")
    artifact = only(setup)
    decoy = tmp_path / "decoy"
    decoy.mkdir()
    (decoy / "c.txt").write_text("reviewed\n", encoding="utf-8")  # same hash
    (setup.data / "sub").rename(tmp_path / "moved")
    (setup.data / "sub").symlink_to(decoy)
    refused("E-ARTIFACT-CHANGED", promote, setup, log, [artifact.id])
    assert (setup.out / "sub" / "c.txt").read_text(encoding="utf-8") == "sea\n"


def test_a_hard_link_changed_through_its_other_name_is_refused(setup, log):
    (setup.data / "one").write_text("reviewed", encoding="utf-8")
    os.link(setup.data / "one", setup.data / "two")
    first, _ = setup.quarantine.scan()
    (setup.data / "two").write_text("changed via the other name", encoding="utf-8")
    refused("E-ARTIFACT-CHANGED", promote, setup, log, [first.id], accept_findings=True)


@pytest.mark.parametrize("change", ["edited", "created", "removed"])
def test_a_host_file_changed_since_the_run_started_is_a_conflict(setup, log, change):
    if change == "created":
        (setup.data / "new.txt").write_text("agent\n", encoding="utf-8")
        (setup.out / "new.txt").write_text("human\n", encoding="utf-8")
        path = setup.out / "new.txt"
    else:
        (setup.data / "a.txt").write_text("agent\n", encoding="utf-8")
        path = setup.out / "a.txt"
        if change == "edited":
            path.write_text("human\n", encoding="utf-8")
        else:
            path.unlink()
    artifact = only(setup)
    refused("E-ARTIFACT-CONFLICT", promote, setup, log, [artifact.id])
    if change != "removed":
        assert path.read_text(encoding="utf-8") == "human\n"


def test_a_host_folder_replaced_by_a_symlink_is_a_conflict(tmp_path, setup, log):
    (setup.data / "sub" / "new.txt").write_text("agent\n", encoding="utf-8")
    artifact = only(setup)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (setup.out / "sub").rename(tmp_path / "sub-moved")
    (setup.out / "sub").symlink_to(elsewhere)
    refused("E-ARTIFACT-CONFLICT", promote, setup, log, [artifact.id])
    assert list(elsewhere.iterdir()) == []


def test_one_conflict_stops_the_whole_batch_before_any_write(setup, log, logged):
    (setup.data / "a.txt").write_text("agent\n", encoding="utf-8")
    (setup.data / "b.txt").write_text("agent\n", encoding="utf-8")
    ids = [a.id for a in setup.quarantine.scan()]
    (setup.out / "b.txt").write_text("human\n", encoding="utf-8")
    refused("E-ARTIFACT-CONFLICT", promote, setup, log, ids)
    assert (setup.out / "a.txt").read_text(encoding="utf-8") == "one\ntwo\nthree\n"
    assert logged() == []
    assert {a.state for a in setup.quarantine.artifacts()} == {"pending"}


def test_a_promotion_that_cannot_be_logged_leaves_the_host_untouched(setup, log):
    (setup.data / "a.txt").write_text("agent\n", encoding="utf-8")
    artifact = only(setup)
    log.close()
    with pytest.raises(AuditUnavailable):
        promote(setup, log, [artifact.id])
    assert (setup.out / "a.txt").read_text(encoding="utf-8") == "one\ntwo\nthree\n"
    assert leftovers(setup.out) == []
    assert setup.quarantine.get(artifact.id).state == "pending"


def test_reject_keeps_the_file_in_quarantine_and_logs_why(setup, log, logged):
    (setup.data / "x").write_text("1", encoding="utf-8")
    artifact = only(setup)
    [done] = setup.quarantine.reject(
        [artifact.id], by="carol", reason="not needed", log=log, now=0.0
    )
    assert (done.state, done.decided_by, done.reason) == (
        "rejected",
        "carol",
        "not needed",
    )
    assert not (setup.out / "x").exists()
    assert (setup.data / "x").exists()
    assert [(e["action"], e["by"], e["reason"]) for e in logged()] == [
        ("rejected", "carol", "not needed")
    ]
    refused("E-ARTIFACT-DECIDED", promote, setup, log, [artifact.id])


def test_conflict_checks_the_host_against_the_original(setup):
    (setup.data / "a.txt").write_text("agent\n", encoding="utf-8")
    artifact = only(setup)
    dest = Destination(setup.quarantine.paths[0], ("a.txt",))
    conflict(artifact, dest)  # unchanged host: no conflict
    (setup.out / "a.txt").write_text("human\n", encoding="utf-8")
    refused("E-ARTIFACT-CONFLICT", conflict, artifact, dest)
