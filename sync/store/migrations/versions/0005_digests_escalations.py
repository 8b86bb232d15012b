"""Manager and org views: inline images and a copy address on outbox rows, weekly digests, escalations.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("inline_images", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("cc", sa.String(length=320), nullable=True))
    op.create_table(
        "digests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("manager", sa.String(length=320), nullable=False),
        sa.Column("week", sa.String(length=10), nullable=False),
        sa.Column("outbox_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_digests")),
        sa.UniqueConstraint("manager", "week", name=op.f("uq_digests_manager_week")),
    )
    op.create_table(
        "escalations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("manager", sa.String(length=320), nullable=False),
        sa.Column("skip_level", sa.String(length=320), nullable=False),
        sa.Column("trigger", sa.String(length=512), nullable=False),
        sa.Column("triggered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("findings", sa.JSON(), nullable=False),
        sa.Column("outbox_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_escalations")),
        sa.UniqueConstraint("manager", "trigger", name=op.f("uq_escalations_manager_trigger")),
    )


def downgrade() -> None:
    op.drop_table("escalations")
    op.drop_table("digests")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("cc")
        batch.drop_column("inline_images")
