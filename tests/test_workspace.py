from __future__ import annotations

import gc
import threading
import weakref

import pytest
import sqlalchemy as sa

from enclosure._workspace import render_command
from enclosure.audit import DecisionLog
from enclosure.errors import AuditUnavailable, RunKilled, ToolFailed
from enclosure.testing import make_enclosure

pytestmark = pytest.mark.sandbox

TOOLS = """
agent: {name: cmd}
compute: {wall_time: 5s, cpu: 2s, output: 4KiB}
redact: {env: [WS_TEST_SECRET]}
tools:
  count:
    effect: read
    command: [wc, -c]
  greet:
    effect: read
    command: [echo, "hello {name}"]
    input_schema:
      type: object
      properties: {name: {type: string}}
  stats:
    effect: read
    command: [sh, -c, 'printf "{\\"n\\": %s}" "$(wc -c)"']
    output_schema:
      type: object
      properties: {n: {type: integer}}
      required: [n]
  fail:
    command: [sh, -c, "echo broken >&2; exit 4"]
  spin:
    command: [python3, -c, "while True: pass"]
  leak:
    effect: read
    command: [sh, -c, "echo $WS_TEST_SECRET"]
  hang:
    command: [sleep, "60"]
"""


def events(enc, kind):
    return [e.event for e in enc.log.events(kinds=[kind])]


def test_placeholders_fill_one_argv_element_each():
    assert render_command(["a", "{x}", "--n={n}"], {"x": "1 2; rm", "n": 3}) == [
        "a",
        "1 2; rm",
        "--n=3",
    ]
    with pytest.raises(ToolFailed) as info:
        render_command(["{missing}"], {})
    assert info.value.code == "E-COMMAND-ARG"


def test_a_command_tool_runs_in_the_sandbox_with_a_receipt(tmp_path):
    with make_enclosure(TOOLS, tmp_path) as enc, enc.start_run(task="t") as run:
        result = run.call("greet", {"name": "Ada"})
        assert result.status == "executed"
        assert result.value["stdout"] == "hello Ada\n"
        sandbox = result.receipt.sandbox
        assert sandbox["exit_code"] == 0
        assert sandbox["limit"] is None
        assert len(sandbox["output_sha256"]) == 64
        (execd,) = events(enc, "exec")
        assert execd.call_id == result.receipt.call_id
        assert execd.backend == "bubblewrap"
        (res,) = events(enc, "result")
        assert res.receipt["sandbox"]["output_sha256"] == sandbox["output_sha256"]


def test_arguments_arrive_as_json_on_stdin_and_json_output_is_parsed(tmp_path):
    with make_enclosure(TOOLS, tmp_path) as enc, enc.start_run(task="t") as run:
        assert run.call("count", {"a": 1}).value["stdout"].strip() == "7"
        assert run.call("stats", {"a": 1}).value == {"n": 7}


def test_failures_and_limits_are_coded(tmp_path):
    with make_enclosure(TOOLS, tmp_path) as enc, enc.start_run(task="t") as run:
        failed = run.call("fail")
        assert failed.status == "failed"
        assert failed.error.code == "E-COMMAND-FAILED"
        assert "broken" in failed.error.message
        spun = run.call("spin")
        assert spun.error.code == "E-SANDBOX-LIMIT"
        assert spun.receipt.sandbox["limit"] == "cpu"
        assert run.state.errors == 2


def test_secrets_are_redacted_from_command_output(tmp_path, monkeypatch):
    monkeypatch.setenv("WS_TEST_SECRET", "s3cr3t-value-123")
    text = TOOLS.replace("compute: {", "compute: {env: [WS_TEST_SECRET], ")
    with make_enclosure(text, tmp_path) as enc, enc.start_run(task="t") as run:
        value = run.call("leak").value
        assert "s3cr3t-value-123" not in value["stdout"]


def test_killing_the_run_stops_a_running_command_at_once(tmp_path):
    with make_enclosure(TOOLS, tmp_path) as enc:
        run = enc.start_run(task="t")
        results = []
        worker = threading.Thread(target=lambda: results.append(run.call("hang")))
        worker.start()
        sandbox = run.workspace.sandbox()
        assert sandbox.wait_running(timeout=10)
        run.kill("operator pressed the kill switch")
        worker.join(timeout=10)
        assert not worker.is_alive()
        assert results[0].status == "failed"
        assert results[0].error.code == "E-SANDBOX-LIMIT"
        assert run.call("greet", {"name": "x"}).status == "killed"


def test_no_sandbox_means_the_call_fails_closed(tmp_path, monkeypatch):
    from enclosure.sandbox import _bwrap  # noqa: PLC0415

    monkeypatch.setattr(_bwrap, "_probed", {})
    monkeypatch.setenv("ENCLOSURE_BWRAP", str(tmp_path / "no-bwrap"))
    marker = tmp_path / "ran"
    text = TOOLS + f"  touch:\n    command: [touch, '{marker}']\n"
    with make_enclosure(text, tmp_path) as enc, enc.start_run(task="t") as run:
        result = run.call("touch")
        assert result.status == "failed"
        assert result.error.code == "E-SANDBOX-UNAVAILABLE"
    assert not marker.exists()


def test_an_unsandboxed_backend_is_logged_as_a_warning(tmp_path):
    text = TOOLS.replace("compute: {", "compute: {backend: none, ")
    with make_enclosure(text, tmp_path) as enc, enc.start_run(task="t") as run:
        assert run.call("greet", {"name": "x"}).ok
        (alert,) = events(enc, "alert")
        assert alert.severity == "warning"
        assert alert.rule == "compute.backend"
        assert events(enc, "exec")[0].backend == "none"


def test_writes_stay_in_quarantine_and_are_scanned_at_run_end(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("original\n", encoding="utf-8")
    text = f"""
agent: {{name: w}}
filesystem: {{write: ["{out}"]}}
tools:
  write:
    command: [sh, -c, "echo changed > {out}/keep.txt; echo new > {out}/new.txt"]
"""
    with make_enclosure(text, tmp_path / "home") as enc:
        with enc.start_run(task="t") as run:
            assert run.call("write").ok
            assert (out / "keep.txt").read_text(encoding="utf-8") == "original\n"
            assert not (out / "new.txt").exists()
        scanned = {e.path: e.change for e in events(enc, "artifact")}
    assert scanned == {str(out / "keep.txt"): "modified", str(out / "new.txt"): "added"}


def test_a_kill_made_by_another_process_stops_a_running_command(tmp_path):
    with make_enclosure(TOOLS, tmp_path) as enc:
        run = enc.start_run(task="t")
        fired = []
        heard = threading.Event()

        def on_kill(_run, reason):
            fired.append(reason)
            heard.set()

        run.on_kill(on_kill)
        results = []
        worker = threading.Thread(target=lambda: results.append(run.call("hang")))
        worker.start()
        assert run.workspace.sandbox().wait_running(timeout=10)
        # A second enclosure on the same log, as a server or the dashboard is.
        _kill_elsewhere(tmp_path, run, "killed from the dashboard", by="ops")
        worker.join(timeout=20)  # `sleep 60` would hold it for a minute
        assert not worker.is_alive()
        assert results[0].status == "failed"
        assert results[0].error.code == "E-SANDBOX-LIMIT"
        # Killed, not stopped by its own 5 s wall-time cap.
        assert results[0].receipt.sandbox["limit"] == "killed"
        assert heard.wait(timeout=10)  # the listener's thread calls the hooks
        assert run.status == "killed"
        assert fired == ["killed from the dashboard"]
        assert run.call("greet", {"name": "x"}).status == "killed"
        assert fired == ["killed from the dashboard"]
        assert enc.log.verify().ok


def test_a_command_of_a_run_killed_elsewhere_never_starts(tmp_path):
    with make_enclosure(TOOLS, tmp_path) as enc:
        run = enc.start_run(task="t")
        _kill_elsewhere(tmp_path, run, "stop")
        with pytest.raises(RunKilled):
            run.workspace.exec(["touch", str(tmp_path / "ran")])
        assert not (tmp_path / "ran").exists()
        assert events(enc, "exec") == []


def test_no_process_is_spawned_for_a_run_killed_elsewhere(tmp_path):
    with make_enclosure(TOOLS, tmp_path) as enc:
        run = enc.start_run(task="t")
        _kill_elsewhere(tmp_path, run, "stop")
        with pytest.raises(RunKilled):
            run.workspace.spawn(["sleep", "60"])
        assert run.status == "killed"


def _kill_elsewhere(home, run, reason, *, by=None):
    """Kill ``run`` through a second enclosure on its log, as a server would."""
    with make_enclosure(TOOLS, home) as other:
        other.resume_run(run.id).kill(reason, by=by)


def _command_in_flight(run):
    results = []
    worker = threading.Thread(target=lambda: results.append(run.call("hang")))
    worker.start()
    assert run.workspace.sandbox().wait_running(timeout=10)
    return worker, results


def test_one_listener_serves_every_command_and_stops_only_the_killed_run(tmp_path):
    with make_enclosure(TOOLS, tmp_path) as enc:
        doomed, spared = enc.start_run(task="doomed"), enc.start_run(task="spared")
        doomed_worker, doomed_results = _command_in_flight(doomed)
        spared_worker, spared_results = _command_in_flight(spared)
        listeners = [t for t in threading.enumerate() if t.name == "enclosure-kills"]
        assert len(listeners) == 1
        _kill_elsewhere(tmp_path, doomed, "only this one")
        doomed_worker.join(timeout=20)
        assert doomed_results[0].receipt.sandbox["limit"] == "killed"
        assert spared_worker.is_alive()
        assert spared.status == "running"
        spared.kill("done with the test")
        spared_worker.join(timeout=20)
        assert spared_results[0].status == "failed"


def test_a_lost_listening_connection_is_opened_again(tmp_path, postgres):
    """PostgreSQL ends the LISTEN connection; the kill made after is still heard."""
    url = postgres.fresh_url()
    with make_enclosure(TOOLS, tmp_path, log=DecisionLog(url)) as enc:
        run = enc.start_run(task="t")
        worker, results = _command_in_flight(run)
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            ended = conn.execute(
                sa.text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                    " WHERE query LIKE 'LISTEN %' AND pid <> pg_backend_pid()"
                )
            ).scalar()
        engine.dispose()
        assert ended == 1
        with make_enclosure(TOOLS, tmp_path, log=DecisionLog(url)) as other:
            other.resume_run(run.id).kill("after the connection dropped")
        worker.join(timeout=20)
        assert not worker.is_alive()
        assert results[0].receipt.sandbox["limit"] == "killed"


def test_a_slow_kill_hook_of_one_run_does_not_hold_up_another_runs_kill(tmp_path):
    release = threading.Event()
    with make_enclosure(TOOLS, tmp_path) as enc:
        slow, other_run = enc.start_run(task="slow"), enc.start_run(task="other")
        slow.on_kill(lambda _run, _reason: release.wait(timeout=30))
        slow_worker, _ = _command_in_flight(slow)
        other_worker, other_results = _command_in_flight(other_run)
        _kill_elsewhere(tmp_path, slow, "first")
        slow_worker.join(timeout=20)  # its hook now blocks, in its own thread
        _kill_elsewhere(tmp_path, other_run, "second")
        other_worker.join(timeout=20)
        assert other_results[0].receipt.sandbox["limit"] == "killed"  # not capped
        release.set()


def test_the_listener_outlives_a_run_that_fails_to_take_its_kill_on(
    tmp_path, monkeypatch
):
    with make_enclosure(TOOLS, tmp_path) as enc:
        broken = enc.start_run(task="broken")

        def fails() -> None:
            msg = "the quarantine scan broke"
            raise ValueError(msg)

        monkeypatch.setattr(broken.workspace, "close", fails)
        worker, results = _command_in_flight(broken)
        _kill_elsewhere(tmp_path, broken, "first")
        worker.join(timeout=20)
        assert results[0].receipt.sandbox["limit"] == "killed"
        later = enc.start_run(task="later")
        worker, results = _command_in_flight(later)
        _kill_elsewhere(tmp_path, later, "second")
        worker.join(timeout=20)
        assert results[0].receipt.sandbox["limit"] == "killed"
        monkeypatch.undo()
        broken.workspace.close()  # what the broken close left open


def test_a_closed_log_is_not_kept_alive_by_its_kill_listener(tmp_path):
    with make_enclosure(TOOLS, tmp_path) as enc, enc.start_run(task="t") as run:
        assert run.call("greet", {"name": "x"}).status == "executed"
        gone = weakref.ref(enc.log)
    del enc, run
    gc.collect()
    assert gone() is None


def test_commands_in_a_row_share_one_listener_which_stops_once_idle(tmp_path):
    def listeners():
        return [t for t in threading.enumerate() if t.name == "enclosure-kills"]

    earlier = set(listeners())  # other tests' listeners may still linger
    with make_enclosure(TOOLS, tmp_path) as enc, enc.start_run(task="t") as run:
        assert run.call("greet", {"name": "a"}).status == "executed"
        [first] = set(listeners()) - earlier
        assert run.call("greet", {"name": "b"}).status == "executed"
        assert set(listeners()) - earlier == {first}  # no new connection
        first.join(timeout=10)  # a whole wait with nothing in flight ends it
        assert not first.is_alive()


def test_a_failed_check_leaves_the_listener_listening(tmp_path, monkeypatch):
    with make_enclosure(TOOLS, tmp_path) as enc:
        run = enc.start_run(task="t")
        checked = enc.log.run_closed
        failures = []

        def flaky(run_id):  # fails once, in the listener only
            if threading.current_thread().name == "enclosure-kills" and not failures:
                failures.append(run_id)
                msg = "a bug in a check"
                raise RuntimeError(msg)
            return checked(run_id)

        monkeypatch.setattr(enc.log, "run_closed", flaky)
        worker, results = _command_in_flight(run)
        _kill_elsewhere(tmp_path, run, "stop")
        worker.join(timeout=20)
        assert failures == [run.id]
        assert results[0].receipt.sandbox["limit"] == "killed"


def test_a_kill_heard_stops_the_command_even_if_reading_it_fails(tmp_path, monkeypatch):
    with make_enclosure(TOOLS, tmp_path) as enc:
        run = enc.start_run(task="t")

        def unreadable(run_id):
            msg = "the decision log cannot be read"
            raise AuditUnavailable(msg)

        worker, results = _command_in_flight(run)
        monkeypatch.setattr(enc.log, "closing_event", unreadable)
        _kill_elsewhere(tmp_path, run, "stop")
        worker.join(timeout=20)
        assert results[0].receipt.sandbox["limit"] == "killed"
        monkeypatch.undo()
