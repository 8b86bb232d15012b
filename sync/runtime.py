"""The running daemon's parts: `Runtime` (what every step is handed) and the builders that make it
from validated settings. It imports adapters only (providers, mail, metrics); the steps that use a
`Runtime` (cycle, web, digest, CLI) stand above it."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, cast

from providers.base import AgendaWriter, AttendanceReader, Provider, is_instance
from providers.booking import Booker
from sync.config import ConfigError, Settings
from sync.crash import CrashPlan
from sync.directory.calendars import DirectoryCalendars, directory_calendars, follow_directory
from sync.metrics import Metrics
from sync.notify.channel import EMAIL, Send
from sync.notify.policy import MailPolicy, mail_policy
from sync.notify.smtp import SmtpMailer
from sync.store.db import Database

if TYPE_CHECKING:  # each adapter (and its vendor library) is imported only when the settings configure it
    from providers.caldav import CalDavProvider
    from providers.google import GoogleCalendarProvider
    from providers.outlook import OutlookProvider

Clock = Callable[[], datetime]


@dataclass
class Runtime:
    """Everything a cycle needs, built once from the settings (or by a test)."""

    settings: Settings
    db: Database
    providers: Sequence[Provider]
    clock: Clock
    send: Send | None = None  # the email channel
    worker: str = "worker"
    concurrency: int = 8
    lease: timedelta = timedelta(minutes=2)
    crash: CrashPlan = field(default_factory=CrashPlan)
    # Providers that can write the agenda link, by provider name (see providers/*_writeback.py).
    writers: dict[str, AgendaWriter] = field(default_factory=dict)
    metrics: Metrics | None = None
    # When this process last judged every pair or checked every pair's inputs (sync/scope.py); cycles in
    # between judge only the pairs whose calendars changed or whose next transition passed.
    last_full_check: datetime | None = None
    # The digest of what every pair rests on alike when all were last judged (a change judges them all).
    judged_context: str | None = None
    # Channels besides email, by name (sync/notify/channel.py); each delivers the rows queued for it.
    channels: dict[str, Send] = field(default_factory=dict)
    # Who joined the 1:1 calls (Google Meet, Teams), with `rules.attendance: prefer` (sync/ingest/attendance.py).
    attendance: Sequence[AttendanceReader] = ()
    # Providers that can read free/busy and book a 1:1, by provider name (booking.enabled only).
    bookers: dict[str, Booker] = field(default_factory=dict)

    @cached_property
    def policy(self) -> MailPolicy:
        """What every message obeys (sender domain, default zone, observe mode, opt-outs), built once."""
        return mail_policy(self.settings)

    def delivery(self) -> dict[str, Send]:
        """Every channel this process delivers, by name (none: delivery is left to another process)."""
        return {**({EMAIL: self.send} if self.send is not None else {}), **self.channels}


def utc_now() -> datetime:
    return datetime.now(UTC)


def _readable_file(path: Path, key: str) -> None:
    """A credentials file the daemon can open, or an error naming the key and what is wrong with it."""
    if path.is_dir():
        raise ConfigError(f"{key}: {path} is a folder; give the path of the key file inside it")
    if not path.exists():
        raise ConfigError(f"{key}: no such file {path}")
    if not os.access(path, os.R_OK):
        raise ConfigError(f"{key}: cannot read {path}: permission denied (the daemon runs as uid {os.getuid()})")


def build_providers(settings: Settings) -> list[Provider]:
    providers: list[Provider] = []
    google = settings.google
    # No calendars listed but the directory is Google's (Entra's): watch its managers (sync/directory/calendars.py).
    followed = directory_calendars(settings, "google")
    google_calendars = google.calendars if followed is None else followed
    followed = directory_calendars(settings, "outlook")
    outlook_mailboxes = settings.outlook.mailboxes if followed is None else followed
    if google_calendars or isinstance(google_calendars, DirectoryCalendars):
        from providers.google import GoogleCalendarProvider, oauth_user_credentials, service_account_credentials

        if google.service_account_file:
            _readable_file(google.service_account_file, "google.service_account_file")
            try:
                factory = service_account_credentials(google.service_account_file, _google_scopes(settings))
            except OSError as exc:
                raise ConfigError(
                    f"google.service_account_file: cannot read {google.service_account_file}: {exc.strerror}"
                ) from None
            except (ValueError, KeyError) as exc:
                raise ConfigError(
                    f"google.service_account_file: {google.service_account_file} is not a service-account key: {exc}"
                ) from None
        else:
            assert google.oauth_user_file is not None
            _readable_file(google.oauth_user_file, "google.oauth_user_file")
            try:
                factory = oauth_user_credentials(google.oauth_user_file, _google_scopes(settings))
            except OSError as exc:
                raise ConfigError(
                    f"google.oauth_user_file: cannot read {google.oauth_user_file}: {exc.strerror}"
                ) from None
            except (ValueError, KeyError) as exc:
                raise ConfigError(f"google.oauth_user_file: not an authorized-user file: {exc}") from None
        providers.append(
            GoogleCalendarProvider(
                credentials_for=factory,
                watched=google_calendars,
                api_endpoint=google.api_endpoint,
                page_size=google.page_size,
                history_days=settings.rules.history_days,
                timeout=google.timeout_seconds,
            )
        )
    outlook = settings.outlook
    if outlook_mailboxes or isinstance(outlook_mailboxes, DirectoryCalendars):
        from providers.outlook import OutlookProvider
        from sync.clients import build_graph_client

        providers.append(
            OutlookProvider(
                client=build_graph_client(settings),
                watched=outlook_mailboxes,
                page_size=outlook.page_size,
                rebase_days=outlook.rebase_days,
            )
        )
    providers.extend(build_feed_providers(settings))
    return providers


def build_feed_providers(settings: Settings) -> list[Provider]:
    """ICS feeds (read-only) and CalDAV calendars (read-write)."""
    providers: list[Provider] = []
    if settings.ics.feeds:
        from providers.ics import IcsFeed, IcsFeedProvider

        feeds = [IcsFeed(owner=f.owner, url=f.url, path=f.path, name=f.name) for f in settings.ics.feeds]
        providers.append(
            IcsFeedProvider(
                feeds=feeds,
                timeout=settings.ics.timeout_seconds,
                history_days=settings.rules.history_days,
                horizon_days=settings.rules.horizon_days,
                default_zone=settings.time_zone,
            )
        )
    caldav = settings.caldav
    if caldav.calendars:
        from providers.caldav import CalDavProvider

        assert caldav.url is not None
        password = caldav.password()
        providers.append(
            CalDavProvider(
                url=caldav.url,
                calendars_by_owner={c.owner: c.url for c in caldav.calendars},
                username=caldav.username,
                password=password.get_secret_value() if password is not None else None,
                timeout=caldav.timeout_seconds,
                history_days=settings.rules.history_days,
                default_zone=settings.time_zone,
            )
        )
    return providers


def _google_scopes(settings: Settings) -> tuple[str, ...]:
    """Booking reads free/busy, which `calendar.events` does not grant: ask for `calendar.freebusy` too."""
    from providers.google import SCOPE_FREEBUSY

    scopes = settings.google.scopes
    if settings.booking.enabled and not any(
        s.endswith(("/calendar", ".freebusy", "calendar.readonly")) for s in scopes
    ):
        scopes = (*scopes, SCOPE_FREEBUSY)
    return scopes


def booking_bookers(settings: Settings, providers: Iterable[Provider]) -> dict[str, Booker]:
    """The providers that book, when booking is enabled (Google and Graph; ICS and CalDAV do not)."""
    if not settings.booking.enabled:
        return {}
    bookers: dict[str, Booker] = {}
    timeout = settings.booking.timeout_seconds
    for provider in providers:
        if is_instance(provider, "providers.google", "GoogleCalendarProvider"):
            from providers.google_booking import GoogleBooker

            bookers[provider.name] = GoogleBooker(cast("GoogleCalendarProvider", provider), timeout=timeout)
        elif is_instance(provider, "providers.outlook", "OutlookProvider"):
            from providers.outlook_booking import GraphBooker

            bookers[provider.name] = GraphBooker(cast("OutlookProvider", provider).client, timeout=timeout)
    return bookers


def agenda_writers(providers: Iterable[Provider]) -> dict[str, AgendaWriter]:
    """The agenda-link writer of each provider in use that can write one (ICS feeds are read-only)."""
    writers: dict[str, AgendaWriter] = {}
    for provider in providers:
        if is_instance(provider, "providers.google", "GoogleCalendarProvider"):
            from providers.google_writeback import GoogleAgendaWriter

            writers[provider.name] = GoogleAgendaWriter(cast("GoogleCalendarProvider", provider))
        elif is_instance(provider, "providers.outlook", "OutlookProvider"):
            from providers.outlook_writeback import GraphAgendaWriter

            writers[provider.name] = GraphAgendaWriter(cast("OutlookProvider", provider).client)
        elif is_instance(provider, "providers.caldav", "CalDavProvider"):  # ICS feeds are read-only: no writer
            from providers.caldav_writeback import CalDavAgendaWriter

            writers[provider.name] = CalDavAgendaWriter(cast("CalDavProvider", provider))
    return writers


def build_sender(settings: Settings) -> Send:
    if settings.notify.via == "graph":
        from sync.clients import build_graph_client
        from sync.notify.graph_mail import GraphMailer

        assert settings.notify.graph_sender is not None
        return GraphMailer(build_graph_client(settings), settings.notify.graph_sender).send
    smtp = settings.smtp
    mailer = SmtpMailer(
        host=smtp.host,
        port=smtp.port,
        security=smtp.security,
        sender=smtp.from_address,
        username=smtp.username,
        password=smtp.password(),
        timeout=smtp.timeout_seconds,
    )
    return mailer.send


def build_channels(settings: Settings) -> dict[str, Send]:
    """The channels besides email that the settings set up (each one line)."""
    channels: dict[str, Send] = {}
    if settings.slack.configured:
        from sync.notify.slack import SLACK, SlackChannel, slack_client

        channels[SLACK] = SlackChannel(slack_client(settings.slack)).send
    return channels


def attendance_readers(settings: Settings) -> list[AttendanceReader]:
    """Who-joined readers for the configured vendors, with `rules.attendance: prefer` (none otherwise)."""
    if settings.rules.attendance != "prefer":
        return []
    from providers.google import oauth_user_credentials, service_account_credentials
    from providers.google_meet import SCOPES, MeetAttendanceReader

    readers: list[AttendanceReader] = []
    google = settings.google
    if google.service_account_file is not None or google.oauth_user_file is not None:
        factory = (
            service_account_credentials(google.service_account_file, SCOPES)
            if google.service_account_file is not None
            else oauth_user_credentials(google.oauth_user_file, SCOPES)  # type: ignore[arg-type]
        )
        readers.append(
            MeetAttendanceReader(
                credentials_for=factory, api_endpoint=google.meet_endpoint, timeout=google.timeout_seconds
            )
        )
    if settings.outlook.configured:
        from providers.teams_attendance import TeamsAttendanceReader
        from sync.clients import build_graph_client

        readers.append(TeamsAttendanceReader(build_graph_client(settings)))
    return readers


def build_runtime(
    settings: Settings,
    *,
    clock: Callable[[], datetime] = utc_now,
    providers: list[Provider] | None = None,
    send: Send | None = None,
    crash: CrashPlan | None = None,
    channels: dict[str, Send] | None = None,
) -> Runtime:
    providers = providers if providers is not None else build_providers(settings)
    send = send if send is not None else build_sender(settings)
    channels = channels if channels is not None else build_channels(settings)
    db = Database(settings.resolved_database_url())
    db.migrate()
    follow_directory(db, providers)  # calendars that follow the directory: its managers in force
    return Runtime(
        settings=settings,
        db=db,
        providers=providers,
        writers=agenda_writers(providers),
        bookers=booking_bookers(settings, providers),
        clock=clock,
        send=send,
        worker=f"{os.uname().nodename}:{os.getpid()}",
        concurrency=settings.concurrency,
        lease=timedelta(seconds=settings.lease_seconds),
        crash=crash or CrashPlan(),
        metrics=Metrics(db, clock, per_calendar=settings.web.metrics_per_calendar),
        attendance=attendance_readers(settings),
        channels=channels,
    )
