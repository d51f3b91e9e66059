from rich.console import Console

from enclosure.audit import AnomalyEvent, RunRecord
from enclosure.cli._top import TopSnapshot, render
from enclosure.testing import make_enclosure


def _run(run_id, status, calls, started):
    return RunRecord(
        run_id=run_id, agent="clerk", task="t", model=None, prompt_version=None,
        manifest_sha256="m", started_by=None, status=status, started_at=started,
        ended_at=None, end_reason=None, calls=calls, denied=2, failed=1, cost=0.125,
    )  # fmt: skip


def test_render_shows_runs_rates_denials_cost_and_alerts():
    alert = AnomalyEvent(
        run_id="run_b", ts="t", detector="denials", severity="critical",
        message="5 calls denied within 60s", action="kill", trigger_seq=9,
        latency_us=40,
    )  # fmt: skip
    snap = TopSnapshot(
        at=1000.0,
        runs=[_run("run_a", "running", 30, 880.0), _run("run_b", "killed", 6, 940.0)],
        alerts=[alert],
    )
    out = Console(width=120, record=True, color_system=None)
    out.print(render(snap))
    text = out.export_text()
    assert "run_a" in text
    assert "15.0" in text  # 30 calls in 2 minutes
    assert "0.1250" in text
    assert "killed" in text
    assert "1 running, 2 shown" in text
    assert "ALERT [denials] run_b: 5 calls denied within 60s (kill)" in text


def test_top_once_reads_a_real_log(enclosure, home):
    with make_enclosure("agent: {name: clerk}\ntools: {lookup: {}}", home) as enc:
        enc.tool("lookup")(lambda key: key)
        run = enc.start_run(task="t")
        run.call("lookup", {"key": "k"})
        result = enclosure("--home", home, "top", "--once")
    assert result.status == 0
    assert run.id in result.out
    assert "running" in result.out
