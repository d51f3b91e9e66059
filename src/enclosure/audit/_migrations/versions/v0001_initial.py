"""The decision log's first schema: events, runs, approvals, tool pins and meta.

Revision ID: 0001
Revises: (none)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_RUN = "status IN ('running', 'completed', 'killed')"
_APPROVAL = "status IN ('pending', 'approved', 'denied', 'expired', 'consumed')"
_TEXT = sa.Text()


def upgrade() -> None:
    """Create the five tables and their indexes."""
    op.create_table(
        "events",
        sa.Column("seq", _SEQ, primary_key=True, autoincrement=False),
        *(sa.Column(n, _TEXT, nullable=False) for n in ("ts", "run_id", "kind")),
        *(sa.Column(n, _TEXT) for n in ("tool", "call_id", "outcome", "disposition")),
        sa.Column("cost", sa.Double()),
        *(sa.Column(n, _TEXT, nullable=False) for n in ("body", "prev_hash", "hash")),
    )
    op.create_index("ix_events_kind", "events", ["kind"])
    op.create_index("ix_events_run_id", "events", ["run_id"])
    op.create_table(
        "runs",
        sa.Column("run_id", _TEXT, primary_key=True),
        *(sa.Column(n, _TEXT, nullable=False) for n in ("agent", "task")),
        *(sa.Column(n, _TEXT) for n in ("model", "prompt_version")),
        sa.Column("manifest_sha256", _TEXT, nullable=False),
        sa.Column("started_by", _TEXT),
        sa.Column("status", _TEXT, sa.CheckConstraint(_RUN), nullable=False),
        sa.Column("started_at", sa.Double(), nullable=False),
        sa.Column("ended_at", sa.Double()),
        sa.Column("end_reason", _TEXT),
    )
    op.create_table(
        "approvals",
        sa.Column("approval_id", _TEXT, primary_key=True),
        *(sa.Column(n, _TEXT, nullable=False) for n in ("run_id", "tool", "args")),
        sa.Column("binding_sha256", _TEXT, nullable=False),
        sa.Column("status", _TEXT, sa.CheckConstraint(_APPROVAL), nullable=False),
        *(sa.Column(n, _TEXT, nullable=False) for n in ("rule", "reason")),
        sa.Column("requested_at", sa.Double(), nullable=False),
        sa.Column("expires_at", sa.Double(), nullable=False),
        *(sa.Column(n, _TEXT) for n in ("requested_by", "decided_by")),
        sa.Column("decided_at", sa.Double()),
        sa.Column("decision_reason", _TEXT),
    )
    op.create_index("ix_approvals_run_id", "approvals", ["run_id"])
    op.create_table(
        "tool_pins",
        *(sa.Column(n, _TEXT, primary_key=True) for n in ("agent", "upstream", "tool")),
        sa.Column("sha256", _TEXT, nullable=False),
        sa.Column("pinned_at", sa.Double(), nullable=False),
    )
    op.create_table(
        "meta",
        sa.Column("key", _TEXT, primary_key=True),
        sa.Column("value", _TEXT, nullable=False),
    )


def downgrade() -> None:
    """Drop the five tables."""
    for table in ("meta", "tool_pins", "approvals", "runs", "events"):
        op.drop_table(table)
