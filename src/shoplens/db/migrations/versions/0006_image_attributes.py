"""Image colours and attributes: the product's dominant colours in each image, and what an image–text backbone
sees in it (pattern: striped, …), so products can be filtered by them.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 02:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "image_colours",
        sa.Column("image_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("hex", sa.String(length=7), nullable=False),
        sa.Column("share", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["image_id"],
            ["product_images.id"],
            name=op.f("fk_image_colours_image_id_product_images"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("image_id", "name", name=op.f("pk_image_colours")),
    )
    op.create_index(op.f("ix_image_colours_name"), "image_colours", ["name"], unique=False)
    op.create_table(
        "image_attributes",
        sa.Column("image_id", sa.Integer(), nullable=False),
        sa.Column("attribute", sa.String(length=64), nullable=False),
        sa.Column("value", sa.String(length=64), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("model_version", sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(
            ["image_id"],
            ["product_images.id"],
            name=op.f("fk_image_attributes_image_id_product_images"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("image_id", "attribute", "value", name=op.f("pk_image_attributes")),
    )
    op.create_index(
        "ix_image_attributes_attribute_value", "image_attributes", ["attribute", "value"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_image_attributes_attribute_value", table_name="image_attributes")
    op.drop_table("image_attributes")
    op.drop_index(op.f("ix_image_colours_name"), table_name="image_colours")
    op.drop_table("image_colours")
