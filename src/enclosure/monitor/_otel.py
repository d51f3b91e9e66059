"""OpenTelemetry traces and metrics from the event stream (GenAI conventions).

``Telemetry`` is a decision-log observer. A run is an ``invoke_agent {agent}``
span; each call an ``execute_tool {tool}`` span under it, with the GenAI semantic
convention attributes (``gen_ai.operation.name``, ``gen_ai.tool.name``,
``gen_ai.tool.call.id``, ``gen_ai.tool.type``, ``gen_ai.agent.name``,
``gen_ai.agent.id``, ``gen_ai.conversation.id``, ``gen_ai.request.model``) and
Enclosure's own (``enclosure.policy.outcome``, ``enclosure.policy.rule``,
``enclosure.disposition``, ``enclosure.cost``). A failed call sets ``error.type``
and an error status. Metrics: counters of calls, denials, approvals, kills, alerts
and cost, and histograms of tool and decision latency
(``gen_ai.execute_tool.duration``, ``enclosure.decision.duration``, seconds).

OpenTelemetry is an extra (``pip install 'enclosure[otel]'``) and is imported only
here, when telemetry is asked for. OTLP/HTTP export is set up from the manifest's
``monitoring.otlp``; tests hand in their own providers (in-memory readers).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from enclosure.audit import (
    AnomalyEvent,
    ApprovalEvent,
    DecisionEvent,
    KillEvent,
    ResultEvent,
    RunEndedEvent,
    RunStartedEvent,
    UsageEvent,
)
from enclosure.errors import UsageError

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.sdk.metrics import MeterProvider as SdkMeterProvider
    from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
    from opentelemetry.trace import Span, TracerProvider

    from enclosure.audit import Appended, Event
    from enclosure.manifest import OtlpSpec

__all__ = ["Telemetry", "otlp_providers"]

_INSTALL = "OpenTelemetry is not installed: pip install 'enclosure[otel]'"
_FINAL = ("blocked", "simulated", "pending", "killed")


def _require() -> None:
    try:
        import opentelemetry.sdk  # noqa: F401, PLC0415 -- probing the extra
    except ImportError as exc:
        raise UsageError(_INSTALL, code="E-OTEL-MISSING") from exc


def otlp_providers(
    spec: OtlpSpec,
) -> tuple[SdkTracerProvider, SdkMeterProvider]:
    """Tracer and meter providers exporting OTLP/HTTP protobuf to ``spec.endpoint``.

    Raises:
        UsageError: ``E-OTEL-MISSING``, the ``otel`` extra is not installed.
    """
    _require()
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import (  # noqa: PLC0415 -- the extra
        OTLPMetricExporter,
    )
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # noqa: PLC0415 -- the extra
        OTLPSpanExporter,
    )
    from opentelemetry.sdk.metrics import MeterProvider as Meters  # noqa: PLC0415
    from opentelemetry.sdk.metrics.export import (  # noqa: PLC0415 -- the extra
        PeriodicExportingMetricReader,
    )
    from opentelemetry.sdk.resources import Resource  # noqa: PLC0415 -- the extra
    from opentelemetry.sdk.trace import TracerProvider as Tracers  # noqa: PLC0415
    from opentelemetry.sdk.trace.export import (  # noqa: PLC0415 -- the extra
        BatchSpanProcessor,
    )

    base = spec.endpoint.rstrip("/")
    resource = Resource.create({"service.name": spec.service_name})
    tracers = Tracers(resource=resource)
    tracers.add_span_processor(
        BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{base}/v1/traces"))
    )
    reader = PeriodicExportingMetricReader(
        OTLPMetricExporter(endpoint=f"{base}/v1/metrics"),
        export_interval_millis=spec.metrics_interval * 1000,
    )
    return tracers, Meters(resource=resource, metric_readers=[reader])


class Telemetry:
    """Spans and metrics for every run and call; a decision-log observer.

    Args:
        tracer_provider: where spans go.
        meter_provider: where metrics go.

    Raises:
        UsageError: ``E-OTEL-MISSING``, OpenTelemetry is not installed.
    """

    def __init__(
        self, tracer_provider: TracerProvider, meter_provider: MeterProvider
    ) -> None:
        _require()
        self.tracer_provider = tracer_provider
        self.meter_provider = meter_provider
        self._tracer = tracer_provider.get_tracer("enclosure")
        meter = meter_provider.get_meter("enclosure")
        self._calls = meter.create_counter("enclosure.calls", unit="{call}")
        self._denials = meter.create_counter("enclosure.denials", unit="{call}")
        self._approvals = meter.create_counter("enclosure.approvals", unit="{event}")
        self._kills = meter.create_counter("enclosure.kills", unit="{run}")
        self._alerts = meter.create_counter("enclosure.alerts", unit="{alert}")
        self._cost = meter.create_counter("enclosure.cost", unit="USD")
        self._tool_time = meter.create_histogram(
            "gen_ai.execute_tool.duration", unit="s"
        )
        self._decide_time = meter.create_histogram(
            "enclosure.decision.duration", unit="s"
        )
        self._lock = threading.Lock()
        self._runs: dict[str, Span] = {}
        self._open: dict[str, Span] = {}

    def observe(self, appended: Appended, event: Event) -> None:  # noqa: ARG002 -- the observer signature
        """Turn one stored event into spans and metric points."""
        with self._lock:
            if isinstance(event, RunStartedEvent):
                self._start_run(event)
            elif isinstance(event, DecisionEvent):
                self._decision(event)
            elif isinstance(event, ResultEvent):
                self._result(event)
            elif isinstance(event, RunEndedEvent):
                span = self._runs.pop(event.run_id, None)
                if span is not None:
                    span.set_attribute("enclosure.run.status", event.status)
                    span.set_attribute("enclosure.cost", event.cost)
                    span.end()
            elif isinstance(event, KillEvent):
                self._kills.add(1, {"enclosure.kill.rule": event.rule})
            elif isinstance(event, ApprovalEvent):
                self._approvals.add(1, {"enclosure.approval.action": event.action})
            elif isinstance(event, AnomalyEvent):
                self._alerts.add(1, {"enclosure.detector": event.detector})
            elif isinstance(event, UsageEvent) and event.cost:
                self._cost.add(event.cost, {"gen_ai.request.model": event.model})

    def shutdown(self) -> None:
        """End open spans and flush both providers (their exporters send now)."""
        with self._lock:
            for span in [*self._open.values(), *self._runs.values()]:
                span.end()
            self._open.clear()
            self._runs.clear()
        for provider in (self.tracer_provider, self.meter_provider):
            stop = getattr(provider, "shutdown", None)
            if stop is not None:
                stop()

    def _start_run(self, event: RunStartedEvent) -> None:
        attrs: dict[str, Any] = {
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": event.agent,
            "gen_ai.agent.id": event.run_id,
            "gen_ai.conversation.id": event.run_id,
            "enclosure.task": event.task,
        }
        if event.model:
            attrs["gen_ai.request.model"] = event.model
        self._runs[event.run_id] = self._tracer.start_span(
            f"invoke_agent {event.agent}", attributes=attrs
        )

    def _decision(self, event: DecisionEvent) -> None:
        from opentelemetry import trace  # noqa: PLC0415 -- the extra

        parent = self._runs.get(event.run_id)
        context = trace.set_span_in_context(parent) if parent is not None else None
        attrs: dict[str, Any] = {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": event.tool,
            "gen_ai.tool.call.id": event.call_id,
            "gen_ai.tool.type": "function",
            "gen_ai.agent.name": event.agent,
            "gen_ai.conversation.id": event.run_id,
            "enclosure.policy.outcome": event.outcome,
            "enclosure.policy.rule": event.rule,
            "enclosure.disposition": event.disposition,
            "enclosure.cost": event.cost,
        }
        if event.model:
            attrs["gen_ai.request.model"] = event.model
        span = self._tracer.start_span(
            f"execute_tool {event.tool}", context=context, attributes=attrs
        )
        labels = {
            "gen_ai.tool.name": event.tool,
            "enclosure.policy.outcome": event.outcome,
        }
        self._calls.add(1, labels)
        self._decide_time.record(event.latency_us / 1e6, labels)
        if event.disposition == "blocked":
            self._denials.add(1, {**labels, "enclosure.policy.rule": event.rule})
        if event.disposition in _FINAL:
            if event.error is not None:
                self._failed(span, event.error.code)
            if event.disposition == "simulated" and event.cost:
                self._cost.add(event.cost, {"gen_ai.tool.name": event.tool})
            span.end()
        else:
            self._open[event.call_id] = span

    def _result(self, event: ResultEvent) -> None:
        span = self._open.pop(event.call_id, None)
        labels = {"gen_ai.tool.name": event.tool}
        self._tool_time.record(event.latency_us / 1e6, labels)
        if event.cost:
            self._cost.add(event.cost, labels)
        if span is None:
            return
        span.set_attribute("enclosure.disposition", event.disposition)
        if event.error is not None:
            self._failed(span, event.error.code)
        span.end()

    @staticmethod
    def _failed(span: Span, code: str) -> None:
        from opentelemetry.trace import Status, StatusCode  # noqa: PLC0415 -- the extra

        span.set_attribute("error.type", code)
        span.set_status(Status(StatusCode.ERROR, code))
