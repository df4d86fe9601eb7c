"""Each image keeps the model's probability of every category, so a product whose declared category changes is
judged by the mismatch rule at once (before, a new category could only clear the flag, never set it).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 11:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("product_images") as batch:
        batch.add_column(sa.Column("probabilities", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("product_images") as batch:
        batch.drop_column("probabilities")
