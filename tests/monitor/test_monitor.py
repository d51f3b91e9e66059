import hashlib
import hmac
import json

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
