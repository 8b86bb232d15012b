"""events.list / events.instances query parameters, validated as Google's server does.

googleapiclient checks names, enums and integer syntax before sending, but not combinations
(syncToken with timeMin, orderBy=startTime without singleEvents, an empty range); those the
server rejects with 400, so the emulator must too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from emulators.google_errors import GoogleApiError, bad_request
from emulators.google_time import parse_rfc3339, zone

FORBIDDEN_WITH_SYNC = (
    "iCalUID",
    "orderBy",
    "privateExtendedProperty",
    "q",
    "sharedExtendedProperty",
    "timeMin",
    "timeMax",
    "updatedMin",
)
IGNORED = frozenset(
    {
        "alt",
        "fields",
        "prettyPrint",
        "quotaUser",
        "pageToken",
        "maxResults",
        "key",
        "$.xgafv",
        "access_token",
        "callback",
        "oauth_token",
        "upload_protocol",
        "uploadType",
        "userIp",
    }
)
MAX_PAGE = 2500
DEFAULT_PAGE = 250


@dataclass
class ListQuery:
    single_events: bool = False
    show_deleted: bool = False
    time_min: datetime | None = None
    time_max: datetime | None = None
    order_by: str | None = None
    max_results: int = DEFAULT_PAGE
    sync_token: str | None = None
    page_token: str | None = None
    q: str | None = None
    ical_uid: str | None = None
    private_props: list[tuple[str, str]] = field(default_factory=list)
    shared_props: list[tuple[str, str]] = field(default_factory=list)
    updated_min: datetime | None = None
    event_types: list[str] = field(default_factory=list)
    time_zone: str | None = None
    max_attendees: int | None = None
    original_start: datetime | None = None
    signature: tuple[tuple[str, tuple[str, ...]], ...] = ()


def parse_list_query(params: Mapping[str, list[str]], *, instances: bool = False) -> ListQuery:
    def one(name: str) -> str | None:
        values = params.get(name)
        return values[-1] if values else None

    q = ListQuery()
    q.single_events = _bool(one("singleEvents"), "singleEvents")
    q.show_deleted = _bool(one("showDeleted"), "showDeleted")
    q.max_results = min(_int(one("maxResults"), "maxResults", DEFAULT_PAGE), MAX_PAGE)
    q.page_token = one("pageToken")
    q.sync_token = None if instances else one("syncToken")
    q.time_min = _time(one("timeMin"), "timeMin")
    q.time_max = _time(one("timeMax"), "timeMax")
    q.updated_min = _time(one("updatedMin"), "updatedMin")
    q.original_start = _time(one("originalStart"), "originalStart") if instances else None
    q.order_by = one("orderBy")
    if q.order_by not in (None, "startTime", "updated"):
        raise bad_request(f"Invalid value for: orderBy: {q.order_by}", location="orderBy")
    q.q = one("q")
    q.ical_uid = one("iCalUID")
    q.private_props = [_constraint(v, "privateExtendedProperty") for v in params.get("privateExtendedProperty", [])]
    q.shared_props = [_constraint(v, "sharedExtendedProperty") for v in params.get("sharedExtendedProperty", [])]
    q.event_types = [t for v in params.get("eventTypes", []) for t in v.split(",") if t]
    q.time_zone = one("timeZone")
    if q.time_zone is not None:
        zone(q.time_zone)
    raw_max_att = one("maxAttendees")
    q.max_attendees = _int(raw_max_att, "maxAttendees", 0) if raw_max_att is not None else None
    if q.sync_token is not None:
        clashing = [name for name in FORBIDDEN_WITH_SYNC if params.get(name)]
        if clashing:
            raise bad_request(
                f"The syncToken parameter cannot be combined with: {', '.join(clashing)}.",
                location=clashing[0],
            )
    if q.time_min is not None and q.time_max is not None and q.time_min >= q.time_max:
        raise GoogleApiError(400, "timeRangeEmpty")
    if q.order_by == "startTime" and not q.single_events:
        raise bad_request(
            "The requested ordering is not available for the particular query.", reason="badRequest", location="orderBy"
        )
    q.signature = tuple(sorted((k, tuple(v)) for k, v in params.items() if k not in IGNORED))
    return q


def _bool(value: str | None, name: str) -> bool:
    if value is None:
        return False
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise bad_request(f"Invalid boolean value for: {name}: {value}", location=name)


def _int(value: str | None, name: str, default: int) -> int:
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError as exc:
        raise bad_request(f"Invalid integer value for: {name}: {value}", location=name) from exc
    if number < 1 and name == "maxResults":
        raise bad_request(f"Invalid value for: {name}: {value}", location=name)
    return number


def _time(value: str | None, name: str) -> datetime | None:
    return None if value is None else parse_rfc3339(value, location=name)


def _constraint(value: str, name: str) -> tuple[str, str]:
    key, sep, val = value.partition("=")
    if not sep or not key:
        raise bad_request(f"Invalid value for: {name}: {value}", location=name)
    return key, val
