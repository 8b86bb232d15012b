"""A small threaded HTTP(S) server shared by the emulators, with request recording and faults.

Emulators implement `handle(request) -> Reply`; this module owns sockets, TLS, the request log
and fault injection, so tests can switch on a 429, a 503 or a slow reply for the next N
matching requests of either emulator the same way.
"""

from __future__ import annotations

import json
import re
import ssl
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # percent-decoded path, without the query
    raw_path: str  # as sent, with the query
    query: Mapping[str, list[str]]
    headers: Mapping[str, str]  # lower-case keys
    body: bytes

    def param(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8")) if self.body else None

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name.lower(), default)


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    trickle: float = 0.0  # seconds between the body's bytes: a server that answers, but ever so slowly

    @classmethod
    def json(cls, status: int, payload: Any, headers: Mapping[str, str] | None = None) -> Reply:
        hdrs = {"Content-Type": "application/json; charset=UTF-8", **(headers or {})}
        return cls(status, json.dumps(payload).encode("utf-8"), hdrs)

    @classmethod
    def empty(cls, status: int = 204, headers: Mapping[str, str] | None = None) -> Reply:
        return cls(status, b"", dict(headers or {}))


@dataclass
class Fault:
    """Answer the next `times` requests matching `method`/`path` with `reply` (or just delay them)."""

    reply: Reply | None
    times: int = 1
    method: str | None = None
    path: str | None = None  # regular expression searched in the decoded path
    delay: float = 0.0
    trickle: float = 0.0  # send the (real or canned) answer's body one byte every `trickle` seconds
    hits: int = 0

    def matches(self, request: Request) -> bool:
        if self.method and self.method.upper() != request.method:
            return False
        return not (self.path and not re.search(self.path, request.path))


class FaultPlan:
    """Faults consumed in the order they were added; thread-safe."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self.latency = 0.0  # added to every request (benchmarks)

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
            self.latency = 0.0

    def take(self, request: Request) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.hits < fault.times and fault.matches(request):
                    fault.hits += 1
                    return fault
        return None


Handler = Callable[[Request], Reply]


class EmulatorServer:
    """Serves `handler` on 127.0.0.1 (port 0 by default), optionally over TLS."""

    def __init__(
        self,
        handler: Handler,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        ssl_context: ssl.SSLContext | None = None,
        server_name: str = "emulator",
    ) -> None:
        self.handler = handler
        self.faults = FaultPlan()
        self.requests: list[Request] = []
        self._log_lock = threading.Lock()
        self._server = _make_server(self, host, port, ssl_context, server_name)
        self._thread: threading.Thread | None = None
        self.scheme = "https" if ssl_context else "http"
        self.host = host

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        host = "localhost" if self.scheme == "https" else self.host
        return f"{self.scheme}://{host}:{self.port}"

    def start(self) -> str:
        # A short poll interval keeps stop() (shutdown waits for one poll) from costing 0.5 s per test.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="emulator", daemon=True
        )
        self._thread.start()
        return self.base_url

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread:
            self._thread.join(timeout=5)

    def record(self, request: Request) -> None:
        with self._log_lock:
            self.requests.append(request)

    def requests_matching(self, method: str | None = None, path: str | None = None) -> list[Request]:
        with self._log_lock:
            log = list(self.requests)
        return [
            r
            for r in log
            if (method is None or r.method == method.upper()) and (path is None or re.search(path, r.path))
        ]

    def dispatch(self, request: Request) -> Reply:
        self.record(request)
        if self.faults.latency:
            time.sleep(self.faults.latency)
        fault = self.faults.take(request)
        if fault is not None:
            if fault.delay:
                time.sleep(fault.delay)
            reply = fault.reply if fault.reply is not None else self.handler(request)
            return replace(reply, trickle=fault.trickle) if fault.trickle else reply
        return self.handler(request)


def _make_server(
    owner: EmulatorServer, host: str, port: int, ssl_context: ssl.SSLContext | None, name: str
) -> ThreadingHTTPServer:
    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = name

        def log_message(self, format: str, *args: Any) -> None:
            return

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            split = urlsplit(self.path)
            request = Request(
                method=self.command,
                path=unquote(split.path),
                raw_path=self.path,
                query=parse_qs(split.query, keep_blank_values=True),
                # Repeated headers (two `Prefer:` lines, say) are combined as RFC 9110 allows.
                headers={k.lower(): ", ".join(self.headers.get_all(k) or []) for k in self.headers},
                body=body,
            )
            try:
                reply = owner.dispatch(request)
            except Exception as exc:  # an emulator bug must show up as a 500, not a hung client
                reply = Reply.json(500, {"error": {"code": 500, "message": f"emulator error: {exc!r}"}})
            self.send_response(reply.status)
            for key, value in reply.headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            if reply.body and self.command != "HEAD":
                if not reply.trickle:
                    self.wfile.write(reply.body)
                    return
                for byte in reply.body:  # until the client gives up and hangs up
                    self.wfile.write(bytes((byte,)))
                    self.wfile.flush()
                    time.sleep(reply.trickle)

        do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = do_HEAD = _serve

    class _Server(ThreadingHTTPServer):
        daemon_threads = True
        allow_reuse_address = True
        # socketserver's default backlog of 5 drops the SYNs of a burst of new connections, which the
        # clients then retry after a full second: a real API front end queues them.
        request_queue_size = 128

        def handle_error(self, request: Any, client_address: Any) -> None:
            # A client that hung up (or was killed, as crash tests do) is not an emulator error.
            if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError, ssl.SSLError, TimeoutError)):
                return
            super().handle_error(request, client_address)

        def get_request(self) -> tuple[Any, Any]:
            sock, addr = super().get_request()
            if ssl_context is not None:
                sock = ssl_context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
            return sock, addr

    return _Server((host, port), _Handler)
