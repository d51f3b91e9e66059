"""Audit: the decision log, a tamper-evident, redacted record of every decision.

Events (``_events``) are plain frozen models joined into one tagged union. The hash
chain (``_chain``) and redaction (``_redact``) work on bytes and models only: they
open no file, socket or clock. Only the decision log (``_store``) and the parts it is
composed of (``_database``, ``_schema``, ``_event_store``, ``_run_store``,
``_approval_store``, ``_pin_store``) touch the database, and they turn every
failure into ``AuditUnavailable`` so callers fail closed.

Must not know: the policy engine (the run records its decisions here, never the other
way round), the sandbox, the proxy, HTTP or the CLI.
"""

from enclosure.audit._chain import (
    GENESIS,
    ChainRow,
    IndexColumns,
    VerifyReport,
    encode_event,
    event_hash,
    index_columns,
    verify_rows,
)
from enclosure.audit._event_store import Appended, StoredEvent
from enclosure.audit._events import (
    AlertEvent,
    ApprovalEvent,
    ArtifactEvent,
    DecisionEvent,
    EgressEvent,
    Event,
    ExecEvent,
    KillEvent,
    ResultEvent,
    RunEndedEvent,
    RunStartedEvent,
    ToolPinEvent,
    ValidatorResult,
    parse_event,
)
from enclosure.audit._redact import REDACTED, Redactor
from enclosure.audit._run_store import RunRecord
from enclosure.audit._store import DecisionLog

__all__ = [
    "GENESIS",
    "REDACTED",
    "AlertEvent",
    "Appended",
    "ApprovalEvent",
    "ArtifactEvent",
    "ChainRow",
    "DecisionEvent",
    "DecisionLog",
    "EgressEvent",
    "Event",
    "ExecEvent",
    "IndexColumns",
    "KillEvent",
    "Redactor",
    "ResultEvent",
    "RunEndedEvent",
    "RunRecord",
    "RunStartedEvent",
    "StoredEvent",
    "ToolPinEvent",
    "ValidatorResult",
    "VerifyReport",
    "encode_event",
    "event_hash",
    "index_columns",
    "parse_event",
    "verify_rows",
]
