"""The 1:1 rules as a table: each row is a small calendar history and exactly what it yields.

Read a row as a sentence of the specification. Unless a row says otherwise: Maria (M) manages
Raj (R), both in Europe/Berlin; their 1:1 is weekly on Mondays 10:00 (09:00Z in winter) from
Mon 6 Jan 2025, organized by Maria, 30 minutes; there is no directory (the organizer is the
manager). Expectations list every finding: (rule, key, notify_at or None, status). A row with
`before` evaluates that earlier history first, as the store would, so a finding the later
history no longer yields shows up as resolved.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import pytest
from rules_builders import (
    B,
    M,
    Meeting,
    P,
    R,
    cancel,
    context,
    copies,
    decline,
    delete_series,
    directory,
    end_series,
    events,
    exdate,
    feed_only,
    move,
    on,
    one_off,
    ooo,
    ooo_timed,
    pause,
    respond,
    seen,
    series,
    shorten,
    weekly,
)

from rules.engine import evaluate
from rules.model import (
    CalendarEvent,
    Directory,
    EvaluationContext,
    EventKind,
    EventType,
    Finding,
    Pause,
    Response,
    RuleSettings,
)

CANCEL, GAP, AHEAD = "cancelled-without-reschedule", "cadence-gap", "cadence-gap-ahead"
SHORT, CHURN = "short-meeting", "reschedule-churn"
DIRECTORY = directory((M, R, "2025-01-01"))


@dataclass(frozen=True)
class Expect:
    rule: str
    key: str
    notify: str | None  # UTC, "2025-01-11T11:00:00Z"
    status: str = "open"
    details: dict[str, str] = field(default_factory=dict)  # a subset the finding must carry


def open_(rule: str, key: str, notify: str | None = None, **details: str) -> Expect:
    return Expect(rule, key, notify, "open", details)


def resolved(rule: str, key: str, notify: str | None = None) -> Expect:
    return Expect(rule, key, notify, "resolved")


@dataclass(frozen=True)
class Scenario:
    name: str
    history: Sequence[CalendarEvent]
    now: str  # Berlin wall clock
    expect: Sequence[Expect] = ()
    before: tuple[Sequence[CalendarEvent], str] | None = None
    pair: tuple[str, str] = (M, R)
    skipped: bool = False
    settings: RuleSettings | None = None
    directory: Directory | None = None
    pauses: tuple[Pause, ...] = ()
    stale: tuple[str, ...] = ()
    watched: tuple[str, ...] = ()


S = weekly()
ENDED_13 = end_series(S, "20250113T225959Z", sighting=seen("2025-01-10T12:00"))
AT_10 = seen("2025-01-10T12:00")  # 11:00Z: first seen by an incremental sync
TUESDAY = "2025-01-07T14:00"


def feed(first: str, title: str, cancelled: str = "2025-01-14") -> Meeting:
    """A weekly meeting in Maria's published feed (no attendee lines), one slot cancelled."""
    return on(feed_only(cancel(weekly(first=first, title=title), cancelled, sighting=AT_10)), M, provider="ics")


SCENARIOS = [
    # --- the healthy case -------------------------------------------------------------------
    Scenario("a healthy weekly 1:1 yields nothing", events(S), "2025-01-22T12:00"),
    Scenario(
        "tentative or unanswered invitations count as held",
        events(respond(S, R, "2025-01-13", response=Response.TENTATIVE)),
        "2025-01-22T12:00",
    ),
    # --- rule 1: cancelled-without-reschedule -----------------------------------------------
    Scenario(
        "a cancelled slot with no replacement is emailed 24 h after the cancellation was first seen",
        events(cancel(S, "2025-01-13", sighting=AT_10)),
        "2025-01-22T12:00",
        [open_(CANCEL, "2025-01-13T09:00:00Z", "2025-01-11T11:00:00Z", how="cancelled", cancelled_by=M, late="false")],
    ),
    Scenario(
        "a cancellation first seen after the slot: the grace runs from the slot's start, and it was late",
        events(cancel(S, "2025-01-13", sighting=seen("2025-01-14T09:00"))),
        "2025-01-22T12:00",
        [open_(CANCEL, "2025-01-13T09:00:00Z", "2025-01-14T09:00:00Z", late="true")],
    ),
    Scenario(
        "a cancellation seen happening 2 h before the start is flagged late",
        events(cancel(S, "2025-01-13", sighting=seen("2025-01-13T08:00"))),
        "2025-01-22T12:00",
        [open_(CANCEL, "2025-01-13T09:00:00Z", "2025-01-14T07:00:00Z", late="true")],
    ),
    Scenario(
        "a cancellation with no sighting is emailed 24 h after the slot and never called late",
        events(cancel(S, "2025-01-13")),
        "2025-01-22T12:00",
        [open_(CANCEL, "2025-01-13T09:00:00Z", "2025-01-14T09:00:00Z", late="false")],
    ),
    Scenario(
        "old history revealed by a full listing (install) is recorded, not emailed",
        events(cancel(S, "2025-01-13", sighting=seen("2025-01-22T12:00", full=True))),
        "2025-01-22T12:00",
        [open_(CANCEL, "2025-01-13T09:00:00Z", None, late="false", revealed_by_full_listing="true")],
    ),
    Scenario(
        "a cancellation a full listing reveals within the 7-day lookback is still emailed",
        events(cancel(S, "2025-01-20", sighting=seen("2025-01-22T12:00", full=True))),
        "2025-01-22T12:00",
        [open_(CANCEL, "2025-01-20T09:00:00Z", "2025-01-21T09:00:00Z")],
    ),
    Scenario(
        "a future cancellation is open at once and emailed when the grace ends, before the slot",
        events(cancel(S, "2025-01-27", sighting=seen("2025-01-22T09:00"))),
        "2025-01-22T12:00",
        [open_(CANCEL, "2025-01-27T09:00:00Z", "2025-01-23T08:00:00Z")],
    ),
    Scenario(
        "an EXDATE on the master (how iCalendar clients delete one occurrence) is a cancellation",
        events(exdate(S, "EXDATE;TZID=Europe/Berlin:20250113T100000")),
        "2025-01-22T12:00",
        [open_(CANCEL, "2025-01-13T09:00:00Z", "2025-01-14T09:00:00Z")],
    ),
    # --- replacements -------------------------------------------------------------------------
    Scenario(
        "a replacement two days after the cancelled slot: nothing to report",
        events(cancel(S, "2025-01-13", sighting=AT_10), one_off(start="2025-01-15T11:00")),
        "2025-01-22T12:00",
    ),
    Scenario(
        "a replacement before the cancelled slot counts too",
        events(cancel(S, "2025-01-13", sighting=AT_10), one_off(start="2025-01-10T16:00")),
        "2025-01-22T12:00",
    ),
    Scenario(
        "a replacement booked later resolves the open finding",
        events(cancel(S, "2025-01-13", sighting=AT_10), one_off(start="2025-01-16T11:00")),
        "2025-01-17T12:00",
        [resolved(CANCEL, "2025-01-13T09:00:00Z", "2025-01-11T11:00:00Z")],
        before=(events(cancel(S, "2025-01-13", sighting=AT_10)), "2025-01-14T12:00"),
    ),
    Scenario(
        "one replacement for two cancellations goes to the nearer slot",
        events(
            cancel(cancel(S, "2025-01-13", sighting=AT_10), "2025-01-20", sighting=AT_10),
            one_off(start="2025-01-18T10:00"),
        ),
        "2025-01-22T12:00",
        [open_(CANCEL, "2025-01-13T09:00:00Z", "2025-01-11T11:00:00Z")],
    ),
    Scenario(
        "a replacement exactly between two cancellations goes to the earlier one",
        events(
            cancel(cancel(S, "2025-01-13", sighting=AT_10), "2025-01-20", sighting=AT_10),
            one_off(start="2025-01-16T22:00"),
        ),
        "2025-01-22T12:00",
        [open_(CANCEL, "2025-01-20T09:00:00Z", "2025-01-11T11:00:00Z")],
    ),
    Scenario(
        "a meeting 7 days away is outside the weekly window (6 days): no replacement",
        events(cancel(S, "2025-01-13", sighting=AT_10), one_off(start="2025-01-20T14:00")),
        "2025-01-22T12:00",
        [open_(CANCEL, "2025-01-13T09:00:00Z", "2025-01-11T11:00:00Z")],
    ),
    Scenario(
        "a replacement the report declined is no replacement",
        events(cancel(S, "2025-01-13", sighting=AT_10), decline(one_off(start="2025-01-15T11:00"), R, sighting=AT_10)),
        "2025-01-22T12:00",
        [open_(CANCEL, "2025-01-13T09:00:00Z", "2025-01-11T11:00:00Z")],
    ),
    # --- moves --------------------------------------------------------------------------------
    Scenario(
        "a move within the window is a reschedule, not a cancellation",
        events(move(S, "2025-01-13", to="2025-01-15T15:00", sighting=AT_10)),
        "2025-01-22T12:00",
    ),
    Scenario(
        "a move too far (8 days) counts as a cancellation of its slot",
        events(move(S, "2025-01-13", to="2025-01-21T15:00", sighting=AT_10)),
        "2025-01-22T12:00",
        [open_(CANCEL, "2025-01-13T09:00:00Z", "2025-01-11T11:00:00Z", how="moved-too-far")],
    ),
    Scenario(
        "a move too far becomes a one-off that may replace another cancelled slot",
        events(move(cancel(S, "2025-01-13", sighting=AT_10), "2025-01-27", to="2025-01-14T15:00", sighting=AT_10)),
        "2025-01-22T12:00",
        [open_(CANCEL, "2025-01-27T09:00:00Z", "2025-01-11T11:00:00Z", how="moved-too-far")],
    ),
    Scenario(
        "a moved instance keeps its own slot: it does not replace another cancellation",
        events(move(cancel(S, "2025-01-13", sighting=AT_10), "2025-01-20", to="2025-01-14T10:00")),
        "2025-01-22T12:00",
        [open_(CANCEL, "2025-01-13T09:00:00Z", "2025-01-11T11:00:00Z")],
    ),
    Scenario(
        "...unless its own slot is covered by a one-off: then it replaces the cancelled one",
        events(
            move(cancel(S, "2025-01-13", sighting=AT_10), "2025-01-20", to="2025-01-14T10:00"),
            one_off(start="2025-01-21T10:00"),
        ),
        "2025-01-22T12:00",
    ),
    Scenario(
        "a declined moved instance is a cancellation",
        events(decline(move(S, "2025-01-13", to="2025-01-14T15:00"), R, "2025-01-13", sighting=AT_10)),
        "2025-01-22T12:00",
        [open_(CANCEL, "2025-01-13T09:00:00Z", "2025-01-11T11:00:00Z", how="declined", cancelled_by=R)],
    ),
    # --- declines -----------------------------------------------------------------------------
    Scenario(
        "the report declines one occurrence and the decline stands",
        events(decline(S, R, "2025-01-13", sighting=seen("2025-01-09T18:00"))),
        "2025-01-22T12:00",
        [open_(CANCEL, "2025-01-13T09:00:00Z", "2025-01-10T17:00:00Z", how="declined", cancelled_by=R)],
    ),
    Scenario(
        "the manager declines the evening before (the provider gives the time): late",
        events(decline(S, M, "2025-01-13", responded_at="2025-01-12T20:00", sighting=seen("2025-01-12T20:05"))),
        "2025-01-22T12:00",
        [open_(CANCEL, "2025-01-13T09:00:00Z", "2025-01-13T19:05:00Z", cancelled_by=M, late="true")],
    ),
    Scenario(
        "both decline: one finding, naming both",
        events(decline(decline(S, R, "2025-01-13", sighting=AT_10), M, "2025-01-13", sighting=AT_10)),
        "2025-01-22T12:00",
        [open_(CANCEL, "2025-01-13T09:00:00Z", "2025-01-11T11:00:00Z", cancelled_by=f"{M}, {R}")],
    ),
    Scenario(
        "a decline withdrawn before the slot resolves the finding",
        events(respond(S, R, "2025-01-13", response=Response.ACCEPTED, sighting=seen("2025-01-11T09:00"))),
        "2025-01-14T12:00",
        [resolved(CANCEL, "2025-01-13T09:00:00Z", "2025-01-10T17:00:00Z")],
        before=(events(decline(S, R, "2025-01-13", sighting=seen("2025-01-09T18:00"))), "2025-01-10T12:00"),
    ),
    Scenario(
        "a decline given after the meeting began did not stop it: held",
        events(decline(S, R, "2025-01-13", responded_at="2025-01-13T15:00", sighting=seen("2025-01-13T15:01"))),
        "2025-01-22T12:00",
    ),
    Scenario(
        "the report declines the whole series: every later slot is lost; the gap ahead is not emailed twice",
        events(decline(S, R, sighting=seen("2025-01-15T09:00"))),
        "2025-01-22T12:00",
        [
            *(
                open_(CANCEL, key, "2025-01-16T08:00:00Z", cancelled_by=R)
                for key in (
                    "2025-01-20T09:00:00Z",
                    "2025-01-27T09:00:00Z",
                    "2025-02-03T09:00:00Z",
                    "2025-02-10T09:00:00Z",
                    "2025-02-17T09:00:00Z",
                    "2025-02-24T09:00:00Z",
                )
            ),
            open_(AHEAD, "2025-01-13T09:00:00Z", None, covered_by_cancellations="true"),
        ],
    ),
    # --- one meeting, many copies -------------------------------------------------------------
    Scenario(
        "a 1:1 on both calendars counts once",
        events(on(cancel(S, "2025-01-13", sighting=AT_10), M, R)),
        "2025-01-22T12:00",
        [open_(CANCEL, "2025-01-13T09:00:00Z", "2025-01-11T11:00:00Z")],
    ),
    Scenario(
        "a 1:1 on Outlook (organizer) and Google (report) counts once; Outlook lists the deleted slot on its master",
        events(copies(cancel(S, "2025-01-13"), ("outlook", M), ("google", R))),
        "2025-01-22T12:00",
        [open_(CANCEL, "2025-01-13T09:00:00Z", "2025-01-14T09:00:00Z")],
    ),
    Scenario(
        "the report's decline on their own Outlook copy counts, though the organizer's Google copy shows none",
        events(
            decline(
                copies(S, ("google", M), ("outlook", R)),
                R,
                "2025-01-13",
                responded_at="2025-01-09T18:00",
                sighting=seen("2025-01-09T18:10"),
                only_on=R,
            )
        ),
        "2025-01-22T12:00",
        [open_(CANCEL, "2025-01-13T09:00:00Z", "2025-01-10T17:10:00Z", cancelled_by=R)],
    ),
    Scenario(
        "each copy tells only its owner's answer: Raj's own accept beats a decline on Maria's copy",
        events(
            respond(
                decline(on(S, M, R), R, "2025-01-13", sighting=AT_10, only_on=M),
                R,
                "2025-01-13",
                response=Response.ACCEPTED,
                only_on=R,
            )
        ),
        "2025-01-22T12:00",
    ),
    Scenario(
        "the organizer's copy decides: her cancellation stands though Raj's copy is out of step",
        events(cancel(on(S, M, R), "2025-01-13", sighting=AT_10, only_on=M)),
        "2025-01-22T12:00",
        [open_(CANCEL, "2025-01-13T09:00:00Z", "2025-01-11T11:00:00Z")],
    ),
    Scenario(
        "the organizer's copy decides: an attendee's copy alone cannot cancel her meeting",
        events(cancel(on(S, M, R), "2025-01-13", sighting=AT_10, only_on=R)),
        "2025-01-22T12:00",
    ),
    # --- rules 2 and 3: gaps ------------------------------------------------------------------
    Scenario(
        "14 days after the last 1:1 the rule still holds; the series' end was warned about early",
        events(ENDED_13),
        "2025-01-27T23:30",
        [open_(AHEAD, "2025-01-13T09:00:00Z", "2025-01-14T09:30:00Z", series_ended="true")],
    ),
    Scenario(
        "on the 15th day with no 1:1 the cadence gap opens (at the manager's midnight)",
        events(ENDED_13),
        "2025-01-28T00:30",
        [
            open_(GAP, "2025-01-13T09:00:00Z", "2025-01-27T23:00:00Z", days="15"),
            open_(AHEAD, "2025-01-13T09:00:00Z", "2025-01-14T09:30:00Z"),
        ],
    ),
    Scenario(
        "holding a 1:1 resolves the gap; the early warning moves on to the new last 1:1",
        events(ENDED_13, one_off(start="2025-02-04T11:00")),
        "2025-02-05T12:00",
        [
            resolved(GAP, "2025-01-13T09:00:00Z", "2025-01-27T23:00:00Z"),
            resolved(AHEAD, "2025-01-13T09:00:00Z", "2025-01-14T09:30:00Z"),
            open_(AHEAD, "2025-02-04T10:00:00Z", "2025-02-05T10:30:00Z"),
        ],
        before=(events(ENDED_13), "2025-02-03T12:00"),
    ),
    Scenario(
        "days away push the gap back: five days out of office, the gap opens five days later",
        events(ENDED_13, ooo(R, "2025-01-20", "2025-01-24")),
        "2025-02-03T12:00",
        [
            open_(GAP, "2025-01-13T09:00:00Z", "2025-02-01T23:00:00Z", days="16", away_days="5"),
            open_(AHEAD, "2025-01-13T09:00:00Z", "2025-01-14T09:30:00Z"),
        ],
    ),
    Scenario(
        "an early warning that could only go out after the gap began is left to cadence-gap",
        events(end_series(S, "20250113T225959Z", sighting=seen("2025-01-30T12:00"))),
        "2025-02-03T12:00",
        [
            open_(GAP, "2025-01-13T09:00:00Z", "2025-01-27T23:00:00Z"),
            open_(AHEAD, "2025-01-13T09:00:00Z", None, covered_by_cancellations="false"),
        ],
    ),
    Scenario(
        "a cancelled last slot of a series that ended: both warnings go out (the end is its own cause)",
        events(cancel(ENDED_13, "2025-01-13", sighting=AT_10)),
        "2025-01-14T12:00",
        [
            open_(CANCEL, "2025-01-13T09:00:00Z", "2025-01-11T11:00:00Z"),
            open_(AHEAD, "2025-01-06T09:00:00Z", "2025-01-11T11:00:00Z", covered_by_cancellations="false"),
        ],
    ),
    Scenario(
        "a series that just ended: the gap ahead is emailed 24 h after the end was seen",
        events(end_series(S, "20250120", sighting=seen("2025-01-21T12:00"))),
        "2025-01-22T12:00",
        [open_(AHEAD, "2025-01-20T09:00:00Z", "2025-01-22T11:00:00Z", next_scheduled="none")],
    ),
    Scenario(
        "a monthly 1:1 is always more than 14 days apart: warned ahead",
        events(series(rrule="FREQ=MONTHLY")),
        "2025-01-08T12:00",
        [open_(AHEAD, "2025-01-06T09:00:00Z", "2025-01-07T09:30:00Z", next_scheduled="2025-02-06T09:00:00Z")],
    ),
    Scenario(
        "a chain of cancellations: two warnings for the slots, the gap ahead recorded but not emailed",
        events(
            cancel(
                cancel(S, "2025-01-20", sighting=seen("2025-01-17T12:00")),
                "2025-01-27",
                sighting=seen("2025-01-17T12:00"),
            )
        ),
        "2025-01-17T14:00",
        [
            open_(CANCEL, "2025-01-20T09:00:00Z", "2025-01-18T11:00:00Z"),
            open_(CANCEL, "2025-01-27T09:00:00Z", "2025-01-18T11:00:00Z"),
            open_(AHEAD, "2025-01-13T09:00:00Z", None, covered_by_cancellations="true"),
        ],
    ),
    Scenario(
        "DST ends inside a fortnightly gap: 14 calendar days are still 14 (though 14 d 1 h elapse)",
        events(series(first="2025-10-06T10:00", rrule="FREQ=WEEKLY;INTERVAL=2")),
        "2025-11-03T09:30",
    ),
    Scenario(
        "DST begins inside a gap of 15 calendar days (only 14 d 23 h elapse): warned ahead",
        events(
            move(series(first="2025-03-17T10:00", rrule="FREQ=WEEKLY;INTERVAL=2"), "2025-03-31", to="2025-04-01T10:00")
        ),
        "2025-03-20T12:00",
        [open_(AHEAD, "2025-03-17T09:00:00Z", "2025-03-18T09:30:00Z", days="15")],
    ),
    # --- series that end or split -------------------------------------------------------------
    Scenario(
        "a split by UNTIL and a new series (Google's 'this and following'): the cadence continues",
        events(
            end_series(S, "20250119T225959Z", sighting=AT_10),
            weekly(first="2025-01-21T15:00", sighting=AT_10),
        ),
        "2025-01-29T12:00",
    ),
    Scenario(
        "a split by deleting the series and re-creating it: the cadence continues",
        events(
            delete_series(S, sighting=seen("2025-01-14T12:00")),
            weekly(first="2025-01-20T10:00", event_id="bot-2", sighting=seen("2025-01-14T12:01")),
        ),
        "2025-01-22T12:00",
    ),
    Scenario(
        "a split the other way round (re-created first, deleted after both ran): one meeting per slot",
        events(
            delete_series(S, sighting=seen("2025-01-21T12:00")),
            weekly(first="2025-01-20T10:00", event_id="bot-2", sighting=seen("2025-01-14T12:00")),
        ),
        "2025-01-22T12:00",
    ),
    Scenario(
        "a series deleted for good: no cancellations after it, the gap ahead warns",
        events(delete_series(S, sighting=seen("2025-01-15T12:00"))),
        "2025-01-22T12:00",
        [open_(AHEAD, "2025-01-13T09:00:00Z", "2025-01-16T11:00:00Z", series_ended="true")],
    ),
    Scenario(
        "a deleted series cancels its moved instances with it: those slots stood, no cancellation",
        events(
            cancel(move(S, "2025-01-06", to="2025-01-07T15:00"), "2025-01-06", sighting=seen("2025-01-15T12:00")),
            delete_series(S, sighting=seen("2025-01-15T12:00")),
        ),
        "2025-01-22T12:00",
        [open_(AHEAD, "2025-01-13T09:00:00Z", "2025-01-16T11:00:00Z", series_ended="true")],
    ),
    Scenario(
        "an instance cancelled a week before its series was deleted is still a cancellation",
        events(
            cancel(S, "2025-01-13", sighting=seen("2025-01-09T12:00")),
            delete_series(S, sighting=seen("2025-01-15T12:00")),
        ),
        "2025-01-22T12:00",
        [
            open_(CANCEL, "2025-01-13T09:00:00Z", "2025-01-10T11:00:00Z"),
            open_(GAP, "2025-01-06T09:00:00Z", "2025-01-20T23:00:00Z"),
            open_(AHEAD, "2025-01-06T09:00:00Z", "2025-01-16T11:00:00Z", series_ended="true"),
        ],
    ),
    Scenario(
        "a new series three weeks after the old one ended is no split: the gap ahead is found",
        events(end_series(S, "20250113T225959Z"), weekly(first="2025-02-03T10:00", event_id="later")),
        "2025-01-22T12:00",
        [open_(AHEAD, "2025-01-13T09:00:00Z", "2025-01-14T09:30:00Z", next_scheduled="2025-02-03T09:00:00Z")],
    ),
    # --- away ---------------------------------------------------------------------------------
    Scenario(
        "the report is out of office over the cancelled slot: no violation",
        events(cancel(S, "2025-01-13", sighting=AT_10), ooo(R, "2025-01-13", "2025-01-17")),
        "2025-01-22T12:00",
    ),
    Scenario(
        "recurring days off (a part-timer's Mondays) excuse those slots, but only those days: the gap still warns",
        events(
            cancel(cancel(S, "2025-01-13", sighting=AT_10), "2025-01-20", sighting=AT_10),
            replace(ooo(R, "2025-01-13", "2025-01-13"), kind=EventKind.MASTER, recurrence=("RRULE:FREQ=WEEKLY",)),
        ),
        "2025-01-22T12:00",
        [open_(AHEAD, "2025-01-06T09:00:00Z", "2025-01-11T11:00:00Z", days="18", away_days="3")],
    ),
    Scenario(
        "a timed out-of-office block over the slot is time away too",
        events(cancel(S, "2025-01-13", sighting=AT_10), ooo_timed(R, "2025-01-13T08:00", "2025-01-13T13:00")),
        "2025-01-22T12:00",
    ),
    Scenario(
        "two weeks out of office do not count towards the gap",
        events(
            cancel(cancel(S, "2025-01-13", sighting=AT_10), "2025-01-20", sighting=AT_10),
            ooo(M, "2025-01-13", "2025-01-24"),
        ),
        "2025-01-25T12:00",
    ),
    Scenario(
        "a paused pair (parental leave): cancellations are no violations and the pause is no gap",
        events(
            cancel(cancel(cancel(S, "2025-01-13", sighting=AT_10), "2025-01-20"), "2025-01-27"),
        ),
        "2025-01-29T12:00",
        pauses=(pause(M, R, until="2025-02-01", since="2025-01-10"),),
    ),
    # --- what is a 1:1, and whose ---------------------------------------------------------------
    Scenario(
        "a three-person '1:1' is not a 1:1",
        events(cancel(series(others=(P,)), "2025-01-13", sighting=AT_10)),
        "2025-01-22T12:00",
    ),
    Scenario(
        "a meeting room does not make a third person",
        events(cancel(series(rooms=("room-4@acme.test",)), "2025-01-13", sighting=AT_10)),
        "2025-01-22T12:00",
        [open_(CANCEL, "2025-01-13T09:00:00Z", "2025-01-11T11:00:00Z")],
    ),
    Scenario(
        "an all-day '1:1' is not a 1:1",
        events(one_off(start="2025-01-15T00:00", all_day=True)),
        "2025-01-22T12:00",
    ),
    Scenario(
        "focus time titled '1:1' is not a 1:1",
        events(cancel(series(event_type=EventType.FOCUS_TIME), "2025-01-13", sighting=AT_10)),
        "2025-01-22T12:00",
    ),
    Scenario(
        "a skip-level titled '1:1' is ignored when a directory is configured",
        events(S, cancel(series(B, R, title="1:1 Bea / Raj", event_id="skip"), "2025-01-13", sighting=AT_10)),
        "2025-01-22T12:00",
        directory=DIRECTORY,
    ),
    Scenario(
        "a peer 1:1 is ignored with unknown_pairs: ignore",
        events(cancel(series(M, P, title="1:1 Maria / Pia"), "2025-01-13", sighting=AT_10)),
        "2025-01-22T12:00",
        settings=RuleSettings(unknown_pairs="ignore"),
    ),
    Scenario(
        "without a directory the organizer of a 1:1 is taken as the manager",
        events(cancel(series(M, P, title="1:1 Maria / Pia"), "2025-01-13", sighting=AT_10)),
        "2025-01-22T12:00",
        [open_(CANCEL, "2025-01-13T09:00:00Z", "2025-01-11T11:00:00Z")],
        pair=(M, P),
    ),
    Scenario(
        "a directory pair that never met: the gap counts from the pair's start",
        (),
        "2025-01-22T12:00",
        [
            open_(GAP, "never", "2025-01-16T23:00:00Z", days="20", since="2025-01-02"),
            open_(AHEAD, "never", "2025-01-02T23:00:00Z"),
        ],
        directory=directory((M, R, "2025-01-02")),
        watched=(M,),
    ),
    Scenario(
        "a directory pair's untitled weekly meeting is their 1:1",
        events(cancel(series(title="Weekly sync"), "2025-01-13", sighting=AT_10)),
        "2025-01-22T12:00",
        [open_(CANCEL, "2025-01-13T09:00:00Z", "2025-01-11T11:00:00Z")],
        directory=DIRECTORY,
    ),
    Scenario(
        "an untitled meeting of a directory pair near a cancelled slot is its replacement",
        events(cancel(S, "2025-01-13", sighting=AT_10), one_off(start="2025-01-14T16:00", title="Catch-up")),
        "2025-01-22T12:00",
        directory=DIRECTORY,
    ),
    Scenario(
        "an untitled meeting far from any cancellation is not a 1:1: it does not end a gap",
        events(ENDED_13, one_off(start="2025-01-24T16:00", title="Coffee")),
        "2025-02-03T12:00",
        [
            open_(GAP, "2025-01-13T09:00:00Z", "2025-01-27T23:00:00Z"),
            open_(AHEAD, "2025-01-13T09:00:00Z", "2025-01-14T09:30:00Z"),
        ],
        directory=DIRECTORY,
    ),
    Scenario(
        "a report's second address (a directory alias) is the same person",
        events(cancel(series(M, "raj.k@acme.test"), "2025-01-13", sighting=AT_10)),
        "2025-01-22T12:00",
        [open_(CANCEL, "2025-01-13T09:00:00Z", "2025-01-11T11:00:00Z")],
        directory=directory((M, R, "2025-01-01"), aliases={"raj.k@acme.test": R}),
    ),
    Scenario(
        "someone outside the company's domains is never a pair",
        events(cancel(series(M, "sam@vendor.example", title="1:1 Maria / Sam"), "2025-01-13", sighting=AT_10)),
        "2025-01-22T12:00",
    ),
    # --- digest-only rules --------------------------------------------------------------------
    Scenario(
        "a 15-minute 1:1 is reported in the digest only",
        events(shorten(S, "2025-01-13", minutes=15)),
        "2025-01-22T12:00",
        [open_(SHORT, "2025-01-13T09:00:00Z", None, duration_minutes="15")],
    ),
    Scenario(
        "a recurring 15-minute 1:1 is one digest line for the series, not one per slot",
        events(weekly(minutes=15)),
        "2025-01-22T12:00",
        [open_(SHORT, "series:google:s20250106mr", None, duration_minutes="15")],
    ),
    Scenario(
        "three of the last five slots moved: reschedule churn, digest only",
        events(
            move(
                move(move(S, "2025-01-06", to="2025-01-07T10:00"), "2025-01-13", to="2025-01-14T10:00"),
                "2025-01-27",
                to="2025-01-28T10:00",
            )
        ),
        "2025-02-04T12:00",
        [open_(CHURN, "2025-01-06T09:00:00Z", None, moved_or_replaced="3")],
    ),
    # --- what the rules may rest on -----------------------------------------------------------
    Scenario(
        "a stale calendar: the pair is skipped and its findings are left as they are",
        events(cancel(S, "2025-01-13", sighting=AT_10)),
        "2025-01-22T12:00",
        skipped=True,
        stale=(M,),
    ),
    Scenario(
        "copies on an unwatched calendar are not evidence",
        events(on(cancel(S, "2025-01-13", sighting=AT_10), R)),
        "2025-01-22T12:00",
        watched=(M,),
    ),
    # --- feeds without attendee lines (published ICS) -------------------------------------------
    Scenario(
        "a feed series without attendees whose title names a directory report is their 1:1",
        events(on(feed_only(cancel(weekly(title="Weekly sync RAJ"), "2025-01-13", sighting=AT_10)), M, provider="ics")),
        "2025-01-22T12:00",
        [open_(CANCEL, "2025-01-13T09:00:00Z", "2025-01-11T11:00:00Z", cancelled_by=M)],
        directory=DIRECTORY,
    ),
    Scenario(
        "a feed event naming two of the manager's reports is a group meeting, not a 1:1",
        events(S, weekly(M, P, title="1:1 Maria / Pia"), feed(TUESDAY, "Raj + Pia planning")),
        "2025-01-22T12:00",
        directory=directory((M, R, "2025-01-01"), (M, P, "2025-01-01")),
    ),
    Scenario(
        "a name only counts on word boundaries: Rajesh is not Raj",
        events(S, feed(TUESDAY, "Rajesh review 1:1")),
        "2025-01-22T12:00",
        directory=DIRECTORY,
    ),
    Scenario(
        "without a directory a feed event with no attendees is never a 1:1",
        events(S, feed(TUESDAY, "1:1 Raj")),
        "2025-01-22T12:00",
    ),
    Scenario(
        "a per-pair title pattern names the report when the title does not",
        events(on(feed_only(cancel(weekly(title="RK weekly"), "2025-01-13", sighting=AT_10)), M, provider="ics")),
        "2025-01-22T12:00",
        [open_(CANCEL, "2025-01-13T09:00:00Z", "2025-01-11T11:00:00Z")],
        directory=DIRECTORY,
        settings=RuleSettings(pair_title_patterns=((M, R, r"\bRK\b"),)),
    ),
]


def _status(findings: Sequence[Finding], status: str) -> set[tuple[str, str, str | None, str]]:
    return {(f.rule, f.key, _iso(f.notify_at), status) for f in findings}


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if moment else None


def _context(s: Scenario, now: str) -> EvaluationContext:
    return context(
        now,
        settings=s.settings,
        directory=s.directory,
        pauses=s.pauses,
        stale=s.stale,
        watched=s.watched,
    )


@pytest.mark.parametrize("s", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_scenario(s: Scenario) -> None:
    evaluation = evaluate(s.history, _context(s, s.now))
    got = _status(evaluation.findings, "open")
    if s.before is not None:
        earlier = evaluate(s.before[0], _context(s, s.before[1]))
        current = {f.identity for f in evaluation.findings}
        gone = [f for f in earlier.findings if f.identity not in current and f.key and f.report]
        assert all((f.manager, f.report) in evaluation.judged_pairs for f in gone)
        got |= _status(gone, "resolved")
    assert got == {(e.rule, e.key, e.notify, e.status) for e in s.expect}
    assert all((f.manager, f.report) == s.pair for f in evaluation.findings)
    for expected in s.expect:
        if expected.status == "open" and expected.details:
            finding = next(f for f in evaluation.findings if (f.rule, f.key) == (expected.rule, expected.key))
            assert {k: finding.details.get(k) for k in expected.details} == expected.details
    if s.skipped:
        assert s.pair in evaluation.skipped_pairs and s.pair not in evaluation.judged_pairs
    elif s.expect:
        assert s.pair in evaluation.judged_pairs


def test_there_are_at_least_forty_scenarios() -> None:
    assert len(SCENARIOS) >= 40
    assert len({s.name for s in SCENARIOS}) == len(SCENARIOS)


def test_every_finding_explains_itself_in_one_line() -> None:
    for s in SCENARIOS:
        for finding in evaluate(s.history, _context(s, s.now)).findings:
            assert finding.message and "\n" not in finding.message
            assert finding.explanation and finding.report in finding.message
            assert all(isinstance(v, str) for v in finding.details.values())
