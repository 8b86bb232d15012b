"""A local emulator of the Google Calendar API v3 and Google's OAuth token endpoint.

Built to Google's documented behaviour, because the daemon is also checked against independent
stand-ins written from the same documentation: sync tokens and paging, the singleEvents ×
showDeleted matrix, per-calendar copies of meetings, organizer-only edits, PATCH semantics,
etags, push channels and Google-shaped errors. Tests drive it with the real googleapiclient
over HTTP, and seed or act "as a user in the Calendar UI" through the Python methods below,
which touch state directly (no HTTP) so seeding thousands of events stays fast.

    with GoogleCalendarEmulator(clock=clock) as emu:
        emu.add_calendar("alice@example.com", "Europe/Berlin")
        creds = service_account.Credentials.from_service_account_info(
            emu.service_account_info(), scopes=[...]).with_subject("alice@example.com")
        service = build("calendar", "v3", credentials=creds, static_discovery=True,
                        cache_discovery=False, client_options={"api_endpoint": emu.api_endpoint})
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any

from emulators.google_api import CalendarApi
from emulators.google_auth import GoogleSignIn, TokenService
from emulators.google_directory import PREFIX as DIRECTORY_PREFIX
from emulators.google_directory import GoogleDirectory, user_id_for
from emulators.google_errors import GoogleApiError, error_reply, not_found
from emulators.google_listing import Pager
from emulators.google_meet import PREFIX as MEET_PREFIX
from emulators.google_meet import GoogleMeet
from emulators.google_push import Channel, Delivery, PushHub
from emulators.google_render import render, render_instance
from emulators.google_state import GoogleState
from emulators.google_time import zone
from emulators.google_writes import delete, insert, respond, split, update
from emulators.http import EmulatorServer, Fault, Reply, Request

__all__ = ["GoogleApiError", "GoogleCalendarEmulator"]

_DEFAULT_REASONS = {
    400: "badRequest",
    401: "authError",
    403: "rateLimitExceeded",
    404: "notFound",
    409: "duplicate",
    410: "fullSyncRequired",
    412: "conditionNotMet",
    429: "rateLimitExceeded",
    500: "backendError",
    502: "backendError",
    503: "backendError",
    504: "backendError",
}


def _utcnow() -> datetime:
    return datetime.now(UTC)


class GoogleCalendarEmulator:
    """Calendar API v3 + token endpoint on 127.0.0.1 (port 0), with a Python side door for tests."""

    def __init__(self, *, clock: Callable[[], datetime] | None = None) -> None:
        self.clock = clock or _utcnow
        self.state = GoogleState(self.clock)
        self.tokens = TokenService(known_user=self._knows)
        self.directory = GoogleDirectory(self.tokens)  # Admin SDK users.list (emulators/google_directory.py)
        self.meet = GoogleMeet(self.tokens, user_id_for)  # Meet REST API v2 conference records (google_meet.py)
        self.push = PushHub(self.clock)
        self.state.on_change = self.push.notify
        self.api = CalendarApi(self.state, self.tokens, self.push, Pager())
        self.server = EmulatorServer(self._handle, server_name="google-calendar-emulator")
        self.sign_in = GoogleSignIn(lambda: self.base_url, self.clock, self._knows)
        self.tokens.sign_in = self.sign_in
        self._started = False

    def _handle(self, request: Request) -> Reply:
        if request.path in GoogleSignIn.PATHS:
            return self.sign_in.handle(request)
        if request.path.startswith(DIRECTORY_PREFIX):
            return self.directory.handle(request)
        if request.path.startswith(MEET_PREFIX):
            return self.meet.handle(request)
        return self.api.handle(request)

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> str:
        self._started = True
        return self.server.start()

    def stop(self) -> None:
        if self._started:  # shutting down a server that never served would block forever
            self.server.stop()
            self._started = False
        self.push.close()

    def __enter__(self) -> GoogleCalendarEmulator:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return self.server.base_url

    @property
    def api_endpoint(self) -> str:
        return f"{self.base_url}/calendar/v3/"

    @property
    def token_uri(self) -> str:
        return f"{self.base_url}/token"

    # -- identity --------------------------------------------------------------------------
    def service_account_info(self) -> dict[str, str]:
        """A service-account key (real RSA, generated once) usable with domain-wide delegation."""
        return self.tokens.service_account_info(self.token_uri)

    def add_web_client(self, client_id: str, client_secret: str, redirect_uris: tuple[str, ...]) -> None:
        """An OAuth client of type "Web application" for Sign in with Google (emulators/oidc.py)."""
        self.sign_in.provider.register(client_id, client_secret, redirect_uris)

    def _knows(self, user: str) -> bool:
        return user in self.state.calendars or self.directory.knows(user)

    def mint_refresh_token(self, user: str, scopes: list[str] | None = None) -> dict[str, str]:
        """client_id, client_secret, refresh_token and token_uri for a user's OAuth consent."""
        granted = scopes or ["https://www.googleapis.com/auth/calendar.events"]
        return {**self.tokens.mint_refresh_token(user, granted), "token_uri": self.token_uri}

    def revoke(self, subject: str) -> None:
        """Grants for `subject` now fail with 400 invalid_grant; their access tokens get 401."""
        self.tokens.revoke(subject)

    def restore(self, subject: str) -> None:
        self.tokens.restore(subject)

    def expire_access_tokens(self, subject: str | None = None) -> None:
        """Make issued access tokens answer 401, as after their expiry (clients refresh)."""
        self.tokens.expire_access_tokens(subject)

    # -- knobs -----------------------------------------------------------------------------
    @property
    def page_size_override(self) -> int | None:
        return self.state.settings.page_size_override

    @page_size_override.setter
    def page_size_override(self, value: int | None) -> None:
        self.state.settings.page_size_override = value

    @property
    def empty_page_every(self) -> int:
        return self.state.settings.empty_page_every

    @empty_page_every.setter
    def empty_page_every(self, value: int) -> None:
        self.state.settings.empty_page_every = value

    @property
    def expansion_horizon(self) -> timedelta:
        return self.state.settings.expansion_horizon

    @expansion_horizon.setter
    def expansion_horizon(self, value: timedelta) -> None:
        self.state.settings.expansion_horizon = value

    @property
    def send_updates(self) -> list[tuple[str, str, str | None]]:
        """(method, event id, sendUpdates) for every API write, in order."""
        with self.state.lock:
            return list(self.state.send_updates)

    @property
    def deliveries(self) -> list[Delivery]:
        return list(self.push.deliveries)

    def channels(self) -> list[Channel]:
        return self.push.channels()

    def inject(
        self,
        *,
        status: int,
        reason: str | None = None,
        times: int = 1,
        path: str | None = None,
        method: str | None = None,
        retry_after: float | None = None,
        delay: float = 0.0,
        message: str | None = None,
    ) -> Fault:
        """Answer the next `times` matching requests with a Google-shaped error."""
        reply = error_reply(
            status, reason or _DEFAULT_REASONS.get(status, "backendError"), message, retry_after=retry_after
        )
        return self.server.faults.add(Fault(reply=reply, times=times, method=method, path=path, delay=delay))

    # -- acting as users in the Calendar UI ------------------------------------------------
    def add_calendar(self, owner: str, time_zone: str = "UTC") -> None:
        """`owner`'s primary calendar; its id is the owner's address."""
        zone(time_zone)
        self.state.add_calendar(owner, time_zone)

    def insert_event(self, calendar_id: str, body: dict[str, Any], *, event_id: str | None = None) -> dict[str, Any]:
        """The calendar's owner creates an event (and so organizes it); guests here get copies."""
        with self.state.operation():
            copy = insert(self.state, self.state.calendar(calendar_id), body, event_id=event_id, api=False)
            return render(copy)

    def patch_event(self, calendar_id: str, event_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """PATCH as the owner; an instance id edits (or moves) that one occurrence."""
        with self.state.operation():
            copy = update(
                self.state,
                self.state.calendar(calendar_id),
                event_id,
                body,
                patch=True,
                supports_attachments=True,
                if_match=None,
            )
            return render(copy)

    def update_event(self, calendar_id: str, event_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """PUT (full replacement) as the owner."""
        with self.state.operation():
            copy = update(
                self.state,
                self.state.calendar(calendar_id),
                event_id,
                body,
                patch=False,
                supports_attachments=True,
                if_match=None,
            )
            return render(copy)

    def delete_event(self, calendar_id: str, event_id: str) -> None:
        """Organizer: delete the event / cancel one occurrence. Guest: decline and remove their copy."""
        with self.state.operation():
            delete(self.state, self.state.calendar(calendar_id), event_id, if_match=None, api=False)

    def respond(self, calendar_id: str, event_id: str, response: str) -> None:
        """The owner of `calendar_id`, a guest, answers accepted|declined|tentative|needsAction."""
        with self.state.operation():
            respond(self.state, self.state.calendar(calendar_id), event_id, response)

    def split_series(
        self, calendar_id: str, event_id: str, at: datetime, changes: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """ "This and following" from the occurrence at `at`; returns the new `<id>_R<ts>` master."""
        with self.state.operation():
            copy = split(self.state, self.state.calendar(calendar_id), event_id, at, changes)
            return render(copy)

    def invalidate_sync_tokens(self, calendar_id: str | None = None) -> None:
        """Every sync token issued so far (for one calendar, or all) now gets 410 fullSyncRequired."""
        with self.state.lock:
            targets = [self.state.calendar(calendar_id)] if calendar_id else list(self.state.calendars.values())
            for cal in targets:
                cal.generation += 1

    # -- assertions ------------------------------------------------------------------------
    def events(self, calendar_id: str) -> list[dict[str, Any]]:
        """Every stored copy on the calendar (masters, singles, exceptions, deleted ones too), in full."""
        with self.state.lock:
            return [render(c) for c in self.state.calendar(calendar_id).copies.values()]

    def get_event(self, calendar_id: str, event_id: str) -> dict[str, Any]:
        """One event in full (a stored copy, or an occurrence generated from its master)."""
        with self.state.lock:
            copy, master, slot = self.state.resolve(self.state.calendar(calendar_id), event_id)
            if copy is not None:
                return render(copy)
            if master is not None and slot is not None:
                return render_instance(master, slot)
            raise not_found()
