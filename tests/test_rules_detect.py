"""What counts as a 1:1, and between whom."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest
from rules_builders import B, M, P, R, one_off, series

from rules.detect import Vote, candidate, directory_pairs, humans, organizer_pairs, title_matches
from rules.model import Attendee, Directory, EventKind, EventType, Pair, RuleSettings

DEFAULT = RuleSettings()
COMPANY = Directory(domains=("acme.test",))


@pytest.mark.parametrize(
    "title",
    [
        "1:1",
        "Maria / Raj 1:1",
        "1-1 Maria & Raj",
        "1on1",
        "1 on 1",
        "One-on-One",
        "one on one",
        "weekly ONE ON ONE",
        "1x1 sync",
        "1 : 1",
        "[1:1] Raj",
    ],
)
def test_default_title_patterns_match(title: str) -> None:
    assert title_matches(title, DEFAULT.title_patterns)


@pytest.mark.parametrize(
    "title", ["Team sync", "11:15 stand-up", "Sprint 1-10 review", "1:15 call", "Q1 planning", "121"]
)
def test_default_title_patterns_do_not_match(title: str) -> None:
    assert not title_matches(title, DEFAULT.title_patterns)


def test_a_pattern_that_does_not_compile_is_skipped() -> None:
    assert title_matches("check-in", ("(", "check-in"))
    assert not title_matches("check-in", ("(",))


def test_rooms_and_resources_are_not_people_and_aliases_are_resolved() -> None:
    event = series(rooms=("room-4@acme.test",)).event
    event = replace(event, attendees=(*event.attendees, Attendee("Raj.K@ACME.test")))
    directory = Directory(aliases={"raj.k@acme.test": R})
    assert humans(event, directory) == {M, R}


def test_the_organizer_is_a_participant_even_when_not_listed() -> None:
    event = replace(series().event, attendees=(Attendee(R),))
    assert humans(event, COMPANY) == {M, R}


def test_a_two_person_titled_series_is_a_candidate() -> None:
    found = candidate(series().event, COMPANY, DEFAULT)
    assert found is not None and found.people == {M, R} and found.organizer == M and found.titled


@pytest.mark.parametrize(
    "event",
    [
        series(others=(P,)).event,
        replace(series().event, event_type=EventType.OUT_OF_OFFICE),
        replace(series().event, event_type=EventType.FOCUS_TIME),
        replace(series().event, event_type=EventType.WORKING_LOCATION),
        one_off(all_day=True).event,
        series(M, "sam@vendor.example").event,
        replace(series().event, attendees=()),
        replace(series().event, kind=EventKind.EXCEPTION),
    ],
    ids=[
        "three-people",
        "out-of-office",
        "focus-time",
        "working-location",
        "all-day",
        "external",
        "alone",
        "exception",
    ],
)
def test_not_a_candidate(event: object) -> None:
    assert candidate(event, COMPANY, DEFAULT) is None  # type: ignore[arg-type]


def test_an_untitled_meeting_is_a_candidate_but_not_titled() -> None:
    found = candidate(series(title="Weekly sync").event, COMPANY, DEFAULT)
    assert found is not None and not found.titled


def test_directory_pairs_are_canonical() -> None:
    directory = Directory(
        pairs=(Pair("Maria@Acme.test", "raj.k@acme.test", date(2025, 1, 1)),), aliases={"raj.k@acme.test": R}
    )
    assert directory_pairs(directory) == {frozenset({M, R}): Pair(M, R, date(2025, 1, 1))}


def vote(organizer: str, start: str, people: tuple[str, str] = (M, R)) -> Vote:
    return Vote(frozenset(people), organizer, (start, "google", organizer, start))


def test_without_a_directory_the_organizer_of_the_earliest_1_1_is_the_manager() -> None:
    pairs = organizer_pairs([vote(R, "2025-02-01"), vote(M, "2025-01-06")], DEFAULT, {})
    assert pairs == {frozenset({M, R}): Pair(M, R, source="organizer")}


def test_the_orientation_the_store_already_knows_wins() -> None:
    pairs = organizer_pairs([vote(M, "2025-01-06")], DEFAULT, {(R, M): date(2024, 5, 1)})
    assert pairs[frozenset({M, R})].manager == R


def test_a_meeting_organized_by_a_third_person_does_not_vote() -> None:
    assert organizer_pairs([vote(B, "2025-01-06")], DEFAULT, {}) == {}


def test_unknown_pairs_ignore_polices_no_organizer_pairs() -> None:
    assert organizer_pairs([vote(M, "2025-01-06")], RuleSettings(unknown_pairs="ignore"), {}) == {}
