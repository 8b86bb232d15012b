"""The mail policy: what every message obeys, decided once from the settings.

Each action (warnings, escalation, digest, nudges, admin alerts, directory alerts) used to read the
sender domain, the default zone, observe mode and the opt-outs out of the whole `Settings` on its own;
now it is handed this one small object and its own settings section, so a new action or channel
cannot get them subtly different.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sync.config import Settings

# Kinds that go out even in observe mode: the admin must hear of broken calendars, and a person who
# asked for a sign-in link is waiting for it. Observe mode only holds back what managers and reports
# would receive about their 1:1s.
ALWAYS_SENT = frozenset({"admin", "agenda-signin"})


@dataclass(frozen=True)
class MailPolicy:
    sender_domain: str
    default_zone: str = "UTC"
    observe: bool = False  # record what would be sent, send nothing (notify.mode: observe)
    opt_out: frozenset[str] = frozenset()  # people who get no warnings, nudges, escalations or digests
    admin: str | None = None  # who hears of calendars and events oneonone cannot use
    base_url: str = ""  # where the 1:1 pages are, for the links in every message (none: no links)

    def observed(self, kind: str) -> bool:
        """Whether a message of this kind is only recorded, not sent."""
        return self.observe and kind not in ALWAYS_SENT

    def zone(self, person: str, zones: Mapping[str, str]) -> str:
        """The zone a person reads their mail in: their calendar's, else the daemon's default."""
        return zones.get(person, self.default_zone)


def mail_policy(settings: Settings) -> MailPolicy:
    return MailPolicy(
        sender_domain=settings.smtp.sender_domain,
        default_zone=settings.time_zone,
        observe=settings.notify.mode == "observe",
        opt_out=frozenset(settings.notify.opt_out),
        admin=settings.notify.admin_email,
        base_url=settings.web.base_url,
    )
