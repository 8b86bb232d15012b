"""The daemon's web server: a Flask app (factory) served by waitress in a background thread.

`create_app` takes the agenda's dependencies and any further blueprints (health, metrics and
webhooks live in their own blueprints and are registered the same way). `WebServer` binds first
(port 0 picks a free port, so tests and the demo know the URL before anything is built) and serves
whichever app is mounted.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import waitress
from flask import Blueprint, Flask, Response, render_template
from werkzeug.exceptions import HTTPException

from sync.agenda.deps import AgendaDeps
from sync.agenda.mail import deliver_now
from sync.agenda.oidc import OidcClient, Provider
from sync.agenda.pages import create_blueprint
from sync.booking.page import booking_blueprints
from sync.directory.sources import config_directory
from sync.evaluation import evaluation_context
from sync.notify.unsubscribe import unsubscribe_blueprint
from sync.runtime import Runtime
from sync.store.db import app_secret

log = logging.getLogger(__name__)

CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)


def create_app(agenda: AgendaDeps | None = None, *, blueprints: Sequence[Blueprint] = ()) -> Flask:
    app = Flask("oneonone", static_folder=None)  # each blueprint serves its own static files
    app.config.update(MAX_CONTENT_LENGTH=64 * 1024, TEMPLATES_AUTO_RELOAD=False)
    if agenda is not None:
        app.register_blueprint(create_blueprint(agenda))
        app.register_blueprint(unsubscribe_blueprint(agenda.db, agenda.clock))
    for blueprint in blueprints:
        app.register_blueprint(blueprint)

    oidc = agenda.oidc if agenda is not None else None

    @app.after_request
    def _headers(response: Response) -> Response:
        csp = CSP
        if oidc is not None and response.mimetype == "text/html":
            # The sign-in form posts to /auth/oidc/start, which redirects to the provider: browsers hold
            # form submissions' redirects to form-action too.
            csp = CSP.replace("form-action 'self'", f"form-action 'self' {oidc.authorization_origin()}")
        response.headers.setdefault("Content-Security-Policy", csp)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        # Page ids and sign-in tokens are in URLs: never leak them to another site.
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        if response.mimetype == "text/html":
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.errorhandler(HTTPException)
    def _error(exc: HTTPException) -> tuple[str, int]:
        titles = {400: "Something went wrong", 404: "Not found", 405: "Not allowed", 413: "Too long"}
        code = exc.code or 500
        message = exc.description if code == 400 else "There is nothing here."
        if agenda is None:
            return message or "", code
        return render_template("agenda/error.html", title=titles.get(code, "Error"), message=message), code

    return app


def agenda_deps(runtime: Runtime, base_url: str | None = None) -> AgendaDeps:
    """The agenda pages' view of the runtime: same database, clock, directory and mail sender."""
    settings = runtime.settings
    configured = settings.web.session_secret()
    if configured is not None:
        secret = configured.get_secret_value()
    else:
        with runtime.db.session() as session:
            secret = app_secret(session, "web.session_secret", runtime.clock())
    send = runtime.send

    def deliver(outbox_id: int) -> None:
        if send is not None:
            sent = deliver_now(runtime.db, send, outbox_id, runtime.clock(), worker=f"{runtime.worker}:web")
            if sent and runtime.metrics is not None:  # sign-in mails count like every other mail
                runtime.metrics.emails.labels("sent").inc()

    directory = config_directory(settings)
    provider = Provider.from_settings(settings.agenda.oidc, base_url or settings.web.base_url)
    on_change = None
    if settings.agenda.backend == "markdown":
        from sync.agenda.markdown_backend import exporter

        on_change = exporter(runtime)
    return AgendaDeps(
        db=runtime.db,
        clock=runtime.clock,
        context_for=lambda session, now: evaluation_context(session, settings, now),
        base_url=base_url or settings.web.base_url,
        secret=secret,
        policy=runtime.policy,
        signin_minutes=settings.agenda.signin_link_minutes,
        session_days=settings.agenda.session_days,
        canonical=directory.canonical,
        deliver=deliver,
        on_change=on_change,
        oidc=OidcClient(provider, runtime.clock) if provider is not None else None,
    )


class _Dispatch:
    """The WSGI callable waitress serves; the real app is mounted after the port is known."""

    def __init__(self) -> None:
        self.app: Callable[..., Iterable[bytes]] | None = None

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if self.app is None:
            start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
            return [b"starting"]
        return self.app(environ, start_response)


class WebServer:
    """waitress in a daemon thread; `bind` is host:port (port 0: any free port)."""

    def __init__(self, bind: str = "127.0.0.1:0", *, threads: int = 4) -> None:
        host, _, port = bind.rpartition(":")
        self.host = host.strip("[]") or "127.0.0.1"
        self._dispatch = _Dispatch()
        self._server: Any = waitress.create_server(
            self._dispatch,
            host=self.host,
            port=int(port),
            threads=threads,
            ident="oneonone",
            clear_untrusted_proxy_headers=True,
        )
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.effective_port)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def mount(self, app: Callable[..., Iterable[bytes]]) -> WebServer:
        self._dispatch.app = app
        return self

    def start(self) -> WebServer:
        self._thread = threading.Thread(target=self._server.run, name="web", daemon=True)
        self._thread.start()
        log.info("web server listening on %s", self.url)
        return self

    def stop(self) -> None:
        server = self._server
        if self._thread is None:
            server.close()
            return

        def close_all() -> None:
            # Runs in the server's own loop thread, so no socket is closed under its select() (EBADF);
            # kept-alive connections are closed too, and the loop ends with nothing left to watch.
            for channel in list(server._map.values()):
                if channel is not server and channel is not server.trigger:
                    channel.close()
            server.close()

        if self._thread.is_alive():
            try:
                server.trigger.pull_trigger(close_all)
            except OSError as exc:  # the loop's wake-up pipe is already gone: close from here instead
                log.debug("web server: could not wake its loop (%s); closing it directly", exc)
                with contextlib.suppress(OSError):
                    server.close()
            self._thread.join(timeout=5)
        self._thread = None

    def __enter__(self) -> WebServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve(runtime: Runtime, *, blueprints: Sequence[Blueprint] = (), bind: str | None = None) -> WebServer | None:
    """Start the web server for a runtime on `web.bind` (or `bind`); the caller stops it.

    A port that cannot be bound is logged, not fatal: syncing and warning do not depend on the pages.
    """
    address = bind or runtime.settings.web.bind
    try:
        server = WebServer(address)
    except OSError as exc:
        log.error("web server: cannot listen on %s (%s); the agenda pages are unavailable", address, exc)
        return None
    deps = agenda_deps(runtime)
    server.mount(create_app(deps, blueprints=(*blueprints, *booking_blueprints(runtime, deps))))
    return server.start()
