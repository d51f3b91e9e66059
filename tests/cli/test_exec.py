from __future__ import annotations

import pytest

from enclosure._enclosure import open_log
from enclosure.sandbox import _bwrap

pytestmark = pytest.mark.sandbox


@pytest.fixture
def manifest(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text(
        "agent: {name: exec-test}\ncompute: {wall_time: 1s, output: 1KiB}\n",
        encoding="utf-8",
    )
    return path


def test_exec_prints_the_output_and_exits_with_the_status(enclosure, home, manifest):
    done = enclosure(
        "--home", home, "exec", "-m", manifest, "--", "sh", "-c", "echo out; exit 7"
    )
    assert done.status == 7
    assert done.out == "out\n"
    log = open_log(home)
    try:
        (event,) = [e.event for e in log.events(kinds=["exec"])]
        assert event.argv == ["sh", "-c", "echo out; exit 7"]
        assert event.exit_code == 7
    finally:
        log.close()


def test_a_limit_exits_137_with_a_coded_line(enclosure, home, manifest):
    done = enclosure("--home", home, "exec", "-m", manifest, "--", "sleep", "30")
    assert done.status == 137
    assert "E-SANDBOX-LIMIT" in done.err
    assert "wall_time" in done.err


def test_inputs_are_bound_read_only(enclosure, home, manifest, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.txt").write_text("hello\n", encoding="utf-8")
    script = f"cat {data}/a.txt; touch {data}/b 2>/dev/null || echo read-only"
    done = enclosure(
        "--home",
        home,
        "exec",
        "-m",
        manifest,
        "--input",
        data,
        "--",
        "sh",
        "-c",
        script,
    )
    assert done.out == "hello\nread-only\n"
    assert not (data / "b").exists()


def test_a_missing_input_is_a_usage_error(enclosure, home, manifest, tmp_path):
    done = enclosure(
        "--home",
        home,
        "exec",
        "-m",
        manifest,
        "--input",
        tmp_path / "nope",
        "--",
        "true",
    )
    assert done.status == 2
    assert done.err.startswith("enclosure: E-USAGE-ARG:")


def test_no_sandbox_refuses_in_one_line(
    enclosure, home, manifest, tmp_path, monkeypatch
):
    monkeypatch.setattr(_bwrap, "_probed", {})
    monkeypatch.setenv("ENCLOSURE_BWRAP", str(tmp_path / "missing"))
    marker = tmp_path / "ran"
    done = enclosure("--home", home, "exec", "-m", manifest, "--", "touch", marker)
    assert done.status == 2
    assert done.err.startswith("enclosure: E-SANDBOX-UNAVAILABLE:")
    assert len(done.err_lines()) == 1
    assert not marker.exists()
