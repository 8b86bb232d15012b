"""The Entra ID directory slice the daemon reads: users, their managers and direct reports.

`GET /users` pages with an absolute `@odata.nextLink` carrying `$skiptoken` (default 100 rows,
`$top` up to 999), honours `$select` and `$expand=manager($select=…)`, and refuses unknown
properties the way Graph does.
"""

from __future__ import annotations

import base64
import re
import uuid
from dataclasses import dataclass
from typing import Any

from emulators.graph_model import GraphError

DEFAULT_SELECT = (
    "businessPhones",
    "displayName",
    "givenName",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
    "id",
)
EXTRA = ("department", "accountEnabled", "employeeId", "companyName", "mailNickname", "usageLocation")
_BY_FOLD = {p.casefold(): p for p in (*DEFAULT_SELECT, *EXTRA)}


@dataclass
class DirectoryUser:
    id: str
    mail: str
    display_name: str
    department: str | None = None
    job_title: str | None = None
    manager: str | None = None  # casefolded mail of the manager
    has_mailbox: bool = False
    account_enabled: bool = True  # false: sign-in blocked (someone who left, not yet deleted)

    def properties(self) -> dict[str, Any]:
        given, _, surname = self.display_name.partition(" ")
        return {
            "businessPhones": [],
            "displayName": self.display_name,
            "givenName": given or None,
            "jobTitle": self.job_title,
            "mail": self.mail,
            "mobilePhone": None,
            "officeLocation": None,
            "preferredLanguage": "en-US",
            "surname": surname or None,
            "userPrincipalName": self.mail,
            "id": self.id,
            "department": self.department,
            "accountEnabled": self.account_enabled,
            "employeeId": None,
            "companyName": None,
            "mailNickname": self.mail.split("@")[0],
            "usageLocation": "US",
        }


class Directory:
    def __init__(self) -> None:
        self.users: dict[str, DirectoryUser] = {}

    def add(
        self,
        address: str,
        display_name: str,
        *,
        manager: str | None = None,
        department: str | None = None,
        job_title: str | None = None,
    ) -> DirectoryUser:
        key = address.casefold()
        user = self.users.get(key)
        if user is None:
            user = DirectoryUser(str(uuid.uuid5(uuid.NAMESPACE_URL, f"mailto:{key}")), address, display_name)
            self.users[key] = user
        user.display_name = display_name or user.display_name
        user.manager = manager.casefold() if manager else user.manager
        user.department = department if department is not None else user.department
        user.job_title = job_title if job_title is not None else user.job_title
        return user

    def remove(self, address: str) -> None:
        """Deleted: gone from /users (and no longer anyone's manager)."""
        key = address.casefold()
        self.users.pop(key, None)
        for user in self.users.values():
            if user.manager == key:
                user.manager = None

    def set_manager(self, address: str, manager: str | None) -> None:
        self.find(address).manager = manager.casefold() if manager else None

    def find(self, ident: str) -> DirectoryUser:
        ident = ident.strip().strip("'").casefold()
        for user in self.users.values():
            if ident in (user.mail.casefold(), user.id):
                return user
        raise GraphError(
            404,
            "Request_ResourceNotFound",
            f"Resource '{ident}' does not exist or one of its queried reference-property objects are not present.",
        )

    def render(
        self,
        user: DirectoryUser,
        select: tuple[str, ...] | None,
        manager_select: tuple[str, ...] | None = None,
        expand_manager: bool = False,
    ) -> dict[str, Any]:
        props = user.properties()
        row = {k: props[k] for k in (select or DEFAULT_SELECT)}
        if expand_manager and user.manager and user.manager in self.users:
            boss = self.users[user.manager]
            boss_props = boss.properties()
            row["manager"] = {
                "@odata.type": "#microsoft.graph.user",
                **{k: boss_props[k] for k in (manager_select or DEFAULT_SELECT)},
            }
        return row

    def reports(self, user: DirectoryUser) -> list[DirectoryUser]:
        return [u for u in self.users.values() if u.manager == user.mail.casefold()]

    def manager_of(self, user: DirectoryUser) -> DirectoryUser:
        if user.manager and user.manager in self.users:
            return self.users[user.manager]
        raise GraphError(
            404,
            "Request_ResourceNotFound",
            "Resource 'manager' does not exist or one of its queried reference-property objects are not present.",
        )

    def listing(self, query: dict[str, str], base: str) -> dict[str, Any]:
        select = parse_select(query.get("$select"))
        expand = query.get("$expand")
        manager_select: tuple[str, ...] | None = None
        expand_manager = False
        if expand:
            match = re.fullmatch(r"\s*manager\s*(?:\(\s*\$select\s*=\s*([^)]*)\))?\s*", expand, re.I)
            if not match:
                raise GraphError(
                    400, "Request_BadRequest", f"Parsing OData Select and Expand failed: Could not expand '{expand}'."
                )
            expand_manager, manager_select = True, parse_select(match.group(1))
        users = sorted(self.users.values(), key=lambda u: u.id)
        users = [u for u in users if _matches(u, query.get("$filter"))]
        top = _int(query.get("$top"), 100)
        if not 1 <= top <= 999:
            raise GraphError(
                400,
                "Request_UnsupportedQuery",
                f"Invalid page size specified: '{top}'. Must be between 1 and 999 inclusive.",
            )
        offset = _offset(query.get("$skiptoken"))
        page = users[offset : offset + top]
        body: dict[str, Any] = {
            "@odata.context": f"{base}/v1.0/$metadata#users",
            "value": [self.render(u, select, manager_select, expand_manager) for u in page],
        }
        if offset + top < len(users):
            token = base64.urlsafe_b64encode(f"RFNwdAIAAQAAA{offset + top}".encode()).decode().rstrip("=")
            keep = {k: v for k, v in query.items() if k not in ("$skiptoken",)}
            params = "&".join(f"{k}={v}" for k, v in keep.items())
            body["@odata.nextLink"] = f"{base}/v1.0/users?{params + '&' if params else ''}$skiptoken={token}"
        return body


def parse_select(value: str | None) -> tuple[str, ...] | None:
    if not value:
        return None
    names = []
    for raw in value.split(","):
        known = _BY_FOLD.get(raw.strip().casefold())
        if known is None:
            raise GraphError(
                400,
                "Request_BadRequest",
                f"Could not find a property named '{raw.strip()}' on type 'microsoft.graph.user'.",
            )
        names.append(known)
    return tuple(names)


def _matches(user: DirectoryUser, expression: str | None) -> bool:
    if not expression:
        return True
    match = re.fullmatch(r"\s*(\w+)\s+eq\s+(?:'([^']*)'|(true|false))\s*", expression)
    if not match or match.group(1).casefold() not in _BY_FOLD:
        raise GraphError(
            400, "Request_UnsupportedQuery", f"Unsupported or invalid query filter clause specified: '{expression}'."
        )
    value = user.properties()[_BY_FOLD[match.group(1).casefold()]]
    wanted: Any = match.group(2) if match.group(2) is not None else match.group(3) == "true"
    return bool(value == wanted)


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError as exc:
        raise GraphError(400, "Request_BadRequest", f"Invalid value '{value}' for $top.") from exc


def _offset(token: str | None) -> int:
    if not token:
        return 0
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        return int(raw.removeprefix("RFNwdAIAAQAAA"))
    except ValueError as exc:
        raise GraphError(
            400,
            "Request_BadRequest",
            "The specified page token value has expired and can no longer be included in your request.",
        ) from exc
