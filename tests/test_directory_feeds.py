"""Feeds without attendee lines: the title names the report (pure detection, then end to end over ICS)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from rules_builders import M, P, R, series

from emulators.ics_feed import IcsFeedServer
from providers.ics import IcsFeed, IcsFeedProvider
from rules.detect import candidate
from rules.model import Directory, Pair, RuleSettings
from sync.actions.findings import finding_as_dict, finding_rows
from sync.config import ConfigError, parse_settings
from sync.cycle import run_cycle
from sync.runtime import build_runtime

ALICE = "alice.moreau@acme.test"
COMPANY = Directory(pairs=(Pair(M, R), Pair(M, ALICE), Pair(P, "zed@acme.test")), domains=("acme.test",))


def _feed_event(title: str, calendar: str = M, organizer: str | None = M):  # type: ignore[no-untyped-def]
    event = series(title=title).event
    return replace(event, attendees=(), calendar=calendar, organizer=organizer, provider="ics")


@pytest.mark.parametrize(
    ("title", "report"),
    [
        ("Alice Moreau / Maria", ALICE),
        ("weekly with alice.moreau", ALICE),
        ("alice-moreau sync", ALICE),
        ("MOREAU check-in", ALICE),
        ("1:1 alice.moreau@acme.test", ALICE),
        ("Raj", R),
        ("Alice catch-up", None),  # a first name alone is not enough (only "alice moreau" or "moreau")
        ("Moreauville offsite", None),  # word boundaries
        ("Raj and Alice Moreau", None),  # two reports: a group meeting
        ("Zed 1:1", None),  # not one of Maria's reports
    ],
)
def test_a_title_names_one_report_of_the_calendar_owner(title: str, report: str | None) -> None:
    found = candidate(_feed_event(title), COMPANY, RuleSettings())
    assert (found.people if found else None) == (frozenset({M, report}) if report else None)


def test_only_the_owners_own_events_and_only_with_a_directory() -> None:
    assert candidate(_feed_event("Raj", organizer=None), COMPANY, RuleSettings()) is not None
    assert candidate(_feed_event("Raj", organizer=P), COMPANY, RuleSettings()) is None  # someone else's event
    assert candidate(_feed_event("Raj", calendar=P, organizer=P), COMPANY, RuleSettings()) is None
    assert candidate(_feed_event("Raj"), Directory(domains=("acme.test",)), RuleSettings()) is None
    patterns = RuleSettings(pair_title_patterns=((M, R, r"\bRK\b"), (M, ALICE, "(")))  # a broken one is skipped
    assert candidate(_feed_event("RK weekly"), COMPANY, patterns) is not None


def test_pair_title_patterns_are_validated_in_the_config() -> None:
    settings = parse_settings({"rules": {"pair_title_patterns": {"Maria@acme.test,raj@acme.test": r"\bRK\b"}}})
    assert settings.rule_settings().pair_title_patterns == ((M, R, r"\bRK\b"),)
    with pytest.raises(ConfigError, match=r"must be 'manager@example\.com,report@example\.com'"):
        parse_settings({"rules": {"pair_title_patterns": {"maria": "x"}}})
    with pytest.raises(ConfigError, match="not a valid regular expression"):
        parse_settings({"rules": {"pair_title_patterns": {f"{M},{R}": "("}}})


NOW = datetime(2025, 6, 2, 12, tzinfo=UTC)  # a Monday


def _vevent(uid: str, summary: str, first: datetime, exdates: tuple[datetime, ...] = ()) -> list[str]:
    lines = ["BEGIN:VEVENT", f"UID:{uid}", "DTSTAMP:20250101T000000Z", f"SUMMARY:{summary}"]
    lines += [f"DTSTART;TZID=Europe/Berlin:{first:%Y%m%dT%H%M%S}", f"DTEND;TZID=Europe/Berlin:{first:%Y%m%dT%H}3000"]
    lines += ["RRULE:FREQ=WEEKLY", *(f"EXDATE;TZID=Europe/Berlin:{d:%Y%m%dT%H%M%S}" for d in exdates)]
    return [*lines, "END:VEVENT"]  # no ORGANIZER, no ATTENDEE: as published feeds often are


@pytest.fixture
def server(ics_server: IcsFeedServer) -> IcsFeedServer:
    return ics_server


def test_a_published_feed_without_attendees_is_judged_by_the_names_in_its_titles(
    server: IcsFeedServer, database_url: str
) -> None:
    first = datetime(2025, 4, 21, 11, 0)  # Mondays 11:00 Berlin
    cancelled = first + timedelta(weeks=5)  # Mon 26 May, a week ago
    body = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//acme//EN",
        "X-WR-TIMEZONE:Europe/Berlin",
        *_vevent("alice-1", "Alice Moreau / Maria", first, (cancelled,)),
        *_vevent("team-1", "Raj & Moreau planning", first + timedelta(days=1), (cancelled + timedelta(days=1),)),
        "END:VCALENDAR",
    ]
    server.publish("/maria.ics", ("\r\n".join(body) + "\r\n").encode())
    settings = parse_settings(
        {
            "database_url": database_url,
            "directory": {"pairs": [{"manager": M, "report": R}, {"manager": M, "report": ALICE}]},
            "agenda": {"nudges": False},
        }
    )
    provider = IcsFeedProvider(feeds=[IcsFeed(owner=M, url=server.url("/maria.ics"), name="Maria")], timeout=5)
    clock = [NOW]
    runtime = build_runtime(settings, clock=lambda: clock[0], providers=[provider], send=None)
    report = run_cycle(runtime)
    assert [c.ok for c in report.calendars] == [True]
    with runtime.db.session() as session:
        findings = [finding_as_dict(f) for f in finding_rows(session)]
    cancellations = [(f["report"], f["occurrence"]) for f in findings if f["rule"] == "cancelled-without-reschedule"]
    assert cancellations == [(ALICE, "2025-05-26T09:00:00Z")]  # the group meeting is nobody's 1:1
    assert not [f for f in findings if f["report"] == ALICE and f["rule"].startswith("cadence-gap")]
    runtime.db.dispose()
