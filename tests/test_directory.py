"""The directory through both emulators (Google Admin SDK, Entra ID): import, lifecycle, scope, failures.

Every test runs with the Google Workspace directory and with Entra ID (and on SQLite and
PostgreSQL); the calendars are on Google in both, so only the directory source differs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from directory_fixtures import (
    BEA,
    MARIA,
    NIA,
    NOW,
    ORG,
    PAGE_SIZE,
    PIA,
    RAJ,
    SAM,
    SECRET,
    SECRET_ENV,
    TOM,
    DirectoryWorld,
    directory_config,
    make_directory_world,
)
from google_fixtures import instance_id, weekly_one_on_one, when
from sqlalchemy import select

from emulators.google import GoogleCalendarEmulator
from emulators.graph import GraphEmulator
from emulators.http import Fault, Reply, Request
from emulators.smtp import MailSink
from sync.agenda import auth
from sync.agenda.mail import deliver_now, queue, signin_mail
from sync.agenda.meetings import pair_history
from sync.agenda.page import build_page
from sync.agenda.store import items_of, pair_row
from sync.config import DirectoryScopeRule, parse_settings
from sync.cycle import run_cycle
from sync.directory.calendars import follow_directory
from sync.directory.refresh import refresh_job
from sync.evaluation import evaluation_context
from sync.notify.policy import MailPolicy
from sync.notify.smtp import SmtpMailer
from sync.runtime import build_runtime
from sync.store.models import (
    AgendaNudgeRow,
    AgendaSessionRow,
    AgendaWriteRow,
    DirectoryPersonRow,
    DirectoryStateRow,
    OutboxRow,
)
from sync.views.report import build_report
from sync.web import agenda_deps, create_app

FIRST = NOW - timedelta(weeks=4) + timedelta(hours=2)  # Mondays 10:00 UTC, four weeks of history
ALL_PAIRS = {(BEA, MARIA), (BEA, PIA), (MARIA, RAJ), (MARIA, SAM), (PIA, TOM)}


@contextmanager
def _world(kind: str, database_url: str, tmp_path: Path, sink: MailSink, **extra: Any) -> Iterator[DirectoryWorld]:
    google = GoogleCalendarEmulator()
    google.start()
    graph = GraphEmulator(ca_dir=tmp_path / "graph-ca") if kind == "entra" else None
    if graph is not None:
        graph.start()
    made = make_directory_world(kind, google, graph, sink, database_url, tmp_path, **extra)
    try:
        yield made
    finally:
        made.runtime.db.dispose()
        google.stop()
        if graph is not None:
            graph.stop()


@pytest.fixture(params=["google", "entra"])
def world(request: pytest.FixtureRequest, database_url: str, tmp_path: Path) -> Iterator[DirectoryWorld]:
    with MailSink() as sink, _world(request.param, database_url, tmp_path, sink) as made:
        yield made


def one_off(world: DirectoryWorld, organizer: str, attendee: str, start: datetime, title: str) -> None:
    world.google.insert_event(
        organizer,
        {
            "summary": title,
            "start": when(start, "UTC"),
            "end": when(start + timedelta(minutes=30), "UTC"),
            "attendees": [
                {"email": organizer, "organizer": True, "responseStatus": "accepted"},
                {"email": attendee, "responseStatus": "accepted"},
            ],
        },
    )


def findings_of(world: DirectoryWorld, manager: str, report: str) -> list[dict[str, object]]:
    return [f for f in world.findings() if (f["manager"], f["report"]) == (manager, report)]


def test_import_reads_every_page_and_the_first_import_gives_no_start_dates(world: DirectoryWorld) -> None:
    result = world.refresh()
    assert result.ok and result.error is None
    assert world.in_force() == ALL_PAIRS
    users = len(ORG) + (1 if world.kind == "google" else 0)  # Google lists the admin too
    assert world.directory_requests() == -(-users // PAGE_SIZE) >= 3  # every page, page size 2
    rows = world.pairs()
    assert {row["source"] for row in rows} == {world.kind}
    # Installing oneonone does not make every pair "new": their start stays unknown (first 1:1 / first seen).
    assert {row["start"] for row in rows} == {None}
    with world.runtime.db.session() as session:
        context = evaluation_context(session, world.settings, world.now[0])
    assert {p.key for p in context.directory.pairs} == ALL_PAIRS
    assert context.directory.manager_of[RAJ] == MARIA and context.directory.manager_of[MARIA] == BEA
    # A second refresh with nothing changed changes nothing.
    again = world.refresh()
    assert again.ok and (again.started, again.ended) == ([], [])


@pytest.mark.parametrize("kind", ["google", "entra"])
def test_a_manager_change_ends_the_old_pair_and_starts_the_new_one_with_a_first_meeting_agenda(
    kind: str, database_url: str, tmp_path: Path
) -> None:
    with MailSink() as sink, _world(kind, database_url, tmp_path, sink, agenda={"nudges": True}) as world:
        weekly_one_on_one(world.google, FIRST, organizer=MARIA, attendee=RAJ, event_id="mariaraj0001", zone="UTC")
        world.google.delete_event(MARIA, instance_id("mariaraj0001", FIRST + timedelta(weeks=1)))
        assert world.refresh().ok
        world.cycle()
        (cancelled,) = [f for f in findings_of(world, MARIA, RAJ) if f["rule"] == "cancelled-without-reschedule"]
        assert cancelled["status"] == "open"

        world.set_manager(RAJ, PIA)  # Raj moves to Pia's team
        world.now[0] += timedelta(hours=1)
        result = world.refresh()
        ended_at = world.now[0]
        assert result.ok
        assert [(p.key, reason) for p, reason in result.ended] == [((MARIA, RAJ), "manager-changed")]
        assert [(p.key, p.start) for p in result.started] == [((PIA, RAJ), world.now[0].date())]
        assert result.findings_ended >= 1
        assert {f["status"] for f in findings_of(world, MARIA, RAJ)} == {"ended"}  # closed, kept as history

        # Pia books their first 1:1; Maria, out of habit, books one more with Raj for tomorrow morning.
        one_off(world, PIA, RAJ, NOW + timedelta(days=2, hours=2), "1:1 Pia / Raj")
        one_off(world, MARIA, RAJ, NOW + timedelta(hours=20), "1:1 Maria / Raj")
        world.cycle()
        world.cycle(timedelta(hours=2))  # past Monday's 10:00 slot: Maria's one-off is the next meeting

        with world.runtime.db.session() as session:
            new, old = pair_row(session, PIA, RAJ), pair_row(session, MARIA, RAJ)
            assert new is not None and new.is_new
            context = evaluation_context(session, world.settings, world.now[0])
            history = pair_history(session, context, PIA, RAJ)
            page = build_page(PIA, RAJ, history, items_of(session, new.id), world.now[0], is_new=new.is_new)
            writes = list(session.scalars(select(AgendaWriteRow)))
            nudges = list(session.scalars(select(AgendaNudgeRow)))
        assert page.first_meeting and page.next.start == NOW + timedelta(days=2, hours=2)
        assert {(w.calendar, w.state) for w in writes if w.pair_id == new.id} == {(PIA, "done")}
        assert old is not None  # the old page stays (history), but the ended pair gets nothing new:
        assert [w for w in writes if w.pair_id == old.id and w.created_at >= ended_at] == []
        assert [n for n in nudges if n.pair_id == old.id and n.created_at >= ended_at] == []
        assert {f["status"] for f in findings_of(world, MARIA, RAJ)} == {"ended"}
        assert all("raj" not in (m["Subject"] or "").lower() or m["To"] != MARIA for m in world.sink.messages)
        # The report (and the weekly digest built from it) lists the pair in force, not the ended one.
        with world.runtime.db.session() as session:
            rows, _ = build_report(session, world.settings, world.now[0])
        reported = {(r.summary.manager, r.summary.report) for r in rows}
        assert (PIA, RAJ) in reported and (MARIA, RAJ) not in reported


@pytest.mark.parametrize("how", ["blocked", "deleted"])
@pytest.mark.parametrize("kind", ["google", "entra"])
def test_a_leaver_ends_their_pairs_and_is_never_emailed_again(
    kind: str, how: str, database_url: str, tmp_path: Path
) -> None:
    with MailSink() as sink, _world(kind, database_url, tmp_path, sink) as world:
        weekly_one_on_one(world.google, FIRST, organizer=PIA, attendee=TOM, event_id="piatom0001", zone="UTC")
        world.google.delete_event(PIA, instance_id("piatom0001", FIRST + timedelta(weeks=3)))  # last Monday
        assert world.refresh().ok
        mailer = world.runtime.send
        world.runtime.send = None  # the mail server is down: the warning to Pia waits in the outbox
        world.cycle()
        with world.runtime.db.session() as session:
            (pending,) = session.scalars(select(OutboxRow).where(OutboxRow.recipient == PIA)).all()
            assert pending.status == "pending"

        world.leave(PIA, how)
        result = world.refresh()
        assert result.ok and result.left == [PIA]
        assert sorted((p.key, reason) for p, reason in result.ended) == [((BEA, PIA), "left"), ((PIA, TOM), "left")]
        assert {f["status"] for f in findings_of(world, PIA, TOM)} == {"ended"}

        world.runtime.send = mailer
        for _ in range(3):
            world.cycle(timedelta(days=1))
        assert [m for m in world.sink.messages if PIA in (m["To"] or "")] == []
        with world.runtime.db.session() as session:
            assert session.get(OutboxRow, pending.id).status == "suppressed"  # type: ignore[union-attr]
            person = session.scalar(select(DirectoryPersonRow).where(DirectoryPersonRow.address == PIA))
            assert person is not None and not person.active and person.left_at is not None
            # A sign-in link asked for on an old agenda page is not sent either.
            mail = signin_mail(PIA, TOM, "https://agenda.example.com/a/1", 15, "h" * 64)
            signin_id = queue(session, mail, world.now[0], MailPolicy(sender_domain="example.com")).id
        assert not deliver_now(world.runtime.db, _send(world), signin_id, world.now[0], worker="web")
        with world.runtime.db.session() as session:
            assert session.get(OutboxRow, signin_id).status == "suppressed"  # type: ignore[union-attr]
        assert world.in_force() == ALL_PAIRS - {(BEA, PIA), (PIA, TOM)}


@pytest.mark.parametrize("kind", ["google", "entra"])
def test_a_leavers_session_ends_and_the_ended_pairs_page_closes_to_both_people(
    kind: str, database_url: str, tmp_path: Path
) -> None:
    with MailSink() as sink, _world(kind, database_url, tmp_path, sink) as world:
        weekly_one_on_one(world.google, FIRST, organizer=PIA, attendee=TOM, event_id="piatom0001", zone="UTC")
        assert world.refresh().ok
        world.cycle()
        with world.runtime.db.session() as session:
            page = f"/a/{pair_row(session, PIA, TOM).page_id}"  # type: ignore[union-attr]
            cookies = {who: auth.open_session(session, who, world.now[0], 30) for who in (PIA, TOM)}
        browsers = {}
        for who, cookie in cookies.items():
            browsers[who] = create_app(agenda_deps(world.runtime)).test_client()
            browsers[who].set_cookie(auth.SESSION_COOKIE, cookie)
            assert browsers[who].get(page).status_code == 200

        world.leave(PIA)
        assert world.refresh().ok
        for who in (PIA, TOM):  # Pia left; Tom's pair with her ended with it
            answer = browsers[who].get(page)
            assert answer.status_code == 401 and "Talking points" not in answer.get_data(as_text=True)
        with world.runtime.db.session() as session:
            assert session.query(AgendaSessionRow).filter_by(email=PIA).count() == 0  # her session itself ended
            assert session.query(AgendaSessionRow).filter_by(email=TOM).count() == 1  # his other pairs stay open


def _send(world: DirectoryWorld) -> Callable[[OutboxRow], None]:
    return SmtpMailer(host="127.0.0.1", port=world.sink.port, sender="oneonone@example.com").send


@pytest.mark.parametrize("kind", ["google", "entra"])
def test_a_directory_pair_that_never_met_is_a_cadence_gap_after_max_gap_days_from_its_start(
    kind: str, database_url: str, tmp_path: Path
) -> None:
    with MailSink() as sink, _world(kind, database_url, tmp_path, sink) as world:
        assert world.refresh().ok
        world.cycle()
        world.add_user(NIA, MARIA, "Engineering")  # Nia joins Maria's team on Tuesday
        world.now[0] = datetime(2026, 3, 3, 8, 0, tzinfo=UTC)
        result = world.refresh()
        assert [(p.key, p.start) for p in result.started] == [((MARIA, NIA), datetime(2026, 3, 3).date())]
        world.now[0] = datetime(2026, 3, 17, 12, 0, tzinfo=UTC)  # 14 days after the start: still fine
        world.cycle(timedelta(0))
        assert [f for f in findings_of(world, MARIA, NIA) if f["rule"] == "cadence-gap"] == []
        world.now[0] = datetime(2026, 3, 18, 0, 30, tzinfo=UTC)  # the 15th day
        world.cycle(timedelta(0))
        (gap,) = [f for f in findings_of(world, MARIA, NIA) if f["rule"] == "cadence-gap"]
        assert gap["status"] == "open" and gap["key"] == "never"
        assert gap["notify_at"] == "2026-03-18T00:00:00Z" and gap["notified_at"] is not None
        assert "Tue 03 Mar 2026" in str(gap["explanation"])
        assert any(m["To"] == MARIA and "nia" in m.get_body(("plain",)).get_content().lower() for m in sink.messages)


@pytest.mark.parametrize("kind", ["google", "entra"])
def test_include_and_exclude_scope_the_pairs_and_a_narrower_scope_ends_pairs(
    kind: str, database_url: str, tmp_path: Path
) -> None:
    with MailSink() as sink, _world(kind, database_url, tmp_path, sink) as world:
        engineering = world.with_directory(
            include=(DirectoryScopeRule(department="engineering"),), exclude=(DirectoryScopeRule(address=SAM),)
        )
        assert world.refresh(engineering).ok
        # Maria is in Engineering, so her own 1:1 with Bea is in; Sam is excluded by address.
        assert world.in_force() == {(BEA, MARIA), (MARIA, RAJ)}
        with world.runtime.db.session() as session:
            judged = {p.key for p in evaluation_context(session, engineering, NOW).directory.pairs}
        assert judged == {(BEA, MARIA), (MARIA, RAJ)}

        pia_team = world.with_directory(include=(DirectoryScopeRule(manager_subtree=PIA),))
        refused = world.refresh(pia_team)  # would end both pairs in force
        assert not refused.ok and "allow-large-changes" in (refused.error or "")
        moved = world.refresh(pia_team, allow_large_changes=True)
        assert moved.ok and world.in_force() == {(PIA, TOM)}
        assert sorted((p.key, reason) for p, reason in moved.ended) == [
            ((BEA, MARIA), "out-of-scope"),
            ((MARIA, RAJ), "out-of-scope"),
        ]
        whole = world.with_directory(include=(DirectoryScopeRule(manager_subtree=BEA),))
        assert world.refresh(whole).ok and world.in_force() == ALL_PAIRS


@dataclass
class LaterPages(Fault):
    """A fault for the second and later pages of a listing only (their query carries a page token)."""

    def matches(self, request: Request) -> bool:
        later = "pagetoken=" in request.raw_path.lower() or "skiptoken=" in request.raw_path.lower()
        return later and super().matches(request)


def _failure(world: DirectoryWorld, kind: str) -> Fault:
    path = r"^/v1\.0/users$" if world.graph is not None else r"^/admin/directory/v1/users$"
    server = world.graph.server if world.graph is not None else world.google.server
    if kind == "denied" and world.graph is not None:
        body = {"error": {"code": "Authorization_RequestDenied", "message": "Insufficient privileges."}}
        fault = Fault(reply=Reply.json(403, body), path=path)
    elif kind == "denied":
        body = {"error": {"code": 403, "message": "Not Authorized to access this resource/api", "errors": [
            {"domain": "global", "reason": "forbidden", "message": "Not Authorized to access this resource/api"}
        ]}}  # fmt: skip
        fault = Fault(reply=Reply.json(403, body), path=path)
    elif kind == "malformed":
        fault = Fault(reply=Reply.json(200, {"value": "oops", "users": {"oops": 1}}), path=path)
    else:
        body = {"error": {"code": "ServiceUnavailable", "message": "try later"}} if world.graph else {"error": {
            "code": 503, "message": "Backend Error", "errors": [{"reason": "backendError", "message": "Backend Error"}]
        }}  # fmt: skip
        fault = LaterPages(reply=Reply.json(503, body), path=path, times=10)
    return server.faults.add(fault)


@pytest.mark.parametrize("failure", ["denied", "malformed", "mid-listing"])
@pytest.mark.parametrize("kind", ["google", "entra"])
def test_a_failing_source_is_named_with_a_fix_and_the_last_good_directory_stays_in_force(
    kind: str, failure: str, database_url: str, tmp_path: Path
) -> None:
    admin = {"admin_email": "it@example.com"}
    with MailSink() as sink, _world(kind, database_url, tmp_path, sink, notify=admin) as world:
        assert world.refresh().ok
        world.set_manager(RAJ, PIA)
        fault = _failure(world, failure)
        result = world.refresh()
        assert not result.ok and result.error is not None
        assert result.error.startswith(f"directory source {kind}: ")
        hint = {
            ("denied", "google"): "admin_subject",
            ("denied", "entra"): "User.Read.All",
            ("malformed", "google"): "malformed",
            ("malformed", "entra"): "malformed",
        }.get((failure, kind), "503")
        assert hint in result.error
        if failure == "mid-listing":
            assert fault.hits == 3 and len(world.waits.waits) == 2  # retried with backoff, then given up
        assert world.in_force() == ALL_PAIRS  # nothing of the failed listing was applied
        with world.runtime.db.session() as session:
            state = session.scalar(select(DirectoryStateRow))
            assert state is not None and state.last_error == result.error and state.last_success_at == NOW
            judged = {p.key for p in evaluation_context(session, world.settings, world.now[0]).directory.pairs}
        assert judged == ALL_PAIRS
        world.cycle()  # the daemon goes on with the last good directory; the admin is told (once a day)
        (alert,) = [m for m in sink.messages if m["To"] == "it@example.com"]
        assert f"cannot read the directory ({kind})" in alert["Subject"]
        _failure(world, failure)
        assert not world.refresh().ok  # fails again the same day
        world.cycle()
        assert len([m for m in sink.messages if m["To"] == "it@example.com"]) == 1

        server = world.graph.server if world.graph is not None else world.google.server
        server.faults.clear()
        world.now[0] += timedelta(hours=1)
        fixed = world.refresh()
        assert fixed.ok and world.in_force() == (ALL_PAIRS - {(MARIA, RAJ)}) | {(PIA, RAJ)}


@pytest.mark.parametrize("kind", ["google", "entra"])
def test_a_refresh_that_would_end_more_than_half_of_the_pairs_is_refused_until_allowed(
    kind: str, database_url: str, tmp_path: Path
) -> None:
    with MailSink() as sink, _world(kind, database_url, tmp_path, sink) as world:
        assert world.refresh().ok
        for person in (RAJ, SAM, TOM):  # an HR import that lost the reporting lines
            world.set_manager(person, None)
        refused = world.refresh()
        assert not refused.ok
        assert "would end 3 of the 5 pairs" in (refused.error or "")
        assert world.in_force() == ALL_PAIRS
        allowed = world.refresh(allow_large_changes=True)
        assert allowed.ok and world.in_force() == {(BEA, MARIA), (BEA, PIA)}
        assert {reason for _, reason in allowed.ended} == {"removed"}
        # Never replaced by nothing, even when allowed.
        for person in (MARIA, PIA):
            world.set_manager(person, None)
        empty = world.refresh(allow_large_changes=True)
        assert not empty.ok and "names no manager-report pair" in (empty.error or "")
        assert world.in_force() == {(BEA, MARIA), (BEA, PIA)}


@pytest.mark.parametrize("kind", ["google", "entra"])
def test_calendars_not_listed_follow_the_managers_in_force(
    kind: str, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SECRET_ENV, SECRET)
    with MailSink() as sink, _world(kind, database_url, tmp_path, sink) as world:
        data = directory_config(kind, world.google, world.graph, world.key_file, sink, database_url)
        if kind == "google":
            data["google"]["calendars"] = []  # no list: the directory's managers are watched
        runtime = build_runtime(parse_settings(data), clock=lambda: world.now[0], send=None)
        try:
            provider = next(p for p in runtime.providers if p.name == ("google" if kind == "google" else "outlook"))
            assert tuple(provider.calendars()) == ()  # nothing known yet
            job = refresh_job(
                runtime.db,
                runtime.settings,
                runtime.clock,
                after=lambda: follow_directory(runtime.db, runtime.providers),
            )
            job()
            assert tuple(provider.calendars()) == (BEA, MARIA, PIA)
            world.leave(PIA)
            world.now[0] += timedelta(days=1)
            job()  # due again a day later
            assert tuple(provider.calendars()) == (BEA, MARIA)
            if kind == "google":
                report = run_cycle(runtime)
                assert sorted(c.calendar for c in report.calendars if c.ok) == [BEA, MARIA]
        finally:
            runtime.db.dispose()
