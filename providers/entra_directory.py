"""Entra ID's directory through Microsoft Graph: `GET /users` with each user's manager expanded.

Reuses the calendars' `GraphClient` (msal client credentials, explicit `verify=`, retries); the app
needs the application permission User.Read.All. Pages are followed through `@odata.nextLink`, which
must stay on the configured Graph endpoint (the token is never sent elsewhere). Accounts with
sign-in disabled are people who left; deleted accounts are simply not listed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from providers.base import AuthError, ProviderError
from providers.deadline import ListingBounds
from providers.directory import DirectoryError, DirectoryPerson
from providers.outlook_http import GraphClient
from rules.address import address_or_none

log = logging.getLogger(__name__)

SOURCE = "entra"
_LABEL = "entra-directory"  # names the requests (and their concurrency slot) in the client's logs
USER_FIELDS = "id,displayName,mail,userPrincipalName,department,accountEnabled"
MANAGER_FIELDS = "id,mail,userPrincipalName"


def _address(item: dict[str, Any]) -> str | None:
    for key in ("mail", "userPrincipalName"):
        address = address_or_none(item.get(key))
        if address is not None:
            return address
    return None


def map_user(item: Any) -> DirectoryPerson | None:
    if not isinstance(item, dict):
        return None
    address = _address(item)
    if address is None:
        return None
    manager = item.get("manager")
    department = item.get("department")
    name = item.get("displayName")
    return DirectoryPerson(
        address=address,
        name=name if isinstance(name, str) else None,
        department=department if isinstance(department, str) and department else None,
        manager=_address(manager) if isinstance(manager, dict) else None,
        active=item.get("accountEnabled") is not False,
    )


@dataclass
class EntraDirectoryReader:
    client: GraphClient
    page_size: int = 999

    def people(self) -> list[DirectoryPerson]:
        """Every user, all pages; any failure raises (a partial listing is never used)."""
        base = self.client.graph_endpoint
        url: str | None = f"{base}/users"
        params: dict[str, str] | None = {
            "$select": USER_FIELDS,
            "$expand": f"manager($select={MANAGER_FIELDS})",
            "$top": str(self.page_size),
        }
        found: list[DirectoryPerson] = []
        bounds = ListingBounds(_LABEL)
        page = 0
        try:
            while url is not None:
                bounds.next_page(None if params is not None else url)
                page = bounds.pages
                reply = self.client.call(_LABEL, "GET", url, what=f"list users page {page}", params=params)
                items = reply.body.get("value")
                if not isinstance(items, list):
                    raise DirectoryError(SOURCE, f"page {page} of /users is malformed (no value list)")
                found.extend(person for person in map(map_user, items) if person is not None)
                following = reply.body.get("@odata.nextLink")
                if following is not None and (not isinstance(following, str) or not following.startswith(base + "/")):
                    raise DirectoryError(SOURCE, f"page {page}: @odata.nextLink leaves {base}; refusing to follow it")
                url, params = following, None
        except AuthError as exc:
            raise DirectoryError(
                SOURCE,
                f"Graph refused to list users ({exc.message}) — the app needs the Microsoft Graph application "
                "permission User.Read.All with admin consent",
            ) from exc
        except ProviderError as exc:
            raise DirectoryError(SOURCE, f"Graph could not list users: {exc.message}") from exc
        log.info("entra directory: %d users in %d pages", len(found), page)
        return found
