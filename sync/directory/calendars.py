"""Watched calendars that follow the directory: with `directory.source: google` and no `google.calendars`
(or `entra` and no `outlook.mailboxes`), the provider watches the calendars of the managers in force.

The provider keeps the list object it was given, so updating it in place after each refresh changes
what the next cycle syncs, without rebuilding the provider.
"""

from __future__ import annotations

from collections.abc import Iterable

from sync.config import Settings
from sync.directory.store import pair_rows
from sync.store.db import Database

SOURCE_FOR = {"google": "google", "outlook": "entra"}


class DirectoryCalendars(list[str]):
    """The managers in force; filled from the stored directory, refreshed with it."""


def directory_calendars(settings: Settings, provider: str) -> DirectoryCalendars | None:
    """A list to fill from the directory, when that provider has no calendars of its own configured."""
    if settings.directory.resolved_source != SOURCE_FOR.get(provider):
        return None
    configured = settings.google.calendars if provider == "google" else settings.outlook.mailboxes
    return None if configured else DirectoryCalendars()


def follow_directory(db: Database, providers: Iterable[object]) -> int:
    """Point every directory-following provider at the managers in force; returns how many calendars."""
    lists = [w for p in providers if isinstance(w := getattr(p, "watched", None), DirectoryCalendars)]
    if not lists:
        return 0
    with db.session() as session:
        managers = sorted({row.manager for row in pair_rows(session)})
    for watched in lists:
        watched[:] = managers
    return len(managers)
