"""The permission manifest: models, YAML loading with ``file:line:col`` errors, schema.

Must not know: CEL (the policy package compiles conditions), handlers, storage or
any I/O beyond reading the one file it is asked to load.
"""

from typing import Any

from enclosure.manifest._compute import ComputeSpec, FilesystemSpec, parse_size
from enclosure.manifest._diff import ManifestDiff, NamedDiff, diff_manifests
from enclosure.manifest._load import load_manifest, load_manifest_text, manifest_source
from enclosure.manifest._maturity import DemoteSpec, Gate, LadderSpec, TaintSpec
from enclosure.manifest._models import (
    AgentSpec,
    ApprovalsSpec,
    GlobalRule,
    KillCondition,
    KillSwitch,
    Manifest,
    RateLimit,
    RedactSpec,
    RepeatedCalls,
    Rule,
    ToolSpec,
    parse_duration,
    parse_rate,
)
from enclosure.manifest._monitoring import (
    AuditSpec,
    CheckpointCopySpec,
    CostSpec,
    DetectorsSpec,
    ModelPrice,
    MonitoringSpec,
    OtlpSpec,
)
from enclosure.manifest._network import (
    AGENT,
    CredentialSpec,
    Injection,
    NetworkRule,
    NetworkSpec,
    host_matches,
)
from enclosure.manifest._upstreams import UpstreamSpec
from enclosure.manifest._yaml import Position, SourceMap

__all__ = [
    "AGENT",
    "AgentSpec",
    "ApprovalsSpec",
    "AuditSpec",
    "CheckpointCopySpec",
    "ComputeSpec",
    "CostSpec",
    "CredentialSpec",
    "DemoteSpec",
    "DetectorsSpec",
    "FilesystemSpec",
    "Gate",
    "GlobalRule",
    "Injection",
    "KillCondition",
    "KillSwitch",
    "LadderSpec",
    "Manifest",
    "ManifestDiff",
    "ModelPrice",
    "MonitoringSpec",
    "NamedDiff",
    "NetworkRule",
    "NetworkSpec",
    "OtlpSpec",
    "Position",
    "RateLimit",
    "RedactSpec",
    "RepeatedCalls",
    "Rule",
    "SourceMap",
    "TaintSpec",
    "ToolSpec",
    "UpstreamSpec",
    "diff_manifests",
    "host_matches",
    "json_schema",
    "load_manifest",
    "load_manifest_text",
    "manifest_source",
    "parse_duration",
    "parse_rate",
    "parse_size",
]


def json_schema() -> dict[str, Any]:
    """Return the manifest's JSON Schema, for editors and CI."""
    schema = Manifest.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Enclosure permission manifest"
    return schema
