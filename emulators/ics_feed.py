"""A tiny ICS feed server: publishes calendars by path, with ETag/Last-Modified and 304s.

Written from RFC 9110's conditional requests, as calendar hosts behave: a strong ETag per content,
`If-None-Match` answered 304 when it matches (and `If-Modified-Since` when no ETag is sent).
`etags=False` plays a host that sends neither validator, so clients must compare content.
"""

from __future__ import annotations

import hashlib
import threading
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime

from emulators.http import EmulatorServer, Reply, Request


class IcsFeedServer:
    def __init__(self, *, etags: bool = True) -> None:
        self.etags = etags
        self._feeds: dict[str, tuple[bytes, datetime]] = {}
        self._lock = threading.Lock()
        self.server = EmulatorServer(self.handle, server_name="ics-feeds")

    def start(self) -> str:
        return self.server.start()

    def stop(self) -> None:
        self.server.stop()

    def url(self, path: str) -> str:
        return f"{self.server.base_url}/{path.lstrip('/')}"

    def publish(self, path: str, body: bytes) -> None:
        """Set (or replace) the feed at `path`; Last-Modified moves only when the content changes."""
        key = "/" + path.lstrip("/")
        with self._lock:
            known = self._feeds.get(key)
            if known is None or known[0] != body:
                self._feeds[key] = (body, datetime.now(UTC).replace(microsecond=0))

    def unpublish(self, path: str) -> None:
        with self._lock:
            self._feeds.pop("/" + path.lstrip("/"), None)

    def handle(self, request: Request) -> Reply:
        if request.method not in ("GET", "HEAD"):
            return Reply(405, b"", {"Allow": "GET, HEAD"})
        with self._lock:
            found = self._feeds.get(request.path)
        if found is None:
            return Reply(404, b"not found", {"Content-Type": "text/plain"})
        body, modified = found
        if not self.etags:
            return Reply(200, body, {"Content-Type": "text/calendar; charset=utf-8"})
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        headers = {"ETag": etag, "Last-Modified": format_datetime(modified, usegmt=True)}
        match = request.header("if-none-match")
        if match is not None:
            if etag in [tag.strip() for tag in match.split(",")] or match.strip() == "*":
                return Reply(304, b"", headers)
        elif request.header("if-modified-since"):
            try:
                since = parsedate_to_datetime(request.header("if-modified-since") or "")
            except (TypeError, ValueError):
                since = None
            if since is not None and modified <= since:
                return Reply(304, b"", headers)
        return Reply(200, body, {**headers, "Content-Type": "text/calendar; charset=utf-8"})
