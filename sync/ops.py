"""Operations endpoints on the daemon's web server: /healthz, /readyz, /metrics."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify
from prometheus_client import CONTENT_TYPE_LATEST

from sync.daemon import Daemon
from sync.metrics import Metrics


def ops_blueprint(daemon: Daemon, metrics: Metrics) -> Blueprint:
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
        return Response(metrics.render(), mimetype=CONTENT_TYPE_LATEST.split(";")[0], content_type=CONTENT_TYPE_LATEST)

    return blueprint
