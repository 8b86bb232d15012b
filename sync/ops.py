"""Operations endpoints on the daemon's web server: /healthz, /readyz, /metrics."""

from __future__ import annotations

import hmac
from ipaddress import ip_address

from flask import Blueprint, Response, abort, jsonify, request
from prometheus_client import CONTENT_TYPE_LATEST

from sync.daemon import Daemon
from sync.metrics import Metrics


def _local_unproxied() -> bool:
    """A scraper on this host talking to us directly (a reverse proxy adds X-Forwarded-For)."""
    try:
        local = ip_address(request.remote_addr or "").is_loopback
    except ValueError:
        return False
    return local and "X-Forwarded-For" not in request.headers and "Forwarded" not in request.headers


def ops_blueprint(daemon: Daemon, metrics: Metrics, token: str | None = None) -> Blueprint:
    """/metrics answers a scraper with the token (`web.metrics_token_env`), else only local, unproxied ones."""
    blueprint = Blueprint("ops", __name__)

    @blueprint.get("/healthz")
    def healthz() -> Response:
        """Alive: the process serves requests (a stuck database does not make it unhealthy)."""
        return Response("ok\n", mimetype="text/plain")

    @blueprint.get("/readyz")
    def readyz() -> tuple[Response, int]:
        ready, reasons = daemon.ready()
        body = {"ready": ready, "reasons": reasons, "warnings": daemon.warnings(), "cycles": daemon.state.cycles}
        return jsonify(body), (200 if ready else 503)

    @blueprint.get("/metrics")
    def metrics_endpoint() -> Response:
        if token is not None:
            given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
            if not hmac.compare_digest(given.encode("utf-8", "surrogatepass"), token.encode()):
                abort(401)
        elif not _local_unproxied():
            abort(403)
        return Response(metrics.render(), mimetype=CONTENT_TYPE_LATEST.split(";")[0], content_type=CONTENT_TYPE_LATEST)

    return blueprint
