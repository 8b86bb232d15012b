"""`POST /users/{id}/calendar/getSchedule`, as Graph's reference and "Get free/busy schedule" guide describe it.

The body names `schedules` (SMTP addresses), `startTime`/`endTime` (a dateTimeTimeZone each) and
`availabilityViewInterval` (minutes, 5 to 1440, default 30). Each answer is a scheduleInformation:
`availabilityView` (one digit per interval: 0 free or working elsewhere, 1 tentative, 2 busy, 3 out of
office), `scheduleItems` (status, start, end; times in the `Prefer: outlook.timezone` zone, else UTC)
and `workingHours` from the mailbox settings. An address without a mailbox gets `error` instead. An
item's status is the mailbox's own `showAs` for the event (declined events are free, cancelled ones gone).
Application permission: Calendars.ReadBasic, Calendars.Read or Calendars.ReadWrite.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from emulators import graph_http as gh
from emulators import graph_zones
from emulators.graph_input import parse_datetime
from emulators.graph_model import GraphError, Mailbox, visible_rows
from emulators.graph_render import _show_as
from emulators.http import Reply, Request

if TYPE_CHECKING:
    from emulators.graph import GraphEmulator

CODES = {"free": "0", "workingElsewhere": "0", "tentative": "1", "busy": "2", "oof": "3", "unknown": "0"}


def get_schedule(emu: GraphEmulator, request: Request) -> Reply:
    body = request.json() if request.body else None
    if not isinstance(body, dict):
        raise GraphError(400, "ErrorInvalidRequest", "The request body is empty or not JSON.")
    schedules = body.get("schedules") or body.get("Schedules")
    if not isinstance(schedules, list) or not schedules or not all(isinstance(s, str) for s in schedules):
        raise GraphError(400, "ErrorInvalidParameter", "The parameter 'Schedules' is missing or empty.")
    lo = _when(body.get("startTime") or body.get("StartTime"), "StartTime")
    hi = _when(body.get("endTime") or body.get("EndTime"), "EndTime")
    if hi <= lo:
        raise GraphError(400, "ErrorInvalidParameter", "The parameter 'EndTime' must be later than 'StartTime'.")
    try:
        interval = int(body.get("availabilityViewInterval", 30))
    except (TypeError, ValueError) as exc:
        raise GraphError(400, "ErrorInvalidParameter", "availabilityViewInterval is invalid.") from exc
    if not 5 <= interval <= 1440:
        raise GraphError(400, "ErrorInvalidParameter", "availabilityViewInterval must be from 5 to 1440.")
    label = gh.parse_prefer(request).zone_label or "UTC"
    zone = graph_zones.resolve(label)
    values = []
    with emu.store.lock:
        for address in schedules:
            box = emu.store.find_mailbox(address)
            if box is None:
                values.append(
                    {
                        "scheduleId": address,
                        "availabilityView": "",
                        "error": {
                            "message": "The user could not be found.",
                            "responseCode": "ErrorMailRecipientNotFound",
                        },
                    }
                )
                continue
            values.append(_information(emu, box, address, lo, hi, interval, zone, label))
    context = f"{emu.base_url}/v1.0/$metadata#Collection(microsoft.graph.scheduleInformation)"
    return gh.json_reply(200, {"@odata.context": context, "value": values}, request)


def _information(
    emu: GraphEmulator, box: Mailbox, address: str, lo: datetime, hi: datetime, interval: int, zone: Any, label: str
) -> dict[str, Any]:
    items = []
    for copy in emu.store.copies(box):
        for view in visible_rows(copy, lo, hi):
            status = _show_as(view)
            if view.cancelled or status == "free":
                continue
            items.append((view.start, view.end, status, view))
    items.sort(key=lambda i: (i[0], i[1]))
    slots, moment = [], lo
    while moment < hi:
        end = moment + timedelta(minutes=interval)
        codes = [CODES.get(s, "2") for a, b, s, _ in items if a < end and b > moment]
        slots.append(max(codes, default="0"))
        moment = end
    start, finish, days = box.working_hours
    windows = graph_zones.windows_name(box.time_zone)
    return {
        "scheduleId": address,
        "availabilityView": "".join(slots),
        "scheduleItems": [
            {
                "isPrivate": view.fields.get("sensitivity") == "private",
                "status": status,
                "subject": "" if view.fields.get("sensitivity") == "private" else str(view.fields.get("subject") or ""),
                "location": "",
                "start": {"dateTime": _local(a, zone), "timeZone": label},
                "end": {"dateTime": _local(b, zone), "timeZone": label},
            }
            for a, b, status, view in items
        ],
        "workingHours": {
            "daysOfWeek": list(days),
            "startTime": start,
            "endTime": finish,
            "timeZone": {"name": windows},
        },
    }


def _when(value: Any, name: str) -> datetime:
    if not isinstance(value, dict) or not isinstance(value.get("dateTime"), str):
        raise GraphError(400, "ErrorInvalidParameter", f"The parameter '{name}' is missing or invalid.")
    moment = parse_datetime(value["dateTime"], name)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=graph_zones.resolve(str(value.get("timeZone") or "UTC")))
    return moment.astimezone(UTC)


def _local(moment: datetime, zone: Any) -> str:
    return moment.astimezone(zone).strftime("%Y-%m-%dT%H:%M:%S.0000000")
