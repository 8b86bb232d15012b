"""Is this event a 1:1, and between whom?

A 1:1 is a timed, ordinary meeting with exactly two human participants (rooms and resources do
not count), both inside the company. Whether it is *policed* depends on the pair: with a
directory, only directory pairs; without one, the organizer is taken as the manager
(`rules.unknown_pairs: organizer`) or nothing is (`ignore`).

Titles are untrusted text: they are only ever matched against the configured patterns.

Published feeds often carry no attendee lines. With a directory, such an event on manager M's
own calendar is a meeting with report R when its title names R (the address, or the name in the
address's local part) or matches the pair's `rules.pair_title_patterns` entry; naming two of M's
reports makes it a group meeting, not a 1:1.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date

from rules.model import CalendarEvent, Directory, EventKind, EventType, Pair, RuleSettings


@dataclass(frozen=True, slots=True)
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


ReportNames = Mapping[str, tuple[tuple[str, tuple[re.Pattern[str], ...]], ...]]  # manager -> (report, how named)


def _name_patterns(report: str, extra: Iterable[str]) -> tuple[re.Pattern[str], ...]:
    """R's address, the tokens of its local part ("alice.moreau" -> "alice moreau") or the last of
    them ("moreau"), on word boundaries, case-insensitive; plus any configured pattern for the pair."""
    local = report.partition("@")[0]
    tokens = [token for token in re.split(r"[._+\-]+", local) if token]
    names = [re.escape(report)]
    if tokens:
        names.append(r"[\s._\-]+".join(re.escape(token) for token in tokens))
    if len(tokens) > 1:
        names.append(re.escape(tokens[-1]))
    compiled = [re.compile(rf"\b(?:{'|'.join(names)})\b", re.IGNORECASE)]
    for pattern in extra:
        try:
            compiled.append(re.compile(pattern, re.IGNORECASE))
        except re.error:
            continue  # a pattern that does not compile is skipped, as for title_patterns
    return tuple(compiled)


def report_names(directory: Directory, settings: RuleSettings) -> ReportNames:
    """For each directory manager, how a title names each of their reports."""
    extra: dict[tuple[str, str], list[str]] = {}
    for manager, report, pattern in settings.pair_title_patterns:
        extra.setdefault((directory.canonical(manager), directory.canonical(report)), []).append(pattern)
    index: dict[str, list[tuple[str, tuple[re.Pattern[str], ...]]]] = {}
    for pair in directory_pairs(directory).values():
        index.setdefault(pair.manager, []).append((pair.report, _name_patterns(pair.report, extra.get(pair.key, ()))))
    return {manager: tuple(found) for manager, found in index.items()}


def named_report(event: CalendarEvent, owner: str, names: ReportNames) -> str | None:
    """The one report of `owner` the title names, if exactly one."""
    named = {report for report, patterns in names.get(owner, ()) if any(p.search(event.summary) for p in patterns)}
    return named.pop() if len(named) == 1 else None


def candidate(
    event: CalendarEvent, directory: Directory, settings: RuleSettings, names: ReportNames | None = None
) -> Candidate | None:
    """A series master or one-off that has the shape of a 1:1 (exceptions follow their master)."""
    if event.kind is EventKind.EXCEPTION or not is_meeting_type(event) or event.start is None:
        return None
    people = humans(event, directory)
    organizer = directory.canonical(event.organizer) if event.organizer else None
    owner = directory.canonical(event.calendar)
    if people <= {owner} and organizer in (None, owner) and directory.in_use and event.summary:
        # No attendee lines (a published feed): the title may say who the meeting is with.
        report = named_report(event, owner, names if names is not None else report_names(directory, settings))
        if report is not None:
            people = frozenset((owner, report))
            organizer = owner
    if len(people) != 2 or not all(directory.in_company(person) for person in people):
        return None
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


@dataclass(frozen=True, slots=True)
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
    # The orientation the store knows for each pair of people: the earliest seen, ties by address.
    known: dict[frozenset[str], tuple[date, tuple[str, str]]] = {}
    for key, seen in first_seen.items():
        if key[0] == key[1]:
            continue
        people = frozenset(key)
        if people in earliest and (people not in known or (seen, key) < known[people]):
            known[people] = (seen, key)
    pairs: dict[frozenset[str], Pair] = {}
    for people, vote in earliest.items():
        if people in known:
            manager, report = known[people][1]
        else:
            manager = vote.organizer or ""
            (report,) = people - {manager}
        pairs[people] = Pair(manager=manager, report=report, source="organizer")
    return pairs
