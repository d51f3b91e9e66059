from pathlib import Path

import pytest

from enclosure import Enclosure
from enclosure._enclosure import default_home, open_log
from enclosure.errors import ManifestError, UsageError
from enclosure.testing import FakeClock, make_enclosure


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "enclosure.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_load_wires_policy_router_and_log(tmp_path: Path):
    path = write(tmp_path, "agent: {name: a}\ntools:\n  t: {handler: 'json:dumps'}\n")
    with Enclosure.load(path, home=tmp_path / "home") as enc:
        run = enc.start_run(task="x")
        assert run.call("t", {"obj": [1]}).value == "[1]"
        assert enc.get_run(run.id) is run
    assert (tmp_path / "home" / "enclosure.db").exists()


def test_bad_cel_is_reported_at_its_line_and_column(tmp_path: Path):
    path = write(
        tmp_path,
        "agent: {name: a}\ntools:\n  t:\n    rules:\n      - when: 'args.x =='\n"
        "        then: deny\n",
    )
    with pytest.raises(ManifestError) as exc:
        Enclosure.check(path)
    [issue] = exc.value.issues
    assert (issue.code, issue.line, issue.col) == ("E-MANIFEST-CEL", 5, 15)
    assert issue.file == str(path)


def test_bad_schema_and_missing_handler_are_located(tmp_path: Path):
    bad_schema = write(
        tmp_path, "agent: {name: a}\ntools:\n  t:\n    input_schema: {type: 3}\n"
    )
    with pytest.raises(ManifestError) as exc:
        Enclosure.check(bad_schema)
    assert [(i.code, i.line) for i in exc.value.issues] == [("E-MANIFEST-SCHEMA", 4)]
    missing = write(
        tmp_path, "agent: {name: a}\ntools:\n  t:\n    handler: nope_xyz:f\n"
    )
    Enclosure.check(missing)  # check does not import agent code
    with pytest.raises(ManifestError) as exc:
        Enclosure.load(missing, home=tmp_path)
    assert [(i.code, i.line, i.col) for i in exc.value.issues] == [
        ("E-MANIFEST-HANDLER", 4, 14)
    ]


def test_decorator_for_an_undeclared_tool_is_refused(tmp_path: Path):
    enc = make_enclosure("agent: {name: a}\n", tmp_path)
    with pytest.raises(UsageError) as exc:
        enc.tool("ghost")(lambda: None)
    assert exc.value.code == "E-TOOL-UNDECLARED"


def test_unknown_run_id_is_a_coded_error(tmp_path: Path):
    enc = make_enclosure("agent: {name: a}\n", tmp_path)
    with pytest.raises(UsageError) as exc:
        enc.get_run("run_nope")
    assert exc.value.code == "E-RUN-UNKNOWN"


def test_close_ends_open_runs(tmp_path: Path):
    enc = make_enclosure("agent: {name: a}\n", tmp_path)
    run = enc.start_run(task="x")
    enc.close()
    assert run.status == "completed"


def test_home_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    monkeypatch.setenv("ENCLOSURE_HOME", str(tmp_path / "h"))
    assert default_home() == tmp_path / "h"
    monkeypatch.delenv("ENCLOSURE_HOME")
    assert default_home() == Path(".enclosure")


def test_invalid_sync_mode_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("ENCLOSURE_DB_SYNC", "sometimes")
    with pytest.raises(UsageError) as exc:
        open_log(tmp_path)
    assert exc.value.code == "E-USAGE-ENV"
    monkeypatch.setenv("ENCLOSURE_DB_SYNC", "FULL")
    open_log(tmp_path).close()


def test_decisions_carry_the_manifest_hash(tmp_path: Path):
    enc = make_enclosure("agent: {name: a}\ntools: {t: {effect: read}}\n", tmp_path)
    enc.tool("t")(lambda: 1)
    result = enc.start_run(task="x").call("t")
    assert result.decision.manifest_sha256 == enc.manifest.sha256
    assert enc.log.get_run(result.receipt.run_id).manifest_sha256 == enc.manifest.sha256  # type: ignore[union-attr]


# --- resume_run: one run, several processes -------------------------------------------

RESUMABLE = """
agent: {name: a}
tools:
  push:
    rate: 3/minute
    on_exceed: kill
  look: {effect: read}
"""


def test_resume_run_rebuilds_rate_windows_from_the_log(tmp_path: Path):
    clock = FakeClock()
    first = make_enclosure(RESUMABLE, tmp_path, clock=clock)
    run = first.start_run(task="t", run_id="run_fixed")
    for n in range(2):
        assert run.propose("push", {"n": n}).status == "dispatched"
    first.log.close()  # the process ends; its run stays open in the log

    second = make_enclosure(RESUMABLE, tmp_path, clock=clock)
    again = second.resume_run("run_fixed")
    assert (again.state.calls, again.state.tool_calls) == (2, {"push": 2})
    assert again.propose("push", {"n": 2}).status == "dispatched"
    assert again.propose("push", {"n": 3}).status == "killed"
    second.log.close()

    third = make_enclosure(RESUMABLE, tmp_path, clock=clock)
    killed = third.resume_run("run_fixed")
    assert killed.status == "killed"
    assert killed.propose("look", {}).decision.rule == "run.killed"
    third.close()


def test_resumed_windows_slide_with_the_clock(tmp_path: Path):
    clock = FakeClock()
    first = make_enclosure(RESUMABLE, tmp_path, clock=clock)
    run = first.start_run(task="t", run_id="run_fixed")
    for n in range(3):
        run.propose("push", {"n": n})
    first.log.close()
    clock.advance(61)
    second = make_enclosure(RESUMABLE, tmp_path, clock=clock)
    assert second.resume_run("run_fixed").propose("push", {}).status == "dispatched"
    second.close()


def test_resume_run_of_an_unknown_id_is_a_coded_error(tmp_path: Path):
    enc = make_enclosure(RESUMABLE, tmp_path)
    with pytest.raises(UsageError) as exc:
        enc.resume_run("run_nope")
    assert exc.value.code == "E-RUN-UNKNOWN"
    run = enc.start_run(task="t")
    assert enc.resume_run(run.id) is run
    enc.close()


def test_start_run_refuses_a_taken_run_id(tmp_path: Path):
    enc = make_enclosure(RESUMABLE, tmp_path)
    enc.start_run(task="t", run_id="run_fixed")
    with pytest.raises(UsageError):
        enc.start_run(task="t", run_id="run_fixed")
    enc.close()
