from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
)
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)
from opentelemetry.trace import StatusCode

from enclosure.monitor import Telemetry
from enclosure.testing import make_enclosure

MANIFEST = """
agent: {name: clerk}
tools:
  lookup: {effect: read, cost: 0.5}
  send:
    rules:
      - {name: internal_only, when: "!args.to.endsWith('@example.com')", then: deny}
"""


def _calls(enc):
    enc.tool("lookup")(lambda key: {"key": key})
    enc.tool("send")(lambda to: {"sent": to})
    with enc.start_run(task="t", model="gpt-4o") as run:
        run.call("lookup", {"key": "k"})
        run.call("send", {"to": "x@evil.example"})
        run.record_usage("gpt-4o", input_tokens=1000, output_tokens=100)
        return run.id


def test_spans_and_metrics_follow_the_genai_conventions(tmp_path):
    spans, reader = InMemorySpanExporter(), InMemoryMetricReader()
    tracers = TracerProvider()
    tracers.add_span_processor(SimpleSpanProcessor(spans))
    telemetry = Telemetry(tracers, MeterProvider(metric_readers=[reader]))
    with make_enclosure(MANIFEST, tmp_path, telemetry=telemetry) as enc:
        run_id = _calls(enc)
        points = reader.get_metrics_data()
    by_name = {s.name: s for s in spans.get_finished_spans()}
    run_span = by_name["invoke_agent clerk"]
    assert run_span.attributes["gen_ai.operation.name"] == "invoke_agent"
    assert run_span.attributes["gen_ai.agent.id"] == run_id
    tool = by_name["execute_tool lookup"]
    assert tool.parent.span_id == run_span.context.span_id
    assert tool.attributes["gen_ai.operation.name"] == "execute_tool"
    assert tool.attributes["gen_ai.tool.name"] == "lookup"
    assert tool.attributes["gen_ai.tool.call.id"]
    assert tool.attributes["enclosure.policy.outcome"] == "allow"
    assert tool.attributes["enclosure.cost"] == 0.5
    denied = by_name["execute_tool send"]
    assert denied.attributes["enclosure.policy.rule"].endswith("internal_only")
    assert denied.attributes["error.type"] == "E-DENIED"
    metrics = {
        m.name: m
        for rm in points.resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
    }
    assert {
        "enclosure.calls",
        "enclosure.denials",
        "enclosure.cost",
        "gen_ai.execute_tool.duration",
        "enclosure.decision.duration",
    } <= set(metrics)
    cost = sum(p.value for p in metrics["enclosure.cost"].data.data_points)
    assert cost == 0.5 + (1000 * 2.5 + 100 * 10.0) / 1e6


def test_otlp_export_reaches_a_real_receiver_on_loopback(tmp_path, receiver):
    manifest = (
        MANIFEST
        + f"""
monitoring:
  otlp: {{endpoint: "{receiver.url}", service_name: enclosure-test}}
"""
    )
    with make_enclosure(manifest, tmp_path) as enc:
        _calls(enc)
    traces = ExportTraceServiceRequest.FromString(
        receiver.wait_for(1, "/v1/traces")[0].body
    )
    names = {
        span.name
        for rs in traces.resource_spans
        for ss in rs.scope_spans
        for span in ss.spans
    }
    assert {"invoke_agent clerk", "execute_tool lookup", "execute_tool send"} <= names
    resource = {
        a.key: a.value.string_value
        for a in traces.resource_spans[0].resource.attributes
    }
    assert resource["service.name"] == "enclosure-test"
    metrics = ExportMetricsServiceRequest.FromString(
        receiver.wait_for(1, "/v1/metrics")[0].body
    )
    exported = {
        m.name
        for rm in metrics.resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
    }
    assert "enclosure.calls" in exported


# --- a known sequence, exact figures -------------------------------------------------

SEQUENCE = """
agent: {name: clerk}
tools:
  lookup: {effect: read, cost: 0.5}
  flaky: {effect: read}
  wire:
    rules:
      - {name: ask_first, then: approve}
  send:
    rules:
      - {name: internal_only, when: "!args.to.endsWith('@example.com')", then: deny}
monitoring:
  detectors:
    repeated_calls: {max: 2, window: 1m}
  notify: {stdout: false, log: false}
"""


def _recorded(tmp_path):
    """lookup x2 (the 2nd alerts), flaky fails, send denied x2, wire parked, usage,
    then a manual kill."""
    spans, reader = InMemorySpanExporter(), InMemoryMetricReader()
    tracers = TracerProvider()
    tracers.add_span_processor(SimpleSpanProcessor(spans))
    telemetry = Telemetry(tracers, MeterProvider(metric_readers=[reader]))
    with make_enclosure(SEQUENCE, tmp_path, telemetry=telemetry) as enc:
        enc.tool("lookup")(lambda key: {"key": key})
        enc.tool("send")(lambda to: {"sent": to})
        enc.tool("wire")(lambda amount: {"wired": amount})

        @enc.tool("flaky")
        def flaky(key: str) -> dict:
            raise RuntimeError(key)

        run = enc.start_run(task="t", model="gpt-4o")
        run.call("lookup", {"key": "k"})
        run.call("lookup", {"key": "k"})
        run.call("flaky", {"key": "k"})
        run.call("send", {"to": "x@evil.example"})
        run.call("send", {"to": "y@evil.example"})
        assert run.call("wire", {"amount": 5}).status == "pending"
        run.record_usage("gpt-4o", input_tokens=1000, output_tokens=100)
        run.kill("enough", rule="manual")
        data = reader.get_metrics_data()
    metrics = {
        m.name: m for rm in data.resource_metrics for sm in rm.scope_metrics
        for m in sm.metrics
    }  # fmt: skip
    return spans.get_finished_spans(), metrics, run.id


def _sums(metric):
    """Each data point's value keyed by its sorted attributes."""
    return {
        tuple(sorted(p.attributes.items())): p.value for p in metric.data.data_points
    }


def test_counters_after_a_known_sequence(tmp_path):
    _, metrics, _ = _recorded(tmp_path)
    tool, outcome = "gen_ai.tool.name", "enclosure.policy.outcome"
    assert _sums(metrics["enclosure.calls"]) == {
        ((outcome, "allow"), (tool, "lookup")): 2,
        ((outcome, "allow"), (tool, "flaky")): 1,
        ((outcome, "deny"), (tool, "send")): 2,
        ((outcome, "approve"), (tool, "wire")): 1,
    }
    [(attrs, denials)] = _sums(metrics["enclosure.denials"]).items()
    assert denials == 2
    assert dict(attrs)["enclosure.policy.rule"].endswith("internal_only")
    assert _sums(metrics["enclosure.approvals"]) == {
        (("enclosure.approval.action", "requested"),): 1
    }
    assert _sums(metrics["enclosure.alerts"]) == {
        (("enclosure.detector", "repeated_calls"),): 1
    }
    assert _sums(metrics["enclosure.kills"]) == {
        (("enclosure.kill.rule", "manual"),): 1
    }
    usage = (1000 * 2.5 + 100 * 10.0) / 1e6  # gpt-4o's built-in price
    assert _sums(metrics["enclosure.cost"]) == {
        ((tool, "lookup"),): 1.0,  # 0.5 a call; flaky has no price
        (("gen_ai.request.model", "gpt-4o"),): usage,
    }


def test_histograms_count_every_decision_and_every_tool_run(tmp_path):
    _, metrics, _ = _recorded(tmp_path)
    decided = metrics["enclosure.decision.duration"]
    assert decided.unit == "s"
    assert sum(p.count for p in decided.data.data_points) == 6
    ran = metrics["gen_ai.execute_tool.duration"]
    assert ran.unit == "s"
    counts = {p.attributes["gen_ai.tool.name"]: p.count for p in ran.data.data_points}
    assert counts == {"lookup": 2, "flaky": 1}


def test_spans_name_and_nest_every_call(tmp_path):
    spans, _, run_id = _recorded(tmp_path)
    [run_span] = [s for s in spans if s.name == "invoke_agent clerk"]
    assert dict(run_span.attributes) == {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": "clerk",
        "gen_ai.agent.id": run_id,
        "gen_ai.conversation.id": run_id,
        "gen_ai.request.model": "gpt-4o",
        "enclosure.task": "t",
        "enclosure.run.status": "killed",
        "enclosure.cost": run_span.attributes["enclosure.cost"],
    }
    tools = [s for s in spans if s.name.startswith("execute_tool ")]
    assert sorted(s.name for s in tools) == [
        "execute_tool flaky",
        "execute_tool lookup",
        "execute_tool lookup",
        "execute_tool send",
        "execute_tool send",
        "execute_tool wire",
    ]
    for span in tools:
        assert span.parent.span_id == run_span.context.span_id
        attrs = span.attributes
        assert attrs["gen_ai.operation.name"] == "execute_tool"
        assert attrs["gen_ai.tool.name"] == span.name.removeprefix("execute_tool ")
        assert attrs["gen_ai.tool.type"] == "function"
        assert attrs["gen_ai.agent.name"] == "clerk"
        assert attrs["gen_ai.conversation.id"] == run_id
        assert attrs["gen_ai.request.model"] == "gpt-4o"
        assert len(attrs["gen_ai.tool.call.id"]) == 16
    by_tool = {s.name: s for s in tools}
    ok = by_tool["execute_tool lookup"]
    assert ok.status.is_ok
    assert "error.type" not in ok.attributes
    assert ok.attributes["enclosure.disposition"] == "executed"
    failed = by_tool["execute_tool flaky"]
    assert failed.status.status_code is StatusCode.ERROR
    assert failed.attributes["error.type"] == "E-TOOL-FAILED"
    assert failed.attributes["enclosure.disposition"] == "failed"
    denied = by_tool["execute_tool send"]
    assert denied.attributes["error.type"] == "E-DENIED"
    assert denied.attributes["enclosure.disposition"] == "blocked"
    parked = by_tool["execute_tool wire"]
    assert parked.attributes["enclosure.policy.outcome"] == "approve"
    assert parked.attributes["enclosure.disposition"] == "pending"
