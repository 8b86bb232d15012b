"""The pair lifecycle and scoping, as pure functions: what starts, what ends and why, who is in scope."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from providers.directory import DirectoryPerson
from rules.model import Pair
from sync.config import ConfigError, DirectoryScopeRule, PairEntry
from sync.directory.lifecycle import plan_refresh, too_large
from sync.directory.scope import above, in_scope, scoped
from sync.directory.sources import from_entries, from_people, load_directory_yaml, with_overrides

NOW = datetime(2026, 3, 2, 8, tzinfo=UTC)
TODAY = NOW.date()
BEA, MARIA, PIA, RAJ, SAM, TOM = (f"{n}@example.com" for n in ("bea", "maria", "pia", "raj", "sam", "tom"))


def person(
    address: str, manager: str | None = None, department: str | None = None, active: bool = True
) -> DirectoryPerson:
    return DirectoryPerson(address, manager=manager, department=department, active=active)


COMPANY = [
    person(BEA, None, "Leadership"),
    person(MARIA, BEA, "Engineering"),
    person(PIA, BEA, "Sales"),
    person(RAJ, MARIA, "Engineering"),
    person(SAM, MARIA, "Engineering"),
    person(TOM, PIA, "Sales"),
]


def stored(*keys: tuple[str, str], start: date | None = None) -> dict[tuple[str, str], Pair]:
    return {key: Pair(key[0], key[1], start, "google") for key in keys}


def test_a_company_listing_pairs_every_active_person_with_an_active_listed_manager() -> None:
    people = [*COMPANY, person("ext@example.com", "boss@elsewhere.test"), person("me@example.com", "me@example.com")]
    snapshot = from_people([*people[:5], person(TOM, PIA, active=False), *people[6:]], "google", NOW)
    assert {p.key for p in snapshot.pairs} == {(BEA, MARIA), (BEA, PIA), (MARIA, RAJ), (MARIA, SAM)}
    assert snapshot.whole_company and snapshot.has_left(TOM) and snapshot.has_left("gone@example.com")
    suspended_boss = from_people([person(PIA, BEA, active=False), person(TOM, PIA)], "entra", NOW)
    assert suspended_boss.pairs == ()  # a manager who left manages no one


def test_first_import_has_no_start_dates_later_pairs_start_today_and_the_directory_date_wins() -> None:
    snapshot = from_people(COMPANY, "google", NOW)
    first = plan_refresh({}, {}, snapshot, snapshot.pairs, TODAY, first_import=True)
    assert {p.start for p in first.started} == {None} and len(first.started) == 5 and first.ended == ()
    later = plan_refresh(stored((BEA, MARIA)), {}, snapshot, snapshot.pairs, TODAY, first_import=False)
    assert {p.start for p in later.started} == {TODAY} and [p.key for p in later.kept] == [(BEA, MARIA)]
    dated = with_overrides(snapshot, [PairEntry(manager=MARIA, report=RAJ, start=date(2025, 9, 1))])
    plan = plan_refresh(stored((MARIA, RAJ)), {}, dated, dated.pairs, TODAY, first_import=False)
    assert next(p for p in plan.kept if p.key == (MARIA, RAJ)).start == date(2025, 9, 1)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda people: [p for p in people if p.address != RAJ], "left"),  # deleted from the directory
        (lambda people: [p if p.address != RAJ else person(RAJ, MARIA, active=False) for p in people], "left"),
        (lambda people: [p if p.address != MARIA else person(MARIA, BEA, active=False) for p in people], "left"),
        (lambda people: [p if p.address != RAJ else person(RAJ, PIA) for p in people], "manager-changed"),
        (lambda people: [p if p.address != RAJ else person(RAJ, None) for p in people], "removed"),
    ],
)
def test_an_ended_pair_says_why(change: object, reason: str) -> None:
    snapshot = from_people(change(COMPANY), "entra", NOW)  # type: ignore[operator]
    before = stored(*(p.key for p in from_people(COMPANY, "entra", NOW).pairs))
    plan = plan_refresh(before, {p.address: True for p in COMPANY}, snapshot, snapshot.pairs, TODAY, first_import=False)
    assert (next(r for p, r in plan.ended if p.key == (MARIA, RAJ))) == reason


def test_out_of_scope_pairs_end_as_such_and_leavers_and_returners_are_named() -> None:
    snapshot = from_people([*COMPANY[:5], person(TOM, PIA, active=False)], "google", NOW)
    wanted = scoped(snapshot.pairs, snapshot.people, [DirectoryScopeRule(department="Sales")], [])
    active = {p.address: True for p in COMPANY} | {"back@example.com": False}
    plan = plan_refresh(stored((MARIA, RAJ), (PIA, TOM)), active, snapshot, wanted, TODAY, first_import=False)
    assert sorted((p.key, r) for p, r in plan.ended) == [((MARIA, RAJ), "out-of-scope"), ((PIA, TOM), "left")]
    assert plan.left == (TOM,)
    returning = from_people([*COMPANY, person("back@example.com", BEA)], "google", NOW)
    assert plan_refresh({}, active, returning, (), TODAY, first_import=False).returned == ("back@example.com",)


def test_the_large_change_guard() -> None:
    snapshot = from_people(COMPANY, "google", NOW)
    plan = plan_refresh(
        stored((BEA, MARIA), ("x@example.com", "y@example.com")), {}, snapshot, (), TODAY, first_import=False
    )
    assert too_large(plan, 2)  # both of two would end
    assert not too_large(plan, 4)  # exactly half is fine
    assert too_large(plan_refresh(stored((BEA, MARIA)), {}, snapshot, (), TODAY, first_import=False), 1)
    assert not too_large(plan, 0)


def test_scope_rules_match_department_subtree_and_address() -> None:
    people = from_people(COMPANY, "google", NOW).people
    pair = Pair(MARIA, RAJ)
    assert in_scope(pair, people, [DirectoryScopeRule(department="ENGINEERING")], [])
    assert in_scope(Pair(BEA, MARIA), people, [DirectoryScopeRule(department="engineering")], [])  # Maria's is
    assert not in_scope(Pair(PIA, TOM), people, [DirectoryScopeRule(department="engineering")], [])
    subtree = [DirectoryScopeRule(manager_subtree=BEA)]
    assert in_scope(pair, people, subtree, []) and in_scope(Pair(BEA, PIA), people, subtree, [])
    assert not in_scope(Pair(BEA, MARIA), people, [DirectoryScopeRule(manager_subtree=MARIA)], [])  # her own boss
    assert not in_scope(pair, people, subtree, [DirectoryScopeRule(address=RAJ)])
    assert in_scope(pair, people, [], [])
    loop = {RAJ: person(RAJ, SAM), SAM: person(SAM, RAJ)}
    assert above(RAJ, loop) == [SAM]


def test_the_config_adds_pairs_and_a_file_drops_the_pairs_of_people_marked_gone() -> None:
    snapshot = from_entries(
        [PairEntry(manager=MARIA, report=RAJ), PairEntry(manager=MARIA, report=SAM)],
        {SAM: person(SAM, active=False)},
        "file",
        NOW,
    )
    assert [p.key for p in snapshot.pairs] == [(MARIA, RAJ)] and snapshot.people[RAJ].manager == MARIA
    assert not snapshot.whole_company and not snapshot.has_left("unknown@example.com")
    merged = with_overrides(snapshot, [PairEntry(manager=PIA, report=RAJ), PairEntry(manager=PIA, report=SAM)])
    assert [(p.key, p.source) for p in merged.pairs] == [((MARIA, RAJ), "file"), ((PIA, RAJ), "config")]


def test_yaml_files_are_validated_with_the_entry_named(tmp_path: Path) -> None:
    path = tmp_path / "team.yaml"
    path.write_text("- {manager: maria@example.com, report: raj@example.com, start_date: 2026-01-05}\n")
    (entry,) = load_directory_yaml(path).entries
    assert entry.start == date(2026, 1, 5)
    path.write_text("- {manager: maria@example.com, report: raj}\n")
    with pytest.raises(ConfigError, match="pair 1: report: Value error, 'raj' is not an email address"):
        load_directory_yaml(path)
    path.write_text("pairs: []\npeople: {raj@example.com: {team: x}}\n")
    with pytest.raises(ConfigError, match=r"must be \{department, active\}"):
        load_directory_yaml(path)


def test_a_new_pair_starts_today_in_its_managers_own_zone() -> None:
    snapshot = from_people(COMPANY, "google", NOW)
    local_day = {BEA: date(2026, 3, 3), MARIA: date(2026, 3, 2), PIA: date(2026, 3, 2)}  # Bea is in Sydney
    plan = plan_refresh({}, {}, snapshot, snapshot.pairs, local_day.__getitem__, first_import=False)
    assert {p.key: p.start for p in plan.started}[(BEA, MARIA)] == date(2026, 3, 3)
    assert {p.key: p.start for p in plan.started}[(MARIA, RAJ)] == date(2026, 3, 2)
