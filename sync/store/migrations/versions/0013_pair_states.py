"""Each pair's inputs when last judged and its next time-driven change: cycles re-judge only what moved.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pair_states",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("manager", sa.String(length=320), nullable=False),
        sa.Column("report", sa.String(length=320), nullable=False),
        sa.Column("calendars", sa.JSON(), nullable=False),
        sa.Column("inputs", sa.String(length=64), nullable=False),
        sa.Column("next_check", sa.DateTime(timezone=True), nullable=True),
        sa.Column("judged_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pair_states")),
        sa.UniqueConstraint("manager", "report", name=op.f("uq_pair_states_manager_report")),
    )
    op.create_index("ix_pair_states_next_check", "pair_states", ["next_check"])


def downgrade() -> None:
    op.drop_index("ix_pair_states_next_check", table_name="pair_states")
    op.drop_table("pair_states")
