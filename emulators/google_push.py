"""events.watch channels and their web-hook deliveries, as described in Google's push guide.

A `sync` message (number 1) right after the channel is made, then `exists` for each change to
the calendar, each an empty-bodied POST whose meaning is in X-Goog-* headers. Deliveries run
on a background thread so an API call never waits for a receiver; a 500/502/503/504 or a
connection failure is retried with backoff, any other non-success status counts as delivered
and failed (the doc's rule). Message numbers grow but are not sequential.
"""

from __future__ import annotations

import hashlib
import queue
import random
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any
from urllib.parse import quote

from emulators.google_errors import GoogleApiError, bad_request, not_found

DEFAULT_TTL = timedelta(days=7)  # (unverified) Google's default/maximum lifetime for events channels
RETRY_STATUSES = (500, 502, 503, 504)
OK_STATUSES = (102, 200, 201, 202, 204)


@dataclass
class Channel:
    id: str
    resource_id: str
    calendar: str  # the owner's address
    address: str
    token: str | None
    expiration: datetime
    resource_uri: str
    owner: str  # who created it (stop must come from the same principal)
    message_number: int = 0
    stopped: bool = False


@dataclass
class Delivery:
    """One notification as sent, for tests to inspect."""

    channel_id: str
    state: str
    message_number: int
    status: int | None  # receiver's final status; None if it could not be reached
    attempts: int
    headers: dict[str, str] = field(default_factory=dict)


class PushHub:
    def __init__(self, clock: Callable[[], datetime]) -> None:
        self._clock = clock
        self._channels: dict[str, Channel] = {}
        self._lock = threading.Lock()
        self._queue: queue.Queue[tuple[Channel, str, int] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._rng = random.Random()
        self.deliveries: list[Delivery] = []
        self.max_attempts = 4
        self.retry_backoff = 0.05  # seconds, doubled per attempt
        self.timeout = 2.0
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # receivers are local

    def watch(self, calendar: str, calendar_param: str, body: Any, owner: str) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise GoogleApiError(400, "parseError", "Parse Error")
        channel_id, kind, address = body.get("id"), body.get("type"), body.get("address")
        if not isinstance(channel_id, str) or not channel_id or len(channel_id) > 64:
            raise GoogleApiError(400, "required", "Channel id is required (at most 64 characters).")
        if kind not in ("web_hook", "webhook"):
            raise bad_request(f"Invalid value for: type: {kind}")
        if not isinstance(address, str) or not address.startswith(("https://", "http://")):
            raise GoogleApiError(400, "required", "WebHook callback must be a URL.")
        token = body.get("token")
        if token is not None and (not isinstance(token, str) or len(token) > 256):
            raise bad_request("Invalid value for: token")
        now = self._clock().astimezone(UTC)
        expiration = now + DEFAULT_TTL
        ttl = (body.get("params") or {}).get("ttl")
        if ttl is not None:
            try:
                expiration = min(expiration, now + timedelta(seconds=int(ttl)))
            except (TypeError, ValueError) as exc:
                raise bad_request(f"Invalid value for: params.ttl: {ttl}") from exc
        if body.get("expiration") is not None:
            try:
                asked = datetime.fromtimestamp(int(body["expiration"]) / 1000, UTC)
            except (TypeError, ValueError) as exc:
                raise bad_request("Invalid value for: expiration") from exc
            expiration = min(expiration, asked)
        resource_id = hashlib.sha1(f"events:{calendar}".encode()).hexdigest()[:27]
        uri = f"https://www.googleapis.com/calendar/v3/calendars/{quote(calendar_param, safe='@')}/events?alt=json"
        with self._lock:
            if channel_id in self._channels:
                raise bad_request(f"Channel id {channel_id} not unique", reason="channelIdNotUnique")
            channel = Channel(channel_id, resource_id, calendar, address, token, expiration, uri, owner)
            self._channels[channel_id] = channel
        self._enqueue(channel, "sync")
        out: dict[str, Any] = {"kind": "api#channel", "id": channel_id, "resourceId": resource_id, "resourceUri": uri}
        if token is not None:
            out["token"] = token
        out["expiration"] = str(int(expiration.timestamp() * 1000))
        return out

    def stop(self, body: Any, owner: str) -> None:
        if not isinstance(body, dict) or not body.get("id") or not body.get("resourceId"):
            raise GoogleApiError(400, "required", "Channel id and resourceId are required.")
        with self._lock:
            channel = self._channels.get(str(body["id"]))
            if channel is None or channel.resource_id != body["resourceId"] or channel.stopped:
                raise not_found()
            if channel.owner != owner:
                raise GoogleApiError(403, "forbidden", "Only the channel's creator can stop it.")
            channel.stopped = True

    def notify(self, calendars: set[str]) -> None:
        """Queue `exists` for every live channel watching one of `calendars`."""
        with self._lock:
            targets = [c for c in self._channels.values() if c.calendar in calendars and not c.stopped]
        for channel in targets:
            self._enqueue(channel, "exists")

    def channels(self) -> list[Channel]:
        with self._lock:
            return list(self._channels.values())

    def close(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=5)
            self._thread = None

    def _enqueue(self, channel: Channel, state: str) -> None:
        with self._lock:
            if channel.stopped or self._clock().astimezone(UTC) >= channel.expiration:
                return
            channel.message_number = 1 if state == "sync" else channel.message_number + self._rng.randint(1, 7)
            number = channel.message_number
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="google-push", daemon=True)
                self._thread.start()
        self._queue.put((channel, state, number))

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            channel, state, number = job
            if not channel.stopped:
                self._deliver(channel, state, number)

    def _deliver(self, channel: Channel, state: str, number: int) -> None:
        headers = {
            "Content-Type": "application/json; utf-8",
            "User-Agent": "APIs-Google; (+https://developers.google.com/webmasters/APIs-Google.html)",
            "X-Goog-Channel-ID": channel.id,
            "X-Goog-Channel-Expiration": format_datetime(channel.expiration, usegmt=True),
            "X-Goog-Resource-ID": channel.resource_id,
            "X-Goog-Resource-URI": channel.resource_uri,
            "X-Goog-Resource-State": state,
            "X-Goog-Message-Number": str(number),
        }
        if channel.token is not None:
            headers["X-Goog-Channel-Token"] = channel.token
        status: int | None = None
        attempts = 0
        while attempts < self.max_attempts:
            attempts += 1
            status = self._post(channel.address, headers)
            if status is not None and status not in RETRY_STATUSES:
                break
            time.sleep(self.retry_backoff * 2 ** (attempts - 1))
        with self._lock:
            self.deliveries.append(Delivery(channel.id, state, number, status, attempts, headers))

    def _post(self, address: str, headers: dict[str, str]) -> int | None:
        request = urllib.request.Request(address, data=b"", headers=headers, method="POST")
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                return int(response.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)
        except (urllib.error.URLError, OSError):
            return None
