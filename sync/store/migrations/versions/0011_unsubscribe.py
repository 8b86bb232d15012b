"""One-click unsubscribe (RFC 8058) for digests and nudges: the link each such mail carries, and who used it.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("list_unsubscribe", sa.Text(), nullable=True))
    op.create_table(
        "mail_opt_outs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mail_opt_outs")),
        sa.UniqueConstraint("email", "kind", name=op.f("uq_mail_opt_outs_email_kind")),
    )


def downgrade() -> None:
    op.drop_table("mail_opt_outs")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("list_unsubscribe")
