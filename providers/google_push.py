"""Google push: `events.watch` channels and `channels.stop` (calendar-apis.md §2.9).

A notification only says "this calendar changed"; the daemon then runs the incremental sync.
Channels cannot be renewed: before one expires a new channel is opened, then the old one stopped.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from providers.google import GoogleCalendarProvider


@dataclass(frozen=True)
class Channel:
    provider: str
    calendar: str
    channel_id: str
    resource_id: str | None
    expires_at: datetime


def watch(provider: GoogleCalendarProvider, calendar: str, address: str, token_for: object, ttl: timedelta) -> Channel:
    """Open a channel for `calendar`; `token_for(channel_id)` gives the secret Google echoes back."""
    channel_id = uuid.uuid4().hex
    assert callable(token_for)
    body = {
        "id": channel_id,
        "type": "web_hook",
        "address": address,
        "token": token_for(channel_id),
        "params": {"ttl": str(int(ttl.total_seconds()))},
    }
    reply = provider._execute(calendar, provider._events().watch(calendarId=calendar, body=body), "events.watch")
    expires = datetime.fromtimestamp(int(reply.get("expiration", 0)) / 1000, UTC)
    return Channel("google", calendar, channel_id, reply.get("resourceId"), expires)


def stop(provider: GoogleCalendarProvider, channel: Channel) -> None:
    service = provider._service(channel.calendar)
    request = service.channels().stop(body={"id": channel.channel_id, "resourceId": channel.resource_id})
    provider.requests_made += 1
    request.execute(http=provider._http(channel.calendar), num_retries=0)
