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
