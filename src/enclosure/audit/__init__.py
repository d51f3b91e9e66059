"""Audit: the decision log, a tamper-evident, redacted record of every decision.

Events (``_events``) are plain frozen models joined into one tagged union. The hash
chain (``_chain``), the Merkle tree (``_merkle``), checkpoint signatures
(``_checkpoint``), whole-log verification (``_verify``) and redaction (``_redact``)
work on bytes and models only: they open no file, socket or clock. The signing key
files (``_keys``) and the checkpoint writer and its copies (``_checkpointer``) are
the writer's side, with the database. Only the decision log (``_store``) and the
parts it is composed of (``_database``, ``_schema``, ``_event_store``,
``_run_store``, ``_approval_store``, ``_pin_store``, ``_token_store``,
``_manifest_store``, ``_session_store``) touch the database, and they turn every
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
from enclosure.audit._checkpoint import (
    Checkpoint,
    checkpoint_note,
    key_id,
    parse_public_keys,
    public_key_pem,
)
from enclosure.audit._checkpointer import (
    CheckpointFile,
    Checkpointing,
    CheckpointWebhook,
)
from enclosure.audit._event_store import Appended, RunClosed, StoredEvent
from enclosure.audit._events import (
    AlertEvent,
    AnomalyEvent,
    ApprovalEvent,
    ArtifactEvent,
    CheckpointEvent,
    DecisionEvent,
    EgressEvent,
    Event,
    ExecEvent,
    KillEvent,
    LadderEvent,
    ManifestEvent,
    OutcomeEvent,
    ResultEvent,
    RunEndedEvent,
    RunStartedEvent,
    ShadowEvent,
    ToolPinEvent,
    UsageEvent,
    ValidatorResult,
    parse_event,
)
from enclosure.audit._keys import SigningKeys
from enclosure.audit._manifest_store import ManifestRecord, manifest_text_sha256
from enclosure.audit._merkle import (
    MerkleTree,
    leaf_hash,
    verify_consistency,
    verify_inclusion,
)
from enclosure.audit._redact import REDACTED, Redactor
from enclosure.audit._run_store import RunRecord
from enclosure.audit._store import DecisionLog, Observer
from enclosure.audit._token_store import TokenRecord
from enclosure.audit._verify import CheckpointCopyRecord, verify_log

__all__ = [
    "GENESIS",
    "REDACTED",
    "AlertEvent",
    "AnomalyEvent",
    "Appended",
    "ApprovalEvent",
    "ArtifactEvent",
    "ChainRow",
    "Checkpoint",
    "CheckpointCopyRecord",
    "CheckpointEvent",
    "CheckpointFile",
    "CheckpointWebhook",
    "Checkpointing",
    "DecisionEvent",
    "DecisionLog",
    "EgressEvent",
    "Event",
    "ExecEvent",
    "IndexColumns",
    "KillEvent",
    "LadderEvent",
    "ManifestEvent",
    "ManifestRecord",
    "MerkleTree",
    "Observer",
    "OutcomeEvent",
    "Redactor",
    "ResultEvent",
    "RunClosed",
    "RunEndedEvent",
    "RunRecord",
    "RunStartedEvent",
    "ShadowEvent",
    "SigningKeys",
    "StoredEvent",
    "TokenRecord",
    "ToolPinEvent",
    "UsageEvent",
    "ValidatorResult",
    "VerifyReport",
    "checkpoint_note",
    "encode_event",
    "event_hash",
    "index_columns",
    "key_id",
    "leaf_hash",
    "manifest_text_sha256",
    "parse_event",
    "parse_public_keys",
    "public_key_pem",
    "verify_consistency",
    "verify_inclusion",
    "verify_log",
    "verify_rows",
]
