"""`oneonone check-config --connect`: try every outside part once, and say which works.

A config can be valid and still not work: a wrong SMTP password, a delegation not granted, a feed URL
that moved. Each part gets one cheap try — the database a `SELECT 1`, SMTP a greeting (and STARTTLS and
AUTH when configured), each calendar source the first page of its first calendar, Slack `auth.test` —
and a line that says what happened, so an admin fixes the one that fails before the daemon runs.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from rich.console import Console
from rich.markup import escape
from sqlalchemy import create_engine, text

from providers.base import ProviderError
from sync.config import Settings


@dataclass(frozen=True)
class Probe:
    part: str
    ok: bool
    detail: str


def _database(settings: Settings) -> str:
    engine = create_engine(settings.resolved_database_url())
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    finally:
        engine.dispose()
    return "connected"


def _smtp(settings: Settings) -> str:
    smtp = settings.smtp
    timeout = min(smtp.timeout_seconds, 15)
    if smtp.security == "ssl":
        client: smtplib.SMTP = smtplib.SMTP_SSL(
            smtp.host, smtp.port, timeout=timeout, context=ssl.create_default_context()
        )
    else:
        client = smtplib.SMTP(smtp.host, smtp.port, timeout=timeout)
    steps = ["EHLO"]
    try:
        client.ehlo()
        if smtp.security == "starttls":
            client.starttls(context=ssl.create_default_context())
            client.ehlo()
            steps.append("STARTTLS")
        password = smtp.password()
        if smtp.username and password is not None:
            client.login(smtp.username, password.get_secret_value())
            steps.append("AUTH")
    finally:
        try:
            client.quit()
        except smtplib.SMTPException:
            client.close()
    return f"{smtp.host}:{smtp.port} answered ({', '.join(steps)})"


def _calendars(settings: Settings) -> list[Probe]:
    from sync.runtime import build_providers

    found = []
    now = datetime.now(UTC)
    for provider in build_providers(settings):
        calendars = list(provider.calendars())
        name = getattr(provider, "name", type(provider).__name__)
        if not calendars:
            found.append(Probe(f"calendars ({name})", True, "none listed yet (they follow the directory)"))
            continue
        first = calendars[0]
        try:
            page = next(iter(provider.list_changes(first, None, now)), None)
        except ProviderError as exc:
            found.append(Probe(f"calendars ({name})", False, f"{first}: {exc.message} ({exc.kind})"))
            continue
        events = len(page.events) if page is not None else 0
        found.append(Probe(f"calendars ({name})", True, f"read {first} ({events} events on the first page)"))
    return found


def _slack(settings: Settings) -> str:
    from sync.notify.slack import slack_client

    answer = slack_client(settings.slack).auth_test()
    return f"signed in as {answer.get('user', '?')} in {answer.get('team', '?')}"


def _try(part: str, probe: Callable[[], str]) -> Probe:
    try:
        return Probe(part, True, probe())
    except Exception as exc:  # any failure of an outside part is that part's answer, not a crash
        return Probe(part, False, f"{type(exc).__name__}: {exc}"[:300])


def probes(settings: Settings) -> list[Probe]:
    found = [_try("database", lambda: _database(settings))]
    if settings.notify.via == "smtp":
        found.append(_try("smtp", lambda: _smtp(settings)))
    try:
        found.extend(_calendars(settings))
    except Exception as exc:
        found.append(Probe("calendars", False, f"{type(exc).__name__}: {exc}"[:300]))
    if settings.slack.configured:
        found.append(_try("slack", lambda: _slack(settings)))
    return found


def print_probes(found: list[Probe], console: Console) -> bool:
    for probe in found:
        mark = "[green]ok[/green]" if probe.ok else "[red]failed[/red]"
        console.print(f"  {mark} {escape(probe.part)}: {escape(probe.detail)}", soft_wrap=True)
    return all(p.ok for p in found)
