"""Is this event a 1:1, and between whom?

A 1:1 is a timed, ordinary meeting with exactly two human participants (rooms and resources do
not count), both inside the company. Whether it is *policed* depends on the pair: with a
directory, only directory pairs; without one, the organizer is taken as the manager
(`rules.unknown_pairs: organizer`) or nothing is (`ignore`).

Titles are untrusted text: they are only ever matched against the configured patterns.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date

from rules.model import CalendarEvent, Directory, EventKind, EventType, Pair, RuleSettings


@dataclass(frozen=True)
class Candidate:
    """An event that could be a 1:1: two people, maybe a 1:1 title."""

    people: frozenset[str]  # exactly two canonical addresses
    organizer: str | None  # canonical
    titled: bool


def title_matches(title: str, patterns: Iterable[str]) -> bool:
    """Case-insensitive search; a pattern that does not compile is skipped, not fatal."""
    for pattern in patterns:
        try:
            if re.search(pattern, title, re.IGNORECASE):
                return True
        except re.error:
            continue
    return False


def humans(event: CalendarEvent, directory: Directory) -> frozenset[str]:
    """The distinct people of a meeting: attendees and organizer, rooms and resources excluded."""
    resources = {directory.canonical(a.email) for a in event.attendees if a.is_resource}
    people = {directory.canonical(a.email) for a in event.attendees if a.email and not a.is_resource}
    if event.organizer:
        organizer = directory.canonical(event.organizer)
        if organizer not in resources:
            people.add(organizer)
    return frozenset(people)


def is_meeting_type(event: CalendarEvent) -> bool:
    """All-day entries and out-of-office, focus-time or working-location blocks are never 1:1s."""
    return not event.all_day and event.event_type is EventType.DEFAULT


def candidate(event: CalendarEvent, directory: Directory, settings: RuleSettings) -> Candidate | None:
    """A series master or one-off that has the shape of a 1:1 (exceptions follow their master)."""
    if event.kind is EventKind.EXCEPTION or not is_meeting_type(event) or event.start is None:
        return None
    people = humans(event, directory)
    if len(people) != 2 or not all(directory.in_company(person) for person in people):
        return None
    organizer = directory.canonical(event.organizer) if event.organizer else None
    return Candidate(people, organizer, title_matches(event.summary, settings.title_patterns))


def directory_pairs(directory: Directory) -> dict[frozenset[str], Pair]:
    """Directory pairs by their two people, addresses canonical."""
    found: dict[frozenset[str], Pair] = {}
    for pair in sorted(directory.pairs, key=lambda p: (p.manager, p.report)):
        manager, report = directory.canonical(pair.manager), directory.canonical(pair.report)
        if manager != report:
            found.setdefault(
                frozenset((manager, report)),
                Pair(manager=manager, report=report, start=pair.start, source=pair.source),
            )
    return found


def counts_as_one_on_one(found: Candidate, event: CalendarEvent, directory: Directory) -> bool:
    """With a directory, an untitled *recurring* meeting of a pair is a 1:1 too."""
    if found.titled:
        return True
    return event.kind is EventKind.MASTER and found.people in directory_pairs(directory)


@dataclass(frozen=True)
class Vote:
    """One titled 1:1 seen without a directory: who organized it, and when it begins."""

    people: frozenset[str]
    organizer: str | None
    start: tuple[str, ...]  # a sort key: earliest first, then a stable tie-break


def organizer_pairs(
    votes: Iterable[Vote],
    settings: RuleSettings,
    first_seen: Mapping[tuple[str, str], date],
) -> dict[frozenset[str], Pair]:
    """Without a directory, the organizer is the manager.

    Two people form one pair whoever organizes a given meeting, so the orientation must be
    stable: the one the store already knows (`pair_first_seen`), else the organizer of the
    earliest 1:1 between them (a meeting organized by a third person, such as an assistant, does
    not vote).
    """
    if settings.unknown_pairs != "organizer":
        return {}
    earliest: dict[frozenset[str], Vote] = {}
    for vote in votes:
        if vote.organizer not in vote.people:
            continue
        best = earliest.get(vote.people)
        if best is None or vote.start < best.start:
            earliest[vote.people] = vote
    pairs: dict[frozenset[str], Pair] = {}
    for people, vote in earliest.items():
        known = sorted(
            (seen, key) for key, seen in first_seen.items() if frozenset(key) == people and len(set(key)) == 2
        )
        if known:
            manager, report = known[0][1]
        else:
            manager = vote.organizer or ""
            (report,) = people - {manager}
        pairs[people] = Pair(manager=manager, report=report, source="organizer")
    return pairs
