"""Building the daemon's parts from validated settings."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime

from providers.base import Provider
from providers.google import (
    GoogleCalendarProvider,
    oauth_user_credentials,
    service_account_credentials,
)
from sync.config import ConfigError, Settings
from sync.cycle import Runtime, Send
from sync.notify.smtp import SmtpMailer
from sync.store.db import Database


def utc_now() -> datetime:
    return datetime.now(UTC)


def build_providers(settings: Settings) -> list[Provider]:
    providers: list[Provider] = []
    google = settings.google
    if google.calendars:
        if google.service_account_file:
            if not google.service_account_file.is_file():
                raise ConfigError(f"google.service_account_file: no such file {google.service_account_file}")
            try:
                factory = service_account_credentials(google.service_account_file, google.scopes)
            except (ValueError, KeyError) as exc:
                raise ConfigError(
                    f"google.service_account_file: {google.service_account_file} is not a service-account key: {exc}"
                ) from None
        else:
            assert google.oauth_user_file is not None
            if not google.oauth_user_file.is_file():
                raise ConfigError(f"google.oauth_user_file: no such file {google.oauth_user_file}")
            try:
                factory = oauth_user_credentials(google.oauth_user_file, google.scopes)
            except (ValueError, KeyError) as exc:
                raise ConfigError(f"google.oauth_user_file: not an authorized-user file: {exc}") from None
        providers.append(
            GoogleCalendarProvider(
                credentials_for=factory,
                watched=google.calendars,
                api_endpoint=google.api_endpoint,
                page_size=google.page_size,
                history_days=settings.rules.history_days,
                timeout=google.timeout_seconds,
            )
        )
    return providers


def build_sender(settings: Settings) -> Send:
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


def build_runtime(
    settings: Settings,
    *,
    clock: Callable[[], datetime] = utc_now,
    providers: list[Provider] | None = None,
    send: Send | None = None,
) -> Runtime:
    db = Database(settings.resolved_database_url())
    db.migrate()
    return Runtime(
        settings=settings,
        db=db,
        providers=providers if providers is not None else build_providers(settings),
        clock=clock,
        send=send if send is not None else build_sender(settings),
        worker=f"{os.uname().nodename}:{os.getpid()}",
    )
