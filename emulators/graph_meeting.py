"""Building and re-timing a Meeting from Graph event bodies, apart from the store's bookkeeping.

Holds the rules Graph applies to times (end after start, all-day at midnight, recurrence that
has occurrences, a moved occurrence may not cross its neighbours) and what Exchange adds to an
online meeting (a Teams join link and the meeting blob at the end of the body).
"""

from __future__ import annotations

import hashlib
import html
from datetime import datetime
from typing import Any

from emulators import graph_input as gi
from emulators import graph_zones
from emulators.graph_model import GraphError, Meeting
from emulators.graph_recurrence import Recurrence, RecurrenceError

DEFAULT_FIELDS: dict[str, Any] = {
    "subject": "",
    "body": {"contentType": "html", "content": ""},
    "location": gi.parse_location({}),
    "locations": [],
    "importance": "normal",
    "sensitivity": "normal",
    "isOnlineMeeting": False,
    "onlineMeetingProvider": "unknown",
    "responseRequested": True,
    "allowNewTimeProposals": True,
    "hideAttendees": False,
}


def set_times(meeting: Meeting, body: dict[str, Any], *, new: bool) -> None:
    start, start_zone = (
        gi.parse_when(body["start"], "start") if "start" in body else (meeting.start, meeting.start_zone)
    )
    end, end_zone = gi.parse_when(body["end"], "end") if "end" in body else (meeting.end, meeting.end_zone)
    if "start" in body and "end" not in body and not new:
        end = start + meeting.duration
    if end < start:
        raise GraphError(
            400, "ErrorCalendarEndDateIsEarlierThanStartDate", "The end date occurs before the start date."
        )
    all_day = bool(body.get("isAllDay", meeting.all_day))
    if all_day:
        zone = graph_zones.resolve(start_zone)
        local_start, local_end = start.astimezone(zone), end.astimezone(zone)
        if local_start.time() != local_end.time() or local_start.hour or local_start.minute or end <= start:
            raise GraphError(
                400,
                "ErrorInvalidRequest",
                "Your request can't be completed. An all-day event must start and end at midnight.",
            )
    recurrence = meeting.recurrence
    if "recurrence" in body:
        recurrence = None
        if body["recurrence"] is not None:
            local_day = start.astimezone(graph_zones.resolve(start_zone)).date()
            try:
                recurrence = Recurrence.parse(body["recurrence"], start_zone, local_day)
            except RecurrenceError as exc:
                raise GraphError(400, "ErrorCalendarInvalidRecurrence", str(exc)) from exc
    meeting.start, meeting.end, meeting.all_day, meeting.recurrence = start, end, all_day, recurrence
    meeting.start_zone = graph_zones.windows_name(body.get("originalStartTimeZone") or start_zone)
    meeting.end_zone = graph_zones.windows_name(body.get("originalEndTimeZone") or end_zone)
    if recurrence is not None:  # the master's start is the first occurrence
        first = next(recurrence.dates(datetime.max.date()))
        duration = end - start
        meeting.start = meeting.natural_start(first)
        meeting.end = meeting.start + duration


def check_move(meeting: Meeting, original: datetime, start: datetime) -> None:
    zone = meeting.series_zone
    before, after = meeting.neighbours(original)
    day = start.astimezone(zone).date()
    if (before is not None and day <= before.astimezone(zone).date()) or (
        after is not None and day >= after.astimezone(zone).date()
    ):
        raise GraphError(
            400,
            "ErrorOccurrenceCrossingBoundary",
            "The modified occurrence is crossing or overlapping adjacent occurrence.",
        )


def add_online_meeting(meeting: Meeting) -> None:
    """Exchange adds a Teams join link and appends the Teams meeting blob to the body."""
    thread = hashlib.sha1(meeting.uid.encode()).hexdigest()[:32]
    join_url = f"https://teams.microsoft.com/l/meetup-join/19%3ameeting_{thread}%40thread.v2/0"
    meeting.fields["onlineMeeting"] = {"joinUrl": join_url}
    if meeting.fields["onlineMeetingProvider"] == "unknown":
        meeting.fields["onlineMeetingProvider"] = "teamsForBusiness"
    body = meeting.fields["body"]
    content = body["content"] if body["contentType"] == "html" else html.escape(body["content"])
    meeting.fields["body"] = {"contentType": "html", "content": content + TEAMS_BLOB.format(join_url=join_url)}


TEAMS_BLOB = (
    '<div style="width:100%"><span style="white-space:nowrap;color:#5F5F5F;opacity:.36">'
    "________________________________________________________________________________</span></div>"
    '<div class="me-email-text" lang="en-US" style="color:#252424;font-family:\'Segoe UI\',sans-serif">'
    '<div style="margin-top:24px;margin-bottom:20px"><span style="font-size:24px;color:#252424">'
    "Microsoft Teams meeting</span></div>"
    '<div style="margin-bottom:20px"><div style="margin-top:0px;margin-bottom:0px;font-weight:bold">'
    '<span style="font-size:14px;color:#252424">Join on your computer, mobile app or room device</span></div>'
    '<a class="me-email-headline" href="{join_url}" target="_blank" rel="noreferrer noopener" '
    'style="font-size:14px;text-decoration:underline;color:#6264a7">Click here to join the meeting</a></div>'
    '<div style="margin-bottom:24px;margin-top:20px"><a href="https://aka.ms/JoinTeamsMeeting" '
    'class="me-email-link" '
    'style="font-size:14px;text-decoration:underline;color:#6264a7">Learn More</a></div></div>'
)
