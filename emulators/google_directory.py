"""The Admin SDK Directory API's `users.list`, as Google documents it, for the Google emulator.

`GET /admin/directory/v1/users?customer=my_customer&maxResults=&pageToken=&projection=&viewType=`
answers `{"kind": "admin#directory#users", "users": [...], "nextPageToken": ...}` (no `users` key
when there are none). It needs a token with an `admin.directory.user` scope (read-only is enough)
obtained by a service account impersonating an administrator: anyone else gets 403 "Not
Authorized to access this resource/api". `maxResults` is 1..500 (default 100); a deleted user is
not listed (only with `showDeleted=true`); suspended and archived users are, with their flags.
Seed with `add_user`, change with `set_manager`, `suspend`, `archive`, `remove_user`.
"""

from __future__ import annotations

import base64
import hashlib
import threading
from dataclasses import dataclass, field
from typing import Any

from emulators.google_auth import TokenService
from emulators.google_errors import GoogleApiError, bad_request, not_found
from emulators.http import Reply, Request

PREFIX = "/admin/directory/v1/"
_SCOPE = "https://www.googleapis.com/auth/admin.directory.user"
USER_SCOPES = frozenset({_SCOPE, f"{_SCOPE}.readonly", "https://www.googleapis.com/auth/cloud-platform"})
CUSTOMER_ID = "C01emu1ator"
_KNOWN = frozenset(
    {"customer", "domain", "maxResults", "pageToken", "projection", "viewType", "orderBy", "sortOrder", "showDeleted"}
)
_TOLERATED = frozenset({"alt", "fields", "prettyPrint", "quotaUser", "customFieldMask", "event", "query"})


@dataclass
class DirectoryUser:
    address: str
    full_name: str
    manager: str | None = None
    department: str | None = None
    org_unit: str = "/"
    is_admin: bool = False
    suspended: bool = False
    archived: bool = False
    deleted: bool = False
    user_id: str = field(default="")

    def render(self) -> dict[str, Any]:
        given, _, family = self.full_name.partition(" ")
        body: dict[str, Any] = {
            "kind": "admin#directory#user",
            "id": self.user_id,
            "etag": '"' + hashlib.sha256(repr(self).encode()).hexdigest()[:27] + '"',
            "primaryEmail": self.address,
            "name": {"givenName": given, "familyName": family or given, "fullName": self.full_name},
            "isAdmin": self.is_admin,
            "isDelegatedAdmin": False,
            "agreedToTerms": True,
            "suspended": self.suspended,
            "archived": self.archived,
            "changePasswordAtNextLogin": False,
            "ipWhitelisted": False,
            "emails": [{"address": self.address, "primary": True}],
            "customerId": CUSTOMER_ID,
            "orgUnitPath": self.org_unit,
            "isMailboxSetup": True,
            "includeInGlobalAddressList": True,
        }
        if self.suspended:
            body["suspensionReason"] = "ADMIN"
        if self.manager:
            body["relations"] = [{"value": self.manager, "type": "manager"}]
        if self.department:
            body["organizations"] = [{"department": self.department, "primary": True, "customType": ""}]
        return body


def user_id_for(address: str) -> str:
    """The numeric id Google gives a user (stable per address here); Meet names participants by it."""
    return str(10**20 + int(hashlib.sha256(address.lower().encode()).hexdigest()[:15], 16))


class GoogleDirectory:
    """The users of one Workspace account; thread-safe."""

    def __init__(self, tokens: TokenService) -> None:
        self.tokens = tokens
        self.users: dict[str, DirectoryUser] = {}
        self.requests = 0
        self._lock = threading.Lock()

    # -- seeding, as an admin in the Admin console ------------------------------------------------
    def add_user(
        self,
        address: str,
        full_name: str,
        manager: str | None = None,
        department: str | None = None,
        org_unit: str = "/",
        *,
        admin: bool = False,
    ) -> str:
        key = address.lower()
        user_id = user_id_for(key)
        with self._lock:
            self.users[key] = DirectoryUser(
                key, full_name, manager.lower() if manager else None, department, org_unit, admin, user_id=user_id
            )
        return user_id

    def _user(self, address: str) -> DirectoryUser:
        user = self.users.get(address.lower())
        if user is None:
            raise KeyError(f"no directory user {address}")
        return user

    def set_manager(self, address: str, manager: str | None) -> None:
        with self._lock:
            self._user(address).manager = manager.lower() if manager else None

    def set_department(self, address: str, department: str | None) -> None:
        with self._lock:
            self._user(address).department = department

    def suspend(self, address: str, suspended: bool = True) -> None:
        with self._lock:
            self._user(address).suspended = suspended

    def archive(self, address: str, archived: bool = True) -> None:
        with self._lock:
            self._user(address).archived = archived

    def remove_user(self, address: str) -> None:
        """Deleted in the Admin console: gone from users.list (listed only with showDeleted=true)."""
        with self._lock:
            self._user(address).deleted = True

    def knows(self, address: str) -> bool:
        user = self.users.get(address.lower())
        return user is not None and not user.deleted and not user.suspended

    # -- the API ------------------------------------------------------------------------------------
    def handle(self, request: Request) -> Reply:
        try:
            principal = self.tokens.authenticate(request.header("authorization"))
            if not principal.scopes & USER_SCOPES:
                raise GoogleApiError(403, "insufficientPermissions", "Request had insufficient authentication scopes.")
            if request.path.startswith(PREFIX + "users/") and request.param("viewType") == "domain_public":
                return self._get_public(request, principal.subject)
            admin = self.users.get(principal.subject)
            if admin is None or not admin.is_admin or admin.deleted or admin.suspended:
                raise GoogleApiError(403, "forbidden", "Not Authorized to access this resource/api")
            if request.path.rstrip("/") != PREFIX + "users":
                raise not_found()
            if request.method != "GET":
                raise GoogleApiError(405, "methodNotAllowed")
            with self._lock:
                self.requests += 1
                return Reply.json(200, self._list(request))
        except GoogleApiError as exc:
            return exc.reply()

    def _get_public(self, request: Request, subject: str) -> Reply:
        """`users.get` with `viewType=domain_public`: any user of the domain may read another's public profile."""
        if request.method != "GET":
            raise GoogleApiError(405, "methodNotAllowed")
        key = request.path[len(PREFIX + "users/") :].strip("/").lower()
        with self._lock:
            self.requests += 1
            user = self.users.get(key) or next((u for u in self.users.values() if u.user_id == key), None)
            if user is None or user.deleted or user.address.rpartition("@")[2] != subject.rpartition("@")[2]:
                raise GoogleApiError(404, "notFound", "Resource Not Found: userKey")
            full = user.render()
            public = {k: full[k] for k in ("kind", "id", "etag", "primaryEmail", "name", "emails")}
            return Reply.json(200, public)

    def _list(self, request: Request) -> dict[str, Any]:
        unknown = set(request.query) - _KNOWN - _TOLERATED
        if unknown:
            raise bad_request(f"Unknown parameter: {sorted(unknown)[0]}")
        if request.param("query") or request.param("event"):
            raise bad_request("The emulator does not implement query or event")
        customer, domain = request.param("customer"), request.param("domain")
        if not customer and not domain:
            raise GoogleApiError(400, "badRequest", "Bad Request")
        if customer and customer not in ("my_customer", CUSTOMER_ID):
            raise GoogleApiError(400, "badRequest", "Bad Request")
        try:
            size = int(request.param("maxResults") or "100")
        except ValueError:
            raise bad_request("Invalid value for: maxResults") from None
        if not 1 <= size <= 500:
            raise bad_request(f"Invalid value '{size}'. Values must be within the range: [1, 500]")
        if request.param("projection", "basic") not in ("basic", "custom", "full"):
            raise bad_request("Invalid value for: projection")
        if request.param("viewType", "admin_view") not in ("admin_view", "domain_public"):
            raise bad_request("Invalid value for: viewType")
        deleted = (request.param("showDeleted") or "false").lower() == "true"
        listed = (u for u in self.users.values() if u.deleted == deleted)
        users = sorted((u for u in listed if not domain or u.address.endswith("@" + domain)), key=lambda u: u.address)
        if request.param("sortOrder", "ASCENDING") == "DESCENDING":
            users.reverse()
        offset = _offset(request.param("pageToken"))
        page = users[offset : offset + size]
        body: dict[str, Any] = {"kind": "admin#directory#users", "etag": f'"{len(users)}-{offset}"'}
        if page:
            body["users"] = [u.render() for u in page]
        if offset + size < len(users):
            body["nextPageToken"] = base64.urlsafe_b64encode(f"emu-users:{offset + size}".encode()).decode()
        return body


def _offset(token: str | None) -> int:
    if not token:
        return 0
    try:
        kind, _, value = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
        if kind != "emu-users":
            raise ValueError(kind)
        return int(value)
    except ValueError:
        raise bad_request("Invalid pageToken") from None
