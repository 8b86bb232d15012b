"""HTTP plumbing shared by the Graph routes: error bodies, Prefer headers, query options, paging.

Graph error bodies carry `error.code`, `error.message` and `error.innerError` (date, request-id,
client-request-id) and never an `errors[]` list; every reply carries `request-id`.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

from emulators import graph_zones
from emulators.graph_input import parse_datetime, zone_for
from emulators.graph_model import GraphError
from emulators.graph_render import RenderOptions, parse_expand, parse_select
from emulators.http import Reply, Request


@dataclass(frozen=True)
class Prefer:
    max_page_size: int | None = None
    zone_label: str | None = None
    text_body: bool = False

    def applied(self) -> str:
        parts = []
        if self.max_page_size is not None:
            parts.append(f"odata.maxpagesize={self.max_page_size}")
        if self.zone_label is not None:
            parts.append(f'outlook.timezone="{self.zone_label}"')
        if self.text_body:
            parts.append('outlook.body-content-type="text"')
        return ", ".join(parts)


def parse_prefer(request: Request) -> Prefer:
    size: int | None = None
    zone: str | None = None
    text = False
    for name, value in re.findall(r'([\w.\-]+)\s*(?:=\s*("[^"]*"|[^,;\s]*))?', request.header("prefer") or ""):
        value = value.strip('"')
        if name.casefold() == "odata.maxpagesize" and value.isdigit() and int(value) > 0:
            size = int(value)
        elif name.casefold() == "outlook.timezone" and value:
            zone_for(value)  # unknown zones are refused like in bodies
            zone = value
        elif name.casefold() == "outlook.body-content-type":
            text = value.casefold() == "text"
    return Prefer(size, zone, text)


def render_options(request: Request, prefer: Prefer, *, by_id: bool = False) -> RenderOptions:
    label = prefer.zone_label or "UTC"
    base = RenderOptions(
        graph_zones.resolve(label), label, prefer.text_body, parse_select(param(request, "$select")), by_id=by_id
    )
    return parse_expand(param(request, "$expand"), base)


def param(request: Request, name: str) -> str | None:
    """A query option by case-insensitive name (the docs themselves write `startdatetime`)."""
    folded = name.casefold()
    for key, values in request.query.items():
        if key.casefold() == folded and values:
            return values[-1]
    return None


def window(request: Request) -> tuple[datetime, datetime]:
    start, end = param(request, "startDateTime"), param(request, "endDateTime")
    if not start or not end:
        raise GraphError(
            400,
            "ErrorInvalidParameter",
            "This request requires a time window specified by the query string parameters StartDateTime "
            "and EndDateTime.",
        )
    lo, hi = _instant(start, "startDateTime"), _instant(end, "endDateTime")
    if hi <= lo:
        raise GraphError(
            400, "ErrorInvalidParameter", "The parameter 'EndDateTime' must be later than 'StartDateTime'."
        )
    return lo, hi


def _instant(text: str, name: str) -> datetime:
    repaired = re.sub(
        r"(T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?) (\d{2}:?\d{2})$", r"\1+\2", text.strip()
    )  # '+' read as space
    try:
        value = parse_datetime(repaired, name)
    except GraphError as exc:
        raise GraphError(400, "ErrorInvalidParameter", f"The value '{text}' of parameter '{name}' is invalid.") from exc
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def page_size(request: Request, prefer: Prefer, default: int, maximum: int = 1000) -> int:
    top = param(request, "$top")
    if top is not None:
        if not top.isdigit() or not 1 <= int(top) <= maximum:
            raise GraphError(400, "ErrorInvalidUrlQuery", f"The value '{top}' of '$top' is not valid.")
        return int(top)
    return min(prefer.max_page_size or default, maximum)


def offset(request: Request) -> int:
    skip = param(request, "$skip") or "0"
    if not skip.isdigit():
        raise GraphError(400, "ErrorInvalidUrlQuery", f"The value '{skip}' of '$skip' is not valid.")
    return int(skip)


def next_link(base: str, request: Request, skip: int) -> str:
    """An absolute nextLink repeating the query with a new `$skip`."""
    keep = [(k, v[-1]) for k, v in request.query.items() if k.casefold() != "$skip" and v]
    keep.append(("$skip", str(skip)))
    path = quote(request.path, safe="/@:()'")
    return f"{base}{path}?{urlencode(keep, safe='$/:@,()=')}"


def graph_error(err: GraphError, request: Request) -> Reply:
    headers = base_headers(request)
    inner = {
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
        "request-id": headers["request-id"],
        "client-request-id": headers["client-request-id"],
    }
    body = {"error": {"code": err.code, "message": err.message, "innerError": inner}}
    return Reply.json(err.status, body, {**headers, **err.headers})


def base_headers(request: Request) -> dict[str, str]:
    request_id = str(uuid.uuid4())
    return {"request-id": request_id, "client-request-id": request.header("client-request-id") or request_id}


def json_reply(status: int, payload: Any, request: Request, extra: dict[str, str] | None = None) -> Reply:
    headers = base_headers(request)
    headers["OData-Version"] = "4.0"
    return Reply.json(status, payload, {**headers, **(extra or {})})


def empty_reply(status: int, request: Request) -> Reply:
    return Reply.empty(status, base_headers(request))
