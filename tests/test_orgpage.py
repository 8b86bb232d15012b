"""/org over HTTP: who may open it (token, bearer header, allow-listed session), and what it never shows."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient
from rules_builders import B, M, R
from views_fixtures import NOW, SECRET_DESCRIPTION, SECRET_TITLE, org_settings, seed

from sync.agenda import auth
from sync.agenda.store import add_item
from sync.config import ConfigError, Settings, parse_settings
from sync.cycle import run_cycle
from sync.runtime import build_runtime
from sync.store.models import AgendaPairRow
from sync.views.orgpage import org_blueprint, org_deps, token_ok
from sync.web import agenda_deps, create_app

TOKEN = "org-token-0123456789abcdef"
NOTE = "SECRET-NOTE Raj wants to talk about leaving"


def _settings(database_url: str, **org: object) -> Settings:
    return parse_settings(org_settings(database_url, org_page=org or {"admin_token_env": "ONEONONE_TEST_ORG_TOKEN"}))


@pytest.fixture
def client(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[FlaskClient]:
    monkeypatch.setenv("ONEONONE_TEST_ORG_TOKEN", TOKEN)
    settings = _settings(database_url, admin_token_env="ONEONONE_TEST_ORG_TOKEN", allow=[B])
    runtime = build_runtime(settings, clock=lambda: NOW, providers=[], send=lambda row: None)
    seed(runtime.db)
    run_cycle(runtime)  # findings, and every pair's agenda page
    with runtime.db.session() as session:
        pair = session.query(AgendaPairRow).filter_by(manager=M, report=R).one()
        add_item(session, pair.id, "note", NOTE, author=M, now=NOW, occurrence=None)
        add_item(session, pair.id, "topic", "SECRET-TOPIC promotion", author=R, now=NOW, occurrence=None)
    deps = org_deps(settings, runtime.db, lambda: NOW)
    assert deps is not None
    app = create_app(agenda_deps(runtime), blueprints=[org_blueprint(deps)])
    with app.test_client() as test_client:
        test_client.application.config["runtime"] = runtime
        yield test_client
    runtime.db.dispose()


def _session_cookie(client: FlaskClient, email: str) -> None:
    runtime = client.application.config["runtime"]
    with runtime.db.session() as session:
        token = auth.open_session(session, email, NOW, 30)
    client.set_cookie(auth.SESSION_COOKIE, token)


def test_the_page_refuses_without_the_token(client: FlaskClient) -> None:
    for response in (
        client.get("/org"),
        client.get("/org?token=wrong-token-0123456789"),
        client.get("/org", headers={"Authorization": "Bearer nope"}),
        client.get("/org", headers={"Authorization": f"Basic {TOKEN}"}),
    ):
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert b"maria" not in response.data.lower() and b'id="managers"' not in response.data


def test_the_token_opens_it_as_a_query_parameter_or_a_bearer_header(client: FlaskClient) -> None:
    for response in (
        client.get(f"/org?token={TOKEN}"),
        client.get("/org", headers={"Authorization": f"Bearer {TOKEN}"}),
    ):
        assert response.status_code == 200
        assert "default-src 'none'" in response.headers["Content-Security-Policy"]
        assert response.headers["Referrer-Policy"] == "no-referrer" and response.headers["Cache-Control"] == "no-store"
        assert b'<tr data-manager="maria@acme.test">' in response.data


def test_it_shows_aggregates_and_never_notes_titles_descriptions_or_report_names(client: FlaskClient) -> None:
    html = client.get(f"/org?token={TOKEN}").get_data(as_text=True)
    maria = html[html.index('data-manager="maria@acme.test"') :].split("</tr>")[0]
    assert "50%" in maria and "(1 of 2)" in maria  # Raj met within cadence, Pia not
    assert '<td class="num cancelled" data-label="Cancellation rate">24%</td>' in maria  # 4 of 17 due
    assert '<td class="num rescheduled" data-label="Reschedule rate">12%</td>' in maria  # 2 of 17
    assert "27 days" in maria and '<td class="num due" data-label="1:1s due">17</td>' in maria
    bea = html[html.index('data-manager="bea@acme.test"') :].split("</tr>")[0]
    assert (
        "100%" in bea and '<td class="num cancelled" data-label="Cancellation rate">0%</td>' in bea and "4 days" in bea
    )
    for private in (NOTE, "SECRET-NOTE", "SECRET-TOPIC", SECRET_TITLE, "TOPSECRET", SECRET_DESCRIPTION, R, "Raj"):
        assert private not in html
    assert '<svg id="chart"' in html and "<script" not in html


def test_an_allow_listed_person_signed_in_to_the_agenda_may_open_it(client: FlaskClient) -> None:
    _session_cookie(client, M)  # signed in, but not on the allow-list
    assert client.get("/org").status_code == 401
    _session_cookie(client, B)
    assert client.get("/org").status_code == 200


def test_without_configuration_there_is_no_page(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = parse_settings(org_settings(database_url))
    assert org_deps(settings, None, lambda: NOW) is None  # type: ignore[arg-type]
    monkeypatch.setenv("ONEONONE_TEST_ORG_TOKEN", "short")
    with pytest.raises(ConfigError, match="at least 16 characters"):
        org_deps(_settings(database_url), None, lambda: NOW)  # type: ignore[arg-type]


def test_tokens_are_compared_whole() -> None:
    from pydantic import SecretStr

    secret = SecretStr(TOKEN)
    assert token_ok(secret, TOKEN)
    assert not token_ok(secret, TOKEN[:-1]) and not token_ok(secret, TOKEN + "x") and not token_ok(secret, "")
    assert not token_ok(None, TOKEN)
