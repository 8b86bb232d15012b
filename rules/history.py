"""A pair's meeting history: every expected 1:1 and what became of it.

Built from the copies of the pair's series and one-offs: slots expanded in each series' own zone,
copies merged (the organizer's copy decides), moves too far turned into a cancellation plus a
one-off, replacements matched, time away marked. The rules read nothing else, and the `report`
command and the weekly digest read the same thing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, tzinfo

from rules.attendance import PREFER, Presence
from rules.attendance import judge as judge_attendance
from rules.away import Away, build_away
from rules.copies import Canonical, Copy, Judge, Slot
from rules.days import days_apart, local_date, midnight, zone_name
from rules.matching import Within, match
from rules.model import CalendarEvent, EvaluationContext, Occurrence, Pair
from rules.model import OccurrenceOutcome as Outcome
from rules.series import Series, SeriesCopy, group_series, one_off_slots, series_slots


@dataclass(frozen=True, slots=True)
class PairEvents:
    """Everything seen about one pair, as the engine gathered it."""

    pair: Pair  # `start` resolved: directory, else first seen, else the first 1:1
    series: tuple[SeriesCopy, ...] = ()
    one_offs: tuple[tuple[Copy, bool], ...] = ()  # (copy, title matched)
    out_of_office: tuple[tuple[CalendarEvent, Mapping[datetime, CalendarEvent]], ...] = ()
    calendars: frozenset[str] = frozenset()  # the calendars this history rests on
    last_change: datetime | None = None  # latest change seen on any of the pair's 1:1s


@dataclass(frozen=True, slots=True)
class SeriesSummary:
    key: str
    first_start: datetime
    last_start: datetime | None  # its last slot; None when open-ended
    cadence_days: int | None
    ended: bool  # no slot from now on (rule ran out, or deleted)
    deleted: bool
    continued_by: str | None  # the series that carries its cadence on (a split), if any


@dataclass(frozen=True, slots=True)
class PairHistory:
    pair: Pair
    time_zone: str  # the manager's zone: days are counted in it
    occurrences: tuple[Occurrence, ...]  # series slots and one-offs, by original start
    cadence_days: int
    window_days: int  # how far a replacement or a move may be from its slot
    last_held: Occurrence | None
    next_scheduled: Occurrence | None
    series: tuple[SeriesSummary, ...]
    series_ended: bool  # the pair had a series and none runs on
    away: Away
    calendars: frozenset[str]
    stale: bool  # rests on a calendar whose data is stale: not judged
    now: datetime
    history_start: datetime
    history_end: datetime
    last_change: datetime | None
    # Moments the clock alone changes what the history holds: series that end or were deleted
    # (`Series.ended`), and the next slot or one-off to come inside the horizon (None: none).
    series_ends: tuple[datetime, ...] = ()
    next_arrival: datetime | None = None

    @property
    def tz(self) -> tzinfo:
        return self.away.tz

    @property
    def history_span_days(self) -> int:
        return (self.now - self.history_start).days


def is_held(occurrence: Occurrence, now: datetime) -> bool:
    if occurrence.outcome is Outcome.HELD:
        return True
    return occurrence.outcome is Outcome.MOVED and occurrence.start <= now


def is_upcoming(occurrence: Occurrence, now: datetime) -> bool:
    if occurrence.outcome is Outcome.SCHEDULED:
        return True
    return occurrence.outcome is Outcome.MOVED and occurrence.start > now


def window_days(cadence: int, settings_window: int) -> int:
    """A replacement or a move never reaches a neighbouring slot."""
    return max(0, min(settings_window, cadence - 1))


def _pair_cadence(series: list[Series], now: datetime, default: int) -> int:
    """The running series' rhythm (the shortest, if several run), else the latest one's."""
    running = [s.cadence_days for s in series if s.cadence_days and not s.ended(now)]
    if running:
        return min(running)
    past = [s.cadence_days for s in series if s.cadence_days]
    return past[-1] if past else default


def _summaries(series: list[Series], now: datetime, tz: tzinfo, window: int) -> tuple[SeriesSummary, ...]:
    """Series facts, and which series continue which: a split keeps the pair's cadence."""
    lasts = {s.key: _last_slot(s) for s in series}
    result = []
    for old in series:
        last = lasts[old.key]
        follow = None
        if old.ended(now) and last is not None:
            reach = (old.cadence_days or 0) + window
            follow = next(
                (
                    new.key
                    for new in series
                    if new.key != old.key
                    and new.first_start > old.first_start
                    and days_apart(last, new.first_start, tz) <= reach
                ),
                None,
            )
        result.append(
            SeriesSummary(
                old.key, old.first_start, last, old.cadence_days, old.ended(now), old.deleted_at is not None, follow
            )
        )
    return tuple(result)


def _last_slot(series: Series) -> datetime | None:
    if series.deleted_at is None:
        return series.expansion.last
    before = [slot for slot in series.expansion.slots if slot < series.deleted_at]
    return max(before) if before else None


def build_history(events: PairEvents, context: EvaluationContext, tz: tzinfo, canonical: Canonical) -> PairHistory:
    settings, now, pair = context.settings, context.now, events.pair
    low, high = now - timedelta(days=settings.history_days), now + timedelta(days=settings.horizon_days)

    begins = midnight(pair.start, tz) if pair.start is not None else low  # the pair's first local day

    def keep(moment: datetime) -> bool:
        return low <= moment < high and moment >= begins

    series = group_series(events.series, pair.manager, canonical, low, high)
    cadence = _pair_cadence(series, now, settings.cadence_days)
    window = window_days(cadence, settings.reschedule_window_days)

    def within(a: datetime, b: datetime) -> bool:
        return abs(days_apart(a, b, tz)) <= window

    judge = Judge(pair.manager, pair.report, settings.late_cancellation_hours)
    pauses = [p for p in context.pauses if {canonical(p.manager), canonical(p.report)} == {pair.manager, pair.report}]
    away = build_away(
        events.out_of_office,
        pauses,
        tz,
        local_date(low, tz) - timedelta(days=1),
        local_date(high, tz) + timedelta(days=1),
    )
    organizers = {s.key: s.decisive.master.organizer for s in series}
    slots = _merge_slots([slot for s in series for slot in series_slots(s, judge, canonical, keep)])
    slots, far = _split_far_moves(slots, within, settings.late_cancellation_hours, organizers, canonical)
    live_starts = {slot.start for slot in slots if slot.live}
    one_offs = [
        o for o in [*far, *one_off_slots(events.one_offs, judge, canonical, keep)] if o.start not in live_starts
    ]
    lost = [slot for slot in slots if not slot.live and not _away(slot, away)]
    lost_any = [slot for slot in slots if not slot.live]
    one_offs = [o for o in one_offs if o.titled or any(within(c.original_start, o.start) for c in lost_any)]
    offers = sorted({o.start for o in one_offs if o.live})
    moved = [(s.original_start, s.start) for s in slots if s.live and s.start != s.original_start]
    matching = match([s.original_start for s in lost], offers, moved, within)

    occurrences = [_slot_occurrence(s, pair, now, away, matching.replaced, matching.covered) for s in slots]
    occurrences += [_one_off_occurrence(o, pair, now, away) for o in one_offs]
    # A moved instance that made up for another slot (its own slot covered by a one-off).
    occurrences += [
        _one_off_occurrence(replace(s, original_start=s.start), pair, now, away)
        for s in slots
        if s.live and s.original_start in matching.covered
    ]
    occurrences = _with_attendance(occurrences, context, pair)
    occurrences.sort(key=lambda o: (o.original_start, o.is_one_off, o.series_key or ""))
    held = [o for o in occurrences if is_held(o, now)]
    upcoming = [o for o in occurrences if is_upcoming(o, now)]
    summaries = _summaries(series, now, tz, window)
    return PairHistory(
        pair=pair,
        time_zone=zone_name(tz),
        occurrences=tuple(occurrences),
        cadence_days=cadence,
        window_days=window,
        last_held=max(held, key=lambda o: (o.start, o.original_start)) if held else None,
        next_scheduled=min(upcoming, key=lambda o: (o.start, o.original_start)) if upcoming else None,
        series=summaries,
        series_ended=bool(summaries) and all(s.ended for s in summaries),
        away=away,
        calendars=events.calendars,
        stale=bool(events.calendars & {canonical(c) for c in context.stale_calendars}),
        now=now,
        history_start=low,
        history_end=high,
        last_change=events.last_change,
        series_ends=tuple(t for s in series for t in (s.deleted_at, s.expansion.last) if t is not None),
        next_arrival=_next_arrival(series, events, high),
    )


def _next_arrival(series: list[Series], events: PairEvents, high: datetime) -> datetime | None:
    """The first slot or one-off at or after the horizon's end: the next to come inside it."""
    later = [s.expansion.following for s in series if s.expansion.following is not None]
    later += [
        copy.event.start.astimezone(UTC)
        for copy, _ in events.one_offs
        if copy.event.start is not None and copy.event.start >= high
    ]
    return min(later, default=None)


def _with_attendance(occurrences: list[Occurrence], context: EvaluationContext, pair: Pair) -> list[Occurrence]:
    """With `attendance: prefer`, a past 1:1 whose call was read is held only if both were in it.

    Occurrences without evidence (in person, not read yet, not permitted) keep the calendar's word.
    """
    settings = context.settings
    if settings.attendance != PREFER or not context.attendance:
        return occurrences
    out = []
    for occurrence in occurrences:
        evidence = context.attendance.get((pair.manager, pair.report, occurrence.start))
        if evidence is None or not is_held(occurrence, context.now):
            out.append(occurrence)
            continue
        verdict = judge_attendance(evidence, pair.manager, pair.report, settings.min_attended_minutes)
        outcome = Outcome.NO_SHOW if verdict.presence is Presence.NO_SHOW else occurrence.outcome
        out.append(replace(occurrence, outcome=outcome, attendance=verdict))
    return out


def _away(slot: Slot, away: Away) -> bool:
    """Time away is judged over the slot itself, wherever its meeting was moved to."""
    if not away.days and not away.spans:
        return False
    return away.covers(slot.original_start, slot.original_start + (slot.end - slot.start))


def _merge_slots(slots: list[Slot]) -> list[Slot]:
    """One meeting counts once: two series with a slot at the same time are one occurrence."""
    merged: dict[datetime, Slot] = {}
    for slot in slots:
        known = merged.get(slot.original_start)
        if known is None or (slot.live and not known.live):
            merged[slot.original_start] = slot
    return sorted(merged.values(), key=lambda s: s.original_start)


def _split_far_moves(
    slots: list[Slot],
    within: Within,
    late_hours: int,
    organizers: Mapping[str, str | None],
    canonical: Canonical,
) -> tuple[list[Slot], list[Slot]]:
    """A move further than the window cancels its slot; the new time is a one-off of its own."""
    kept, far = [], []
    for slot in slots:
        if not slot.live or slot.start == slot.original_start or within(slot.original_start, slot.start):
            kept.append(slot)
            continue
        organizer = organizers.get(slot.series_key or "")
        late = (
            slot.seen_at is not None
            and not slot.by_full_listing
            and slot.seen_at > slot.original_start - timedelta(hours=late_hours)
        )
        kept.append(
            replace(
                slot,
                live=False,
                how="moved-too-far",
                by=canonical(organizer) if organizer else None,
                late=late,
                start=slot.original_start,
                end=slot.original_start + (slot.end - slot.start),
                moved_to=slot.start,
            )
        )
        far.append(replace(slot, original_start=slot.start, how=None, late=False, titled=True))
    return kept, far


def _slot_occurrence(
    slot: Slot,
    pair: Pair,
    now: datetime,
    away: Away,
    replaced: Mapping[datetime, datetime],
    covered: Mapping[datetime, datetime],
) -> Occurrence:
    # Built in one go (no dataclasses.replace): this runs for every slot of every pair.
    is_away = _away(slot, away)
    if not slot.live:
        return Occurrence(
            pair=pair.key,
            series_key=slot.series_key,
            original_start=slot.original_start,
            start=slot.start,
            end=slot.end,
            outcome=Outcome.REPLACED if slot.original_start in replaced else Outcome.CANCELLED,
            away=is_away,
            cancelled_by=slot.by,
            replaced_by=replaced.get(slot.original_start),
            late_cancellation=slot.late,
            cancellation=slot.how,
            cancellation_seen_at=slot.seen_at,
            cancellation_by_full_listing=slot.by_full_listing,
            moved_to=slot.moved_to,
        )
    replaced_by = None
    if slot.start != slot.original_start:
        replaced_by = covered.get(slot.original_start)
        outcome = Outcome.REPLACED if replaced_by is not None else Outcome.MOVED
    else:
        outcome = Outcome.HELD if slot.start <= now else Outcome.SCHEDULED
    return Occurrence(
        pair=pair.key,
        series_key=slot.series_key,
        original_start=slot.original_start,
        start=slot.start,
        end=slot.end,
        outcome=outcome,
        away=is_away,
        replaced_by=replaced_by,
        conference=slot.conference,
    )


def _one_off_occurrence(slot: Slot, pair: Pair, now: datetime, away: Away) -> Occurrence:
    outcome = Outcome.CANCELLED
    if slot.live:
        outcome = Outcome.HELD if slot.start <= now else Outcome.SCHEDULED
    return Occurrence(
        pair=pair.key,
        series_key=slot.series_key,
        original_start=slot.start,
        start=slot.start,
        end=slot.end,
        outcome=outcome,
        cancelled_by=slot.by,
        late_cancellation=slot.late,
        away=away.covers(slot.start, slot.end),
        is_one_off=True,
        cancellation=slot.how,
        cancellation_seen_at=slot.seen_at,
        cancellation_by_full_listing=slot.by_full_listing,
        conference=slot.conference if slot.live else None,
    )
