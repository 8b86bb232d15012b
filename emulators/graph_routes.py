"""The `/v1.0/users/{id}/…` calendar and mail routes of the Graph emulator."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from emulators import graph_http as gh
from emulators import graph_schedule, graph_zones
from emulators.graph_delta import Round
from emulators.graph_directory import parse_select
from emulators.graph_identity import Grant
from emulators.graph_model import EventView, GraphError, Mailbox, instances, master_view, visible_rows
from emulators.graph_render import RenderOptions, render
from emulators.http import Reply, Request

if TYPE_CHECKING:
    from emulators.graph import GraphEmulator


def require(grant: Grant, *roles: str) -> None:
    if not set(roles) & set(grant.app.roles):
        raise GraphError(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")


_DELTA_FORBIDDEN = ("$select", "$expand", "$filter", "$orderby", "$search", "$top", "$skip", "$count")
_ACTIONS = {"accept": "accepted", "tentativelyaccept": "tentativelyAccepted", "decline": "declined"}


def user_route(emu: GraphEmulator, request: Request, box: Mailbox, segment: str, rest: list[str]) -> Reply:
    if rest and rest[0].casefold() == "calendar":  # /users/{id}/calendar/events ≡ /users/{id}/events
        rest = rest[1:]
        if len(rest) == 1 and rest[0].casefold() == "getschedule":
            return _dispatch(request.method, {"POST": lambda: graph_schedule.get_schedule(emu, request)})
    head = rest[0].casefold() if rest else ""
    method = request.method
    if head == "events":
        if len(rest) == 1:
            return _dispatch(
                method, {"GET": lambda: list_events(emu, request, box), "POST": lambda: create_event(emu, request, box)}
            )
        event_id = rest[1]
        if len(rest) == 2:
            return _dispatch(
                method,
                {
                    "GET": lambda: get_event(emu, request, box, event_id),
                    "PATCH": lambda: patch_event(emu, request, box, event_id),
                    "DELETE": lambda: delete_event(emu, request, box, event_id),
                },
            )
        action = rest[2].casefold()
        if len(rest) == 3 and action == "instances":
            return _dispatch(method, {"GET": lambda: list_instances(emu, request, box, event_id)})
        if len(rest) == 3 and (action in _ACTIONS or action == "cancel"):
            return _dispatch(method, {"POST": lambda: event_action(emu, request, box, event_id, action)})
    if head == "calendarview":
        if len(rest) == 1:
            return _dispatch(method, {"GET": lambda: calendar_view(emu, request, box)})
        if len(rest) == 2 and rest[1].casefold() == "delta":
            return _dispatch(method, {"GET": lambda: delta(emu, request, box, segment)})
    if head == "mailboxsettings":
        return _dispatch(method, {"GET": lambda: mailbox_settings(emu, request, box, rest[1:])})
    if head == "sendmail" and len(rest) == 1:
        return _dispatch(method, {"POST": lambda: send_mail(emu, request, box)})
    raise GraphError(400, "BadRequest", f"Resource not found for the segment '{rest[-1] if rest else segment}'.")


def _dispatch(method: str, table: dict[str, Callable[[], Reply]]) -> Reply:
    handler = table.get(method)
    if handler is None:
        raise GraphError(405, "Request_BadRequest", "Specified HTTP method is not allowed for the request target.")
    return handler()


# -- events ----------------------------------------------------------------------------------------
def list_events(emu: GraphEmulator, request: Request, box: Mailbox) -> Reply:
    prefer = gh.parse_prefer(request)
    opts = gh.render_options(request, prefer)
    with emu.store.lock:
        views = [master_view(c) for c in emu.store.copies(box)]
        views = _order(_filter(views, gh.param(request, "$filter")), gh.param(request, "$orderby"))
        return _page(emu, request, prefer, views, lambda v: render(v, opts), default=10)


def create_event(emu: GraphEmulator, request: Request, box: Mailbox) -> Reply:
    prefer = gh.parse_prefer(request)
    copy = emu.store.create(box, _json(request))
    with emu.store.lock:
        body = _entity(emu, box, render(master_view(copy), gh.render_options(request, prefer, by_id=True)))
    return gh.json_reply(201, body, request, _applied(prefer))


def get_event(emu: GraphEmulator, request: Request, box: Mailbox, event_id: str) -> Reply:
    prefer = gh.parse_prefer(request)
    opts = gh.render_options(request, prefer, by_id=True)
    with emu.store.lock:
        body = _entity(emu, box, render(emu.store.view(box, event_id), opts))
    return gh.json_reply(200, body, request, _applied(prefer))


def patch_event(emu: GraphEmulator, request: Request, box: Mailbox, event_id: str) -> Reply:
    prefer = gh.parse_prefer(request)
    opts = gh.render_options(request, prefer, by_id=True)
    view = emu.store.update(box, event_id, _json(request), if_match=request.header("if-match"))
    with emu.store.lock:
        body = _entity(emu, box, render(view, opts))
    return gh.json_reply(200, body, request, _applied(prefer))


def delete_event(emu: GraphEmulator, request: Request, box: Mailbox, event_id: str) -> Reply:
    emu.store.delete(box, event_id, if_match=request.header("if-match"))
    return gh.empty_reply(204, request)


def event_action(emu: GraphEmulator, request: Request, box: Mailbox, event_id: str, action: str) -> Reply:
    _json(request, optional=True)
    if action == "cancel":
        emu.store.cancel(box, event_id)
    else:
        emu.store.respond(box, event_id, _ACTIONS[action])
    return gh.empty_reply(202, request)


def list_instances(emu: GraphEmulator, request: Request, box: Mailbox, event_id: str) -> Reply:
    lo, hi = gh.window(request)
    prefer = gh.parse_prefer(request)
    opts = gh.render_options(request, prefer)
    with emu.store.lock:
        view = emu.store.view(box, event_id)
        rows = instances(view.copy, lo, hi) if view.type == "seriesMaster" else []
        return _page(emu, request, prefer, rows, lambda v: render(v, opts), default=10)


def calendar_view(emu: GraphEmulator, request: Request, box: Mailbox) -> Reply:
    lo, hi = gh.window(request)
    prefer = gh.parse_prefer(request)
    opts = gh.render_options(request, prefer)
    with emu.store.lock:
        rows = [v for c in emu.store.copies(box) for v in visible_rows(c, lo, hi)]
        rows = _order(
            _filter(sorted(rows, key=lambda v: (v.start, v.id)), gh.param(request, "$filter")),
            gh.param(request, "$orderby"),
        )
        return _page(emu, request, prefer, rows, lambda v: render(v, opts), default=10)


def delta(emu: GraphEmulator, request: Request, box: Mailbox, segment: str) -> Reply:
    bad = [name for name in _DELTA_FORBIDDEN if gh.param(request, name) is not None]
    if bad:
        raise GraphError(
            400,
            "ErrorInvalidUrlQuery",
            "The following parameters are not supported with change tracking over the 'CalendarView' "
            f"resource: '{', '.join(bad)}'.",
        )
    prefer = gh.parse_prefer(request)
    opts = gh.render_options(request, prefer)
    skiptoken, deltatoken = gh.param(request, "$skiptoken"), gh.param(request, "$deltatoken")
    rnd: Round
    if skiptoken:
        rnd, start = emu.delta.page(box, skiptoken)
    elif deltatoken:
        rnd, start = emu.delta.resume(box, deltatoken, opts), 0
    else:
        lo, hi = gh.window(request)
        rnd, start = emu.delta.begin(box, lo, hi, opts), 0
    size = prefer.max_page_size or emu.delta.options.default_page_size
    rows, token, last = emu.delta.take(rnd, start, size)
    link = f"{emu.base_url}/v1.0/users/{quote(segment, safe='@')}/calendarView/delta"
    body: dict[str, Any] = {"@odata.context": f"{emu.base_url}/v1.0/$metadata#Collection(event)"}
    if last:
        body["@odata.deltaLink"] = f"{link}?$deltatoken={token}"
    else:
        body["@odata.nextLink"] = f"{link}?$skiptoken={token}"
    body["value"] = rows
    applied = ", ".join(p for p in ("odata.track-changes", prefer.applied()) if p)
    return gh.json_reply(200, body, request, {"Preference-Applied": applied})


# -- mailbox ---------------------------------------------------------------------------------------
def mailbox_settings(emu: GraphEmulator, request: Request, box: Mailbox, rest: list[str]) -> Reply:
    zone = graph_zones.windows_name(box.time_zone)
    context = f"{emu.base_url}/v1.0/$metadata#users('{quote(box.address, safe='@')}')/mailboxSettings"
    if rest and rest[0].casefold() == "timezone":
        return gh.json_reply(200, {"@odata.context": f"{context}/timeZone", "value": zone}, request)
    if rest:
        raise GraphError(400, "BadRequest", f"Resource not found for the segment '{rest[0]}'.")
    settings = {
        "@odata.context": context,
        "archiveFolder": "AAMkAGI2AAEuAAAAAAA=",
        "timeZone": zone,
        "delegateMeetingMessageDeliveryOptions": "sendToDelegateOnly",
        "dateFormat": "M/d/yyyy",
        "timeFormat": "h:mm tt",
        "userPurpose": "user",
        "automaticRepliesSetting": {"status": "disabled", "externalAudience": "all"},
        "language": {"locale": "en-US", "displayName": "English (United States)"},
        "workingHours": {
            "daysOfWeek": list(box.working_hours[2]),
            "startTime": box.working_hours[0],
            "endTime": box.working_hours[1],
            "timeZone": {"name": zone},
        },
    }
    return gh.json_reply(200, settings, request)


def send_mail(emu: GraphEmulator, request: Request, box: Mailbox) -> Reply:
    body = _json(request)
    message = body.get("message") if isinstance(body, dict) else None
    if not isinstance(message, dict):
        raise GraphError(400, "ErrorInvalidParameter", "The value of the parameter 'Message' is empty.")
    recipients = [r for key in ("toRecipients", "ccRecipients", "bccRecipients") for r in message.get(key) or []]
    addresses = [r.get("emailAddress", {}).get("address") if isinstance(r, dict) else None for r in recipients]
    if not addresses or not all(isinstance(a, str) and "@" in a for a in addresses):
        raise GraphError(
            400,
            "ErrorInvalidRecipients",
            "At least one recipient isn't valid., A message can't be sent because it contains no recipients.",
        )
    save = body.get("saveToSentItems", True)
    with emu.store.lock:
        emu.sent_mail.append({"mailbox": box.address, "message": message, "saveToSentItems": save is not False})
    return gh.empty_reply(202, request)


# -- subscriptions and directory -------------------------------------------------------------------
def subscriptions_route(emu: GraphEmulator, request: Request, grant: Grant, rest: list[str]) -> Reply:
    app = grant.app.client_id
    subs = emu.subscriptions
    if not rest and request.method == "POST":
        require(grant, "Calendars.Read", "Calendars.ReadWrite")
        return gh.json_reply(
            201, subs.create(request.json() if request.body else None, app, grant.app.object_id), request
        )
    if not rest and request.method == "GET":
        context = f"{emu.base_url}/v1.0/$metadata#subscriptions"
        return gh.json_reply(200, {"@odata.context": context, "value": subs.listing(app)}, request)
    if len(rest) == 1 and request.method == "GET":
        return gh.json_reply(200, subs.render(subs.get(rest[0], app)), request)
    if len(rest) == 1 and request.method == "PATCH":
        return gh.json_reply(200, subs.update(rest[0], request.json() if request.body else None, app), request)
    if len(rest) == 1 and request.method == "DELETE":
        subs.delete(rest[0], app)
        return gh.empty_reply(204, request)
    if len(rest) == 2 and rest[1].casefold() == "reauthorize" and request.method == "POST":
        subs.get(rest[0], app)
        return gh.empty_reply(204, request)
    raise GraphError(405, "Request_BadRequest", "Specified HTTP method is not allowed for the request target.")


def directory_route(emu: GraphEmulator, request: Request, rest: list[str]) -> Reply:
    query = {k: v[-1] for k, v in request.query.items() if v}
    if not rest:
        return gh.json_reply(200, emu.directory.listing(query, emu.base_url), request)
    user = emu.directory.find(rest[0])

    if len(rest) == 1:
        return gh.json_reply(200, emu.directory.render(user, parse_select(query.get("$select"))), request)
    if rest[1].casefold() == "manager":
        boss = emu.directory.manager_of(user)
        return gh.json_reply(
            200,
            {
                "@odata.type": "#microsoft.graph.user",
                **emu.directory.render(boss, parse_select(query.get("$select"))),
            },
            request,
        )
    reports = [
        {"@odata.type": "#microsoft.graph.user", **emu.directory.render(u, parse_select(query.get("$select")))}
        for u in emu.directory.reports(user)
    ]
    return gh.json_reply(
        200, {"@odata.context": f"{emu.base_url}/v1.0/$metadata#directoryObjects", "value": reports}, request
    )


# -- helpers ---------------------------------------------------------------------------------------
def _json(request: Request, *, optional: bool = False) -> Any:
    if not request.body:
        if optional:
            return None
        raise GraphError(400, "BadRequest", "Empty Payload. JSON content expected.")
    try:
        return request.json()
    except ValueError as exc:
        raise GraphError(
            400,
            "BadRequest",
            "Unable to read JSON request payload. Please ensure Content-Type header is set and payload "
            "is of valid JSON format.",
        ) from exc


def _entity(emu: GraphEmulator, box: Mailbox, row: dict[str, Any]) -> dict[str, Any]:
    context = f"{emu.base_url}/v1.0/$metadata#users('{quote(box.address, safe='@')}')/events/$entity"
    return {"@odata.context": context, **row}


def _applied(prefer: gh.Prefer) -> dict[str, str]:
    applied = prefer.applied()
    return {"Preference-Applied": applied} if applied else {}


def _page(
    emu: GraphEmulator,
    request: Request,
    prefer: gh.Prefer,
    rows: list[EventView],
    to_json: Callable[[EventView], dict[str, Any]],
    *,
    default: int,
) -> Reply:
    size, skip = gh.page_size(request, prefer, default), gh.offset(request)
    body: dict[str, Any] = {
        "@odata.context": f"{emu.base_url}/v1.0/$metadata#Collection(event)",
        "value": [to_json(v) for v in rows[skip : skip + size]],
    }
    if skip + size < len(rows):
        body["@odata.nextLink"] = gh.next_link(emu.base_url, request, skip + size)
    return gh.json_reply(200, body, request, _applied(prefer))


def _filter(views: list[EventView], expression: str | None) -> list[EventView]:
    if not expression:
        return views
    ext = re.fullmatch(
        r"\s*singleValueExtendedProperties/any\(\s*(\w+)\s*:\s*\1/id\s+eq\s+'([^']*)'(?:\s+and\s+\1/value\s+eq\s+'([^']*)')?\s*\)\s*",
        expression,
        re.I,
    )
    if ext:
        prop, value = ext.group(2).casefold(), ext.group(3)
        return [
            v
            for v in views
            if any(k.casefold() == prop and (value is None or val == value) for k, val in v.ext.items())
        ]
    simple = re.fullmatch(
        r"\s*(type|subject|showAs|iCalUId|seriesMasterId|isCancelled|isOrganizer|isAllDay)\s+eq\s+(?:'([^']*)'|(true|false))\s*",
        expression,
        re.I,
    )
    if simple:
        name = simple.group(1)
        wanted: Any = simple.group(2) if simple.group(2) is not None else simple.group(3).casefold() == "true"
        return [v for v in views if _property(v, name) == wanted]
    raise GraphError(
        400, "ErrorInvalidUrlQueryFilter", f"The emulator does not support this $filter expression: {expression}"
    )


def _property(view: EventView, name: str) -> Any:
    row = render(view, RenderOptions())
    key = next(k for k in row if k.casefold() == name.casefold())
    return row[key]


def _order(views: list[EventView], orderby: str | None) -> list[EventView]:
    if not orderby:
        return views
    match = re.fullmatch(
        r"\s*(start/dateTime|end/dateTime|createdDateTime|lastModifiedDateTime|subject)(?:\s+(asc|desc))?\s*",
        orderby,
        re.I,
    )
    if not match:
        raise GraphError(400, "ErrorInvalidUrlQuery", f"The $orderby expression '{orderby}' is not supported.")
    key = match.group(1).casefold()
    keys: dict[str, Callable[[EventView], Any]] = {
        "start/datetime": lambda v: v.start,
        "end/datetime": lambda v: v.end,
        "createddatetime": lambda v: v.created,
        "lastmodifieddatetime": lambda v: v.modified,
        "subject": lambda v: v.fields["subject"],
    }
    return sorted(views, key=keys[key], reverse=(match.group(2) or "").casefold() == "desc")
