"""A cycle judges only the pairs whose findings may have moved — their calendars changed, or the clock
passed their next transition — and still keeps exactly the findings judging every pair gives (issue 20)."""

from __future__ import annotations

from datetime import timedelta

from google_fixtures import ALICE, BOB, weekly_one_on_one
from sqlalchemy import select
from test_cycle_google import FIRST, World, last_slot_before, make_world

from emulators.google import GoogleCalendarEmulator
from emulators.smtp import MailSink
from sync.evaluation import evaluate_store
from sync.store.models import FindingRow, PairStateRow

NEVER = 60 * 24 * 365  # minutes: no periodic check of every pair's inputs within the test


def _kept(world: World) -> set[tuple[str, str, str, str]]:
    with world.runtime.db.session() as session:
        rows = session.scalars(select(FindingRow).where(FindingRow.status == "open"))
        return {(r.rule, r.manager, r.report, r.key) for r in rows}


def _judged_by_everyone(world: World) -> set[tuple[str, str, str, str]]:
    with world.runtime.db.session() as session:
        evaluation, _ = evaluate_store(session, world.runtime.settings, world.now[0])
    return {f.identity for f in evaluation.findings}


def test_a_gap_that_opens_overnight_is_found_with_no_calendar_change_and_no_full_evaluation(
    google_emulator: GoogleCalendarEmulator, sink: MailSink, database_url: str
) -> None:
    world = make_world(google_emulator, sink, database_url, rules={"full_evaluation_minutes": NEVER})
    weekly_one_on_one(world.emulator, FIRST, zone="UTC", rule="RRULE:FREQ=WEEKLY;COUNT=6")  # its last: ~a week ago
    first = world.cycle()
    assert first.evaluated == "all"
    assert not any(rule == "cadence-gap" for rule, *_ in _kept(world))
    # Judged once more with the day it was first seen, which the first cycle stored.
    assert world.cycle().evaluated == "0 people, 1 pairs due"
    quiet = world.cycle()
    assert quiet.evaluated == "0 people, 0 pairs due"  # nothing changed and no transition passed
    reports = []
    for _ in range(4 * 12):  # twelve days, a cycle every six hours, the calendar untouched
        reports.append(world.cycle(timedelta(hours=6)))
        assert _kept(world) == _judged_by_everyone(world), f"at {world.now[0].isoformat()}"
    assert all(r.evaluated != "all" for r in reports)
    assert any(rule == "cadence-gap" for rule, *_ in _kept(world))  # opened by a cycle that judged one pair
    opened = [r for r in reports if r.findings.opened]
    assert opened and all(r.evaluated == "0 people, 1 pairs due" for r in opened)


def test_each_judged_pair_keeps_when_it_next_needs_judging(
    google_emulator: GoogleCalendarEmulator, sink: MailSink, database_url: str
) -> None:
    world = make_world(google_emulator, sink, database_url)
    weekly_one_on_one(world.emulator, FIRST, zone="UTC")
    world.cycle()
    world.cycle()  # judged again with the first-seen day the first cycle stored
    with world.runtime.db.session() as session:
        (state,) = session.scalars(select(PairStateRow)).all()
    assert (state.manager, state.report) == (ALICE, BOB) and ALICE in state.calendars
    # Its next 1:1 (agenda nudges are off in this world): a quiet, healthy pair is not judged before it.
    assert state.next_check == last_slot_before(world.now[0]) + timedelta(weeks=1)
    world.now[0] = state.next_check - timedelta(minutes=1)
    assert world.cycle(timedelta()).evaluated == "0 people, 0 pairs due"
    assert world.cycle(timedelta(minutes=1)).evaluated == "0 people, 1 pairs due"


def test_the_periodic_check_judges_a_pair_whose_inputs_moved_without_its_calendar_syncing(
    google_emulator: GoogleCalendarEmulator, sink: MailSink, database_url: str
) -> None:
    """A pause set from a warning's page, or a zone the provider reported: no event changed, yet the pair's
    inputs did — the check every `rules.full_evaluation_minutes` finds it and judges it, and only it."""
    world = make_world(google_emulator, sink, database_url, rules={"full_evaluation_minutes": 30})
    weekly_one_on_one(world.emulator, FIRST, zone="UTC")
    world.cycle()
    world.cycle()
    with world.runtime.db.session() as session:
        session.execute(PairStateRow.__table__.update().values(inputs="something else"))  # type: ignore[attr-defined]
    assert world.cycle().evaluated == "0 people, 0 pairs due"  # before the check is due
    assert world.cycle(timedelta(minutes=30)).evaluated == "0 people, 1 pairs due"
    assert world.cycle().evaluated == "0 people, 0 pairs due"  # judged again, its inputs are recorded anew
