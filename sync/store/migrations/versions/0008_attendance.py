"""Held from evidence: each event's video call, and the two people's join intervals of past 1:1 calls.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("conference", sa.String(length=2048), nullable=True))
    op.create_table(
        "attendance",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("manager", sa.String(length=320), nullable=False),
        sa.Column("report", sa.String(length=320), nullable=False),
        sa.Column("start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("manager_intervals", sa.JSON(), nullable=False),
        sa.Column("report_intervals", sa.JSON(), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attendance")),
        sa.UniqueConstraint("manager", "report", "start", name=op.f("uq_attendance_manager_report_start")),
    )


def downgrade() -> None:
    op.drop_table("attendance")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("conference")
