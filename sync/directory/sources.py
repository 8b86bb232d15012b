"""Reading the directory: a CSV or YAML file, Google Workspace, Entra ID, or the config alone.

Every source becomes one `DirectorySnapshot`: the pairs it names and the people it knows. Google and
Entra list the whole company, so someone missing from their listing has left; a file lists only
pairs (and, in YAML, optionally people), so someone missing from it has merely stopped being named.
`directory.pairs` from the config are added to whatever the source says (manual overrides).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any, Protocol

import yaml
from pydantic import ValidationError

from providers.directory import DirectoryError, DirectoryPerson
from rules.address import address_or_none
from rules.model import Directory, Pair, normalize_email
from sync.config import ConfigError, PairEntry, Settings


class PeopleReader(Protocol):
    def people(self) -> list[DirectoryPerson]: ...


@dataclass(frozen=True)
class DirectorySnapshot:
    source: str  # config | file | google | entra
    pairs: tuple[Pair, ...]
    people: Mapping[str, DirectoryPerson]
    fetched_at: datetime
    whole_company: bool = False  # the listing is everyone: a person missing from it has left

    def has_left(self, person: str) -> bool:
        known = self.people.get(person)
        return (known is None and self.whole_company) or (known is not None and not known.active)


@dataclass(frozen=True)
class DirectoryFile:
    entries: list[PairEntry]
    people: dict[str, DirectoryPerson] = field(default_factory=dict)


def _yaml_people(raw: Any, path: Path) -> dict[str, DirectoryPerson]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"directory.file {path}: `people` must map addresses to {{department, active}}")
    people = {}
    for address, facts in raw.items():
        facts = facts or {}
        email = address_or_none(str(address))
        if email is None or not isinstance(facts, dict) or set(facts) - {"department", "active"}:
            raise ConfigError(f"directory.file {path}: people entry {address!r} must be {{department, active}}")
        department = facts.get("department")
        people[email] = DirectoryPerson(
            email, department=str(department) if department else None, active=facts.get("active", True) is not False
        )
    return people


def load_directory_yaml(path: Path) -> DirectoryFile:
    """A list of `{manager, report, start}`, or `{pairs: [...], people: {address: {department, active}}}`."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"directory.file: cannot read {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"directory.file {path}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    raw_pairs, raw_people = (data.get("pairs"), data.get("people")) if isinstance(data, dict) else (data, None)
    if isinstance(data, dict) and set(data) - {"pairs", "people"}:
        raise ConfigError(f"directory.file {path}: expected the keys pairs and people, got {sorted(data)}")
    if not isinstance(raw_pairs, list):
        raise ConfigError(f"directory.file {path}: expected a list of {{manager, report, start}}")
    entries = []
    for number, item in enumerate(raw_pairs, start=1):
        if isinstance(item, dict) and "start_date" in item and "start" not in item:
            item = {("start" if key == "start_date" else key): value for key, value in item.items()}
        try:
            entries.append(PairEntry.model_validate(item))
        except ValidationError as exc:
            problem = exc.errors()[0]
            where = ".".join(str(p) for p in problem["loc"]) or "entry"
            raise ConfigError(f"directory.file {path} pair {number}: {where}: {problem['msg']}") from None
    return DirectoryFile(entries, _yaml_people(raw_people, path))


def load_directory_file(path: Path) -> DirectoryFile:
    if path.suffix.lower() in (".yaml", ".yml"):
        return load_directory_yaml(path)
    return DirectoryFile(load_directory_csv(path))


def _pair(entry: PairEntry, source: str) -> Pair:
    return Pair(normalize_email(entry.manager), normalize_email(entry.report), entry.start, source)


def from_entries(
    entries: Iterable[PairEntry], people: Mapping[str, DirectoryPerson], source: str, now: datetime
) -> DirectorySnapshot:
    """A file's (or the config's) pairs; people who are marked as gone take their pairs with them."""
    pairs = {p.key: p for p in (_pair(e, source) for e in entries) if p.manager != p.report}
    known = dict(people)
    for manager, report in pairs:
        for person, boss in ((report, manager), (manager, None)):
            found = known.get(person)
            if found is None:
                known[person] = DirectoryPerson(person, manager=boss)
            elif found.manager is None and boss is not None:
                known[person] = replace(found, manager=boss)
    gone = {person for person, facts in known.items() if not facts.active}
    kept = tuple(p for key, p in sorted(pairs.items()) if not set(key) & gone)
    return DirectorySnapshot(source, kept, known, now, whole_company=False)


def from_people(people: Sequence[DirectoryPerson], source: str, now: datetime) -> DirectorySnapshot:
    """A company listing: a pair for every active person whose manager is listed and active."""
    by_address = {p.address: p for p in people}
    pairs = []
    for person in sorted(by_address.values(), key=lambda p: p.address):
        boss = by_address.get(person.manager or "")
        if person.active and boss is not None and boss.active and boss.address != person.address:
            pairs.append(Pair(boss.address, person.address, None, source))
    return DirectorySnapshot(source, tuple(pairs), by_address, now, whole_company=True)


def with_overrides(snapshot: DirectorySnapshot, entries: Iterable[PairEntry]) -> DirectorySnapshot:
    """`directory.pairs` added to the source's pairs (a configured start date wins)."""
    pairs = {p.key: p for p in snapshot.pairs}
    for entry in entries:
        pair = _pair(entry, "config")
        if pair.manager == pair.report or snapshot.has_left(pair.manager) or snapshot.has_left(pair.report):
            continue
        known = pairs.get(pair.key)
        pairs[pair.key] = replace(known, start=pair.start or known.start) if known else pair
    return replace(snapshot, pairs=tuple(pairs[key] for key in sorted(pairs)))


def build_reader(settings: Settings) -> PeopleReader:
    """The reader for a company directory (google | entra), from the settings."""
    source = settings.directory.resolved_source
    if source == "google":
        from providers.google_directory import GoogleDirectoryReader, admin_credentials

        google, key = settings.directory.google, settings.google.service_account_file
        assert key is not None and google.admin_subject is not None  # checked when the config was loaded
        try:
            credentials = admin_credentials(key, google.admin_subject)
        except (OSError, ValueError, KeyError) as exc:
            raise DirectoryError("google", f"google.service_account_file {key} is not a usable key: {exc}") from None
        return GoogleDirectoryReader(
            credentials,
            admin=google.admin_subject,
            customer=google.customer,
            api_endpoint=google.api_endpoint,
            page_size=google.page_size,
            timeout=settings.google.timeout_seconds,
        )
    if source == "entra":
        from providers.entra_directory import EntraDirectoryReader
        from sync.clients import build_graph_client

        return EntraDirectoryReader(build_graph_client(settings), page_size=settings.directory.entra.page_size)
    raise ValueError(f"source {source} has no reader")


def fetch_snapshot(settings: Settings, now: datetime, reader: PeopleReader | None = None) -> DirectorySnapshot:
    """Read the configured source. Raises `DirectoryError` (or `ConfigError` for a bad file)."""
    directory = settings.directory
    source = directory.resolved_source
    if source == "config":
        snapshot = from_entries((), {}, "config", now)
    elif source == "file":
        assert directory.file is not None
        loaded = load_directory_file(directory.file)
        snapshot = from_entries(loaded.entries, loaded.people, "file", now)
    else:
        people = (reader or build_reader(settings)).people()
        snapshot = from_people(people, source, now)
    return with_overrides(snapshot, directory.pairs)


def load_directory_csv(path: Path) -> list[PairEntry]:
    """`manager,report[,start_date]` per line; a header line is allowed."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"directory.file: cannot read {path}: {exc.strerror}") from exc
    entries: list[PairEntry] = []
    for number, row in enumerate(csv.reader(text.splitlines()), start=1):
        cells = [c.strip() for c in row]
        if not cells or not any(cells) or cells[0].startswith("#"):
            continue
        if number == 1 and cells[0].lower() == "manager":
            continue
        if len(cells) < 2 or address_or_none(cells[0]) is None or address_or_none(cells[1]) is None:
            raise ConfigError(f"directory.file {path} line {number}: expected manager,report[,start_date]")
        try:
            start = date.fromisoformat(cells[2]) if len(cells) > 2 and cells[2] else None
        except ValueError as exc:
            raise ConfigError(f"directory.file {path} line {number}: start_date must be YYYY-MM-DD") from exc
        entries.append(PairEntry(manager=cells[0], report=cells[1], start=start))
    return entries


def config_directory(settings: Settings) -> Directory:
    """The directory from the config alone (`pairs`, and `file` for source file); the daemon uses the
    stored one (sync/directory) once a refresh has succeeded."""
    entries = list(settings.directory.pairs)
    if settings.directory.file and settings.directory.resolved_source == "file":
        entries.extend(load_directory_file(settings.directory.file).entries)
    aliases = {normalize_email(k): normalize_email(v) for k, v in settings.directory.aliases.items()}
    pairs = {
        (normalize_email(e.manager), normalize_email(e.report)): Pair(
            manager=normalize_email(e.manager),
            report=normalize_email(e.report),
            start=e.start,
            source="config",
        )
        for e in entries
    }
    manager_of = {p.report: p.manager for p in pairs.values()}
    return Directory(
        pairs=tuple(pairs.values()),
        domains=tuple(d.lower() for d in settings.directory.domains),
        aliases=aliases,
        manager_of=manager_of,
        configured=settings.directory.resolved_source != "config",
    )
