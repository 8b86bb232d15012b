"""Fuzzing what reaches the daemon over HTTP: push webhooks, the agenda's forms, the org page.

The app is the one `oneonone run` serves (`create_app` with the push and ops blueprints) over a
real SQLite store. Whatever arrives: no request crashes a handler (no 500, nothing logged by Flask
as an unhandled exception), no body carries a traceback or a source path, a notification that is
not verifiably ours marks nothing wanted and changes no channel, and unauthenticated edits are
refused and change nothing.

`ONEONONE_FUZZ_EXAMPLES=2000` explores deeper than the default (kept small so the suite stays fast).
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import PG_ENV
from conftest import _postgres_database as postgres_database
from flask import Flask, got_request_exception
from flask.testing import FlaskClient
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, update
from werkzeug.test import TestResponse

from sync.agenda import auth
from sync.agenda.deps import AgendaDeps
from sync.agenda.store import ensure_pair
from sync.config import parse_settings
from sync.daemon import Daemon
from sync.ingest.push import channel_token, client_state, push_blueprint
from sync.ops import ops_blueprint
from sync.runtime import Runtime, build_runtime
from sync.store.models import AgendaItemRow, AgendaSessionRow, CalendarRow, OutboxRow, PushChannelRow
from sync.web import agenda_deps, create_app

EXAMPLES = int(os.environ.get("ONEONONE_FUZZ_EXAMPLES", "0")) or None
FUZZ = settings(
    max_examples=EXAMPLES or 120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

SECRET = b"fuzz-push-secret"
NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
MARIA, RUI, EVE = "maria@acme.test", "rui@acme.test", "eve@acme.test"
CHANNEL, OLD_CHANNEL = "chan-live", "chan-stopped"
SUBSCRIPTION, OLD_SUBSCRIPTION = "sub-live", "sub-stopped"
EXPIRES = NOW + timedelta(days=5)
LEAK = re.compile(r"Traceback|File \"|\.py\b|site-packages|" + re.escape(str(Path(__file__).resolve().parents[1])))


@dataclass(repr=False)
class Site:
    runtime: Runtime
    app: Flask
    deps: AgendaDeps
    page_id: str
    sessions: dict[str, str]  # who -> session cookie
    errors: list[BaseException]
    org_token: str | None

    def __repr__(self) -> str:  # hypothesis prints the fixture with each failing example
        return f"Site(page_id={self.page_id!r})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """SQLite in a temporary directory; PostgreSQL too (its own database) when ONEONONE_TEST_DATABASE_URL is set."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('fuzz-web') / 'oneonone.db'}"
        return
    if not os.environ.get(PG_ENV):
        pytest.skip(f"PostgreSQL tests need {PG_ENV}")
    yield from postgres_database()


@pytest.fixture(scope="module")
def site(database: str) -> Iterator[Site]:
    org_token = "org-admin-token-0123456789"
    os.environ["ONEONONE_FUZZ_ORG_TOKEN"] = org_token
    settings = parse_settings(
        {
            "database_url": database,
            "directory": {"pairs": [{"manager": MARIA, "report": RUI}], "domains": ["acme.test"]},
            "smtp": {"from": "oneonone@acme.test"},
            "web": {"base_url": "https://oneonone.acme.test", "public_url": "https://oneonone.acme.test"},
            **({"org_page": {"admin_token_env": "ONEONONE_FUZZ_ORG_TOKEN", "allow": [MARIA]}} if _has_org() else {}),
        }
    )
    runtime = build_runtime(settings, clock=lambda: NOW, providers=[], send=lambda row: None)
    with runtime.db.session() as session:
        session.add_all(
            [
                CalendarRow(provider="google", calendar=MARIA, generation=0),
                CalendarRow(provider="outlook", calendar=RUI, generation=0),
                *(
                    PushChannelRow(
                        provider=provider,
                        calendar=calendar,
                        channel_id=channel,
                        resource_id="res" if provider == "google" else None,
                        expires_at=EXPIRES,
                        created_at=NOW,
                        status=status,
                    )
                    for provider, calendar, channel, status in (
                        ("google", MARIA, CHANNEL, "active"),
                        ("google", MARIA, OLD_CHANNEL, "stopped"),
                        ("outlook", RUI, SUBSCRIPTION, "active"),
                        ("outlook", RUI, OLD_SUBSCRIPTION, "stopped"),
                    )
                ),
            ]
        )
        page_id = ensure_pair(session, MARIA, RUI, NOW, is_new=False).page_id
        sessions = {who: auth.open_session(session, who, NOW, 30) for who in (MARIA, EVE)}
    deps = agenda_deps(runtime)
    deps.deliver = None
    daemon = Daemon(runtime)
    assert runtime.metrics is not None
    blueprints = [push_blueprint(runtime.db, SECRET, runtime.clock, threading.Event())]
    blueprints.append(ops_blueprint(daemon, runtime.metrics))
    if _has_org():
        from sync.views.orgpage import org_blueprint, org_deps

        org = org_deps(settings, runtime.db, runtime.clock)
        assert org is not None
        blueprints.append(org_blueprint(org))
    app = create_app(deps, blueprints=blueprints)
    errors: list[BaseException] = []

    def record(sender: Flask, exception: BaseException, **extra: Any) -> None:
        errors.append(exception)

    got_request_exception.connect(record, app)
    yield Site(runtime, app, deps, page_id, sessions, errors, org_token if _has_org() else None)
    got_request_exception.disconnect(record, app)
    os.environ.pop("ONEONONE_FUZZ_ORG_TOKEN", None)
    runtime.db.dispose()


def _has_org() -> bool:
    try:
        from sync.config import OrgPageSettings  # noqa: F401
        from sync.views.orgpage import org_blueprint  # noqa: F401
    except ImportError:
        return False
    return True


# --- what every response must satisfy --------------------------------------------------------------


def check(site: Site, response: TestResponse, *, allow: frozenset[int] = frozenset()) -> str:
    body = response.get_data(as_text=True)
    assert not site.errors, f"a handler raised: {site.errors[0]!r}"
    assert response.status_code < 500 or response.status_code in allow, (response.status_code, body[:300])
    assert not LEAK.search(body), body[:500]
    return body


def reset(site: Site) -> None:
    """Each example starts from the same store: nothing wanted, the channels and sessions as they were."""
    site.errors.clear()
    with site.runtime.db.session() as session:
        for who, token in site.sessions.items():  # a fuzzed sign-out may have closed one
            if auth.session_email(session, token, NOW) is None:
                session.add(
                    AgendaSessionRow(
                        token_hash=auth.token_hash(token),
                        email=who,
                        created_at=NOW,
                        expires_at=NOW + timedelta(days=30),
                    )
                )
        session.execute(update(CalendarRow).values(wanted_at=None))
        for channel, status in ((CHANNEL, "active"), (OLD_CHANNEL, "stopped")):
            session.execute(
                update(PushChannelRow)
                .where(PushChannelRow.channel_id == channel)
                .values(status=status, expires_at=EXPIRES)
            )
        for channel, status in ((SUBSCRIPTION, "active"), (OLD_SUBSCRIPTION, "stopped")):
            session.execute(
                update(PushChannelRow)
                .where(PushChannelRow.channel_id == channel)
                .values(status=status, expires_at=EXPIRES)
            )


def wanted(site: Site) -> set[str]:
    with site.runtime.db.session() as session:
        return set(session.scalars(select(CalendarRow.calendar).where(CalendarRow.wanted_at.is_not(None))))


def channels(site: Site) -> set[tuple[str, str, datetime]]:
    with site.runtime.db.session() as session:
        return {(r.channel_id, r.status, r.expires_at) for r in session.scalars(select(PushChannelRow))}


# --- strategies ------------------------------------------------------------------------------------

# Header values: what survives HTTP (latin-1, no control characters), so the client can send them.
HEADER_TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF, blacklist_characters="\x7f"), max_size=80)
ANY_TEXT = st.text(max_size=60)
# JSON strings may also hold lone UTF-16 surrogates ("\ud800" in the body decodes to one).
SURROGATES = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF, blacklist_categories=())
JSON_TEXT = st.one_of(ANY_TEXT, st.text(st.one_of(st.characters(), SURROGATES), max_size=20))
JSON_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), JSON_TEXT)
JSON_ANY = st.recursive(
    JSON_SCALARS,
    lambda kids: st.one_of(
        st.lists(kids, max_size=3),
        st.dictionaries(
            st.one_of(
                st.sampled_from(["value", "subscriptionId", "clientState", "lifecycleEvent", "changeType", "resource"]),
                JSON_TEXT,
            ),
            kids,
            max_size=4,
        ),
    ),
    max_leaves=12,
)
QUERY = st.dictionaries(
    st.one_of(st.sampled_from(["validationToken", "token", "weeks", "error"]), ANY_TEXT),
    ANY_TEXT,
    max_size=3,
)


@st.composite
def google_headers(draw: st.DrawFn) -> dict[str, str]:
    channel = draw(st.one_of(st.sampled_from([CHANNEL, OLD_CHANNEL, "chan-unknown", ""]), HEADER_TEXT))
    token = draw(
        st.one_of(
            st.just(channel_token(SECRET, channel)),
            st.just(channel_token(SECRET, CHANNEL)),
            st.just(channel_token(b"another-secret", channel)),
            HEADER_TEXT,
        )
    )
    headers = {
        "X-Goog-Channel-ID": channel,
        "X-Goog-Channel-Token": token,
        "X-Goog-Resource-State": draw(st.one_of(st.sampled_from(["sync", "exists", "not_exists"]), HEADER_TEXT)),
        "X-Goog-Resource-ID": draw(HEADER_TEXT),
        "X-Goog-Message-Number": draw(HEADER_TEXT),
    }
    drop = draw(st.sets(st.sampled_from(sorted(headers))))
    return {k: v for k, v in headers.items() if k not in drop}


GRAPH_ITEM = st.one_of(
    JSON_ANY,
    st.fixed_dictionaries(
        {},
        optional={
            "subscriptionId": st.one_of(st.sampled_from([SUBSCRIPTION, OLD_SUBSCRIPTION, "sub-unknown"]), JSON_ANY),
            "clientState": st.one_of(
                st.sampled_from([client_state(SECRET, RUI), client_state(SECRET, MARIA), "guess"]), JSON_ANY
            ),
            "changeType": st.one_of(st.sampled_from(["created", "updated", "deleted"]), JSON_ANY),
            "lifecycleEvent": st.one_of(
                st.sampled_from(["reauthorizationRequired", "subscriptionRemoved", "missed"]), JSON_ANY
            ),
            "resource": JSON_ANY,
        },
    ),
)


@st.composite
def graph_bodies(draw: st.DrawFn) -> tuple[bytes, str]:
    """A JSON body (mostly `{"value": [...]}`) or arbitrary bytes, and the content type it is sent with."""
    kind = draw(st.sampled_from(["notifications", "json", "bytes"]))
    if kind == "notifications":
        body = json.dumps({"value": draw(st.lists(GRAPH_ITEM, max_size=4))}).encode()
    elif kind == "json":
        body = json.dumps(draw(JSON_ANY)).encode()
    else:
        body = draw(st.binary(max_size=200))
    content_type = draw(st.sampled_from(["application/json", "text/plain", "application/json; charset=utf-16", ""]))
    return body, content_type


def verified_graph(body: bytes, content_type: str) -> list[dict[str, Any]]:
    """The notifications in a body that really are for our live subscription (the oracle)."""
    if not content_type.startswith("application/json"):
        return []
    try:
        payload = json.loads(body)
    except ValueError:
        return []
    if not isinstance(payload, dict) or not isinstance(payload.get("value"), list):
        return []
    return [
        item
        for item in payload["value"]
        if isinstance(item, dict)
        and str(item.get("subscriptionId", "")) == SUBSCRIPTION
        and item.get("clientState") == client_state(SECRET, RUI)
    ]


# --- push webhooks -----------------------------------------------------------------------------------


@example(headers={"X-Goog-Channel-ID": CHANNEL, "X-Goog-Channel-Token": "é"}, query={}, body=b"")  # TypeError
@FUZZ
@given(headers=google_headers(), query=QUERY, body=st.binary(max_size=100))
def test_google_notifications_are_checked_and_forgeries_sync_nothing(
    site: Site, headers: dict[str, str], query: dict[str, str], body: bytes
) -> None:
    reset(site)
    response = site.app.test_client().post("/webhooks/google", headers=headers, query_string=query, data=body)
    check(site, response)
    channel = headers.get("X-Goog-Channel-ID", "")
    genuine = bool(channel) and headers.get("X-Goog-Channel-Token") == channel_token(SECRET, channel)
    if genuine and channel == CHANNEL:
        assert response.status_code == 204
        assert wanted(site) == (set() if headers.get("X-Goog-Resource-State") == "sync" else {MARIA})
    else:
        assert response.status_code in (401, 403, 404), response.status_code
        assert wanted(site) == set()


@example(  # a lone surrogate reached SQLite as a query parameter: UnicodeEncodeError
    body=(b'{"value": [{"subscriptionId": "\\ud800", "clientState": "x"}]}', "application/json"),
    query={},
    path="/webhooks/graph",
)
@example(  # PostgreSQL refused NUL in the subscription lookup: DataError
    body=(b'{"value": [{"subscriptionId": "sub\\u0000", "clientState": "x"}]}', "application/json"),
    query={},
    path="/webhooks/graph-lifecycle",
)
@example(  # compare_digest refused a non-ASCII clientState: TypeError
    body=(json.dumps({"value": [{"subscriptionId": SUBSCRIPTION, "clientState": "é"}]}).encode(), "application/json"),
    query={},
    path="/webhooks/graph-lifecycle",
)
@FUZZ
@given(body=graph_bodies(), query=QUERY, path=st.sampled_from(["/webhooks/graph", "/webhooks/graph-lifecycle"]))
def test_graph_notifications_are_checked_and_forgeries_sync_nothing(
    site: Site, body: tuple[bytes, str], query: dict[str, str], path: str
) -> None:
    reset(site)
    before = channels(site)
    data, content_type = body
    response = site.app.test_client().post(path, data=data, content_type=content_type or None, query_string=query)
    text = check(site, response)
    if "validationToken" in query:  # the subscription handshake: echo the token as plain text, do nothing else
        assert response.status_code == 200 and response.mimetype == "text/plain"
        assert text == query["validationToken"]
        genuine: list[dict[str, Any]] = []
    else:
        genuine = verified_graph(data, content_type)
    if genuine:
        assert response.status_code == 202
        assert wanted(site) == {RUI}
    else:
        assert wanted(site) == set()
        assert channels(site) == before, "an unverified lifecycle notification changed a subscription"
        if "validationToken" not in query:
            assert response.status_code in (202, 400, 401), response.status_code


# --- the agenda's forms --------------------------------------------------------------------------------

# Page ids as a path segment: anything but the characters that would end it ("/", "?", "#", "%").
PAGE_TEXT = st.text(st.characters(blacklist_characters="/?#%", blacklist_categories=["Cs"]), min_size=1, max_size=20)
ITEM_IDS = st.one_of(st.integers(0, 8), st.sampled_from([2**31, 2**63, 2**64, 10**30]))
ROUTES = st.sampled_from(["signin", "items", "edit", "done", "delete", "signout", "confirm"])


@st.composite
def agenda_posts(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "who": draw(st.sampled_from([None, MARIA, EVE, "garbage"])),
        "pre_cookie": draw(st.booleans()),
        "csrf": draw(st.sampled_from(["valid", "other", "garbage", "non-ascii", "missing"])),
        "route": draw(ROUTES),
        "page": draw(st.one_of(st.sampled_from(["real", "real", "unknown", "x" * 65]), PAGE_TEXT)),
        "item": draw(ITEM_IDS),
        "form": draw(
            st.fixed_dictionaries(
                {},
                optional={
                    "kind": st.one_of(st.sampled_from(["topic", "note", "action"]), ANY_TEXT),
                    "text": st.one_of(
                        st.sampled_from(["Career plans", "<script>x</script>", " ", "a" * 4100]), ANY_TEXT
                    ),
                    "owner": st.one_of(st.sampled_from([MARIA, RUI, EVE]), ANY_TEXT),
                    "due": st.one_of(
                        st.sampled_from(["2026-03-09", "9999-12-31", "0001-01-01", "2026-02-30"]), ANY_TEXT
                    ),
                    "done": st.one_of(st.sampled_from(["1", "0"]), ANY_TEXT),
                    "email": st.one_of(st.sampled_from([MARIA, RUI, EVE, "RUI@ACME.TEST", "@"]), ANY_TEXT),
                },
            )
        ),
        "raw": draw(st.one_of(st.none(), st.binary(max_size=120))),
    }


def _path(site: Site, post: dict[str, Any]) -> str:
    page = site.page_id if post["page"] == "real" else post["page"]
    return {
        "signin": f"/a/{page}/signin",
        "items": f"/a/{page}/items",
        "edit": f"/a/{page}/items/{post['item']}/edit",
        "done": f"/a/{page}/items/{post['item']}/done",
        "delete": f"/a/{page}/items/{post['item']}/delete",
        "signout": "/signout",
        "confirm": f"/signin/{page}",
    }[post["route"]]


def item_count(site: Site) -> int:
    with site.runtime.db.session() as session:
        return int(session.scalar(select(func.count(AgendaItemRow.id))) or 0)


def signin_mails(site: Site) -> list[str]:
    with site.runtime.db.session() as session:
        return [row.recipient for row in session.scalars(select(OutboxRow).where(OutboxRow.kind == "signin"))]


_EDIT = {"who": MARIA, "pre_cookie": False, "csrf": "valid", "page": "real", "form": {"text": "x"}, "raw": None}


@example(post={**_EDIT, "route": "edit", "item": 2**63})  # OverflowError from SQLite (PostgreSQL: from 2**31)
@example(post={**_EDIT, "who": None, "csrf": "non-ascii", "route": "items", "item": 0})  # TypeError in the CSRF check
@FUZZ
@given(post=agenda_posts())
def test_agenda_forms_never_crash_and_refuse_strangers(site: Site, post: dict[str, Any]) -> None:
    reset(site)
    client: FlaskClient = site.app.test_client()
    binding = None
    if post["who"] in site.sessions:
        binding = site.sessions[post["who"]]
        client.set_cookie(auth.SESSION_COOKIE, binding)
    elif post["who"] == "garbage":
        binding = "garbage-session"
        client.set_cookie(auth.SESSION_COOKIE, binding)
    if post["pre_cookie"]:
        client.set_cookie(auth.PRE_COOKIE, "pre-binding")
        binding = binding or "pre-binding"
    form = dict(post["form"])
    csrf = {
        "valid": auth.csrf_token(site.deps.secret, binding or "none"),
        "other": auth.csrf_token(site.deps.secret, "someone-else"),
        "garbage": "0" * 64,
        "non-ascii": "é" * 64,
        "missing": None,
    }[post["csrf"]]
    if csrf is not None:
        form["csrf"] = csrf
    items, mails = item_count(site), len(signin_mails(site))
    path = _path(site, post)
    if post["raw"] is not None:
        response = client.post(path, data=post["raw"], content_type="application/x-www-form-urlencoded")
    else:
        response = client.post(path, data=form)
    check(site, response)
    member = post["who"] == MARIA and post["page"] == "real"
    if post["route"] in ("items", "edit", "done", "delete") and not member:
        assert response.status_code in (400, 401, 403, 404, 405), response.status_code
        assert item_count(site) == items, "a stranger changed the agenda"
    if post["route"] == "signin":
        new = signin_mails(site)[mails:]
        assert set(new) <= {MARIA, RUI}, new  # sign-in links only ever go to the pair's own two people


@example(page="\x00", who=None, query={})  # PostgreSQL refused NUL in the page lookup: DataError
@FUZZ
@given(
    page=st.one_of(st.sampled_from(["real", "unknown"]), PAGE_TEXT),
    who=st.sampled_from([None, MARIA, EVE]),
    query=QUERY,
)
def test_agenda_pages_never_crash_and_stay_closed_to_strangers(
    site: Site, page: str, who: str | None, query: dict[str, str]
) -> None:
    reset(site)
    client = site.app.test_client()
    if who is not None:
        client.set_cookie(auth.SESSION_COOKIE, site.sessions[who])
    page_id = site.page_id if page == "real" else page
    response = client.get(f"/a/{page_id}", query_string=query)
    body = check(site, response)
    if who == MARIA and page == "real":
        assert response.status_code == 200
    else:
        assert response.status_code in (401, 404), response.status_code
        assert "Career plans" not in body  # no agenda text reaches a stranger


# --- the org page and everything else ------------------------------------------------------------------


@FUZZ
@given(
    token=st.one_of(st.none(), st.just("right"), HEADER_TEXT),
    where=st.sampled_from(["header", "query"]),
    who=st.sampled_from([None, MARIA, EVE]),
    query=QUERY,
)
def test_the_org_page_never_crashes_and_needs_the_token_or_an_allowed_person(
    site: Site, token: str | None, where: str, who: str | None, query: dict[str, str]
) -> None:
    if site.org_token is None:
        pytest.skip("no org page in this tree")
    reset(site)
    client = site.app.test_client()
    if who is not None:
        client.set_cookie(auth.SESSION_COOKIE, site.sessions[who])
    given_token = site.org_token if token == "right" else token
    headers, query = {}, dict(query)
    if given_token is not None and where == "header":
        headers["Authorization"] = f"Bearer {given_token}"
    elif given_token is not None:
        query["token"] = given_token
    response = client.get("/org", headers=headers, query_string=query)
    check(site, response)
    if given_token == site.org_token or who == MARIA:
        assert response.status_code == 200
    else:
        assert response.status_code == 401


@FUZZ
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]),
    path=st.one_of(
        st.sampled_from(
            ["/healthz", "/readyz", "/metrics", "/webhooks/google", "/webhooks/graph", "/org", "/a/", "/signin/", "/"]
        ),
        st.text(st.characters(min_codepoint=0x21, max_codepoint=0x2FFF, blacklist_characters="?#"), max_size=30).map(
            lambda p: "/" + p.lstrip("/")  # "//host/..." would name a host, not a path
        ),
    ),
    query=QUERY,
    body=st.binary(max_size=64),
)
def test_any_request_anywhere_gets_a_clean_answer(
    site: Site, method: str, path: str, query: dict[str, str], body: bytes
) -> None:
    reset(site)
    response = site.app.test_client().open(path, method=method, query_string=query, data=body)
    # /readyz answers 503 by design here: no cycle has run against this store.
    check(site, response, allow=frozenset({503}) if path.startswith("/readyz") else frozenset())
    assert wanted(site) == set()
