"""Bounds on what a calendar server can make us wait for: a whole request, and a whole listing.

A socket timeout bounds each read, not the request: a server that trickles its body one byte every
five seconds never trips a 30 s timeout and stalls the cycle forever. So every request runs under a
deadline: when it passes, the request's sockets are shut down (which wakes the blocked read) and the
request fails as a timeout. A listing is bounded too: a page limit, an overall deadline, and a page
token seen twice (a server that would page forever) each end it as that calendar's provider error.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from providers.base import TransientError

REQUEST_SECONDS = 120.0  # a whole request, answer body included; each read has the shorter socket timeout
LISTING_SECONDS = 1800.0  # one calendar's listing, all its pages
MAX_PAGES = 2000  # 2000 pages of 2500 events: far past any real calendar

_local = threading.local()  # the connections in use by this thread's bounded request


class DeadlineExceeded(TimeoutError):
    """A request that did not complete within its deadline."""


def _shut(connections: Iterable[Any]) -> None:
    for connection in connections:
        sock = getattr(connection, "sock", None)
        if isinstance(sock, socket.socket):
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


@contextmanager
def bounded(seconds: float, connections: Callable[[], Iterable[Any]] = tuple) -> Iterator[None]:
    """Run one request within `seconds`: at the deadline its sockets (those our pools hand out in
    this thread, plus `connections()`) are shut down, and the request raises `DeadlineExceeded`."""
    used: list[Any] = []
    outer = getattr(_local, "used", None)
    _local.used = used
    fired = threading.Event()

    def expire() -> None:
        fired.set()
        _shut([*used, *connections()])

    timer = threading.Timer(seconds, expire)
    timer.daemon = True
    timer.start()
    try:
        yield
    except Exception as error:
        if fired.is_set():
            raise DeadlineExceeded(f"no complete answer within {seconds:g} s") from error
        raise
    finally:
        timer.cancel()
        _local.used = outer


def _register(connection: Any) -> Any:
    used = getattr(_local, "used", None)
    if used is not None:
        used.append(connection)
    return connection


class _Pool(HTTPConnectionPool):
    def _get_conn(self, timeout: float | None = None) -> Any:
        return _register(super()._get_conn(timeout))


class _TlsPool(HTTPSConnectionPool):
    def _get_conn(self, timeout: float | None = None) -> Any:
        return _register(super()._get_conn(timeout))


class DeadlineAdapter(HTTPAdapter):
    """A requests adapter whose every request, body included, completes within `seconds`."""

    def __init__(self, seconds: float = REQUEST_SECONDS, **kwargs: Any) -> None:
        self.seconds = seconds
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _Pool, "https": _TlsPool}

    def send(  # type: ignore[override]  # the same parameters, passed through
        self, request: requests.PreparedRequest, stream: bool = False, **kwargs: Any
    ) -> requests.Response:
        try:
            with bounded(self.seconds):
                response = super().send(request, stream=True, **kwargs)
                if not stream:
                    _ = response.content  # the body is read here, under the deadline
                return response
        except DeadlineExceeded as error:
            raise requests.Timeout(f"{request.method} {request.url}: {error}", request=request) from error


def bounded_session(session: requests.Session, seconds: float = REQUEST_SECONDS) -> requests.Session:
    """`session` with every http(s) request bounded by `seconds`."""
    adapter = DeadlineAdapter(seconds)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


@dataclass
class ListingBounds:
    """One calendar's listing: at most `max_pages` pages within `seconds`, and no page token twice."""

    calendar: str
    max_pages: int = MAX_PAGES
    seconds: float = LISTING_SECONDS
    clock: Callable[[], float] = time.monotonic
    pages: int = 0
    _started: float | None = None
    _tokens: set[str] = field(default_factory=set)

    def next_page(self, token: str | None = None) -> None:
        """Call before fetching each page, with the token (or link) that asks for it."""
        now = self.clock()
        if self._started is None:
            self._started = now
        self.pages += 1
        if token is not None:
            if token in self._tokens:
                raise TransientError(self.calendar, "the server sent the same page token twice: listing stopped")
            self._tokens.add(token)
        if self.pages > self.max_pages:
            raise TransientError(self.calendar, f"the listing went past {self.max_pages} pages: stopped")
        if now - self._started > self.seconds:
            raise TransientError(self.calendar, f"the listing took longer than {self.seconds:g} s: stopped")
