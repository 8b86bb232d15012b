"""Who asked for no more of a kind of mail (`List-Unsubscribe`, RFC 8058); `sync.store.models` re-exports it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from sync.store.base import Base


class MailOptOutRow(Base):
    """One person's "stop these" for one group of mail (`digest`, `nudge`), from the link in such a mail."""

    __tablename__ = "mail_opt_outs"
    __table_args__ = (UniqueConstraint("email", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(320))
    kind: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
