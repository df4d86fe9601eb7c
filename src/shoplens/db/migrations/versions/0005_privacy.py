"""Shopper privacy: tombstones of erased shoppers.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 02:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "erased_shoppers",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_erased_shoppers")),
    )


def downgrade() -> None:
    op.drop_table("erased_shoppers")
