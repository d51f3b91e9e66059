"""The ``audit``, ``monitoring`` and ``cost`` sections of the manifest.

``audit`` says how often the decision log signs a Merkle checkpoint and where
copies of each go; ``monitoring`` which anomaly detectors watch the event stream,
whom they tell and whether they kill the run, and where OpenTelemetry data goes;
``cost`` extends the model price table used for reported token usage.

Must not know: the detectors, the signer or OpenTelemetry; these are plain models.
"""

from __future__ import annotations

from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from enclosure.manifest._compute import Seconds

__all__ = [
    "AuditSpec",
    "CallRateSpec",
    "CheckpointCopySpec",
    "CostBurnSpec",
    "CostSpec",
    "CountSpec",
    "DetectorSpec",
    "DetectorsSpec",
    "ModelPrice",
    "MonitoringSpec",
    "NotifySpec",
    "OtlpSpec",
    "StreakSpec",
    "WebhookSpec",
]

_URL = r"^https?://[^\s/?#]+[^\s]*$"
_ENV = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"
Url = Annotated[str, Field(pattern=_URL, max_length=2048)]
EnvName = Annotated[str, Field(pattern=_ENV)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class CheckpointCopySpec(_Strict):
    """A second place that keeps every signed checkpoint: a file or a webhook."""

    file: Annotated[str, Field(min_length=1)] | None = None
    """A JSON-lines file, appended to and fsynced."""
    webhook: Url | None = None
    secret_env: EnvName | None = None
    """Environment variable holding the webhook's HMAC-SHA256 key."""

    @model_validator(mode="after")
    def _one_place(self) -> Self:
        if (self.file is None) == (self.webhook is None):
            raise PydanticCustomError(
                "E-MANIFEST-VALUE", "a checkpoint copy has either 'file' or 'webhook'"
            )
        if self.secret_env is not None and self.webhook is None:
            raise PydanticCustomError(
                "E-MANIFEST-VALUE", "'secret_env' signs webhooks; a file has none"
            )
        return self


class AuditSpec(_Strict):
    """Signed Merkle checkpoints of the decision log."""

    checkpoint_every: Annotated[int, Field(ge=1, le=10_000_000)] = 1000
    """Sign a checkpoint once this many events were appended since the last."""
    checkpoint_interval: Seconds = 60.0
    """... or once this long has passed and something new was appended."""
    checkpoint_copies: list[CheckpointCopySpec] = Field(default_factory=list)
    keys: Annotated[str, Field(min_length=1)] | None = None
    """Folder of the signing key and keyring; default ``<home>/keys``."""


class DetectorSpec(_Strict):
    """What every detector shares: kill the run when it fires, or only notify."""

    kill: bool = False


class CallRateSpec(DetectorSpec):
    """Calls in the last ``window`` against the run's own earlier rate."""

    factor: Annotated[float, Field(gt=1, allow_inf_nan=False)] = 5.0
    window: Seconds = 10.0
    min_calls: Annotated[int, Field(ge=1)] = 10
    """Fewer calls in the window never count as a spike."""
    baseline: Seconds = 30.0
    """How much of the run must have passed before its rate is a baseline."""


class CostBurnSpec(DetectorSpec):
    """Cost spent in the last ``window``, scaled to a minute."""

    max_per_minute: Annotated[float, Field(gt=0, allow_inf_nan=False)]
    window: Seconds = 60.0


class CountSpec(DetectorSpec):
    """At least ``max`` of something within ``window``."""

    max: Annotated[int, Field(ge=1)]
    window: Seconds = 60.0


class StreakSpec(DetectorSpec):
    """``max`` failures in a row."""

    max: Annotated[int, Field(ge=1)]


class DetectorsSpec(_Strict):
    """The detectors to run; each is off unless named here."""

    call_rate: CallRateSpec | None = None
    new_tool: DetectorSpec | None = None
    """A tool this agent never used in an earlier run."""
    new_host: DetectorSpec | None = None
    """An egress host this agent never reached in an earlier run."""
    cost_burn: CostBurnSpec | None = None
    denials: CountSpec | None = None
    repeated_calls: CountSpec | None = None
    """The same tool with the same arguments."""
    error_streak: StreakSpec | None = None


class WebhookSpec(_Strict):
    """An HTTP endpoint that gets each alert as JSON."""

    url: Url
    secret_env: EnvName | None = None
    """Environment variable holding the HMAC-SHA256 key that signs each body."""


class NotifySpec(_Strict):
    """Where alerts go besides the decision log."""

    stdout: bool = True
    log: bool = True
    webhooks: list[WebhookSpec] = Field(default_factory=list)


class OtlpSpec(_Strict):
    """An OTLP/HTTP (protobuf) collector for traces and metrics."""

    endpoint: Url
    """Base URL; ``/v1/traces`` and ``/v1/metrics`` are added."""
    service_name: Annotated[str, Field(min_length=1, max_length=256)] = "enclosure"
    metrics_interval: Seconds = 10.0


class MonitoringSpec(_Strict):
    """Anomaly detection, alerting and OpenTelemetry export."""

    detectors: DetectorsSpec = Field(default_factory=DetectorsSpec)
    notify: NotifySpec = Field(default_factory=NotifySpec)
    otlp: OtlpSpec | None = None


class ModelPrice(_Strict):
    """US dollars per million tokens."""

    input: Annotated[float, Field(ge=0, allow_inf_nan=False)]
    output: Annotated[float, Field(ge=0, allow_inf_nan=False)]


class CostSpec(_Strict):
    """Model prices for reported token usage; extends the built-in table."""

    models: dict[Annotated[str, Field(min_length=1, max_length=256)], ModelPrice] = (
        Field(default_factory=dict)
    )
