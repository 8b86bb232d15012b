"""Which pairs are judged: `directory.include` / `directory.exclude`, so a company can start with one team.

A pair is in scope when no include rule is set or it matches one, and it matches no exclude rule.
A rule matches a pair by:
- `department`: the manager's or the report's department (case-insensitive);
- `manager_subtree: X`: the pair's manager is X or anyone below X (X's own 1:1 with their manager is not
  in X's subtree);
- `address: X`: X is the manager or the report.
Departments and the manager chain come from the directory's people (Google, Entra, or a YAML file's
`people`); the config's own pairs are scoped like any other.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from providers.directory import DirectoryPerson
from rules.model import Pair
from sync.config import DirectoryScopeRule


def above(person: str, people: Mapping[str, DirectoryPerson]) -> list[str]:
    """The person's managers, nearest first (a loop in the data stops the walk)."""
    chain: list[str] = []
    current = people.get(person)
    while current is not None and current.manager and current.manager not in chain and current.manager != person:
        chain.append(current.manager)
        current = people.get(current.manager)
    return chain


def _department(person: str, people: Mapping[str, DirectoryPerson]) -> str | None:
    found = people.get(person)
    return found.department.casefold() if found is not None and found.department else None


def matches(rule: DirectoryScopeRule, pair: Pair, people: Mapping[str, DirectoryPerson]) -> bool:
    if rule.department is not None:
        wanted = rule.department.casefold()
        return wanted in (_department(pair.manager, people), _department(pair.report, people))
    if rule.manager_subtree is not None:
        return pair.manager == rule.manager_subtree or rule.manager_subtree in above(pair.manager, people)
    return rule.address in (pair.manager, pair.report)


def in_scope(
    pair: Pair,
    people: Mapping[str, DirectoryPerson],
    include: Sequence[DirectoryScopeRule],
    exclude: Sequence[DirectoryScopeRule],
) -> bool:
    if include and not any(matches(rule, pair, people) for rule in include):
        return False
    return not any(matches(rule, pair, people) for rule in exclude)


def scoped(
    pairs: Iterable[Pair],
    people: Mapping[str, DirectoryPerson],
    include: Sequence[DirectoryScopeRule],
    exclude: Sequence[DirectoryScopeRule],
) -> tuple[Pair, ...]:
    return tuple(p for p in pairs if in_scope(p, people, include, exclude))
