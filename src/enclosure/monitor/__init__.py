"""Monitoring: anomaly detectors, alerts that act, OpenTelemetry, model prices.

The detectors (``_detectors``) and the price table (``_cost``) are pure. The
monitor (``_monitor``) and telemetry (``_otel``) observe the decision log's event
stream and act at the edge: alert events, stdout, the logger, webhooks, kills,
OTLP export. The facade wires them in; OpenTelemetry is an optional extra.

Must not know: the policy engine, the sandbox or the proxy; how a run is killed
(a callback does it).
"""

from enclosure.monitor._cost import DEFAULT_PRICES, PriceTable
from enclosure.monitor._detectors import Finding, build_detectors
from enclosure.monitor._monitor import Monitor
from enclosure.monitor._otel import Telemetry, otlp_providers

__all__ = [
    "DEFAULT_PRICES",
    "Finding",
    "Monitor",
    "PriceTable",
    "Telemetry",
    "build_detectors",
    "otlp_providers",
]
