"""The company directory as the providers report it: people, their manager and department.

Like the calendar adapters, the directory readers only translate (wire format in, these objects
out); which pairs are in force, and what a change means, is decided in `sync/directory`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DirectoryPerson:
    address: str  # normalized (lower case)
    name: str | None = None
    department: str | None = None
    manager: str | None = None  # the manager's normalized address, when the directory names one
    active: bool = True  # false: suspended, archived or sign-in disabled — treated as having left
    org_unit: str | None = None


class DirectoryError(Exception):
    """A directory source could not be read; the message names the source and what to fix."""

    def __init__(self, source: str, message: str) -> None:
        super().__init__(f"directory source {source}: {message}")
        self.source = source
        self.message = message
