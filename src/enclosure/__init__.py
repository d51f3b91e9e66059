"""Enclosure: limit what an AI agent can do before it does it.

The public surface is ``Enclosure`` (load a manifest, start runs, decide approvals),
the value types a call returns, and the coded errors. Names resolve lazily, so
``import enclosure`` stays cheap for short-lived processes such as hooks.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from enclosure._enclosure import Enclosure
    from enclosure._run import Run
    from enclosure.errors import (
        ApprovalError,
        ApprovalPending,
        AuditUnavailable,
        CallRefused,
        EnclosureError,
        ManifestError,
        ManifestIssue,
        RunKilled,
        ToolDenied,
        ToolFailed,
        UsageError,
    )
    from enclosure.manifest import Manifest, load_manifest
    from enclosure.models import CallResult, Decision, ErrorInfo, Receipt, ToolCall

__all__ = [
    "ApprovalError",
    "ApprovalPending",
    "AuditUnavailable",
    "CallRefused",
    "CallResult",
    "Decision",
    "Enclosure",
    "EnclosureError",
    "ErrorInfo",
    "Manifest",
    "ManifestError",
    "ManifestIssue",
    "Receipt",
    "Run",
    "RunKilled",
    "ToolCall",
    "ToolDenied",
    "ToolFailed",
    "UsageError",
    "__version__",
    "load_manifest",
]

__version__ = "0.1.0"

_WHERE = {
    "Enclosure": "enclosure._enclosure",
    "Run": "enclosure._run",
    "Manifest": "enclosure.manifest",
    "load_manifest": "enclosure.manifest",
    "CallResult": "enclosure.models",
    "Decision": "enclosure.models",
    "ErrorInfo": "enclosure.models",
    "Receipt": "enclosure.models",
    "ToolCall": "enclosure.models",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(import_module(_WHERE[name]), name)
    if name in __all__:
        return getattr(import_module("enclosure.errors"), name)
    msg = f"module 'enclosure' has no attribute {name!r}"
    raise AttributeError(msg)


def __dir__() -> list[str]:
    return sorted(__all__)
