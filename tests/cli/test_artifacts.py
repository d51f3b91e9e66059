"""``enclosure artifacts list|diff|promote|reject|token`` on a real quarantine.

The quarantine is made in the test, as a run would make it, and the "sandbox"
writes straight into its working copy; the command line shares nothing with the
test but the home folder.
"""

from __future__ import annotations

import io
import json
from typing import TYPE_CHECKING, Any, NamedTuple

import pytest

from enclosure.artifacts import Quarantine
from enclosure.audit import DecisionLog

if TYPE_CHECKING:
    from pathlib import Path

RUN = "run_00112233aabbccdd"
AWS = 'aws_access_key_id = "AKIAIOSFODNN7EXAMPLE"\n'


class Review(NamedTuple):
    home: Path
    out: Path
    ids: dict[str, str]
    """Artifact id by file name."""


@pytest.fixture(autouse=True)
def _no_token_in_the_environment(monkeypatch):
    monkeypatch.delenv("ENCLOSURE_PROMOTE_TOKEN", raising=False)


@pytest.fixture
def review(tmp_path, empty_home) -> Review:
    """A run that changed ``notes.txt``, added ``creds.env`` with a key, and more."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("draft\n", encoding="utf-8")
    q = Quarantine.create(empty_home / "quarantine", RUN, [out])
    data = q.mounts[0].host
    (data / "notes.txt").write_text("final\n", encoding="utf-8")
    (data / "creds.env").write_text(AWS, encoding="utf-8")
    (data / "[bold]odd\nname").write_text("x", encoding="utf-8")
    ids = {a.path.name: a.id for a in q.scan()}
    return Review(empty_home, out, ids)


def run(enclosure: Any, review: Review, *args: str) -> Any:
    return enclosure("--home", review.home, "artifacts", *args)


def assert_refused(result, code: str) -> None:
    assert result.status == 2, result
    [line] = result.err_lines()
    assert line.startswith(f"enclosure: {code}: ")


def events(home: Path) -> list[dict[str, Any]]:
    with DecisionLog.open_home(home) as log:
        return [s.event.model_dump(mode="json") for s in log.events(kinds=["artifact"])]


# ---- list and diff -----------------------------------------------------------------


def test_list_json_has_every_artifact_with_its_findings(enclosure, review):
    result = run(enclosure, review, "list", RUN, "--json")
    assert result.status == 0
    listed = {a["id"]: a for a in json.loads(result.out)}
    assert set(listed) == set(review.ids.values())
    creds = listed[review.ids["creds.env"]]
    assert creds["findings"] == ["secret:AWS Access Key"]
    assert creds["state"] == "pending"
    assert listed[review.ids["notes.txt"]]["change"] == "modified"


def test_list_table_prints_names_escaped_and_never_as_markup(enclosure, review):
    result = run(enclosure, review, "list", RUN)
    assert result.status == 0
    assert review.ids["notes.txt"] in result.out
    assert "[bold]odd\\nname" in result.out
    assert "bad-name" in result.out


def test_list_of_an_unknown_run_is_refused(enclosure, review):
    assert_refused(run(enclosure, review, "list", "run_nope"), "E-ARTIFACT-NOT-FOUND")


def test_diff_shows_one_artifact_or_all(enclosure, review):
    one = run(enclosure, review, "diff", RUN, review.ids["notes.txt"])
    assert one.status == 0
    assert one.out.splitlines()[-2:] == ["-draft", "+final"]
    every = run(enclosure, review, "diff", RUN)
    assert every.out.count("+++ ") == 3


# ---- promote -------------------------------------------------------------------------


def test_promote_with_yes_writes_the_host_and_logs_who(enclosure, review):
    result = run(
        enclosure,
        review,
        "promote",
        RUN,
        review.ids["notes.txt"],
        "--by",
        "bob",
        "--yes",
    )
    assert result.status == 0, result
    assert (review.out / "notes.txt").read_text(encoding="utf-8") == "final\n"
    [event] = events(review.home)
    assert (event["action"], event["by"]) == ("promoted", "bob")
    again = run(
        enclosure,
        review,
        "promote",
        RUN,
        review.ids["notes.txt"],
        "--by",
        "bob",
        "--yes",
    )
    assert_refused(again, "E-ARTIFACT-DECIDED")


@pytest.mark.parametrize(("answer", "promoted"), [("y\n", True), ("n\n", False)])
def test_promote_asks_for_confirmation(
    enclosure, review, monkeypatch, answer, promoted
):
    monkeypatch.setattr("sys.stdin", io.StringIO(answer))
    notes = review.ids["notes.txt"]
    result = run(enclosure, review, "promote", RUN, notes, "--by", "bob")
    assert notes in result.out
    assert result.status == (0 if promoted else 130)
    text = (review.out / "notes.txt").read_text(encoding="utf-8")
    assert text == ("final\n" if promoted else "draft\n")


def test_promote_all_refuses_findings_until_accepted(enclosure, review):
    refused = run(enclosure, review, "promote", RUN, "--all", "--by", "bob", "--yes")
    assert_refused(refused, "E-ARTIFACT-FINDINGS")
    assert not (review.out / "creds.env").exists()
    assert (review.out / "notes.txt").read_text(encoding="utf-8") == "draft\n"
    accepted = run(
        enclosure,
        review,
        "promote",
        RUN,
        "--all",
        "--by",
        "bob",
        "--yes",
        "--accept-findings",
    )
    assert accepted.status == 0, accepted
    assert (review.out / "creds.env").read_text(encoding="utf-8") == AWS
    assert all(e["reason"] for e in events(review.home) if e["findings"])


@pytest.mark.parametrize(
    "args",
    [
        ["promote", RUN, "--by", "bob", "--yes"],
        ["promote", RUN, "art_x", "--all", "--by", "bob", "--yes"],
        ["promote", RUN, "art_x", "--yes"],
        ["reject", RUN, "--by", "bob", "--reason", "r"],
    ],
    ids=["no-ids", "ids-and-all", "no-by", "reject-no-ids"],
)
def test_bad_arguments_are_usage_errors(enclosure, review, args):
    result = run(enclosure, review, *args)
    assert_refused(result, "E-USAGE")


def test_ci_promotes_with_the_token_without_a_prompt(enclosure, review, monkeypatch):
    created = run(enclosure, review, "token")
    assert created.status == 0
    token = created.out.strip()
    assert token not in (review.home / "promote-token.sha256").read_text(
        encoding="ascii"
    )
    monkeypatch.setenv("ENCLOSURE_PROMOTE_TOKEN", token)
    result = run(
        enclosure, review, "promote", RUN, review.ids["notes.txt"], "--by", "ci"
    )
    assert result.status == 0, result
    [event] = events(review.home)
    assert event["by"] == "ci"
    assert event["reason"] == "approved with the CI promotion token"


def test_a_wrong_token_is_refused_and_nothing_is_written(enclosure, review):
    run(enclosure, review, "token")
    result = run(
        enclosure,
        review,
        "promote",
        RUN,
        review.ids["notes.txt"],
        "--by",
        "ci",
        "--token",
        "enc_pt_guess",
    )
    assert_refused(result, "E-ARTIFACT-TOKEN")
    assert (review.out / "notes.txt").read_text(encoding="utf-8") == "draft\n"
    assert events(review.home) == []


def test_a_host_change_since_the_run_started_is_refused(enclosure, review):
    (review.out / "notes.txt").write_text("edited by a human\n", encoding="utf-8")
    result = run(
        enclosure,
        review,
        "promote",
        RUN,
        review.ids["notes.txt"],
        "--by",
        "bob",
        "--yes",
    )
    assert_refused(result, "E-ARTIFACT-CONFLICT")
    text = (review.out / "notes.txt").read_text(encoding="utf-8")
    assert text == "edited by a human\n"


def test_promote_without_a_decision_log_is_refused(enclosure, tmp_path):
    home = tmp_path / "bare-home"
    out = tmp_path / "out2"
    q = Quarantine.create(home / "quarantine", RUN, [out])
    (q.mounts[0].host / "f").write_text("x", encoding="utf-8")
    [artifact] = q.scan()
    result = enclosure(
        "--home",
        home,
        "artifacts",
        "promote",
        RUN,
        artifact.id,
        "--by",
        "bob",
        "--yes",
    )
    assert_refused(result, "E-AUDIT-NOT-FOUND")
    assert not out.exists()


# ---- reject --------------------------------------------------------------------------


def test_reject_records_the_reason_and_keeps_the_host_as_it_was(enclosure, review):
    creds = review.ids["creds.env"]
    result = run(
        enclosure,
        review,
        "reject",
        RUN,
        creds,
        "--by",
        "carol",
        "--reason",
        "leaks a key",
    )
    assert result.status == 0, result
    assert not (review.out / "creds.env").exists()
    [event] = events(review.home)
    assert (event["action"], event["by"], event["reason"]) == (
        "rejected",
        "carol",
        "leaks a key",
    )
    listed = json.loads(run(enclosure, review, "list", RUN, "--json").out)
    assert {a["id"]: a["state"] for a in listed}[creds] == "rejected"
    assert (review.home / "quarantine" / RUN / "0" / "data" / "creds.env").exists()
