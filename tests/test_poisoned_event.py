"""One poisoned event costs only its own pair: every other pair's findings and emails stay as without it.

Anyone who can put an event on a watched calendar (an ICS feed here: its owner writes every byte) can
choose a repeat rule that never advances, a series that ends in year 9999 or a meeting dated year 1.
The daemon judges everyone else exactly as before, and the admin is told which event it could not use.
"""

from __future__ import annotations

import random
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from rules_builders import M, P, R, cancel, context, directory, events, weekly

from emulators.ics_feed import IcsFeedServer
from emulators.smtp import MailSink
from providers.ics import IcsFeed, IcsFeedProvider
from providers.retry import RetryPolicy
from rules.engine import evaluate
from sync.actions.findings import finding_as_dict, finding_rows
from sync.config import parse_settings
from sync.cycle import CycleReport, run_cycle
from sync.notify.smtp import SmtpMailer
from sync.runtime import build_runtime

NOW = datetime(2025, 6, 2, 12, tzinfo=UTC)  # a Monday
MARIA, BOB, PIA = "maria@acme.test", "bob@acme.test", "pia@acme.test"
CAROL, DAN = "carol@acme.test", "dan@acme.test"
ADMIN = "it@acme.test"
FIRST = NOW - timedelta(weeks=6, hours=3)  # Mondays 09:00 UTC (11:00 Berlin)


def feed(*events: str) -> bytes:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//acme//EN", "X-WR-TIMEZONE:Europe/Berlin", *events]
    return ("\r\n".join([*lines, "END:VCALENDAR"]) + "\r\n").encode()


def vevent(uid: str, organizer: str, report: str, start: str, *extra: str, title: str = "") -> str:
    lines = ["BEGIN:VEVENT", f"UID:{uid}", "DTSTAMP:20250101T000000Z", start, *extra]
    lines += [f"SUMMARY:{title or organizer.split('@')[0].title() + ' / ' + report.split('@')[0].title() + ' 1:1'}"]
    lines += [f"ORGANIZER:mailto:{organizer}", f"ATTENDEE;PARTSTAT=ACCEPTED:mailto:{report}", "END:VEVENT"]
    return "\r\n".join(lines)


def weekly_with_a_cancellation(uid: str, organizer: str, report: str) -> str:
    cancelled = FIRST + timedelta(weeks=6)  # this morning: cancelled, never replaced
    return vevent(
        uid,
        organizer,
        report,
        f"DTSTART;TZID=Europe/Berlin:{FIRST:%Y%m%dT110000}",
        f"DTEND;TZID=Europe/Berlin:{FIRST:%Y%m%dT113000}",
        "RRULE:FREQ=WEEKLY",
        f"EXDATE:{cancelled:%Y%m%dT%H%M%SZ}",
    )


POISON = (
    vevent("never-advances", MARIA, PIA, f"DTSTART:{FIRST:%Y%m%dT%H%M%SZ}", "RRULE:FREQ=WEEKLY;INTERVAL=0"),
    vevent("every-second", MARIA, PIA, f"DTSTART:{FIRST:%Y%m%dT%H%M%SZ}", "RRULE:FREQ=SECONDLY"),
    vevent("forever", MARIA, PIA, f"DTSTART:{FIRST:%Y%m%dT%H%M%SZ}", "RRULE:FREQ=WEEKLY;UNTIL=99991231T235959Z"),
    vevent("huge-count", MARIA, PIA, f"DTSTART:{FIRST:%Y%m%dT%H%M%SZ}", "RRULE:FREQ=DAILY;COUNT=999999999999"),
    vevent("year-one", MARIA, PIA, "DTSTART:00010101T003000Z", "DTEND:00010101T010000Z"),
    vevent("year-9999", MARIA, PIA, "DTSTART;TZID=Pacific/Kiritimati:99991231T200000", "RRULE:FREQ=WEEKLY"),
)


Findings = list[dict[str, object]]


def run_org(
    server: IcsFeedServer, sink: MailSink, database_url: str, poison: tuple[str, ...]
) -> tuple[CycleReport, Findings]:
    """Two cycles a day apart over the org; the findings stored after them, as `oneonone findings` prints them."""
    server.publish("maria.ics", feed(weekly_with_a_cancellation("maria-bob", MARIA, BOB), *poison))
    server.publish("carol.ics", feed(weekly_with_a_cancellation("carol-dan", CAROL, DAN)))
    ics = IcsFeedProvider(
        feeds=(IcsFeed(owner=MARIA, url=server.url("maria.ics")), IcsFeed(owner=CAROL, url=server.url("carol.ics"))),
        retry=RetryPolicy(attempts=1),
        sleeper=lambda _: None,
        rng=random.Random(1),
        timeout=5,
    )
    pairs = [(MARIA, BOB), (MARIA, PIA), (CAROL, DAN)]
    settings = parse_settings(
        {
            "database_url": database_url,
            "smtp": {"host": "127.0.0.1", "port": sink.port, "from": "oneonone@acme.test"},
            "notify": {"admin_email": ADMIN},
            "directory": {"pairs": [{"manager": m, "report": r, "start": "2025-01-01"} for m, r in pairs]},
            "agenda": {"nudges": False},
        }
    )
    mailer = SmtpMailer(host="127.0.0.1", port=sink.port, sender="oneonone@acme.test")
    clock = [NOW]
    runtime = build_runtime(settings, clock=lambda: clock[0], providers=[ics], send=mailer.send)
    run_cycle(runtime)
    clock[0] += timedelta(hours=25)  # past the day a cancellation is given to be rescheduled
    report = run_cycle(runtime)
    with runtime.db.session() as session:
        findings = [{k: v for k, v in finding_as_dict(row).items() if k != "id"} for row in finding_rows(session)]
    return report, findings


def others(findings: Findings) -> Findings:
    return [f for f in findings if f["report"] != PIA]


def mails_to_managers(sink: MailSink) -> list[tuple[str, str, str, str]]:
    """The warnings about every pair but the poisoned one (Maria / Pia), in full (each install draws its own
    random agenda page ids: those are masked)."""
    return sorted(
        (m["To"], m["Message-ID"], m["Subject"], PAGE.sub("/a/PAGE", m.get_body(("plain",)).get_content()))
        for m in sink.messages
        if m["To"] != ADMIN and "Pia" not in m["Subject"]
    )


PAGE = re.compile(r"/a/[A-Za-z0-9_-]+")


@pytest.mark.timeout(120)
def test_poisoned_events_on_one_calendar_leave_every_other_pair_judged_and_emailed_as_without_them(
    ics_server: IcsFeedServer, tmp_path_factory: pytest.TempPathFactory
) -> None:
    with MailSink() as clean_sink:
        clean_db = f"sqlite:///{tmp_path_factory.mktemp('clean')}/db.sqlite"
        clean, clean_findings = run_org(ics_server, clean_sink, clean_db, ())
        clean_mail = mails_to_managers(clean_sink)
    with MailSink() as sink:
        poisoned_db = f"sqlite:///{tmp_path_factory.mktemp('poisoned')}/db.sqlite"
        poisoned, poisoned_findings = run_org(ics_server, sink, poisoned_db, POISON)
        poisoned_mail = mails_to_managers(sink)
        admin_mail = [m for m in sink.messages if m["To"] == ADMIN]

    assert all(c.ok for c in poisoned.calendars)
    assert {(f["manager"], f["report"]) for f in others(clean_findings)} == {(MARIA, BOB), (CAROL, DAN)}
    assert others(poisoned_findings) == others(clean_findings)
    assert {to for to, *_ in clean_mail} == {MARIA, CAROL}
    assert poisoned_mail == clean_mail
    # The admin is told, once per event, which event on whose calendar could not be used, and why.
    named = {bad.event_ids[0] for bad in poisoned.bad_data}
    assert {"never-advances", "every-second", "year-one", "year-9999"} <= named  # huge-count: the feed reader
    subjects = {m["Subject"] for m in admin_mail}
    assert subjects == {f"oneonone cannot use an event on the calendar of {MARIA}"}
    bodies = "\n".join(m.get_body(("plain",)).get_content() for m in admin_mail)
    assert "year-one" in bodies and "dated in year 1" in bodies and "INTERVAL=0" in bodies
    assert clean.bad_data == ()


def test_a_pair_whose_data_makes_a_rule_raise_is_named_and_the_other_pairs_are_judged_as_usual() -> None:
    """Data no screen foresaw (here a directory start in year 1, before any zone's history) costs one pair."""
    good = events(cancel(weekly(), "2025-01-13"), weekly(manager=M, report=P, title="1:1 Maria / Pia"))
    baseline = evaluate(good, context("2025-01-22T12:00", directory=directory((M, R, None), (M, P, None))))
    hostile = context("2025-01-22T12:00", directory=directory((M, R, None), (M, P, "0001-01-01")))
    evaluation = evaluate(good, hostile)
    assert (M, R) in evaluation.judged_pairs and (M, P) in evaluation.skipped_pairs
    assert [f for f in evaluation.findings if f.report == R] == [f for f in baseline.findings if f.report == R]
    assert [f for f in baseline.findings if f.report == R]  # the comparison has something to compare
    (bad,) = evaluation.bad_data
    assert bad.pair == (M, P) and "OverflowError" in bad.reason
    assert bad.event_ids == (good[-1].event_id,)  # the pair's series, by event id


def test_an_event_with_a_time_without_a_zone_is_refused_and_named() -> None:
    good = events(weekly(), weekly(manager=M, report=P, title="1:1 Maria / Pia"))
    broken = good[-1]
    assert broken.start is not None
    naive = replace(broken, event_id="naive-1", start=broken.start.replace(tzinfo=None))
    evaluation = evaluate((*good, naive), context("2025-01-22T12:00"))
    assert evaluation.findings == evaluate(good, context("2025-01-22T12:00")).findings
    (bad,) = evaluation.bad_data
    assert bad.event_ids == ("naive-1",) and "no time zone" in bad.reason and bad.pair is None
