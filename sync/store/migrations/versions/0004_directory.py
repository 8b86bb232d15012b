"""directory: pairs with their lifecycle, people (leavers), the last refresh

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "directory_pairs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("manager", sa.String(length=320), nullable=False),
        sa.Column("report", sa.String(length=320), nullable=False),
        sa.Column("start", sa.Date(), nullable=True),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_reason", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_directory_pairs")),
        sa.UniqueConstraint("manager", "report", name=op.f("uq_directory_pairs_manager_report")),
    )
    op.create_table(
        "directory_people",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("department", sa.String(length=256), nullable=True),
        sa.Column("manager", sa.String(length=320), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("left_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_directory_people")),
        sa.UniqueConstraint("address", name=op.f("uq_directory_people_address")),
    )
    op.create_table(
        "directory_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=True),
        sa.Column("last_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_success_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_error_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_directory_state")),
        sa.UniqueConstraint("name", name=op.f("uq_directory_state_name")),
    )


def downgrade() -> None:
    op.drop_table("directory_state")
    op.drop_table("directory_people")
    op.drop_table("directory_pairs")
