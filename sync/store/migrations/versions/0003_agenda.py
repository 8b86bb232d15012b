"""agenda: pages per pair, items, intended link writes, sign-in links, sessions, nudges, secrets

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "agenda_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pair_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("owner", sa.String(length=320), nullable=True),
        sa.Column("due", sa.Date(), nullable=True),
        sa.Column("done", sa.Boolean(), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("done_by", sa.String(length=320), nullable=True),
        sa.Column("occurrence", sa.DateTime(timezone=True), nullable=True),
        sa.Column("author", sa.String(length=320), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=320), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agenda_items")),
    )
    op.create_index(op.f("ix_agenda_items_pair_id"), "agenda_items", ["pair_id"], unique=False)
    op.create_table(
        "agenda_nudges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("pair_id", sa.Integer(), nullable=False),
        sa.Column("occurrence", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recipient", sa.String(length=320), nullable=False),
        sa.Column("outbox_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agenda_nudges")),
        sa.UniqueConstraint("kind", "pair_id", "occurrence", name=op.f("uq_agenda_nudges_kind_pair_id_occurrence")),
    )
    op.create_table(
        "agenda_pairs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("manager", sa.String(length=320), nullable=False),
        sa.Column("report", sa.String(length=320), nullable=False),
        sa.Column("page_id", sa.String(length=64), nullable=False),
        sa.Column("previous_page_ids", sa.JSON(), nullable=False),
        sa.Column("is_new", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rotated_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agenda_pairs")),
        sa.UniqueConstraint("manager", "report", name=op.f("uq_agenda_pairs_manager_report")),
        sa.UniqueConstraint("page_id", name=op.f("uq_agenda_pairs_page_id")),
    )
    op.create_table(
        "agenda_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agenda_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_agenda_sessions_token_hash")),
    )
    op.create_table(
        "agenda_signins",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("pair_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agenda_signins")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_agenda_signins_token_hash")),
    )
    op.create_table(
        "agenda_writes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pair_id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("calendar", sa.String(length=320), nullable=False),
        sa.Column("event_id", sa.String(length=1024), nullable=False),
        sa.Column("page_url", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("base_etag", sa.String(length=256), nullable=True),
        sa.Column("written_etag", sa.String(length=256), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agenda_writes")),
        sa.UniqueConstraint(
            "provider", "calendar", "event_id", name=op.f("uq_agenda_writes_provider_calendar_event_id")
        ),
    )
    op.create_index(op.f("ix_agenda_writes_pair_id"), "agenda_writes", ["pair_id"], unique=False)
    op.create_table(
        "app_secrets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_app_secrets")),
        sa.UniqueConstraint("name", name=op.f("uq_app_secrets_name")),
    )


def downgrade() -> None:
    op.drop_table("app_secrets")
    op.drop_index(op.f("ix_agenda_writes_pair_id"), table_name="agenda_writes")
    op.drop_table("agenda_writes")
    op.drop_table("agenda_signins")
    op.drop_table("agenda_sessions")
    op.drop_table("agenda_pairs")
    op.drop_table("agenda_nudges")
    op.drop_index(op.f("ix_agenda_items_pair_id"), table_name="agenda_items")
    op.drop_table("agenda_items")
