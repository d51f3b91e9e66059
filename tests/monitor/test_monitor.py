import hashlib
import hmac
import json
import logging

import pytest

from enclosure._webhook import SIGNATURE_HEADER
from enclosure.testing import FakeClock, make_enclosure

MANIFEST = """
agent: {name: clerk}
tools:
  lookup: {effect: read}
  flaky: {effect: read}
monitoring:
  detectors:
    repeated_calls: {max: 3, window: 60s, kill: true}
    error_streak: {max: 2}
  notify:
    stdout: true
    webhooks:
      - {url: "%s/alerts", secret_env: ALERT_KEY}
"""


def test_an_anomaly_alerts_everywhere_and_kills_when_told(
    tmp_path, receiver, monkeypatch, capsys
):
    monkeypatch.setenv("ALERT_KEY", "hmac-key")
    clock = FakeClock()
    with make_enclosure(MANIFEST % receiver.url, tmp_path, clock=clock) as enc:
        enc.tool("lookup")(lambda key: {"key": key})

        @enc.tool("flaky")
        def flaky(key: str) -> dict:
            raise RuntimeError(key)

        run = enc.start_run(task="t")
        run.call("flaky", {"key": "a"})
        run.call("flaky", {"key": "b"})  # error streak: notify only
        assert run.status == "running"
        for _ in range(3):
            run.call("lookup", {"key": "same"})
        assert run.status == "killed"
        assert run.call("lookup", {"key": "x"}).status == "killed"
        alerts = [s.event for s in enc.log.events(kinds=["anomaly"])]
        assert [(a.detector, a.action) for a in alerts] == [
            ("error_streak", "notify"),
            ("repeated_calls", "kill"),
        ]
        assert all(a.latency_us >= 0 for a in alerts)
        assert len(enc.monitor.latencies) == 2
        kill = enc.log.events(kinds=["kill"])[-1].event
        assert kill.rule == "monitor.repeated_calls"
    got = receiver.wait_for(2, "/alerts")
    for request in got:
        mac = hmac.new(b"hmac-key", request.body, hashlib.sha256).hexdigest()
        assert request.headers[SIGNATURE_HEADER] == f"sha256={mac}"
    assert [json.loads(r.body)["detector"] for r in got] == [
        "error_streak",
        "repeated_calls",
    ]
    assert "ALERT [repeated_calls]" in capsys.readouterr().out
    assert "hmac-key" not in json.dumps([r.body.decode() for r in got])


def test_no_detectors_no_monitor(tmp_path):
    with make_enclosure("agent: {name: a}", tmp_path) as enc:
        assert enc.monitor is None


# --- each detector, live: kill stops the run, before the triggering call runs -------

KILLING = """
agent: {name: clerk}
tools:
  lookup: {effect: read}
  fetch: {effect: read}
  pricey: {effect: read, cost: 1.0}
  flaky: {effect: read}
  banned: {effect: read}
rules:
  - {then: deny, tools: [banned]}
monitoring:
  detectors:
    %s
  notify: {stdout: false, log: false}
"""


def _live(tmp_path, detector, clock=None):
    enc = make_enclosure(KILLING % detector, tmp_path, clock=clock or FakeClock())
    ran: list[str] = []
    for name in ("lookup", "fetch", "pricey"):
        enc.tool(name)(lambda key, _name=name: ran.append(_name) or {"key": key})

    @enc.tool("flaky")
    def flaky(key: str) -> dict:
        ran.append("flaky")
        raise RuntimeError(key)

    enc.tool("banned")(lambda key: ran.append("banned"))
    return enc, ran


def _call_rate(run, clock):
    results = []
    for n in range(30):  # 1 call/s: a baseline of 10 per 10 s
        results.append(run.call("lookup", {"key": f"k{n}"}))
        clock.advance(1)
    clock.advance(10)
    return results + [run.call("lookup", {"key": f"b{n}"}) for n in range(21)]


def _new_tool(run, clock):
    earlier = run._enc.start_run(task="earlier")
    first = earlier.call("lookup", {"key": "a"})
    earlier.end()
    return [first, run.call("lookup", {"key": "b"}), run.call("fetch", {"key": "c"})]


def _cost_burn(run, clock):
    return [run.call("pricey", {"key": f"k{n}"}) for n in range(2)]


def _denials(run, clock):
    return [run.call("banned", {"key": f"k{n}"}) for n in range(3)]


def _repeated(run, clock):
    return [run.call("lookup", {"key": "same"}) for _ in range(3)]


def _errors(run, clock):
    return [run.call("flaky", {"key": f"k{n}"}) for n in range(2)]


@pytest.mark.parametrize(
    ("detector", "drive", "trigger_runs"),
    [
        ("call_rate: {factor: 2, window: 10s, min_calls: 1, baseline: 20s, kill: true}",
         _call_rate, False),
        ("new_tool: {kill: true}", _new_tool, False),
        ("repeated_calls: {max: 3, window: 1m, kill: true}", _repeated, False),
        ("denials: {max: 3, window: 1m, kill: true}", _denials, False),
        # These two see results: the triggering call has run.
        ("cost_burn: {max_per_minute: 1.5, window: 1m, kill: true}", _cost_burn, True),
        ("error_streak: {max: 2, kill: true}", _errors, True),
    ],
    ids=["call_rate", "new_tool", "repeated_calls", "denials", "cost_burn",
         "error_streak"],
)  # fmt: skip
def test_a_killing_detector_kills_the_run_and_refuses_the_next_call(
    tmp_path, detector, drive, trigger_runs
):
    clock = FakeClock()
    enc, ran = _live(tmp_path, detector, clock)
    name = detector.split(":")[0]
    with enc:
        run = enc.start_run(task="t")
        results = drive(run, clock)
        *before, trigger = results
        assert all(r.status != "killed" for r in before)
        assert run.status == "killed"
        assert run.state.killed.startswith("monitor: ")
        ran_before = list(ran)
        assert len(ran) == sum(r.status in ("executed", "failed") for r in results)
        if not trigger_runs and trigger.decision.outcome == "allow":
            # The kill came while the call's decision was stored: it never ran.
            assert (trigger.status, trigger.error.code) == ("killed", "E-RUN-KILLED")
            result = enc.log.events(kinds=["result"])[-1].event
            assert (result.call_id, result.disposition) == (
                trigger.receipt.call_id,
                "failed",
            )
        refused = run.call("lookup", {"key": "after"})
        assert (refused.status, refused.error.code) == ("killed", "E-RUN-KILLED")
        assert ran == ran_before  # nothing ran after the kill
        kill = enc.log.events(kinds=["kill"])[-1].event
        assert kill.rule == f"monitor.{name}"
        anomaly = enc.log.events(kinds=["anomaly"])[-1].event
        assert (anomaly.detector, anomaly.action) == (name, "kill")
        assert enc.verify().ok


def test_a_detector_without_kill_only_notifies(tmp_path):
    enc, ran = _live(tmp_path, "repeated_calls: {max: 2, window: 1m}")
    with enc:
        run = enc.start_run(task="t")
        results = [run.call("lookup", {"key": "same"}) for _ in range(3)]
        assert [r.status for r in results] == ["executed"] * 3
        assert run.status == "running"
        assert ran == ["lookup"] * 3
        alerts = enc.log.events(kinds=["anomaly"])
        assert [a.event.action for a in alerts] == ["notify"]


# --- where notices go ---------------------------------------------------------------

NOTIFY = """
agent: {name: clerk}
tools:
  lookup: {effect: read}
monitoring:
  detectors:
    repeated_calls: {max: 2, window: 1m}
  notify: %s
"""


def _two_repeats(tmp_path, notify):
    with make_enclosure(NOTIFY % notify, tmp_path) as enc:
        enc.tool("lookup")(lambda key: {"key": key})
        run = enc.start_run(task="t")
        for _ in range(2):
            run.call("lookup", {"key": "same"})
        return run.id


def test_notify_stdout_only(tmp_path, capsys, caplog):
    caplog.set_level(logging.WARNING, logger="enclosure")
    run_id = _two_repeats(tmp_path, "{stdout: true, log: false}")
    out = capsys.readouterr().out
    assert f"enclosure: ALERT [repeated_calls] run {run_id}: 2 identical" in out
    assert not [r for r in caplog.records if "ALERT [" in r.getMessage()]


def test_notify_log_only(tmp_path, capsys, caplog):
    caplog.set_level(logging.WARNING, logger="enclosure")
    run_id = _two_repeats(tmp_path, "{stdout: false, log: true}")
    assert "ALERT" not in capsys.readouterr().out
    [record] = [r for r in caplog.records if "ALERT [" in r.getMessage()]
    assert record.levelno == logging.WARNING
    assert f"ALERT [repeated_calls] run {run_id}" in record.getMessage()


def test_notify_webhook_unsigned_without_a_secret(tmp_path, receiver, capsys):
    notify = f"{{stdout: false, log: false, webhooks: [{{url: '{receiver.url}/a'}}]}}"
    run_id = _two_repeats(tmp_path, notify)
    [request] = receiver.wait_for(1, "/a")
    assert SIGNATURE_HEADER not in request.headers
    assert request.headers["Content-Type"].startswith("application/json")
    body = json.loads(request.body)
    assert body | {"trigger_seq": 0} == {
        "type": "enclosure.alert",
        "detector": "repeated_calls",
        "run_id": run_id,
        "message": "2 identical calls to 'lookup' within 60s",
        "action": "notify",
        "trigger_seq": 0,
    }
    assert body["trigger_seq"] > 0
    assert capsys.readouterr().out == ""
