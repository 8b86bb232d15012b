"""Fuzzing the provider mappings: whatever a calendar API or a feed sends, the daemon does not crash.

Each mapping either returns well-formed domain events or raises its own "malformed" error, which
the adapters turn into a skipped item; nothing else may escape. The events that come out are then
fed to the rules engine, which must judge them without crashing too.

`ONEONONE_FUZZ_EXAMPLES=5000` explores deeper than the default (kept small so the suite stays fast).
"""

from __future__ import annotations

import importlib.resources
import os
import string
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from providers import google_mapping, outlook_mapping
from providers.ics_mapping import MalformedCalendar, MappedCalendar, parse_calendar
from providers.outlook_mapping import cancelled_exceptions, cancelled_occurrence_ids, map_master, map_row
from providers.outlook_writeback import AGENDA_PROPERTY_ID
from rules.address import parse_address
from rules.engine import evaluate
from rules.model import (
    Attendee,
    CalendarEvent,
    Directory,
    EvaluationContext,
    EventKind,
    EventStatus,
    EventType,
    Pair,
    Response,
)

EXAMPLES = int(os.environ.get("ONEONONE_FUZZ_EXAMPLES", "0")) or None
FUZZ = settings(
    max_examples=EXAMPLES or 150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)
FEW = settings(FUZZ, max_examples=EXAMPLES or 60)

CALENDAR = "maria@acme.test"
PEOPLE = [
    "maria@acme.test",
    "rui@acme.test",
    "MARIA@ACME.TEST",
    "room-1@resource.acme.test",
    "x@elsewhere.test",
    "@",
    # Hostile addresses (issue 21): encoded words, a list, a group, a header break, a display name.
    "=?utf-8?q?x=0D=0AReply-To:_a@evil.com?=@acme.test",
    "attacker@evil.com,rui@acme.test",
    "undisclosed:a@evil.com;rui@acme.test",
    "rui@acme.test\r\nBcc: a@evil.com",
    "Rui <rui@acme.test>",
]
NOW = datetime(2025, 3, 12, 12, 0, tzinfo=UTC)

# --- JSON-like values: arbitrary, but with the real vocabulary mixed in -----------------------------

INSTANTS = [
    "2025-03-10T09:00:00Z",
    "2025-03-10T09:30:00+01:00",
    "2025-03-10T09:00:00.1234567",
    "2025-03-10T09:00:00.0000000Z",
    "2025-03-10T09:00:00",
    "2025-03-03T09:00:00-05:00",
    "0001-01-01T00:00:00Z",
    "0001-01-01T00:00:00+14:00",
    "0001-01-01T00:00:00",
    "9999-12-31T23:59:59-12:00",
    "9999-12-31T23:59:59",
    "2025-02-30T09:00:00Z",
    "2025-03-10",
    "T09:00",
    "",
]
DATES = ["2025-03-10", "2025-03-11", "0001-01-01", "9999-12-31", "2025-13-01", "2025-03-10T00:00:00Z", "today"]
ZONES = [
    "Europe/Berlin",
    "America/New_York",
    "UTC",
    "Etc/GMT-14",
    "Etc/GMT+12",
    "Pacific/Kiritimati",
    "W. Europe Standard Time",
    "Eastern Standard Time",
    "Coordinated Universal Time",
    "tzone://Microsoft/Custom",
    "America",
    "Europe/",
    "../../../etc/passwd",
    "/etc/localtime",
    "Europe/Berlin\x00",
    "a" * 300,
    "Not/AZone",
    "",
]
WORDS = [
    "1:1 Maria / Rui",
    "Maria <> Rui 1:1",
    "one-on-one",
    "confirmed",
    "cancelled",
    "tentative",
    "accepted",
    "declined",
    "needsAction",
    "outOfOffice",
    "workingLocation",
    "focusTime",
    "RRULE:FREQ=WEEKLY;BYDAY=MO",
    "RRULE:FREQ=WEEKLY;UNTIL=20250501T000000Z;BYDAY=MO,WE",
    "RRULE:FREQ=DAILY;COUNT=0",
    "RRULE:FREQ=YEARLY;BYMONTH=13",
    "RRULE:",
    # Hostile rules: each once hung or aborted the whole evaluation (issue 21).
    "RRULE:FREQ=WEEKLY;INTERVAL=0",
    "RRULE:FREQ=WEEKLY;INTERVAL=-1",
    "RRULE:FREQ=SECONDLY",
    "RRULE:FREQ=MINUTELY;INTERVAL=1",
    "RRULE:FREQ=DAILY;COUNT=999999999999",
    "RRULE:FREQ=WEEKLY;INTERVAL=99999999999",
    "RRULE:FREQ=WEEKLY;UNTIL=99991231T235959Z",
    "EXDATE:20250317T090000Z",
    "EXDATE;VALUE=DATE:20250317",
    "RDATE:99991231T235959Z",
    "mailto:maria@acme.test",
    "OID.AAMk.2025-03-17",
    "OID.AAMk.9999-12-31",
    "OID.AAMk.0001-01-01",
    "OID.AAMk.garbage",
    "1:1 Maria / Rui \ud83d",  # half an emoji: JSON can carry a lone UTF-16 surrogate ("\\ud83d")
    "\udc00",
    "1:1\x00Maria",
    "rui\ud800@acme.test",
    *PEOPLE,
]

SCALARS: st.SearchStrategy[Any] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=24),
    st.sampled_from(INSTANTS + DATES + ZONES + WORDS),
)


def json_values(keys: Iterable[str]) -> st.SearchStrategy[Any]:
    """Recursive JSON-like data whose dict keys are often real field names."""
    key = st.one_of(st.sampled_from(sorted(set(keys))), st.text(max_size=8))
    return st.recursive(
        SCALARS,
        lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(key, children, max_size=5)),
        max_leaves=16,
    )


def maybe(plausible: st.SearchStrategy[Any], anything: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly a plausible value, sometimes anything at all."""
    return st.one_of(plausible, plausible, plausible, anything)


# --- well-formedness of what comes out --------------------------------------------------------------


def _aware(value: datetime | None) -> bool:
    return value is None or (isinstance(value, datetime) and value.utcoffset() is not None)


def _storable(value: object) -> bool:
    """Text every database accepts: it encodes as UTF-8 (a lone surrogate does not) and holds no NUL
    (PostgreSQL refuses it in text)."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return "\x00" not in value
    return True


def assert_well_formed(event: CalendarEvent) -> None:
    """What the store and the rules rely on: the declared types, really (the store writes them as-is)."""
    texts = [getattr(event, name) for name in event.__dataclass_fields__]
    texts += [*event.recurrence, *(a.email for a in event.attendees)]
    assert all(_storable(text) for text in texts), event
    for address in (event.organizer, *(a.email for a in event.attendees)):  # only parsed addresses get in
        assert address is None or parse_address(address) == address, address
    assert isinstance(event.event_id, str) and event.event_id
    assert isinstance(event.calendar, str) and isinstance(event.provider, str)
    assert isinstance(event.kind, EventKind) and isinstance(event.status, EventStatus)
    assert isinstance(event.event_type, EventType)
    for optional_text in (event.series_id, event.time_zone, event.organizer, event.etag, event.ical_uid):
        assert optional_text is None or isinstance(optional_text, str), optional_text
    assert event.agenda_marker is None or isinstance(event.agenda_marker, str)
    assert isinstance(event.summary, str) and isinstance(event.description, str)
    assert all(isinstance(line, str) for line in event.recurrence)
    for instant in (event.start, event.end, event.original_start, event.updated, *event.cancelled_occurrences):
        assert _aware(instant), instant
    for day in (event.start_date, event.end_date):
        assert day is None or isinstance(day, date)
    if event.start is not None and event.end is not None:
        assert event.end >= event.start
    if event.kind is EventKind.MASTER:
        assert event.series_id == event.event_id
    if event.kind is EventKind.EXCEPTION:
        assert event.series_id
    for attendee in event.attendees:
        assert isinstance(attendee, Attendee) and isinstance(attendee.email, str)
        assert isinstance(attendee.response, Response) and _aware(attendee.responded_at)


# A healthy pair beside whatever was fuzzed: its findings must never change (one pair's data costs one pair).
BYSTANDER = (
    CalendarEvent(
        provider="google",
        calendar="olga@acme.test",
        event_id="bystander-series",
        kind=EventKind.MASTER,
        start=datetime(2025, 1, 6, 9, tzinfo=UTC),
        end=datetime(2025, 1, 6, 9, 30, tzinfo=UTC),
        time_zone="Europe/Berlin",
        recurrence=("RRULE:FREQ=WEEKLY;UNTIL=20250210T000000Z",),  # ended a month ago: a gap to report
        summary="1:1 Olga / Tom",
        organizer="olga@acme.test",
        attendees=(Attendee("olga@acme.test", Response.ACCEPTED), Attendee("tom@acme.test", Response.ACCEPTED)),
    ),
)


def judge(events: list[CalendarEvent]) -> None:
    """The rules over whatever the mappings produced, with and without a directory: nothing escapes, and
    the healthy pair beside it is judged exactly as alone."""
    for directory in (
        Directory(),
        Directory(
            pairs=(Pair("maria@acme.test", "rui@acme.test"), Pair("olga@acme.test", "tom@acme.test")),
            domains=("acme.test",),
        ),
    ):
        context = EvaluationContext(
            now=NOW,
            directory=directory,
            watched_calendars=frozenset({CALENDAR, "rui@acme.test", "olga@acme.test"}),
            time_zones={CALENDAR: "Europe/Berlin"},
            default_time_zone="Europe/Berlin",
        )
        alone = [f for f in evaluate(BYSTANDER, context).findings]
        beside = evaluate([*events, *BYSTANDER], context)
        assert alone and [f for f in beside.findings if f.manager == "olga@acme.test"] == alone


def mapped_or_malformed(build: Callable[[], Any], malformed: type[Exception]) -> Any | None:
    try:
        return build()
    except malformed:
        return None


# --- Google Calendar ------------------------------------------------------------------------------

GOOGLE_FIELDS = [
    "id",
    "status",
    "recurringEventId",
    "start",
    "end",
    "originalStartTime",
    "recurrence",
    "summary",
    "description",
    "organizer",
    "attendees",
    "eventType",
    "updated",
    "etag",
    "iCalUID",
    "extendedProperties",
    "private",
    "oneonone",
    "dateTime",
    "date",
    "timeZone",
    "email",
    "responseStatus",
    "resource",
    "self",
]
G_ANY = json_values(GOOGLE_FIELDS)
G_IDS = st.sampled_from(["ev1", "ev2", "ser1", "ser1_20250317T090000Z", "x" * 1100, "ev\ud800"])


def _google_when() -> st.SearchStrategy[Any]:
    return maybe(
        st.fixed_dictionaries(
            {},
            optional={
                "dateTime": maybe(st.sampled_from(INSTANTS), G_ANY),
                "date": maybe(st.sampled_from(DATES), G_ANY),
                "timeZone": maybe(st.sampled_from(ZONES), G_ANY),
            },
        ),
        G_ANY,
    )


GOOGLE_PERSON = st.fixed_dictionaries(
    {"email": maybe(st.sampled_from(PEOPLE), G_ANY)},
    optional={
        "responseStatus": maybe(st.sampled_from(["accepted", "declined", "tentative", "needsAction"]), G_ANY),
        "resource": G_ANY,
        "organizer": G_ANY,
        "self": G_ANY,
    },
)

GOOGLE_ITEMS: st.SearchStrategy[Any] = st.one_of(
    G_ANY,
    st.fixed_dictionaries(
        {"id": maybe(G_IDS, G_ANY)},
        optional={
            "status": maybe(st.sampled_from(["confirmed", "cancelled", "tentative"]), G_ANY),
            "recurringEventId": maybe(st.sampled_from(["ser1", ""]), G_ANY),
            "start": _google_when(),
            "end": _google_when(),
            "originalStartTime": _google_when(),
            "recurrence": maybe(st.lists(st.sampled_from(WORDS), max_size=3), G_ANY),
            "summary": maybe(st.sampled_from(WORDS[:3]), G_ANY),
            "description": G_ANY,
            "organizer": maybe(GOOGLE_PERSON, G_ANY),
            "attendees": maybe(st.lists(maybe(GOOGLE_PERSON, G_ANY), max_size=4), G_ANY),
            "eventType": maybe(st.sampled_from(["default", "outOfOffice", "focusTime"]), G_ANY),
            "updated": maybe(st.sampled_from(INSTANTS), G_ANY),
            "etag": maybe(st.just('"3456"'), G_ANY),
            "iCalUID": maybe(st.just("ser1@google.com"), G_ANY),
            "extendedProperties": maybe(
                st.fixed_dictionaries({"private": maybe(st.fixed_dictionaries({"oneonone": G_ANY}), G_ANY)}), G_ANY
            ),
        },
    ),
)


def google_map(item: Any) -> google_mapping.Mapped | None:
    mapped = mapped_or_malformed(
        lambda: google_mapping.map_event(item, CALENDAR, "Europe/Berlin"), google_mapping.MalformedEvent
    )
    if mapped is None:
        return None
    assert isinstance(mapped, google_mapping.Mapped)
    assert (mapped.event is None) != (mapped.deleted_id is None)
    if mapped.event is not None:
        assert_well_formed(mapped.event)
    else:
        assert isinstance(mapped.deleted_id, str) and mapped.deleted_id
    return mapped


AT_9 = {"dateTime": "2025-03-10T09:00:00Z"}


# Crashes fuzzing found (each raised something other than MalformedEvent, or stored a non-string):
@example({"id": "e", "start": True}, None)  # AttributeError
@example({"id": "e", "start": AT_9, "organizer": "maria@acme.test"}, None)  # AttributeError
@example({"id": "e", "start": {"dateTime": "0001-01-01T00:00:00+14:00"}}, None)  # OverflowError
@example({"id": "e", "start": {"date": "0001-01-01"}}, "Asia/Tokyo")  # OverflowError
@example({"id": "e", "start": {**AT_9, "timeZone": "America"}}, None)  # IsADirectoryError from zoneinfo
@example({"id": "e", "start": {**AT_9, "timeZone": "a" * 300}}, None)  # OSError: file name too long
@example({"id": "e", "start": {"date": "2025-03-10"}}, "Not/AZone")  # ZoneInfoNotFoundError
@example({"id": "e", "start": AT_9, "etag": [1], "iCalUID": {}, "summary": "1:1 \ud83d"}, None)  # unstorable
@example({"id": "e", "recurringEventId": {"a": 1}, "start": AT_9, "originalStartTime": AT_9}, None)  # unstorable
@FUZZ
@given(GOOGLE_ITEMS, st.sampled_from([None, "Europe/Berlin", "Not/AZone"]))
def test_google_items_map_or_are_refused_as_malformed(item: Any, calendar_zone: str | None) -> None:
    try:
        mapped = google_mapping.map_event(item, CALENDAR, calendar_zone)
    except google_mapping.MalformedEvent:
        return
    assert isinstance(mapped, google_mapping.Mapped)
    if mapped.event is not None:
        assert_well_formed(mapped.event)


@FEW
@given(st.lists(GOOGLE_ITEMS, max_size=8))
def test_the_rules_judge_whatever_the_google_mapping_produces(items: list[Any]) -> None:
    events = [m.event for m in map(google_map, items) if m is not None and m.event is not None]
    judge(events)


# --- Microsoft Graph ------------------------------------------------------------------------------

GRAPH_FIELDS = [
    "id",
    "type",
    "seriesMasterId",
    "isCancelled",
    "isAllDay",
    "originalStart",
    "originalStartTimeZone",
    "start",
    "end",
    "dateTime",
    "timeZone",
    "subject",
    "body",
    "content",
    "organizer",
    "attendees",
    "emailAddress",
    "address",
    "status",
    "response",
    "time",
    "responseStatus",
    "showAs",
    "lastModifiedDateTime",
    "@odata.etag",
    "changeKey",
    "iCalUId",
    "singleValueExtendedProperties",
    "value",
    "recurrence",
    "pattern",
    "range",
    "interval",
    "daysOfWeek",
    "firstDayOfWeek",
    "index",
    "month",
    "dayOfMonth",
    "numberOfOccurrences",
    "startDate",
    "endDate",
    "recurrenceTimeZone",
    "cancelledOccurrences",
    "exceptionOccurrences",
]
M_ANY = json_values(GRAPH_FIELDS)


def _graph_when() -> st.SearchStrategy[Any]:
    return maybe(
        st.fixed_dictionaries(
            {"dateTime": maybe(st.sampled_from(INSTANTS), M_ANY)},
            optional={"timeZone": maybe(st.sampled_from(ZONES), M_ANY)},
        ),
        M_ANY,
    )


GRAPH_PERSON = maybe(
    st.fixed_dictionaries(
        {"emailAddress": maybe(st.fixed_dictionaries({"address": maybe(st.sampled_from(PEOPLE), M_ANY)}), M_ANY)},
        optional={
            "status": maybe(
                st.fixed_dictionaries(
                    {
                        "response": maybe(
                            st.sampled_from(["accepted", "declined", "organizer", "tentativelyAccepted", "none"]),
                            M_ANY,
                        ),
                        "time": maybe(st.sampled_from(INSTANTS), M_ANY),
                    }
                ),
                M_ANY,
            ),
            "type": maybe(st.sampled_from(["required", "optional", "resource"]), M_ANY),
        },
    ),
    M_ANY,
)
WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday", "Funday"]
GRAPH_RECURRENCE = maybe(
    st.fixed_dictionaries(
        {
            "pattern": maybe(
                st.fixed_dictionaries(
                    {
                        "type": maybe(
                            st.sampled_from(
                                [
                                    "daily",
                                    "weekly",
                                    "absoluteMonthly",
                                    "relativeMonthly",
                                    "absoluteYearly",
                                    "relativeYearly",
                                ]
                            ),
                            M_ANY,
                        )
                    },
                    optional={
                        "interval": maybe(st.integers(-1, 3), M_ANY),
                        "daysOfWeek": maybe(st.lists(st.sampled_from(WEEKDAYS), max_size=3), M_ANY),
                        "firstDayOfWeek": maybe(st.sampled_from(WEEKDAYS), M_ANY),
                        "index": maybe(st.sampled_from(["first", "second", "last", "fifth"]), M_ANY),
                        "month": maybe(st.integers(0, 13), M_ANY),
                        "dayOfMonth": maybe(st.integers(0, 32), M_ANY),
                    },
                ),
                M_ANY,
            ),
            "range": maybe(
                st.fixed_dictionaries(
                    {"type": maybe(st.sampled_from(["noEnd", "endDate", "numbered"]), M_ANY)},
                    optional={
                        "startDate": maybe(st.sampled_from(DATES), M_ANY),
                        "endDate": maybe(st.sampled_from(DATES), M_ANY),
                        "numberOfOccurrences": maybe(st.integers(-1, 10), M_ANY),
                        "recurrenceTimeZone": maybe(st.sampled_from(ZONES), M_ANY),
                    },
                ),
                M_ANY,
            ),
        }
    ),
    M_ANY,
)
GRAPH_COMMON = {
    "isCancelled": maybe(st.booleans(), M_ANY),
    "isAllDay": maybe(st.booleans(), M_ANY),
    "originalStartTimeZone": maybe(st.sampled_from(ZONES), M_ANY),
    "start": _graph_when(),
    "end": _graph_when(),
    "subject": maybe(st.sampled_from(WORDS[:3]), M_ANY),
    "body": maybe(st.fixed_dictionaries({"content": M_ANY}), M_ANY),
    "organizer": GRAPH_PERSON,
    "attendees": maybe(st.lists(GRAPH_PERSON, max_size=4), M_ANY),
    "responseStatus": M_ANY,
    "showAs": maybe(st.sampled_from(["busy", "oof", "workingElsewhere"]), M_ANY),
    "lastModifiedDateTime": maybe(st.sampled_from(INSTANTS), M_ANY),
    "@odata.etag": maybe(st.just('W/"DwAAABYAAAA"'), M_ANY),
    "changeKey": M_ANY,
    "iCalUId": M_ANY,
    "singleValueExtendedProperties": maybe(
        st.lists(
            st.fixed_dictionaries(
                {
                    "id": maybe(st.just(AGENDA_PROPERTY_ID), M_ANY),
                    "value": M_ANY,
                }
            ),
            max_size=2,
        ),
        M_ANY,
    ),
}
GRAPH_MASTERS: st.SearchStrategy[Any] = st.one_of(
    M_ANY,
    st.fixed_dictionaries(
        {"id": maybe(st.just("AAMk"), M_ANY), "recurrence": GRAPH_RECURRENCE},
        optional={
            **GRAPH_COMMON,
            "type": st.just("seriesMaster"),
            "cancelledOccurrences": maybe(st.lists(st.sampled_from(WORDS[-11:]), max_size=3), M_ANY),
        },
    ),
)
GRAPH_ROWS: st.SearchStrategy[Any] = st.one_of(
    M_ANY,
    st.fixed_dictionaries(
        {"id": maybe(st.sampled_from(["AAMk-1", "AAMk-2"]), M_ANY)},
        optional={
            **GRAPH_COMMON,
            "type": maybe(st.sampled_from(["singleInstance", "occurrence", "exception"]), M_ANY),
            "seriesMasterId": maybe(st.just("AAMk"), M_ANY),
            "originalStart": maybe(st.sampled_from(INSTANTS), M_ANY),
        },
    ),
)
PLAIN_MASTER = {
    "id": "AAMk",
    "type": "seriesMaster",
    "subject": "1:1 Maria / Rui",
    "start": {"dateTime": "2025-01-06T09:00:00.0000000", "timeZone": "W. Europe Standard Time"},
    "end": {"dateTime": "2025-01-06T09:30:00.0000000", "timeZone": "W. Europe Standard Time"},
    "organizer": {"emailAddress": {"address": "maria@acme.test"}},
    "attendees": [{"emailAddress": {"address": "rui@acme.test"}, "status": {"response": "accepted"}}],
    "recurrence": {
        "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": ["monday"]},
        "range": {"type": "noEnd", "startDate": "2025-01-06", "recurrenceTimeZone": "W. Europe Standard Time"},
    },
}


def graph_events(master_item: Any, rows: list[Any]) -> list[CalendarEvent]:
    """What the adapter does with one series master and its delta rows (`_read_masters`, `_map_rows`)."""
    events: list[CalendarEvent] = []
    master = mapped_or_malformed(lambda: map_master(master_item, CALENDAR), outlook_mapping.MalformedEvent)
    if master is not None:
        assert isinstance(master, CalendarEvent) and master.kind is EventKind.MASTER
        events.append(master)
        cancelled = mapped_or_malformed(
            lambda: cancelled_exceptions(master, cancelled_occurrence_ids(master_item)), outlook_mapping.MalformedEvent
        )
        events += cancelled or []
    for row in rows:
        for with_master in (None, master):
            event = mapped_or_malformed(
                lambda: map_row(row, CALENDAR, with_master, master_item if with_master else None),  # noqa: B023
                outlook_mapping.MalformedEvent,
            )
            if event is not None:
                assert isinstance(event, CalendarEvent)
                events.append(event)
    for event in events:
        assert_well_formed(event)
    return events


@example(
    {
        **PLAIN_MASTER,
        "recurrence": {"pattern": {"type": "daily"}, "range": {"type": "endDate", "endDate": "9999-12-31"}},
    }
)
@example(  # OverflowError, for each of the two
    {
        **PLAIN_MASTER,
        "start": {"dateTime": "2025-01-06T09:00:00", "timeZone": "Asia/Tokyo"},
        "end": {"dateTime": "2025-01-06T09:30:00", "timeZone": "Asia/Tokyo"},
        "recurrence": {"pattern": {"type": "daily"}, "range": {"type": "noEnd", "recurrenceTimeZone": "Asia/Tokyo"}},
        "cancelledOccurrences": ["OID.AAMk.0001-01-01"],
    }
)
@example(  # OverflowError: year 1 in New York is before year 1
    {
        **PLAIN_MASTER,
        "start": {"dateTime": "0001-01-01T00:00:00Z"},
        "recurrence": {
            "pattern": {"type": "daily"},
            "range": {"type": "noEnd", "recurrenceTimeZone": "America/New_York"},
        },
    }
)
@example(  # OverflowError: a cancelled slot whose end would be past year 9999
    {
        **PLAIN_MASTER,
        "end": {"dateTime": "9999-01-01T00:00:00Z"},
        "cancelledOccurrences": ["OID.AAMk.9000-01-01"],
    }
)
@FUZZ
@given(GRAPH_MASTERS)
def test_graph_series_masters_map_or_are_refused_as_malformed(item: Any) -> None:
    graph_events(item, [])


@example(  # OverflowError
    {"id": "r", "type": "occurrence", "seriesMasterId": "AAMk", "originalStart": "0001-01-01T00:00:00+14:00"}, True
)
@example(  # AttributeError, TypeError, IsADirectoryError; an unstorable iCalUId
    {
        "id": "r",
        "start": {"dateTime": "2025-01-06T09:00:00", "timeZone": "America/Argentina"},
        "end": {"dateTime": "2025-01-06T09:30:00"},
        "organizer": {"emailAddress": "maria@acme.test"},
        "singleValueExtendedProperties": 5,
        "iCalUId": [],
    },
    False,
)
@FUZZ
@given(GRAPH_ROWS, st.booleans())
def test_graph_delta_rows_map_or_are_refused_as_malformed(row: Any, plain_master: bool) -> None:
    graph_events(PLAIN_MASTER if plain_master else None, [row])


@FEW
@given(st.one_of(st.just(PLAIN_MASTER), GRAPH_MASTERS), st.lists(GRAPH_ROWS, max_size=6))
def test_the_rules_judge_whatever_the_graph_mapping_produces(master_item: Any, rows: list[Any]) -> None:
    judge(graph_events(master_item, rows))


# --- iCalendar --------------------------------------------------------------------------------------

SAMPLE = b"""BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//fuzz//EN\r
X-WR-TIMEZONE:Europe/Berlin\r
BEGIN:VTIMEZONE\r
TZID:W. Europe Standard Time\r
BEGIN:STANDARD\r
DTSTART:16010101T030000\r
TZOFFSETFROM:+0200\r
TZOFFSETTO:+0100\r
RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10\r
END:STANDARD\r
BEGIN:DAYLIGHT\r
DTSTART:16010101T020000\r
TZOFFSETFROM:+0100\r
TZOFFSETTO:+0200\r
RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3\r
END:DAYLIGHT\r
END:VTIMEZONE\r
BEGIN:VEVENT\r
UID:weekly-1\r
DTSTAMP:20250101T000000Z\r
DTSTART;TZID=W. Europe Standard Time:20250106T090000\r
DTEND;TZID=W. Europe Standard Time:20250106T093000\r
RRULE:FREQ=WEEKLY;BYDAY=MO;UNTIL=20250630T000000Z\r
EXDATE;TZID=W. Europe Standard Time:20250113T000000\r
SUMMARY:1:1 Maria / Rui\r
ORGANIZER;CN=Maria:mailto:maria@acme.test\r
ATTENDEE;PARTSTAT=ACCEPTED:mailto:rui@acme.test\r
ATTENDEE;PARTSTAT=ACCEPTED;CUTYPE=ROOM:mailto:room-1@resource.acme.test\r
SEQUENCE:1\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:weekly-1\r
DTSTAMP:20250101T000000Z\r
RECURRENCE-ID;TZID=W. Europe Standard Time:20250120T090000\r
DTSTART;TZID=W. Europe Standard Time:20250121T100000\r
DTEND;TZID=W. Europe Standard Time:20250121T103000\r
SUMMARY:1:1 Maria / Rui (moved)\r
ORGANIZER:mailto:maria@acme.test\r
ATTENDEE;PARTSTAT=DECLINED:mailto:rui@acme.test\r
END:VEVENT\r
BEGIN:VEVENT\r
UID:single-1\r
DTSTAMP:20250101T000000Z\r
DTSTART;VALUE=DATE:20250310\r
DURATION:P1D\r
SUMMARY:Off\r
X-MICROSOFT-CDO-BUSYSTATUS:OOF\r
STATUS:CANCELLED\r
END:VEVENT\r
END:VCALENDAR\r
"""

ICS_NAMES = [
    "DTSTART",
    "DTEND",
    "DURATION",
    "RRULE",
    "RDATE",
    "EXDATE",
    "EXRULE",
    "RECURRENCE-ID",
    "UID",
    "SUMMARY",
    "DESCRIPTION",
    "ORGANIZER",
    "ATTENDEE",
    "STATUS",
    "SEQUENCE",
    "DTSTAMP",
    "LAST-MODIFIED",
    "X-MICROSOFT-CDO-BUSYSTATUS",
    "X-ONEONE-AGENDA",
    "X-ONEONONE-AGENDA",
    "TZID",
    "TZOFFSETFROM",
    "TZOFFSETTO",
    "X-WR-TIMEZONE",
    "BEGIN",
    "END",
]
ICS_PARAMS = [
    "",
    ";VALUE=DATE",
    ";VALUE=DATE-TIME",
    ";VALUE=PERIOD",
    ";TZID=Europe/Berlin",
    ";TZID=W. Europe Standard Time",
    ";TZID=(UTC+01:00) Amsterdam, Berlin",
    ";TZID=Nowhere",
    ';TZID="quoted"',
    ";PARTSTAT=DECLINED",
    ";CUTYPE=ROOM",
    ";EMAIL=rui@acme.test",
    ";RANGE=THISANDFUTURE",
    ";X-BROKEN",
]
ICS_VALUES = [
    "20250106T090000",
    "20250106T090000Z",
    "20250106",
    "00010101T000000",
    "00010101",
    "99991231T235959Z",
    "99991231",
    "20250230T250000",
    "20250106T090000Z/PT1H",
    "20250106T090000Z,20250113T090000Z",
    "PT30M",
    "-PT1H",
    "P1D",
    "P99999999W",
    "FREQ=WEEKLY;BYDAY=MO",
    "FREQ=WEEKLY;UNTIL=20250106;BYDAY=MO",
    "FREQ=DAILY;COUNT=-1",
    "FREQ=YEARLY;BYMONTH=13;BYMONTHDAY=32",
    "FREQ=SECONDLY;INTERVAL=0",
    "FREQ=NONSENSE",
    "mailto:maria@acme.test",
    "mailto:",
    "CANCELLED",
    "TENTATIVE",
    "OOF",
    "abc",
    "a\x00b",
    "99999999999999999999",
    "+0100",
    "+2500",
    "Europe/Berlin",
    "VEVENT",
    "VTIMEZONE",
    "VCALENDAR",
    "",
]
ICS_LINES = st.builds(
    lambda name, param, value: f"{name}{param}:{value}",
    st.one_of(st.sampled_from(ICS_NAMES), st.text(string.ascii_uppercase + "-", min_size=1, max_size=8)),
    st.sampled_from(ICS_PARAMS),
    st.one_of(st.sampled_from(ICS_VALUES), st.text(max_size=20)),
)


def _package_calendars() -> list[bytes]:
    """A few small real calendars shipped with recurring-ical-events, as seeds for mutation."""
    root = Path(str(importlib.resources.files("recurring_ical_events"))) / "test" / "calendars"
    names = [
        "issue_243_recurrence_id_is_not_identical_to_dtstart.ics",
        "issue_113_period_rdate_duration.ics",
        "issue_201_mixed_datetime_and_date.ics",
        "issue_148_exdate_and_rdate_unedited.ics",
        "bad_rrule_missing_until_event.ics",
        "issue_117_until_before_dtstart.ics",
        "each_week_but_one_deleted.ics",
        "issue_62_moved_event.ics",
        "issue_36_recurrence_ID_format.ics",
        "issue_75_range_parameter.ics",
    ]
    return [SAMPLE, *((root / name).read_bytes() for name in names if (root / name).is_file())]


SEEDS = _package_calendars()


@st.composite
def mutated_documents(draw: st.DrawFn) -> bytes:
    """A real document with lines deleted, duplicated, swapped, replaced or broken."""
    lines = draw(st.sampled_from(SEEDS)).decode("utf-8", "replace").splitlines()
    for _ in range(draw(st.integers(1, 6))):
        if not lines:
            break
        at = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["delete", "duplicate", "replace", "insert", "value", "swap", "cut"]))
        if op == "delete":
            del lines[at]
        elif op == "duplicate":
            lines.insert(at, lines[at])
        elif op == "replace":
            lines[at] = draw(ICS_LINES)
        elif op == "insert":
            lines.insert(at, draw(ICS_LINES))
        elif op == "value":
            name, _, _ = lines[at].partition(":")
            lines[at] = f"{name}:{draw(st.one_of(st.sampled_from(ICS_VALUES), st.text(max_size=20)))}"
        elif op == "swap":
            other = draw(st.integers(0, len(lines) - 1))
            lines[at], lines[other] = lines[other], lines[at]
        else:
            lines[at] = lines[at][: draw(st.integers(0, len(lines[at])))]
    text = "\r\n".join(lines)
    return text.encode("utf-8", "surrogatepass") if draw(st.booleans()) else text.encode("utf-8", "replace")


@st.composite
def generated_documents(draw: st.DrawFn) -> str:
    """A VCALENDAR of VEVENTs made of the properties the mapping reads, with odd values."""
    events = []
    for _ in range(draw(st.integers(0, 4))):
        events += ["BEGIN:VEVENT", *draw(st.lists(ICS_LINES, max_size=10)), "END:VEVENT"]
    head = draw(st.lists(ICS_LINES, max_size=2))
    return "\r\n".join(["BEGIN:VCALENDAR", "VERSION:2.0", *head, *events, "END:VCALENDAR", ""])


def ics_map(data: bytes | str, default_zone: str | None = "Europe/Berlin") -> MappedCalendar | None:
    try:
        result = parse_calendar(data, provider="ics", owner="Maria@Acme.test", default_zone=default_zone)
    except MalformedCalendar:
        return None
    assert isinstance(result, MappedCalendar)
    for event in result.events:
        assert_well_formed(event)
    for skipped in result.skipped:
        assert isinstance(skipped.event_id, str) and isinstance(skipped.reason, str)
    assert result.time_zone is None or isinstance(result.time_zone, str)
    return result


@FUZZ
@given(st.one_of(st.binary(max_size=300), st.text(max_size=300)))
def test_arbitrary_bytes_and_text_are_icalendar_or_refused(data: bytes | str) -> None:
    ics_map(data)


def _document(*lines: str) -> bytes:
    return "\r\n".join(["BEGIN:VCALENDAR", "VERSION:2.0", *lines, "END:VCALENDAR", ""]).encode()


# Crashes fuzzing found, all escaping `parse_calendar` as AttributeError or OSError:
@example(_document("BEGIN:VEVENT", "DTSTART:20250106T090000Z", "DTSTART:20250107T090000Z", "END:VEVENT"), None)
@example(
    _document(
        "BEGIN:VEVENT", "UID:u", "RECURRENCE-ID:20250106T090000Z", "RECURRENCE-ID:20250113T090000Z", "END:VEVENT"
    ),
    None,
)
@example(_document("BEGIN:VEVENT", "UID:u", "DTSTART;VALUE=TIME:090000", "END:VEVENT"), None)
@example(_document("X-WR-TIMEZONE:America", "BEGIN:VEVENT", "UID:u", "DTSTART:20250106T090000", "END:VEVENT"), None)
@example(_document("TZID:A Stray Zone", "END:VTIMEZONE", "BEGIN:VEVENT", "UID:u", "END:VEVENT"), None)  # in icalendar
@FUZZ
@given(mutated_documents(), st.sampled_from([None, "Europe/Berlin", "Not/AZone"]))
def test_mutated_real_calendars_map_or_are_refused(data: bytes, default_zone: str | None) -> None:
    ics_map(data, default_zone)


@FUZZ
@given(generated_documents())
def test_generated_calendars_map_or_are_refused(data: str) -> None:
    ics_map(data)


@FEW
@given(st.one_of(mutated_documents(), generated_documents().map(str.encode)))
def test_the_rules_judge_whatever_the_ics_mapping_produces(data: bytes) -> None:
    result = ics_map(data)
    if result is not None:
        judge(list(result.events))


def test_the_unmutated_sample_maps_to_a_series_its_move_and_a_single() -> None:
    """The seed is a real, readable document (so the mutations start from something meaningful)."""
    result = ics_map(SAMPLE)
    assert result is not None and result.skipped == ()
    kinds = sorted(e.kind.value for e in result.events)
    assert kinds == ["exception", "master", "single"]
    judge(list(result.events))
