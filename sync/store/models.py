"""Tables. Events are stored as the providers report them (masters + exceptions, unexpanded);
occurrences are derived by the rules, so one series edit is one row, not fifty."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from sync.store.base import Base as Base  # the migrations and the tests take it from here, with every table registered


class CalendarRow(Base):
    """A watched calendar and its sync cursor; the cursor moves only with the changes it covers."""

    __tablename__ = "calendars"
    __table_args__ = (UniqueConstraint("provider", "calendar"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(String(32))
    calendar: Mapped[str] = mapped_column(String(320))
    cursor: Mapped[str | None] = mapped_column(Text)
    # Fencing: bumped by every committed sync; a worker that read an older value cannot commit.
    generation: Mapped[int] = mapped_column(Integer, default=0)
    time_zone: Mapped[str | None] = mapped_column(String(64))
    last_success_at: Mapped[datetime | None]
    last_attempt_at: Mapped[datetime | None]
    last_full_sync_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_kind: Mapped[str | None] = mapped_column(String(32))
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    skipped_items: Mapped[int] = mapped_column(Integer, default=0)
    # One worker at a time per calendar, across replicas; expired leases are taken over.
    lease_owner: Mapped[str | None] = mapped_column(String(128))
    lease_until: Mapped[datetime | None]
    # A push hint arrived: sync this calendar on the next tick instead of waiting for the poll.
    wanted_at: Mapped[datetime | None]


class EventRow(Base):
    """One copy of one provider event on one watched calendar."""

    __tablename__ = "events"
    __table_args__ = (
        UniqueConstraint("provider", "calendar", "event_id"),
        Index("ix_events_calendar_series", "calendar", "series_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(String(32))
    calendar: Mapped[str] = mapped_column(String(320))
    event_id: Mapped[str] = mapped_column(String(1024))
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    series_id: Mapped[str | None] = mapped_column(String(1024))
    original_start: Mapped[datetime | None]
    start: Mapped[datetime | None]
    end: Mapped[datetime | None]
    all_day: Mapped[bool] = mapped_column(Boolean, default=False)
    start_date: Mapped[date | None] = mapped_column(Date)
    end_date: Mapped[date | None] = mapped_column(Date)
    time_zone: Mapped[str | None] = mapped_column(String(64))
    recurrence: Mapped[list[Any]] = mapped_column(JSON, default=list)
    cancelled_occurrences: Mapped[list[Any]] = mapped_column(JSON, default=list)
    summary: Mapped[str] = mapped_column(Text, default="")
    description: Mapped[str] = mapped_column(Text, default="")
    organizer: Mapped[str | None] = mapped_column(String(320))
    attendees: Mapped[list[Any]] = mapped_column(JSON, default=list)
    event_type: Mapped[str] = mapped_column(String(32), default="default")
    updated: Mapped[datetime | None]
    etag: Mapped[str | None] = mapped_column(String(256))
    ical_uid: Mapped[str | None] = mapped_column(String(1024))
    agenda_marker: Mapped[str | None] = mapped_column(String(256))
    content_hash: Mapped[str] = mapped_column(String(64))
    first_seen: Mapped[datetime]
    changed_at: Mapped[datetime]
    by_full_listing: Mapped[bool] = mapped_column(Boolean, default=False)
    conference: Mapped[str | None] = mapped_column(String(2048))  # "meet:<code>" | "teams:<join URL>"


class FindingRow(Base):
    """A broken rule: opened once per key, updated as facts change, resolved (and kept) after."""

    __tablename__ = "findings"
    __table_args__ = (
        UniqueConstraint("rule", "manager", "report", "key"),
        Index("ix_findings_status_notify", "status", "notify_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    rule: Mapped[str] = mapped_column(String(64))
    manager: Mapped[str] = mapped_column(String(320))
    report: Mapped[str] = mapped_column(String(320))
    key: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16))
    occurrence: Mapped[datetime | None]
    message: Mapped[str] = mapped_column(Text)
    explanation: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    digest_only: Mapped[bool] = mapped_column(Boolean, default=False)
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]
    resolved_at: Mapped[datetime | None]
    notify_at: Mapped[datetime | None]
    outbox_id: Mapped[int | None] = mapped_column(Integer)
    notified_at: Mapped[datetime | None]
    # `oneonone findings ack`: out of "needs attention", never emailed again, shown as acknowledged.
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[str | None] = mapped_column(String(320))
    ack_reason: Mapped[str | None] = mapped_column(Text)


class OutboxRow(Base):
    """An email to send. Written in the transaction that decides to send it; sent after."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_status_next", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    recipient: Mapped[str] = mapped_column(String(320))
    message_id: Mapped[str] = mapped_column(String(255), unique=True)
    subject: Mapped[str] = mapped_column(Text)
    text_body: Mapped[str] = mapped_column(Text)
    html_body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    created_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    claimed_by: Mapped[str | None] = mapped_column(String(128))
    claimed_until: Mapped[datetime | None]
    # Pictures the HTML shows as `cid:` images: [{"cid", "filename", "content_type", "data" (base64)}].
    inline_images: Mapped[list[Any] | None] = mapped_column(JSON)
    cc: Mapped[str | None] = mapped_column(String(320))  # one address in copy (skip-level escalation)
    channel: Mapped[str] = mapped_column(String(32), default="email", server_default="email")  # who delivers it
    list_unsubscribe: Mapped[str | None] = mapped_column(Text)  # the one-click "stop these" link (RFC 8058)


class PauseRow(Base):
    __tablename__ = "pauses"
    __table_args__ = (UniqueConstraint("manager", "report"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    manager: Mapped[str] = mapped_column(String(320))
    report: Mapped[str] = mapped_column(String(320))
    since: Mapped[date | None] = mapped_column(Date)
    until: Mapped[date] = mapped_column(Date)


class PairSeenRow(Base):
    """When a pair was first seen, the pair's start when no directory says otherwise."""

    __tablename__ = "pairs_seen"
    __table_args__ = (UniqueConstraint("manager", "report"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    manager: Mapped[str] = mapped_column(String(320))
    report: Mapped[str] = mapped_column(String(320))
    first_seen: Mapped[date] = mapped_column(Date)


class PushChannelRow(Base):
    """A Google watch channel or a Graph subscription that tells us a calendar changed."""

    __tablename__ = "push_channels"
    __table_args__ = (UniqueConstraint("provider", "channel_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(String(32))
    calendar: Mapped[str] = mapped_column(String(320))
    channel_id: Mapped[str] = mapped_column(String(255))
    resource_id: Mapped[str | None] = mapped_column(String(255))
    expires_at: Mapped[datetime]
    created_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16), default="active")  # active | stopped


class AlertRow(Base):
    """Admin alerts already sent, so one broken credential is reported at most once a day."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(255), unique=True)
    last_sent_at: Mapped[datetime]


# -- the agenda feature: a living 1:1 page per pair ---------------------------------------------


class AgendaPairRow(Base):
    """A pair's page. `page_id` (≥128 random bits) names it in links; it grants nothing by itself."""

    __tablename__ = "agenda_pairs"
    __table_args__ = (UniqueConstraint("manager", "report"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    manager: Mapped[str] = mapped_column(String(320))
    report: Mapped[str] = mapped_column(String(320))
    page_id: Mapped[str] = mapped_column(String(64), unique=True)
    # Page ids used before `agenda rotate`: their URLs are swapped out of events, never served.
    previous_page_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)
    is_new: Mapped[bool] = mapped_column(Boolean, default=False)  # gets the first-meeting agenda
    created_at: Mapped[datetime]
    rotated_at: Mapped[datetime | None]


class AgendaItemRow(Base):
    """A talking point, a note or an action item; `occurrence` anchors it to a meeting."""

    __tablename__ = "agenda_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    pair_id: Mapped[int] = mapped_column(Integer, index=True)
    kind: Mapped[str] = mapped_column(String(16))  # topic | note | action
    text: Mapped[str] = mapped_column(Text)
    owner: Mapped[str | None] = mapped_column(String(320))
    due: Mapped[date | None] = mapped_column(Date)
    done: Mapped[bool] = mapped_column(Boolean, default=False)
    done_at: Mapped[datetime | None]
    done_by: Mapped[str | None] = mapped_column(String(320))
    occurrence: Mapped[datetime | None]
    author: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime]
    updated_by: Mapped[str] = mapped_column(String(320))
    updated_at: Mapped[datetime]
    deleted_at: Mapped[datetime | None]  # deleted from the page: kept a day for "Undo", then purged


class AgendaWriteRow(Base):
    """An intended write of the agenda link, committed before the provider call is made."""

    __tablename__ = "agenda_writes"
    __table_args__ = (UniqueConstraint("provider", "calendar", "event_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    pair_id: Mapped[int] = mapped_column(Integer, index=True)
    provider: Mapped[str] = mapped_column(String(32))
    calendar: Mapped[str] = mapped_column(String(320))
    event_id: Mapped[str] = mapped_column(String(1024))
    page_url: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16))  # intended | done | user_removed | failed
    base_etag: Mapped[str | None] = mapped_column(String(256))  # the version we wrote over
    written_etag: Mapped[str | None] = mapped_column(String(256))  # the version our write produced
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    done_at: Mapped[datetime | None]


class AgendaSignInRow(Base):
    """An emailed sign-in link: only its hash is stored; single use, short-lived."""

    __tablename__ = "agenda_signins"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str] = mapped_column(String(320))
    pair_id: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class AgendaSessionRow(Base):
    """A signed-in browser: the cookie holds a random token, the store only its hash."""

    __tablename__ = "agenda_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    email: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]


class AgendaOidcLoginRow(Base):
    """An OpenID Connect sign-in under way: its state (hashed), nonce and PKCE verifier stay on the
    server, bound to the browser that started it (a cookie, hashed here); used once, short-lived."""

    __tablename__ = "agenda_oidc_logins"

    id: Mapped[int] = mapped_column(primary_key=True)
    state_hash: Mapped[str] = mapped_column(String(64), unique=True)
    browser_hash: Mapped[str] = mapped_column(String(64))
    nonce: Mapped[str] = mapped_column(String(128))
    code_verifier: Mapped[str] = mapped_column(String(128))
    return_path: Mapped[str] = mapped_column(String(256))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class AgendaNudgeRow(Base):
    """A nudge sent (or decided) for one occurrence: at most one per kind, pair and occurrence."""

    __tablename__ = "agenda_nudges"
    __table_args__ = (UniqueConstraint("kind", "pair_id", "occurrence"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # agenda | notes
    pair_id: Mapped[int] = mapped_column(Integer)
    occurrence: Mapped[datetime]
    recipient: Mapped[str] = mapped_column(String(320))
    outbox_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime]


class AppSecretRow(Base):
    """Secrets the daemon generates for itself when the config names none (e.g. the CSRF key)."""

    __tablename__ = "app_secrets"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    value: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]


# -- manager and org views ------------------------------------------------------------------------


class DigestRow(Base):
    """A weekly digest decided for a manager: one per (manager, ISO week), queued with its outbox row."""

    __tablename__ = "digests"
    __table_args__ = (UniqueConstraint("manager", "week"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    manager: Mapped[str] = mapped_column(String(320))
    week: Mapped[str] = mapped_column(String(10))  # ISO week in the manager's zone, e.g. 2026-W10
    outbox_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime]


class EscalationRow(Base):
    """A skip-level copy sent: keyed by the warning that reached the threshold, so it is never sent twice."""

    __tablename__ = "escalations"
    __table_args__ = (UniqueConstraint("manager", "trigger"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    manager: Mapped[str] = mapped_column(String(320))
    skip_level: Mapped[str] = mapped_column(String(320))
    trigger: Mapped[str] = mapped_column(String(512))  # identity of the threshold-th warning
    triggered_at: Mapped[datetime]  # when that warning became due: only later ones count towards the next
    findings: Mapped[list[Any]] = mapped_column(JSON, default=list)  # identities of the warnings counted
    outbox_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime]


# -- the directory: who reports to whom, and when that changed ----------------------------------


class DirectoryPairRow(Base):
    """A pair the directory named: in force while `ended_at` is null, kept (with its reason) after it ends."""

    __tablename__ = "directory_pairs"
    __table_args__ = (UniqueConstraint("manager", "report"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    manager: Mapped[str] = mapped_column(String(320))
    report: Mapped[str] = mapped_column(String(320))
    # The directory's start date; else the day a refresh first listed the pair; null for the first import.
    start: Mapped[date | None] = mapped_column(Date)
    source: Mapped[str] = mapped_column(String(32))  # config | file | google | entra
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    end_reason: Mapped[str | None] = mapped_column(String(32))  # left | manager-changed | removed | out-of-scope


class DirectoryPersonRow(Base):
    """A person the directory listed; `active` false once they left (never emailed again)."""

    __tablename__ = "directory_people"

    id: Mapped[int] = mapped_column(primary_key=True)
    address: Mapped[str] = mapped_column(String(320), unique=True)
    department: Mapped[str | None] = mapped_column(String(256))
    manager: Mapped[str | None] = mapped_column(String(320))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    last_seen: Mapped[datetime]
    left_at: Mapped[datetime | None]


class DirectoryStateRow(Base):
    """The last refresh of the directory: when it last worked, and the last error (the old one stays in force)."""

    __tablename__ = "directory_state"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    source: Mapped[str | None] = mapped_column(String(32))
    last_attempt_at: Mapped[datetime | None]
    last_success_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None]


class AttendanceRow(Base):
    """The two people's join intervals (`[joined, left]` ISO UTC pairs) in one past 1:1's call, read once
    after it settled; nothing else of the meeting. A call that could not be read has no row: the calendar decides."""

    __tablename__ = "attendance"
    __table_args__ = (UniqueConstraint("manager", "report", "start"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    manager: Mapped[str] = mapped_column(String(320))
    report: Mapped[str] = mapped_column(String(320))
    start: Mapped[datetime]  # the occurrence's actual start (UTC)
    source: Mapped[str] = mapped_column(String(32))  # google-meet | teams
    manager_intervals: Mapped[list[Any]] = mapped_column(JSON, default=list)
    report_intervals: Mapped[list[Any]] = mapped_column(JSON, default=list)
    read_at: Mapped[datetime]


# Booking offers (issue 16) live in their own module, registered on the same metadata.
from sync.store.booking_models import BookingOfferRow  # noqa: E402
from sync.store.mail_models import MailOptOutRow  # noqa: E402
from sync.store.state_models import PairStateRow  # noqa: E402

__all__ = ["Base", "BookingOfferRow", "MailOptOutRow", "PairStateRow"]
