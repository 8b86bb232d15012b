"""The mail policy: what every message obeys, decided once from the settings.

Each action (warnings, escalation, digest, nudges, admin alerts, directory alerts) used to read the
sender domain, the default zone, observe mode and the opt-outs out of the whole `Settings` on its own;
now it is handed this one small object and its own settings section, so a new action or channel
cannot get them subtly different.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sync.config import Settings
from sync.config.mail import quiet_hours
from sync.notify.channel import EMAIL

# Kinds that go out even in observe mode: the admin must hear of broken calendars, and a person who
# asked for a sign-in link is waiting for it. Observe mode only holds back what managers and reports
# would receive about their 1:1s.
ALWAYS_SENT = frozenset({"admin", "agenda-signin"})

# The message kinds `notify.channels` names: a warning, the agenda and notes nudges, the weekly digest.
# Escalations (they copy a skip-level by Cc), admin alerts and sign-in links stay email.
CHANNEL_KINDS = {"warning": "warning", "agenda-nudge": "nudge", "notes-nudge": "nudge", "digest": "digest"}


@dataclass(frozen=True)
class MailPolicy:
    sender_domain: str
    default_zone: str = "UTC"
    observe: bool = False  # record what would be sent, send nothing (notify.mode: observe)
    opt_out: frozenset[str] = frozenset()  # people who get no warnings, nudges, escalations or digests
    admin: str | None = None  # who hears of calendars and events oneonone cannot use
    base_url: str = ""  # where the 1:1 pages are, for the links in every message (none: no links)
    channels: Mapping[str, str] = field(default_factory=dict)  # notify.channels: warning|nudge|digest -> channel
    quiet: tuple[time, time] | None = None  # chat messages due from the first to the second wait for it

    def channel_for(self, kind: str) -> str:
        """The channel a message of this kind goes out on (email unless `notify.channels` says otherwise)."""
        group = CHANNEL_KINDS.get(kind)
        return self.channels.get(group, EMAIL) if group else EMAIL

    def not_before(self, now: datetime, zone: str, channel: str) -> datetime:
        """When a message queued now may go out: at once, or, for a chat message due in the recipient's quiet
        hours, at their end (local time). A chat message pings a phone; an email waits in the inbox anyway,
        so email is never held back."""
        if channel == EMAIL or self.quiet is None:
            return now
        start, end = self.quiet
        local = now.astimezone(ZoneInfo(zone))
        clock = local.time().replace(tzinfo=None)
        inside = start <= clock or clock < end if start > end else start <= clock < end
        if not inside:
            return now
        day = local.date() if clock < end else local.date() + timedelta(days=1)
        morning = datetime.combine(day, end, tzinfo=ZoneInfo(zone))  # a gap (DST) is resolved by fold=0
        return morning.astimezone(UTC)

    def observed(self, kind: str) -> bool:
        """Whether a message of this kind is only recorded, not sent."""
        return self.observe and kind not in ALWAYS_SENT

    def zone(self, person: str, zones: Mapping[str, str]) -> str:
        """The zone a person reads their mail in: their calendar's, else the daemon's default."""
        return zones.get(person, self.default_zone)


def mail_policy(settings: Settings) -> MailPolicy:
    hours = quiet_hours(settings.notify.quiet_hours)
    return MailPolicy(
        sender_domain=settings.smtp.sender_domain,
        default_zone=settings.time_zone,
        observe=settings.notify.mode == "observe",
        opt_out=frozenset(settings.notify.opt_out),
        admin=settings.notify.admin_email,
        base_url=settings.web.base_url,
        channels={str(kind): str(channel) for kind, channel in settings.notify.channels.items()},
        quiet=(time(*hours[0]), time(*hours[1])) if hours else None,
    )
