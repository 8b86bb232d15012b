"""What the agenda pages need from the daemon, in one place both the pages and their sign-in routes read."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sync.agenda.meetings import ContextFor
from sync.agenda.oidc import OidcClient
from sync.notify.policy import MailPolicy
from sync.store.db import Database


@dataclass
class AgendaDeps:
    """What the pages need from the daemon; built by `sync.web` from the runtime."""

    db: Database
    clock: Callable[[], datetime]
    context_for: ContextFor
    base_url: str
    secret: str
    policy: MailPolicy  # the sender domain and the default zone of every page and sign-in mail
    signin_minutes: int = 15
    session_days: int = 30
    canonical: Callable[[str], str] = str.lower
    deliver: Callable[[int], None] | None = None  # send one outbox row now (a sign-in link)
    on_change: Callable[[int], None] | None = None  # after an edit (the Markdown backend re-exports)
    oidc: OidcClient | None = None  # sign-in through Google / Entra ID instead of emailed links

    @property
    def secure(self) -> bool:
        return self.base_url.startswith("https://")
