"""/org: 1:1 health per manager, for the people who coach managers (a Flask blueprint).

Privacy by design — aggregates, not surveillance: per manager it shows how many reports were met
within their cadence, the cancellation and reschedule rates and the longest current gap, plus an
org-wide chart over time. It never reads agenda items, notes, meeting titles or descriptions (this
module does not touch them), and never names a report.

Access: the admin token (`org_page.admin_token_env`/`_file`) as `?token=` or an
`Authorization: Bearer` header, compared in constant time; or a person in `org_page.allow` who is
signed in to the agenda pages (the agenda's session cookie). The agenda's sign-in is offered from a
pair's page only, so someone without a 1:1 page of their own uses the token. The chart is inline SVG
in the page itself (no script, no second request), under the same strict CSP as the agenda pages.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask import Blueprint, make_response, render_template, request
from pydantic import SecretStr
from werkzeug.wrappers import Response

from rules.engine import pair_histories
from rules.summary import AWAY, CANCELLED, HELD, MOVED, REPLACED, aggregate_by_manager, summarize, weekly_counts
from sync.agenda import auth
from sync.agenda.meetings import zone_of
from sync.agenda.views import template_helpers
from sync.config import Settings
from sync.evaluation import evaluation_context
from sync.notify.render import display_name
from sync.store.db import Database
from sync.store.events import load_events
from sync.views.timeline import STYLES

DEFAULT_WEEKS = 12
CHART_W, CHART_H, AXIS = 640, 220, 28
SERIES = (HELD, MOVED, REPLACED, CANCELLED, AWAY)  # stacked from the bottom


@dataclass
class OrgDeps:
    db: Database
    settings: Settings
    clock: Callable[[], datetime]
    token: SecretStr | None
    allow: frozenset[str]


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode()).digest()


def token_ok(expected: SecretStr | None, given: str | None) -> bool:
    """Constant time (equal-length digests), and never true without a configured token."""
    if expected is None or not given:
        return False
    return hmac.compare_digest(_digest(expected.get_secret_value()), _digest(given))


def _given_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.args.get("token")


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{round(value * 100)}%"


def chart(weeks: list[tuple[Any, dict[str, int]]]) -> dict[str, Any]:
    """Geometry of the stacked weekly bars (the template draws it as SVG)."""
    top = max((sum(c.get(s, 0) for s in SERIES) for _, c in weeks), default=0) or 1
    plot_h = CHART_H - AXIS - 10
    slot = (CHART_W - AXIS) / max(len(weeks), 1)
    bars = []
    for n, (monday, counts) in enumerate(weeks):
        x = AXIS + n * slot + slot * 0.15
        y: float = CHART_H - AXIS
        segments = []
        for state in SERIES:
            count = counts.get(state, 0)
            if not count:
                continue
            h = plot_h * count / top
            y -= h
            segments.append(
                {"state": state, "x": round(x, 1), "y": round(y, 1), "h": round(h, 1), "count": count, **_paint(state)}
            )
        label = f"W{monday.isocalendar().week:02d}"
        bars.append({"label": label, "x": round(x + slot * 0.35, 1), "segments": segments, "counts": counts})
    ticks = list(range(top + 1)) if top <= 4 else sorted({0, round(top / 2), top})
    return {
        "width": CHART_W,
        "height": CHART_H,
        "bar_w": round(slot * 0.7, 1),
        "bars": bars,
        "base": CHART_H - AXIS,
        "ticks": [{"value": t, "y": round(CHART_H - AXIS - plot_h * t / top, 1)} for t in ticks],
        "axis": AXIS,
    }


def _paint(state: str) -> dict[str, str]:
    style = STYLES[state]
    return {"fill": style.fill, "words": style.words, "glyph": style.glyph}


def org_view(deps: OrgDeps, now: datetime, weeks: int, viewer: str | None = None) -> dict[str, Any]:
    """Everything the page shows: per-manager aggregates and weekly org totals, nothing per report. Its one
    time is in the viewer's zone (signed in: their calendar's; with the token: the organisation's default)."""
    with deps.db.session() as session:
        context = evaluation_context(session, deps.settings, now)
        histories = pair_histories(load_events(session), context)
    fresh = [h for h in histories if not h.stale]
    since = now - timedelta(weeks=weeks)
    managers = aggregate_by_manager(summarize(h, since, deps.settings.rules.max_gap_days) for h in fresh)
    rows = [
        {
            "manager": m.manager,
            "name": display_name(m.manager),
            "reports": m.reports,
            "met": m.met_within_cadence,
            "share_met": _percent(m.share_met),
            "cancellation_rate": _percent(m.cancellation_rate),
            "reschedule_rate": _percent(m.reschedule_rate),
            "longest_gap": "–" if m.longest_gap_days is None else m.longest_gap_days,
            "gap_late": m.too_long > 0,
            "due": m.due,
        }
        for m in managers
    ]
    counts = [(monday, dict(c)) for monday, c in weekly_counts(fresh, now, weeks)]
    default = deps.settings.time_zone
    return {
        "rows": rows,
        "chart": chart(counts),
        "series": [{"state": s, **_paint(s)} for s in SERIES],
        "weeks": weeks,
        "stale_pairs": len(histories) - len(fresh),
        "generated": _in_zone(now, zone_of(viewer, context, default) if viewer else default),
        "max_gap_days": deps.settings.rules.max_gap_days,
    }


def _in_zone(moment: datetime, zone: str) -> str:
    """As the agenda page shows a time: "Fri 04 Dec 2026, 22:00 (Europe/Berlin)"."""
    return f"{template_helpers(zone, '', '')['when'](moment)} ({zone})"


def org_blueprint(deps: OrgDeps) -> Blueprint:
    bp = Blueprint("org", __name__, template_folder="templates", static_folder="static", static_url_path="/static/org")

    def viewer(now: datetime) -> str | None:
        """Who may see the page: "" for the admin token, the signed-in address if allow-listed, else None."""
        if token_ok(deps.token, _given_token()):
            return ""
        if not deps.allow:
            return None
        with deps.db.session() as session:
            email = auth.session_email(session, request.cookies.get(auth.SESSION_COOKIE), now)
        return email if email is not None and email in deps.allow else None

    @bp.get("/org")
    def page() -> Response:
        now = deps.clock()
        who = viewer(now)
        if who is None:
            response = make_response(render_template("org/denied.html"), 401)
            response.headers["WWW-Authenticate"] = 'Bearer realm="oneonone org page"'
            return response
        try:
            weeks = min(26, max(4, int(request.args.get("weeks", DEFAULT_WEEKS))))
        except ValueError:
            weeks = DEFAULT_WEEKS
        response = make_response(render_template("org/page.html", **org_view(deps, now, weeks, who or None)), 200)
        response.headers["X-Robots-Tag"] = "noindex"
        return response

    return bp


def org_deps(settings: Settings, db: Database, clock: Callable[[], datetime]) -> OrgDeps | None:
    """None when the page is not configured (no token and no allow-list): then it is not served at all."""
    if not settings.org_page.configured:
        return None
    return OrgDeps(
        db=db,
        settings=settings,
        clock=clock,
        token=settings.org_page.admin_token(),
        allow=frozenset(settings.org_page.allow),
    )
