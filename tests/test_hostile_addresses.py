"""Addresses are parsed, not guessed: whatever an event's author writes as an address, no mail header
ever holds anything but the one parsed `local@domain`, and no list or group passes a domain check."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from hypothesis import given
from hypothesis import strategies as st

from emulators.ics_feed import IcsFeedServer
from emulators.smtp import MailSink
from providers.google_mapping import map_event
from providers.ics import IcsFeed, IcsFeedProvider
from providers.ics_mapping import parse_calendar
from providers.outlook_mapping import attendees as graph_attendees
from providers.retry import RetryPolicy
from rules.address import AddressError, parse_address
from sync.config import ConfigError, parse_settings
from sync.cycle import run_cycle
from sync.notify.outbox import deliver_pending
from sync.notify.render import build_email
from sync.notify.smtp import SmtpMailer
from sync.runtime import build_runtime
from sync.store.db import Database
from sync.store.models import OutboxRow

ENCODED = "=?utf-8?q?x=0D=0AReply-To:_a@evil.com=0D=0A=0D=0APay_here?=@acme.test"
LIST = "attacker@evil.com,rep.x@acme.test"
GROUP = "undisclosed:a@evil.com;rep.x@acme.test"
HOSTILE = [
    ENCODED,
    LIST,
    GROUP,
    "Rep X <rep.x@acme.test>",
    "rep.x@acme.test\r\nBcc: a@evil.com",
    "rep.x@acme.test\x00",
    '"rep x"@acme.test',
    "a@b@acme.test",
    "rep.x@[10.0.0.1]",
    "rep x@acme.test",
    "",
    "@",
    "rep.x@",
]


@pytest.mark.parametrize(
    "raw, parsed",
    [
        ("Maria@ACME.test", "maria@acme.test"),
        ("  maria@acme.test ", "maria@acme.test"),
        ("mailto:Maria@acme.test", "maria@acme.test"),
        ("MAILTO:maria%40acme.test", "maria@acme.test"),
        ("o'brien+1on1@sub.acme-corp.test", "o'brien+1on1@sub.acme-corp.test"),
        ("oneonone@localhost", "oneonone@localhost"),
    ],
)
def test_a_plain_address_is_one_lower_case_mailbox(raw: str, parsed: str) -> None:
    assert parse_address(raw) == parsed


@pytest.mark.parametrize("raw", HOSTILE)
def test_lists_groups_encoded_words_names_and_control_characters_are_refused(raw: str) -> None:
    with pytest.raises(AddressError):
        parse_address(raw)


ADDRESS_TEXT = st.one_of(
    st.text(max_size=60),
    st.text(alphabet="abc@.,;:<>\"'=?\r\n \\[]()", max_size=30),
    st.sampled_from(HOSTILE).flatmap(lambda h: st.text(max_size=5).map(lambda t: h + t)),
    st.emails().map(str),
)


@given(ADDRESS_TEXT)
def test_whatever_text_comes_in_a_header_holds_exactly_the_parsed_address_or_nothing_is_built(raw: str) -> None:
    try:
        parsed = parse_address(raw)
    except AddressError:
        with pytest.raises(AddressError):
            _mail(raw)
        return
    assert parsed.count("@") == 1 and parsed == parsed.lower() and parsed.isprintable()
    mail = message_from_bytes(_mail(raw).as_bytes(), policy=policy.default)
    assert isinstance(mail, EmailMessage)
    assert str(mail["To"]) == parsed and len(mail.get_all("To") or []) == 1
    assert mail["Reply-To"] is None and mail["Bcc"] is None and mail["Cc"] is None


def _mail(recipient: str) -> EmailMessage:
    return build_email(
        sender="oneonone@acme.test",
        recipient=recipient,
        subject="s",
        text="t",
        html="<p>t</p>",
        message_id="<m@acme.test>",
        date=datetime(2025, 1, 1, tzinfo=UTC),
    )


# --- every provider's mapping drops an address it refuses (the event is kept, the address is nobody) ---


@pytest.mark.parametrize("raw", [ENCODED, LIST, GROUP])
def test_the_google_mapping_keeps_the_event_and_drops_the_hostile_attendee(raw: str) -> None:
    item = {
        "id": "ev1",
        "status": "confirmed",
        "summary": "1:1",
        "start": {"dateTime": "2025-03-10T09:00:00Z"},
        "end": {"dateTime": "2025-03-10T09:30:00Z"},
        "organizer": {"email": raw},
        "attendees": [{"email": "maria@acme.test"}, {"email": raw}],
    }
    event = map_event(item, "maria@acme.test", "UTC").event
    assert event is not None and [a.email for a in event.attendees] == ["maria@acme.test"]
    assert event.organizer is None


@pytest.mark.parametrize("raw", [ENCODED, LIST, GROUP])
def test_the_graph_mapping_drops_the_hostile_attendee(raw: str) -> None:
    item = {
        "attendees": [
            {"emailAddress": {"address": "maria@acme.test"}, "status": {"response": "accepted"}},
            {"emailAddress": {"address": raw}, "status": {"response": "accepted"}},
        ]
    }
    assert [a.email for a in graph_attendees(item, "maria@acme.test", "AAMk1")] == ["maria@acme.test"]


@pytest.mark.parametrize("raw", [ENCODED, LIST, GROUP])
def test_the_ics_mapping_drops_the_hostile_attendee(raw: str) -> None:
    document = "\r\n".join(
        [
            "BEGIN:VCALENDAR",
            "VERSION:2.0",
            "PRODID:-//t//EN",
            "BEGIN:VEVENT",
            "UID:ev1",
            "DTSTAMP:20250101T000000Z",
            "DTSTART:20250310T090000Z",
            "DTEND:20250310T093000Z",
            "SUMMARY:1:1",
            "ORGANIZER:mailto:maria@acme.test",
            f"ATTENDEE:mailto:{raw}",
            "END:VEVENT",
            "END:VCALENDAR",
            "",
        ]
    )
    (event,) = parse_calendar(document, provider="ics", owner="maria@acme.test").events
    assert event.organizer == "maria@acme.test" and event.attendees == ()


# --- end to end: a feed whose author writes hostile attendees gets no mail to them -------------------

NOW = datetime(2025, 6, 2, 12, tzinfo=UTC)


def _series(uid: str, attendee: str, *extra: str) -> list[str]:
    first = NOW - timedelta(weeks=3, hours=3)  # Mondays 09:00 UTC
    return [
        "BEGIN:VEVENT",
        f"UID:{uid}",
        "DTSTAMP:20250101T000000Z",
        f"DTSTART:{first:%Y%m%dT%H%M%SZ}",
        f"DTEND:{first + timedelta(minutes=30):%Y%m%dT%H%M%SZ}",
        "RRULE:FREQ=WEEKLY",
        *extra,
        "SUMMARY:1:1 Maria / Rep",
        "ORGANIZER:mailto:maria@acme.test",
        f"ATTENDEE;PARTSTAT=ACCEPTED:mailto:{attendee}",
        "END:VEVENT",
    ]


def test_a_feed_with_hostile_attendees_mails_nobody_outside_the_parsed_addresses(
    ics_server: IcsFeedServer, database_url: str
) -> None:
    """No directory: pairs come from who organizes a titled 1:1. Beside a real pair (a cancellation this
    morning: Maria is warned; the next 1:1 is near: Rep is nudged), each hostile attendee would have been
    a "report" getting nudges and the sign-in link in headers it chose; now each is nobody."""
    real = _series("real", "rep.x@acme.test", f"EXDATE:{NOW - timedelta(hours=3):%Y%m%dT%H%M%SZ}")
    hostile = [line for number, raw in enumerate([ENCODED, LIST, GROUP]) for line in _series(f"h{number}", raw)]
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//t//EN", *real, *hostile, "END:VCALENDAR", ""]
    ics_server.publish("maria.ics", "\r\n".join(lines).encode())
    with MailSink() as sink:
        settings = parse_settings(
            {
                "database_url": database_url,
                "smtp": {"host": "127.0.0.1", "port": sink.port, "from": "oneonone@acme.test"},
                "directory": {"domains": ["acme.test"]},
            }
        )
        ics = IcsFeedProvider(
            feeds=(IcsFeed(owner="maria@acme.test", url=ics_server.url("maria.ics")),),
            retry=RetryPolicy(attempts=1),
            sleeper=lambda _: None,
            rng=random.Random(1),
            timeout=5,
        )
        mailer = SmtpMailer(host="127.0.0.1", port=sink.port, sender="oneonone@acme.test")
        clock = [NOW]
        runtime = build_runtime(settings, clock=lambda: clock[0], providers=[ics], send=mailer.send)
        for moment in (NOW, NOW + timedelta(hours=25), NOW + timedelta(days=6, hours=3)):
            clock[0] = moment
            report = run_cycle(runtime)
            assert all(c.ok for c in report.calendars)
        assert {str(m["To"]) for m in sink.messages} == {"maria@acme.test", "rep.x@acme.test"}
        assert all(len(m.get_all("To") or []) == 1 and m["Reply-To"] is None for m in sink.messages)
        assert not any("evil.com" in m.as_string() for m in sink.messages)


def test_a_queued_mail_to_a_group_address_fails_at_once_instead_of_waiting_forever(database_url: str) -> None:
    """Rows queued before addresses were parsed (or by a bug) end as failed after one try, named in the log."""
    db = Database(database_url)
    db.migrate()
    with db.session() as session:
        for number, recipient in enumerate([GROUP, "maria@acme.test"]):
            session.add(
                OutboxRow(
                    kind="warning",
                    recipient=recipient,
                    message_id=f"<m{number}@acme.test>",
                    subject="s",
                    text_body="t",
                    html_body="<p>t</p>",
                    status="pending",
                    created_at=NOW,
                    attempts=0,
                    next_attempt_at=NOW,
                )
            )
    with MailSink() as sink:
        mailer = SmtpMailer(host="127.0.0.1", port=sink.port, sender="oneonone@acme.test")
        stats = deliver_pending(db, mailer.send, NOW, max_attempts=8)
        assert [str(m["To"]) for m in sink.messages] == ["maria@acme.test"]
    assert (stats.sent, stats.failed, stats.deferred) == (1, 1, 0)
    with db.session() as session:
        bad = session.query(OutboxRow).filter_by(recipient=GROUP).one()
        assert bad.status == "failed" and bad.attempts == 1 and "not a deliverable address" in (bad.last_error or "")


def test_a_config_address_that_is_a_list_is_refused_naming_the_key() -> None:
    with pytest.raises(ConfigError) as error:
        parse_settings({"notify": {"admin_email": "it@acme.test,evil@x.com"}})
    assert "notify.admin_email" in str(error.value) and "not an email address" in str(error.value)


PLAINISH = st.one_of(
    st.emails().map(str),
    st.text(alphabet="aZ09.-_+!#=?@", min_size=3, max_size=40),
)


@given(PLAINISH)
def test_the_fast_path_for_plain_addresses_answers_as_the_full_parser_does(raw: str) -> None:
    from rules.address import _PLAIN, _parsed

    if not _PLAIN.fullmatch(raw) or "=?" in raw:
        return
    try:
        slow: str | None = _parsed(raw)
    except AddressError:
        slow = None
    try:
        fast: str | None = parse_address(raw)
    except AddressError:
        fast = None
    assert fast == slow
