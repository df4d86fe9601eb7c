"""Hardening: refused clicks per campaign, charged impression tokens.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 21:55:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("campaigns", sa.Column("refused_clicks", sa.Integer(), nullable=False, server_default="0"))
    op.create_table(
        "click_charges",
        sa.Column("token_id", sa.String(length=32), nullable=False),
        sa.Column("creative_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["creative_id"],
            ["creatives.id"],
            name=op.f("fk_click_charges_creative_id_creatives"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_id", name=op.f("pk_click_charges")),
    )
    op.create_index(op.f("ix_click_charges_creative_id"), "click_charges", ["creative_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_click_charges_creative_id"), table_name="click_charges")
    op.drop_table("click_charges")
    with op.batch_alter_table("campaigns") as batch:
        batch.drop_column("refused_clicks")
