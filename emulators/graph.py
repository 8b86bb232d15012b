"""A local Microsoft Graph v1.0 (calendar, delta, subscriptions, sendMail, users) plus the
Microsoft identity platform token endpoint, served over HTTPS with a throw-away test CA.

It follows Microsoft's documented behaviour where the docs are clear and exposes switches where
they are not (sparse delta occurrences, `@removed` for cancelled occurrences), so the daemon is
tested against Graph's strictness rather than an emulator's convenience. Tests drive it with the
real msal and requests; seeding goes through the Python methods, which share the store with HTTP.
"""

from __future__ import annotations

import re
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from emulators import graph_http as gh
from emulators.graph_attendance import Attendance
from emulators.graph_delta import DeltaEngine, DeltaOptions
from emulators.graph_directory import Directory
from emulators.graph_identity import Grant, Identity
from emulators.graph_model import (
    GraphError,
    Mailbox,
    cancelled_occurrences,
    exception_views,
    instances,
    master_view,
    occurrence_id,
)
from emulators.graph_render import RenderOptions, render
from emulators.graph_routes import directory_route, require, subscriptions_route, user_route
from emulators.graph_signin import EntraSignIn
from emulators.graph_state import GraphStore, MeetingUpdate, utc_now
from emulators.graph_subscriptions import Delivery, Subscriptions
from emulators.http import EmulatorServer, Fault, Reply, Request
from emulators.tls import TestCA, ca_file_in

_THROTTLE_BODIES = {
    429: ("ApplicationThrottled", "Application is over its MailboxConcurrency limit."),
    503: ("ErrorServerBusy", "The server cannot service this request right now. Try again later."),
}


@dataclass
class _Throttle:
    times: int
    retry_after: int
    status: int
    mailbox: str | None


class GraphEmulator:
    """Graph + identity emulator; see the module docstring. Use as a context manager."""

    def __init__(
        self,
        *,
        clock: Callable[[], datetime] | None = None,
        tenant_id: str = "contoso-tenant",
        ca_dir: Path | None = None,
        concurrency_limit: int | None = 4,
        sparse_occurrences: bool = True,
        removed_for_cancelled_occurrence: bool = True,
    ) -> None:
        self._clock = clock or utc_now
        self.tenant_id = tenant_id
        self.ca = TestCA()
        self.ca_pem: Path = ca_file_in(ca_dir, self.ca)
        self._own_ca_dir = self.ca_pem.parent if ca_dir is None else None  # removed again by stop()
        self.store = GraphStore(self.now)
        self.identity = Identity(tenant_id, self.now)
        self.delta = DeltaEngine(self.store, DeltaOptions(sparse_occurrences, removed_for_cancelled_occurrence))
        self.directory = Directory()
        self.attendance = Attendance(self._person, self._online_meetings)  # Teams attendance (graph_attendance.py)
        self.identity.sign_in = EntraSignIn(
            lambda: f"{self.base_url}/{self.identity.tenant_guid}/v2.0",
            self.identity.tenant_guid,
            self.now,
            lambda: self.directory.users,
        )
        self.subscriptions = Subscriptions(self.store, self.identity.tenant_guid, lambda: self.base_url)
        self.store.listeners.append(self.subscriptions.on_change)
        self.sent_mail: list[dict[str, Any]] = []
        self.concurrency_limit = concurrency_limit
        self.request_delay = 0.0  # seconds each mailbox request holds its concurrency slot
        self._throttles: list[_Throttle] = []
        self._inflight: dict[str, int] = {}
        self._lock = threading.Lock()
        self.server = EmulatorServer(
            self.handle, ssl_context=self.ca.server_context(), server_name="Microsoft-IIS/10.0"
        )
        self.identity.base_url = self.base_url

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> str:
        self.subscriptions.start()
        return self.server.start()

    def stop(self) -> None:
        self.server.stop()
        self.subscriptions.stop()
        if self._own_ca_dir is not None:
            shutil.rmtree(self._own_ca_dir, ignore_errors=True)

    def __enter__(self) -> GraphEmulator:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def now(self) -> datetime:
        moment = self._clock()
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)

    @property
    def base_url(self) -> str:
        return self.server.base_url

    @property
    def authority(self) -> str:
        return f"{self.base_url}/{self.tenant_id}"

    @property
    def graph_endpoint(self) -> str:
        return f"{self.base_url}/v1.0"

    @property
    def sparse_occurrences(self) -> bool:
        return self.delta.options.sparse_occurrences

    @sparse_occurrences.setter
    def sparse_occurrences(self, value: bool) -> None:
        self.delta.options.sparse_occurrences = value

    @property
    def removed_for_cancelled_occurrence(self) -> bool:
        return self.delta.options.removed_for_cancelled_occurrence

    @removed_for_cancelled_occurrence.setter
    def removed_for_cancelled_occurrence(self, value: bool) -> None:
        self.delta.options.removed_for_cancelled_occurrence = value

    # -- seeding and acting as Outlook users ----------------------------------------------------
    def add_app(
        self,
        client_id: str,
        client_secret: str | None = None,
        *,
        certificate: str | bytes | None = None,
        roles: tuple[str, ...] | None = None,
    ) -> None:
        """Register an app for the client-credentials grant (secret and/or certificate)."""
        self.identity.add_app(client_id, client_secret, roles)
        if certificate is not None:
            self.identity.add_certificate(client_id, certificate)

    def add_mailbox(self, address: str, time_zone: str = "UTC", display_name: str | None = None) -> str:
        """Create a mailbox (IANA or Windows zone); returns its user id (a GUID)."""
        user = self.directory.users.get(address.casefold())
        box = self.store.add_mailbox(address, time_zone, display_name or (user.display_name if user else None))
        self.directory.add(address, box.name).has_mailbox = True
        return box.user_id

    def add_user(
        self,
        address: str,
        display_name: str,
        manager: str | None = None,
        department: str | None = None,
        job_title: str | None = None,
    ) -> str:
        """A directory user (no mailbox unless `add_mailbox` is also called); returns its id."""
        user = self.directory.add(address, display_name, manager=manager, department=department, job_title=job_title)
        box = self.store.find_mailbox(address)
        if box is not None:
            box.name = display_name
        return user.id

    def set_manager(self, address: str, manager: str | None) -> None:
        """An admin changes who the user reports to (None removes the manager)."""
        self.directory.set_manager(address, manager)

    def disable_user(self, address: str, disabled: bool = True) -> None:
        """Block (or unblock) sign-in: `accountEnabled` false, as for someone on their way out."""
        self.directory.find(address).account_enabled = not disabled

    def remove_user(self, address: str) -> None:
        """Delete the user from the directory (their mailbox, if any, stays for the calendar tests)."""
        self.directory.remove(address)

    def set_working_hours(self, mailbox: str, start: str, end: str, days: tuple[str, ...] | None = None) -> None:
        """The mailbox's working hours ("09:00" to "17:00"), as mailboxSettings and getSchedule report them."""
        box = self.store.mailbox(mailbox)
        box.working_hours = (f"{start}:00.0000000", f"{end}:00.0000000", days or box.working_hours[2])

    def create_event(self, mailbox: str, body: dict[str, Any]) -> dict[str, Any]:
        copy = self.store.create(self.store.mailbox(mailbox), body)
        with self.store.lock:
            return render(master_view(copy), RenderOptions(by_id=True))

    def update_event(self, mailbox: str, event_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        view = self.store.update(self.store.mailbox(mailbox), event_id, changes)
        with self.store.lock:
            return render(view, RenderOptions(by_id=True))

    def cancel_occurrence(self, mailbox: str, event_id: str) -> None:
        self.store.cancel(self.store.mailbox(mailbox), event_id)

    def delete_event(self, mailbox: str, event_id: str) -> None:
        self.store.delete(self.store.mailbox(mailbox), event_id)

    def respond(self, mailbox: str, event_id: str, response: str) -> None:
        self.store.respond(self.store.mailbox(mailbox), event_id, response)

    def occurrence_id(self, mailbox: str, master_id: str, original_start: datetime) -> str:
        """The id of the occurrence created for `original_start` (an aware datetime)."""
        box = self.store.mailbox(mailbox)
        with self.store.lock:
            copy, original = self.store.resolve(box, master_id)
            when = original_start.astimezone(UTC)
            if original is not None or not (copy.meeting.is_original_start(when) or when in copy.meeting.overrides):
                raise ValueError(f"{original_start} is not an occurrence of {master_id}")
            return occurrence_id(copy.key, when)

    def get_event(self, mailbox: str, event_id: str) -> dict[str, Any]:
        with self.store.lock:
            return render(self.store.view(self.store.mailbox(mailbox), event_id), RenderOptions(by_id=True))

    def instances(self, mailbox: str, master_id: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
        with self.store.lock:
            view = self.store.view(self.store.mailbox(mailbox), master_id)
            return [
                render(v, RenderOptions()) for v in instances(view.copy, start.astimezone(UTC), end.astimezone(UTC))
            ]

    def events(self, mailbox: str) -> list[dict[str, Any]]:
        """Stored singles and series masters, masters with cancelledOccurrences and exceptionOccurrences."""
        box = self.store.mailbox(mailbox)
        with self.store.lock:
            rows = []
            for copy in self.store.copies(box):
                row = render(master_view(copy), RenderOptions(by_id=True))
                if copy.is_series:
                    row["cancelledOccurrences"] = cancelled_occurrences(copy)
                    row["exceptionOccurrences"] = [render(v, RenderOptions()) for v in exception_views(copy)]
                rows.append(row)
            return rows

    @property
    def meeting_updates(self) -> list[MeetingUpdate]:
        return self.store.meeting_updates

    # -- faults and state tokens -------------------------------------------------------------------
    def invalidate_delta_tokens(self, mailbox: str | None = None) -> None:
        self.delta.invalidate(mailbox)

    def throttle(self, *, times: int = 1, retry_after: int = 2, status: int = 429, mailbox: str | None = None) -> None:
        """Answer the next `times` Graph calls (to `mailbox`, or any) with `status` and Retry-After."""
        with self._lock:
            self._throttles.append(_Throttle(times, retry_after, status, mailbox.casefold() if mailbox else None))

    def expire_tokens(self) -> None:
        self.identity.expire_tokens()

    def fail_token_requests(self, *, times: int = 1, status: int = 503, retry_after: int | None = None) -> None:
        """Answer the next token requests with an AAD error (msal replays 429/5xx/Retry-After ones)."""
        error, code = (
            ("temporarily_unavailable", 50196) if status >= 500 or status == 429 else ("invalid_request", 90014)
        )
        body = {
            "error": error,
            "error_description": f"AADSTS{code}: The server is temporarily unavailable.",
            "error_codes": [code],
        }
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        reply = Reply.json(status, body, headers)
        self.server.faults.add(Fault(reply, times=times, method="POST", path=r"/oauth2/v2\.0/token$"))

    # -- subscriptions -------------------------------------------------------------------------------
    def emit_lifecycle(self, subscription_id: str, event: str) -> int:
        return self.subscriptions.emit_lifecycle(subscription_id, event)

    def wait_for_notifications(self, timeout: float = 5.0) -> bool:
        return self.subscriptions.wait_idle(timeout)

    @property
    def deliveries(self) -> list[Delivery]:
        return list(self.subscriptions.deliveries)

    # -- HTTP --------------------------------------------------------------------------------------
    def handle(self, request: Request) -> Reply:
        try:
            return self._route(request)
        except GraphError as err:
            return gh.graph_error(err, request)

    def _route(self, request: Request) -> Reply:
        parts = [p for p in request.path.split("/") if p]
        if parts[:1] == ["v1.0"]:
            return self._graph(request, parts[1:])
        if parts == ["common", "discovery", "instance"]:
            return Reply.json(200, self.identity.instance_discovery(request))
        if len(parts) >= 2:
            tenant, rest = parts[0], [p.casefold() for p in parts[1:]]
            if rest == ["oauth2", "v2.0", "token"] and request.method == "POST":
                return self.identity.token(tenant, request)
            if rest in (["v2.0", ".well-known", "openid-configuration"], [".well-known", "openid-configuration"]):
                if not self.identity.knows_tenant(tenant):
                    return Reply.json(
                        400,
                        {"error": "invalid_tenant", "error_description": f"AADSTS90002: Tenant '{tenant}' not found."},
                    )
                return Reply.json(200, self.identity.openid_configuration(tenant))
            if rest == ["oauth2", "v2.0", "authorize"] and request.method == "GET" and self.identity.sign_in:
                if not self.identity.knows_tenant(tenant):
                    return Reply.json(400, {"error": "invalid_tenant", "error_description": "AADSTS90002"})
                return self.identity.sign_in.authorize(request, f"{self.base_url}/{tenant}/oauth2/v2.0/authorize")
            if rest == ["discovery", "v2.0", "keys"] and self.identity.sign_in:
                return self.identity.sign_in.jwks()
        return Reply.json(404, {"error": "not_found", "error_description": f"No route for {request.path}"})

    def _graph(self, request: Request, rest: list[str]) -> Reply:
        grant = self.identity.check(request.header("authorization"))
        match = re.fullmatch(r"users\('([^']+)'\)", rest[0]) if rest else None
        if match:
            rest = ["users", match.group(1), *rest[1:]]
        head = rest[0].casefold() if rest else ""
        if head == "me":
            raise GraphError(400, "BadRequest", "/me request is only valid with delegated authentication flow.")
        if head == "subscriptions":
            self._injected(None)
            return subscriptions_route(self, request, grant, rest[1:])
        if head != "users":
            raise GraphError(400, "BadRequest", f"Resource not found for the segment '{rest[0] if rest else ''}'.")
        if len(rest) == 1 or (len(rest) >= 3 and rest[2].casefold() in ("manager", "directreports")) or len(rest) == 2:
            require(grant, "User.Read.All", "User.ReadWrite.All", "Directory.Read.All")
            self._injected(None)
            return directory_route(self, request, rest[1:])
        if len(rest) >= 3 and rest[2].casefold() == "onlinemeetings":
            return self.attendance.route(self.base_url, grant, request, rest[1], rest[3:])
        box = self.store.find_mailbox(rest[1])
        if box is None:
            if rest[1].casefold() in self.directory.users:
                raise GraphError(
                    404,
                    "MailboxNotEnabledForRESTAPI",
                    "The mailbox is either inactive, soft-deleted, or is hosted on-premise.",
                )
            raise GraphError(404, "ErrorInvalidUser", f"The requested user '{rest[1]}' is invalid.")
        self._authorize(grant, request, rest[2].casefold())
        self._injected(box)
        with self._slot(box):
            if self.request_delay:
                time.sleep(self.request_delay)
            return user_route(self, request, box, rest[1], rest[2:])

    def _person(self, ident: str) -> tuple[str, str] | None:
        user = next((u for u in self.directory.users.values() if ident.casefold() in (u.mail.casefold(), u.id)), None)
        return (user.mail, user.id) if user is not None else None

    def _online_meetings(self, organizer: str) -> list[tuple[str, str]]:
        """(join URL, subject) of the Teams meetings this person organized through their calendar."""
        box = self.store.find_mailbox(organizer)
        with self.store.lock:
            copies = self.store.copies(box) if box is not None else []
            online = [
                (c.meeting.fields.get("onlineMeeting"), c.meeting.fields["subject"]) for c in copies if c.is_organizer
            ]
        return [(str(o["joinUrl"]), subject) for o, subject in online if isinstance(o, dict) and o.get("joinUrl")]

    def _authorize(self, grant: Grant, request: Request, head: str) -> None:
        if head == "sendmail":
            require(grant, "Mail.Send")
        elif head == "mailboxsettings":
            require(grant, "MailboxSettings.Read", "MailboxSettings.ReadWrite")
        elif request.method == "GET" or request.path.casefold().endswith("/calendar/getschedule"):
            require(grant, "Calendars.Read", "Calendars.ReadWrite", "Calendars.ReadBasic")
        else:
            require(grant, "Calendars.ReadWrite")

    def _injected(self, box: Mailbox | None) -> None:
        with self._lock:
            for rule in self._throttles:
                if rule.times > 0 and (
                    rule.mailbox is None or (box is not None and rule.mailbox == box.address.casefold())
                ):
                    rule.times -= 1
                    code, message = _THROTTLE_BODIES.get(rule.status, ("UnknownError", "An unexpected error occurred."))
                    raise GraphError(rule.status, code, message, {"Retry-After": str(rule.retry_after)})

    @contextmanager
    def _slot(self, box: Mailbox) -> Iterator[None]:
        """Outlook's per-mailbox concurrency limit: the 5th simultaneous request gets 429."""
        key = box.address.casefold()
        with self._lock:
            busy = self._inflight.get(key, 0)
            if self.concurrency_limit is not None and busy >= self.concurrency_limit:
                raise GraphError(
                    429,
                    "ApplicationThrottled",
                    "Application is over its MailboxConcurrency limit.",
                    {"Retry-After": "1"},
                )
            self._inflight[key] = busy + 1
        try:
            yield
        finally:
            with self._lock:
                self._inflight[key] -= 1
