"""The dashboard's sessions, stored as SHA-256 hashes of their cookies.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``ui_sessions`` and its expiry index."""
    op.create_table(
        "ui_sessions",
        sa.Column("sha256", sa.Text(), primary_key=True),
        sa.Column("token_sha256", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.Double(), nullable=False),
    )
    op.create_index("ix_ui_sessions_expires_at", "ui_sessions", ["expires_at"])


def downgrade() -> None:
    """Drop ``ui_sessions``."""
    op.drop_index("ix_ui_sessions_expires_at", table_name="ui_sessions")
    op.drop_table("ui_sessions")
