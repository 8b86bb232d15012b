"""Sort a bag of event copies into pairs.

Input order must never matter: copies are de-duplicated and visited in a canonical order, and
every choice below breaks ties on stable keys. Only watched calendars count, and addresses are
canonical (lower case, aliases resolved) from here on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, tzinfo

from rules.copies import Copy, changed
from rules.days import local_date, zone
from rules.detect import (
    Candidate,
    Vote,
    candidate,
    counts_as_one_on_one,
    directory_pairs,
    organizer_pairs,
    report_names,
)
from rules.history import PairEvents
from rules.model import CalendarEvent, EvaluationContext, EventKind, EventType, Pair
from rules.series import SeriesCopy

ExceptionIndex = dict[tuple[str, str, str], dict[datetime, CalendarEvent]]


@dataclass
class _Bucket:
    pair: Pair
    series: list[SeriesCopy] = field(default_factory=list)
    one_offs: list[tuple[Copy, bool]] = field(default_factory=list)
    calendars: set[str] = field(default_factory=set)
    changes: list[datetime] = field(default_factory=list)
    starts: list[datetime] = field(default_factory=list)


def _newest(events: Iterable[CalendarEvent]) -> list[CalendarEvent]:
    """One copy per (provider, calendar, id): the latest state, ties broken on content."""
    best: dict[tuple[str, str, str], CalendarEvent] = {}
    for event in events:
        known = best.get(event.key)
        if known is None or (changed(event), event.etag or "", repr(event)) > (
            changed(known),
            known.etag or "",
            repr(known),
        ):
            best[event.key] = event
    return [best[key] for key in sorted(best)]


def canonical_events(events: Iterable[CalendarEvent], context: EvaluationContext) -> list[CalendarEvent]:
    """Watched copies only, their calendars canonical, in a canonical order."""
    canon = context.directory.canonical
    copies = [e if canon(e.calendar) == e.calendar else replace(e, calendar=canon(e.calendar)) for e in events]
    watched = {canon(c) for c in context.watched_calendars}
    if watched:
        copies = [e for e in copies if e.calendar in watched]
    return _newest(copies)


def _exceptions(events: list[CalendarEvent]) -> ExceptionIndex:
    index: ExceptionIndex = {}
    for event in events:
        if event.kind is EventKind.EXCEPTION and event.series_id and event.original_start is not None:
            slot = event.original_start.astimezone(UTC)
            copies = index.setdefault((event.provider, event.calendar, event.series_id), {})
            if slot not in copies or changed(event) > changed(copies[slot]):
                copies[slot] = event
    return index


def _vote(found: Candidate, event: CalendarEvent) -> Vote:
    start = event.start.astimezone(UTC).isoformat() if event.start else ""
    return Vote(found.people, found.organizer, (start, event.provider, event.calendar, event.event_id))


def gather(events: Iterable[CalendarEvent], context: EvaluationContext) -> list[tuple[PairEvents, tzinfo]]:
    """Each visible pair's events, with the manager's zone."""
    directory, settings = context.directory, context.settings
    canon = directory.canonical
    copies = canonical_events(events, context)
    exceptions = _exceptions(copies)
    names = report_names(directory, settings) if directory.in_use else {}
    found = [(event, candidate(event, directory, settings, names)) for event in copies]
    candidates = [(event, c) for event, c in found if c is not None]
    if directory.in_use:
        pairs = directory_pairs(directory)
    else:
        first_seen = {(canon(m), canon(r)): day for (m, r), day in context.pair_first_seen.items()}
        pairs = organizer_pairs((_vote(c, e) for e, c in candidates if c.titled), settings, first_seen)
    buckets = {people: _Bucket(pair) for people, pair in pairs.items()}
    for event, cand in candidates:
        bucket = buckets.get(cand.people)
        if bucket is None:
            continue
        if event.kind is EventKind.MASTER:
            if not counts_as_one_on_one(cand, event, directory):
                continue
            own = exceptions.get((event.provider, event.calendar, event.event_id), {})
            bucket.series.append(SeriesCopy(event.calendar, event, own))
            bucket.changes.extend(changed(e) for e in (event, *own.values()) if e.sighting or e.updated)
        else:
            if not cand.titled and not directory.in_use:
                continue
            bucket.one_offs.append((Copy(event.calendar, event), cand.titled))
            bucket.changes.extend([changed(event)] if event.sighting or event.updated else [])
        bucket.calendars.add(event.calendar)
        if event.start is not None and (cand.titled or event.kind is EventKind.MASTER):
            bucket.starts.append(event.start)
    present = {event.calendar for event in copies}
    watched = {canon(c) for c in context.watched_calendars} or present
    absences: dict[str, list[CalendarEvent]] = {}  # out-of-office entries by calendar, found once
    for event in copies:
        if event.event_type is EventType.OUT_OF_OFFICE and event.kind is not EventKind.EXCEPTION:
            absences.setdefault(event.calendar, []).append(event)
    zones = {canon(person): name for person, name in context.time_zones.items()}
    first_seen_index = _first_seen_by_people(context)
    result = []
    for people in sorted(buckets, key=sorted):
        bucket = buckets[people]
        if not people & watched:
            continue  # neither calendar is visible: nothing to judge the pair on
        tz = zone(zones.get(bucket.pair.manager, context.default_time_zone))
        pair = replace(bucket.pair, start=_pair_start(bucket, first_seen_index, tz))
        out_of_office = tuple(
            (event, exceptions.get((event.provider, event.calendar, event.event_id), {}))
            for person in sorted(people)
            for event in absences.get(person, ())
        )
        events_of_pair = PairEvents(
            pair=pair,
            series=tuple(bucket.series),
            one_offs=tuple(bucket.one_offs),
            out_of_office=out_of_office,
            calendars=frozenset(bucket.calendars | set(people)),
            last_change=max(bucket.changes, default=None),
        )
        result.append((events_of_pair, tz))
    return result


def _first_seen_by_people(context: EvaluationContext) -> dict[frozenset[str], date]:
    """When the store first saw each pair, indexed by its two (canonical) people, once per evaluation."""
    canon = context.directory.canonical
    index: dict[frozenset[str], date] = {}
    for (manager, report), day in context.pair_first_seen.items():
        people = frozenset((canon(manager), canon(report)))
        index[people] = min(day, index.get(people, day))
    return index


def _pair_start(bucket: _Bucket, first_seen: Mapping[frozenset[str], date], tz: tzinfo) -> date | None:
    """The directory's start date, else the earlier of when the store first saw the pair and its
    first 1:1 (a pair cannot start after a 1:1 we can see)."""
    if bucket.pair.start is not None:
        return bucket.pair.start
    people = frozenset((bucket.pair.manager, bucket.pair.report))
    known = [first_seen[people]] if people in first_seen else []
    if bucket.starts:
        known.append(local_date(min(bucket.starts), tz))
    return min(known, default=None)
