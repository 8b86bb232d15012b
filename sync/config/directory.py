"""Who reports to whom: pairs in the config, a directory file, or Google / Entra, with its scope."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import (
    Field,
    field_validator,
    model_validator,
)

from sync.config.base import Section, email_address


class PairEntry(Section):
    manager: str
    report: str
    start: date | None = None

    @field_validator("manager", "report")
    @classmethod
    def _person(cls, value: str) -> str:
        return email_address(value)


class DirectoryScopeRule(Section):
    """One `directory.include`/`exclude` entry: a department, a manager's whole subtree, or one person."""

    department: str | None = None
    manager_subtree: str | None = None
    address: str | None = None

    @field_validator("manager_subtree", "address")
    @classmethod
    def _person(cls, value: str | None) -> str | None:
        return email_address(value) if value is not None else None

    @model_validator(mode="after")
    def _one(self) -> DirectoryScopeRule:
        if sum(v is not None for v in (self.department, self.manager_subtree, self.address)) != 1:
            raise ValueError("set exactly one of department, manager_subtree and address")
        return self


class DirectoryGoogleSettings(Section):
    """Google Workspace's Admin SDK Directory API, with google.service_account_file (domain-wide delegation)."""

    admin_subject: str | None = None  # an administrator the service account acts as (users are read as them)
    customer: str = "my_customer"  # the Workspace account: my_customer, or its customer id (C0...)
    api_endpoint: str | None = None  # None = Google's own (https://admin.googleapis.com/)
    page_size: int = Field(500, ge=1, le=500)

    @field_validator("admin_subject")
    @classmethod
    def _admin(cls, value: str | None) -> str | None:
        return email_address(value) if value is not None else None


class DirectoryEntraSettings(Section):
    """Entra ID users through Microsoft Graph, with the outlook.* app (application permission User.Read.All)."""

    page_size: int = Field(999, ge=1, le=999)


class DirectorySettings(Section):
    # config: only `pairs` below; file: `file`; google / entra: read from the company directory every day.
    source: Literal["config", "file", "google", "entra"] | None = None  # default: file when `file` is set
    pairs: tuple[PairEntry, ...] = ()  # always in force, added to what the source says
    file: Path | None = None  # CSV (manager,report[,start_date]) or YAML (.yaml/.yml)
    domains: tuple[str, ...] = ()
    aliases: dict[str, str] = Field(default_factory=dict)
    google: DirectoryGoogleSettings = Field(default_factory=DirectoryGoogleSettings)
    entra: DirectoryEntraSettings = Field(default_factory=DirectoryEntraSettings)
    include: tuple[DirectoryScopeRule, ...] = ()  # empty: everyone; else only pairs matching one of these
    exclude: tuple[DirectoryScopeRule, ...] = ()  # pairs matching one of these are never judged
    refresh_hours: int = Field(24, ge=1)
    allow_large_changes: bool = False  # accept a refresh that ends more than half of the pairs in force

    @property
    def resolved_source(self) -> str:
        return self.source or ("file" if self.file else "config")

    @model_validator(mode="after")
    def _file(self) -> DirectorySettings:
        if self.resolved_source == "file" and self.file is None:
            raise ValueError("source is file but directory.file is not set")
        return self
