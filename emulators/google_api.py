"""HTTP routing for the emulated Calendar API v3 (`/calendar/v3/…`) and the token endpoint.

Paths, parameters and status codes follow Google's reference: insert answers 200, delete and
channels.stop 204 with an empty body; path parameters arrive percent-encoded; `alt`, `fields`,
`prettyPrint` and `quotaUser` are tolerated. A token for user U may use calendar U (or
`primary`); any other calendar is 404, as for a calendar the user cannot see.
"""

from __future__ import annotations

import traceback
from typing import Any
from urllib.parse import unquote

from emulators import google_freebusy as freebusy
from emulators.google_auth import Principal, TokenService
from emulators.google_errors import GoogleApiError, bad_request, not_found
from emulators.google_listing import Pager, envelope, instances_snapshot, list_snapshot
from emulators.google_push import PushHub
from emulators.google_query import parse_list_query
from emulators.google_render import instance_etag, render_for_get, render_instance
from emulators.google_state import Calendar, GoogleState
from emulators.google_writes import delete, insert, update
from emulators.http import Reply, Request

_CAL = "https://www.googleapis.com/auth/calendar"
WRITE_SCOPES = frozenset({_CAL, f"{_CAL}.app.created", f"{_CAL}.events", f"{_CAL}.events.owned"})
READ_SCOPES = WRITE_SCOPES | {
    f"{_CAL}.readonly",
    f"{_CAL}.events.readonly",
    f"{_CAL}.events.owned.readonly",
    f"{_CAL}.events.freebusy",
    f"{_CAL}.events.public.readonly",
}
STOP_SCOPES = READ_SCOPES | {
    f"{_CAL}.{s}"
    for s in ("acls", "acls.readonly", "calendarlist", "calendarlist.readonly", "settings", "settings.readonly")
}
# freebusy.query's scopes, per its reference: `calendar.events` alone does not grant it.
FREEBUSY_SCOPES = frozenset({_CAL, f"{_CAL}.readonly", f"{_CAL}.events.freebusy", f"{_CAL}.freebusy"})
SEND_UPDATES = ("all", "externalOnly", "none")


class CalendarApi:
    def __init__(self, state: GoogleState, tokens: TokenService, push: PushHub, pager: Pager) -> None:
        self.state, self.tokens, self.push, self.pager = state, tokens, push, pager

    def handle(self, request: Request) -> Reply:
        try:
            segments = [unquote(s) for s in request.raw_path.split("?", 1)[0].split("/") if s]
            if segments == ["token"]:
                return self.tokens.handle(request)
            if segments[:2] != ["calendar", "v3"]:
                raise not_found()
            return self._route(request, segments[2:])
        except GoogleApiError as exc:
            return exc.reply()
        except Exception as exc:  # an emulator bug still answers like Google's 500, with errors[]
            traceback.print_exc()
            return GoogleApiError(500, "backendError", f"Backend Error (emulator: {exc!r})").reply()

    def _route(self, request: Request, rest: list[str]) -> Reply:
        principal = self.tokens.authenticate(request.header("authorization"))
        method = request.method
        if rest == ["channels", "stop"]:
            _need(method, "POST")
            _scope(principal, STOP_SCOPES)
            self.push.stop(_json(request), principal.subject)
            return Reply.empty(204)
        if rest == ["freeBusy"]:
            _need(method, "POST")
            _scope(principal, FREEBUSY_SCOPES)
            return Reply.json(200, freebusy.query(self.state, _json(request)))
        if len(rest) < 3 or rest[0] != "calendars" or rest[2] != "events" or len(rest) > 5:
            raise not_found()
        calendar_param, tail = rest[1], rest[3:]
        if not tail:
            if method == "GET":
                return self._list(request, principal, calendar_param)
            _need(method, "POST")
            return self._insert(request, principal, calendar_param)
        if tail == ["watch"]:
            _need(method, "POST")
            _scope(principal, READ_SCOPES)
            cal = self._calendar(principal, calendar_param)
            return Reply.json(200, self.push.watch(cal.owner, calendar_param, _json(request), principal.subject))
        if len(tail) == 2 and tail[1] == "instances":
            _need(method, "GET")
            return self._instances(request, principal, calendar_param, tail[0])
        if len(tail) != 1:
            raise not_found()
        if method == "GET":
            return self._get(request, principal, calendar_param, tail[0])
        if method in ("PATCH", "PUT"):
            return self._update(request, principal, calendar_param, tail[0], patch=method == "PATCH")
        _need(method, "DELETE")
        return self._delete(request, principal, calendar_param, tail[0])

    def _calendar(self, principal: Principal, calendar_param: str) -> Calendar:
        email = principal.subject if calendar_param == "primary" else calendar_param.lower()
        if email != principal.subject:
            raise not_found()
        return self.state.calendar(email)

    def _list(self, request: Request, principal: Principal, calendar_param: str) -> Reply:
        _scope(principal, READ_SCOPES)
        query = parse_list_query(request.query)
        with self.state.operation():
            cal = self._calendar(principal, calendar_param)
            first = None if query.page_token else list_snapshot(self.state, cal, query)
            snap, page = self.pager.page(self.state, cal, first, query)
            return Reply.json(200, {**envelope(cal, snap.updated), **page})

    def _instances(self, request: Request, principal: Principal, calendar_param: str, event_id: str) -> Reply:
        _scope(principal, READ_SCOPES)
        query = parse_list_query(request.query, instances=True)
        with self.state.operation():
            cal = self._calendar(principal, calendar_param)
            master = cal.copies.get(event_id)
            if master is None:
                raise not_found()
            if not master.item.is_master:
                raise bad_request("The requested event is not a recurring event.", reason="badRequest")
            first = None if query.page_token else instances_snapshot(self.state, cal, master, query)
            snap, page = self.pager.page(self.state, cal, first, query)
            return Reply.json(200, {**envelope(cal, snap.updated), **page})

    def _get(self, request: Request, principal: Principal, calendar_param: str, event_id: str) -> Reply:
        _scope(principal, READ_SCOPES)
        tz = request.param("timeZone")
        max_att = _int_param(request, "maxAttendees")
        with self.state.operation():
            cal = self._calendar(principal, calendar_param)
            copy, master, slot = self.state.resolve(cal, event_id)
            if copy is not None:
                etag, resource = copy.etag, render_for_get(copy, tz_override=tz, max_attendees=max_att)
            elif master is not None and slot is not None:
                etag = instance_etag(master.etag, slot)
                resource = render_instance(master, slot, tz_override=tz, max_attendees=max_att)
            else:
                raise not_found()
        if request.header("if-none-match") == etag:
            return Reply.empty(304, {"ETag": etag})
        return Reply.json(200, resource, {"ETag": etag})

    def _insert(self, request: Request, principal: Principal, calendar_param: str) -> Reply:
        _scope(principal, WRITE_SCOPES)
        body = _json(request)
        self._record("insert", body.get("id", "") if isinstance(body, dict) else "", request)
        with self.state.operation():
            cal = self._calendar(principal, calendar_param)
            copy = insert(self.state, cal, body, supports_attachments=_flag(request, "supportsAttachments"))
            return Reply.json(200, render_for_get(copy, max_attendees=_int_param(request, "maxAttendees")))

    def _update(
        self, request: Request, principal: Principal, calendar_param: str, event_id: str, *, patch: bool
    ) -> Reply:
        _scope(principal, WRITE_SCOPES)
        body = _json(request)
        self._record("patch" if patch else "update", event_id, request)
        with self.state.operation():
            cal = self._calendar(principal, calendar_param)
            copy = update(
                self.state,
                cal,
                event_id,
                body,
                patch=patch,
                if_match=request.header("if-match"),
                supports_attachments=_flag(request, "supportsAttachments"),
            )
            return Reply.json(200, render_for_get(copy, max_attendees=_int_param(request, "maxAttendees")))

    def _delete(self, request: Request, principal: Principal, calendar_param: str, event_id: str) -> Reply:
        _scope(principal, WRITE_SCOPES)
        self._record("delete", event_id, request)
        with self.state.operation():
            cal = self._calendar(principal, calendar_param)
            delete(self.state, cal, event_id, if_match=request.header("if-match"), api=True)
        return Reply.empty(204)

    def _record(self, method: str, event_id: str, request: Request) -> None:
        value = request.param("sendUpdates")
        if value is not None and value not in SEND_UPDATES:
            raise bad_request(f"Invalid value for: sendUpdates: {value}", location="sendUpdates")
        _flag(request, "sendNotifications")
        with self.state.lock:
            self.state.send_updates.append((method, str(event_id), value))


def _json(request: Request) -> Any:
    try:
        return request.json()
    except (ValueError, UnicodeDecodeError) as exc:
        raise GoogleApiError(400, "parseError", "Parse Error") from exc


def _need(method: str, expected: str) -> None:
    if method != expected:
        raise GoogleApiError(405, "methodNotAllowed")


def _scope(principal: Principal, allowed: frozenset[str]) -> None:
    if not principal.scopes & allowed:
        raise GoogleApiError(403, "insufficientPermissions", "Request had insufficient authentication scopes.")


def _flag(request: Request, name: str) -> bool:
    value = request.param(name)
    if value is None:
        return False
    if value.lower() not in ("true", "false"):
        raise bad_request(f"Invalid boolean value for: {name}: {value}", location=name)
    return value.lower() == "true"


def _int_param(request: Request, name: str) -> int | None:
    value = request.param(name)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError as exc:
        raise bad_request(f"Invalid integer value for: {name}: {value}", location=name) from exc
