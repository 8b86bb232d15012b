"""Google Workspace's directory: the Admin SDK Directory API (`users.list`), read as an admin.

The same service account as for calendars, through domain-wide delegation with the one scope
`admin.directory.user.readonly`, acting as an administrator (`directory.google.admin_subject`):
the Directory API answers only to admins. Static discovery, no library retries (our policy
honours Retry-After), every page followed with `list_next`. A user's manager is the `relations`
entry of type `manager`; suspended or archived users are people who left.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import google_auth_httplib2
import httplib2
from google.auth.credentials import Credentials
from google.oauth2 import service_account
from googleapiclient.discovery import build_from_document
from googleapiclient.discovery_cache import get_static_doc

from providers.base import AuthError, PermanentError, ProviderError
from providers.deadline import ListingBounds
from providers.directory import DirectoryError, DirectoryPerson
from providers.google import execute_once
from providers.retry import RetryPolicy, Sleeper, call_with_retries
from rules.address import address_or_none

log = logging.getLogger(__name__)

SCOPE_USERS_READONLY = "https://www.googleapis.com/auth/admin.directory.user.readonly"
SOURCE = "google"
_LABEL = "Admin SDK users.list"


@cache
def _discovery_document() -> str:
    doc = get_static_doc("admin", "directory_v1")
    if doc is None:  # pragma: no cover - the wheel ships it
        raise RuntimeError("google-api-python-client has no static admin directory_v1 discovery document")
    return str(doc)


def admin_credentials(key_file: Path, admin: str) -> Credentials:
    """The service account acting as `admin`, with the read-only users scope only."""
    base = service_account.Credentials.from_service_account_file(str(key_file), scopes=[SCOPE_USERS_READONLY])
    delegated: Credentials = base.with_subject(admin)
    return delegated


def map_user(item: Any) -> DirectoryPerson | None:
    """One `User` resource; None for an entry without a usable primary address."""
    address = address_or_none(item.get("primaryEmail")) if isinstance(item, dict) else None
    if address is None:
        return None
    raw_name = item.get("name")
    name: dict[str, Any] = raw_name if isinstance(raw_name, dict) else {}
    organizations = [o for o in item.get("organizations") or [] if isinstance(o, dict)]
    primary = [o for o in organizations if o.get("primary")] or organizations
    department = next((str(o["department"]) for o in primary if o.get("department")), None)
    relations = [r for r in item.get("relations") or [] if isinstance(r, dict) and r.get("type") == "manager"]
    managers = [m for m in (address_or_none(r.get("value")) for r in relations) if m is not None]
    return DirectoryPerson(
        address=address,
        name=str(name.get("fullName")) if name.get("fullName") else None,
        department=department,
        manager=managers[0] if managers else None,
        active=not (item.get("suspended") or item.get("archived")),
        org_unit=str(item["orgUnitPath"]) if item.get("orgUnitPath") else None,
    )


def _hint(error: ProviderError, admin: str, customer: str) -> str:
    text = error.message
    if isinstance(error, AuthError) and "403" in text:
        return (
            f"{text} — the Directory API answers only to administrators: make directory.google.admin_subject "
            f"({admin}) a Workspace admin allowed to read users"
        )
    if isinstance(error, AuthError):
        return (
            f"{text} — in the Admin console, domain-wide delegation must grant the service account the scope "
            f"{SCOPE_USERS_READONLY}, and {admin} must be an active user"
        )
    if isinstance(error, PermanentError) and any(code in text for code in ("400", "404")):
        return f"{text} — check directory.google.customer ({customer!r}; my_customer means the admin's own account)"
    return text


@dataclass
class GoogleDirectoryReader:
    credentials: Credentials  # already delegated to the admin
    admin: str
    customer: str = "my_customer"
    api_endpoint: str | None = None
    page_size: int = 500
    timeout: float = 30.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    sleeper: Sleeper = time.sleep
    rng: random.Random = field(default_factory=random.Random)
    requests_made: int = 0

    def _service(self) -> Any:
        http = google_auth_httplib2.AuthorizedHttp(self.credentials, http=httplib2.Http(timeout=self.timeout))
        options = {"api_endpoint": self.api_endpoint} if self.api_endpoint else None
        return build_from_document(_discovery_document(), http=http, client_options=options)

    def _execute(self, request: Any, page: int) -> dict[str, Any]:
        def attempt() -> dict[str, Any]:
            self.requests_made += 1
            refused = f"Google refused the service account's token for {self.admin}"
            return execute_once(request, _LABEL, f"page {page}", refused=refused)

        return call_with_retries(
            attempt, policy=self.retry, sleeper=self.sleeper, rng=self.rng, describe=f"{_LABEL} page {page}"
        )

    def people(self) -> list[DirectoryPerson]:
        """Every user of the account, all pages; any failure raises (a partial listing is never used)."""
        try:
            users = self._service().users()
            request = users.list(
                customer=self.customer,
                maxResults=self.page_size,
                projection="full",
                viewType="admin_view",
                orderBy="email",
            )
            found: list[DirectoryPerson] = []
            bounds = ListingBounds(_LABEL)
            token: str | None = None
            while request is not None:
                bounds.next_page(token)
                page = bounds.pages
                reply = self._execute(request, page)
                items = reply.get("users") or []
                if not isinstance(items, list):
                    raise DirectoryError(SOURCE, f"page {page} of users.list is malformed (users is not a list)")
                found.extend(person for person in map(map_user, items) if person is not None)
                token = str(reply["nextPageToken"]) if reply.get("nextPageToken") else None
                request = users.list_next(request, reply)
        except ProviderError as exc:
            raise DirectoryError(SOURCE, _hint(exc, self.admin, self.customer)) from exc
        log.info("google directory: %d users in %d pages", len(found), bounds.pages)
        return found
