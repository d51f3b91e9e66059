"""The server's API tokens, stored as SHA-256 hashes.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_ROLES = "role IN ('agent', 'approver', 'operator', 'viewer', 'admin')"


def upgrade() -> None:
    """Create ``api_tokens``."""
    op.create_table(
        "api_tokens",
        sa.Column("token_id", sa.Text(), primary_key=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("role", sa.Text(), sa.CheckConstraint(_ROLES), nullable=False),
        sa.Column("sha256", sa.Text(), nullable=False, unique=True),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("expires_at", sa.Double()),
        sa.Column("revoked_at", sa.Double()),
    )


def downgrade() -> None:
    """Drop ``api_tokens``."""
    op.drop_table("api_tokens")
