"""Manifest versions uploaded to the server, each under the SHA-256 of its text.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create ``manifests``."""
    op.create_table(
        "manifests",
        sa.Column("version", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("sha256", sa.Text(), nullable=False, unique=True),
        sa.Column("manifest_sha256", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("uploaded_by", sa.Text(), nullable=False),
        sa.Column("uploaded_at", sa.Double(), nullable=False),
    )


def downgrade() -> None:
    """Drop ``manifests``."""
    op.drop_table("manifests")
