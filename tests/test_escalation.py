"""Skip-level escalation: off by default; when on, the Nth warning in a window copies the manager's manager, once."""

from __future__ import annotations

from datetime import datetime, timedelta

from rules_builders import B, M, P, R
from views_fixtures import NOW, org_settings, seed

from emulators.smtp import MailSink
from rules.model import EvaluationContext, Finding
from sync.actions.escalation import enqueue_escalations
from sync.actions.findings import record_findings
from sync.config import parse_settings
from sync.cycle import run_cycle
from sync.directory.sources import config_directory
from sync.notify.graph_mail import message_payload
from sync.notify.smtp import SmtpMailer
from sync.runtime import Runtime, build_runtime
from sync.store.db import Database
from sync.store.models import EscalationRow, FindingRow, OutboxRow


def _runtime(database_url: str, sink: MailSink, clock: list[datetime], **escalation: object) -> Runtime:
    extra = {"escalation": escalation} if escalation else {}
    settings = parse_settings(org_settings(database_url, smtp_port=sink.port, **extra))
    mailer = SmtpMailer(host="127.0.0.1", port=sink.port, sender="oneonone@acme.test")
    return build_runtime(settings, clock=lambda: clock[0], providers=[], send=mailer.send)


def _escalations(sink: MailSink) -> list[object]:
    return [m for m in sink.messages if m["Cc"]]


def test_the_third_warning_in_30_days_copies_the_skip_level_once(database_url: str, sink: MailSink) -> None:
    clock = [NOW]
    runtime = _runtime(database_url, sink, clock, enabled=True)
    seed(runtime.db)
    report = run_cycle(runtime)
    # Pia's 1:1s were cancelled on 18 Feb, 25 Feb and 4 Mar, and the gap broke on 26 Feb: four warnings
    # due within 30 days (Raj's January cancellation is older). The third one triggers, once.
    assert report.escalations == 1
    (mail,) = _escalations(sink)
    assert mail["To"] == M and mail["Cc"] == B
    assert mail["Subject"] == "A note on your 1:1s, shared with Bea so they can help"
    text = mail.get_body(("plain",)).get_content()
    assert "your manager, Bea (bea@acme.test), so they can help" in text and text.count("- Pia,") == 3
    with runtime.db.session() as session:
        (row,) = session.query(EscalationRow).all()
        assert row.skip_level == B and len(row.findings) == 3
        # Due 19 Feb 11:00, 26 Feb 00:00 (the gap) and 26 Feb 11:00 Berlin: the third is the 25 Feb cancellation.
        assert row.trigger == f"cancelled-without-reschedule|{M}|{P}|2025-02-25T10:00:00Z"
    assert sink.envelopes[-1][1] == [M, B]  # SMTP delivered it to both

    for advance in (timedelta(minutes=5), timedelta(hours=6)):
        clock[0] += advance
        assert run_cycle(runtime).escalations == 0
    runtime.db.dispose()
    restarted = _runtime(database_url, sink, clock, enabled=True)
    clock[0] += timedelta(days=1)
    assert run_cycle(restarted).escalations == 0
    assert len(_escalations(sink)) == 1


def test_no_escalation_unless_it_is_switched_on(database_url: str, sink: MailSink) -> None:
    runtime = _runtime(database_url, sink, [NOW])
    seed(runtime.db)
    assert run_cycle(runtime).escalations == 0
    assert _escalations(sink) == []
    with runtime.db.session() as session:
        assert session.query(EscalationRow).count() == 0 and session.query(OutboxRow).filter_by(cc=B).count() == 0


def _warning(report: str, due: datetime, rule: str = "cancelled-without-reschedule") -> Finding:
    return Finding(
        rule=rule,
        manager=M,
        report=report,
        key=due.isoformat(),
        occurrence=due - timedelta(days=1),
        message=f"Your 1:1 with {report} was cancelled.",
        explanation="test",
        notify_at=due,
    )


def _record(db: Database, findings: list[Finding], now: datetime) -> None:
    with db.session() as session:
        record_findings(session, findings, {(M, R), (M, P)}, now)  # both pairs judged: missing ones resolve


def _escalate(db: Database, runtime: Runtime, now: datetime) -> int:
    context = EvaluationContext(now=now, directory=config_directory(runtime.settings))
    with db.session() as session:
        return enqueue_escalations(session, runtime.settings.escalation, runtime.policy, context, now)


def test_only_warnings_that_became_due_count_and_each_window_escalates_once(database_url: str, sink: MailSink) -> None:
    runtime = _runtime(database_url, sink, [NOW], enabled=True, threshold=3, window_days=30)
    db = runtime.db
    first = [_warning(R, NOW - timedelta(days=d)) for d in (20, 10)]
    _record(db, first, NOW)
    assert _escalate(db, runtime, NOW) == 0  # two so far
    # A cancellation made up for within its grace period was never a violation.
    pending = _warning(P, NOW + timedelta(hours=12))
    _record(db, [*first, pending], NOW)
    _record(db, first, NOW + timedelta(hours=1))  # the replacement was booked: resolved before it was due
    assert _escalate(db, runtime, NOW + timedelta(days=1)) == 0
    third = _warning(P, NOW + timedelta(days=2))
    _record(db, [*first, third], NOW + timedelta(days=2))
    assert _escalate(db, runtime, NOW + timedelta(days=2)) == 1
    assert _escalate(db, runtime, NOW + timedelta(days=2, hours=1)) == 0
    # Only warnings due after the escalation count towards the next one: three more are needed.
    later = [_warning(P, NOW + timedelta(days=d)) for d in (3, 4)]
    _record(db, [*first, third, *later], NOW + timedelta(days=4))
    assert _escalate(db, runtime, NOW + timedelta(days=4)) == 0
    last = _warning(R, NOW + timedelta(days=5), rule="cadence-gap")
    _record(db, [*first, third, *later, last], NOW + timedelta(days=5))
    assert _escalate(db, runtime, NOW + timedelta(days=5)) == 1
    with db.session() as session:
        assert session.query(EscalationRow).count() == 2
        assert session.query(FindingRow).filter_by(rule="cadence-gap").count() == 1


def test_a_manager_without_a_manager_in_the_directory_is_not_escalated(database_url: str, sink: MailSink) -> None:
    runtime = _runtime(database_url, sink, [NOW], enabled=True, threshold=1)
    db = runtime.db
    warning = Finding(
        rule="cadence-gap",
        manager=B,
        report=M,
        key="k",
        message="m",
        explanation="e",
        notify_at=NOW - timedelta(hours=1),
    )
    _record(db, [warning], NOW)
    assert _escalate(db, runtime, NOW) == 0  # Bea has no manager in the directory


def test_through_graph_the_skip_level_is_a_cc_recipient(database_url: str, sink: MailSink) -> None:
    runtime = _runtime(database_url, sink, [NOW], enabled=True)
    seed(runtime.db)
    with runtime.db.session() as session:
        from sync.evaluation import evaluate_store

        evaluation, context = evaluate_store(session, runtime.settings, NOW)
        record_findings(session, evaluation.findings, evaluation.judged_pairs, NOW)
        assert enqueue_escalations(session, runtime.settings.escalation, runtime.policy, context, NOW) == 1
        row = session.query(OutboxRow).filter_by(kind="escalation").one()
        message = message_payload(row)["message"]
    assert message["toRecipients"] == [{"emailAddress": {"address": M}}]
    assert message["ccRecipients"] == [{"emailAddress": {"address": B}}]
    assert "attachments" not in message


def test_a_reports_declines_are_never_held_against_the_manager() -> None:
    from sync.actions.escalation import _counted

    db = Database("sqlite://")
    db.migrate()
    due = NOW - timedelta(days=1)

    def warning(key: str, **details: str) -> Finding:
        return Finding(
            rule="cancelled-without-reschedule",
            manager=M,
            report=P,
            key=key,
            message="m",
            explanation="e",
            occurrence=due,
            notify_at=due,
            details=details,
        )

    findings = [
        warning("2025-02-18T10:00:00Z", how="cancelled", cancelled_by=M),
        warning("2025-02-25T10:00:00Z", how="declined", cancelled_by=P),  # Pia said no
        warning("2025-03-04T10:00:00Z", how="declined", cancelled_by=M),
    ]
    with db.session() as session:
        record_findings(session, findings, {(M, P)}, NOW)
        counted = _counted(session, NOW, timedelta(days=30))
    assert [r.key for r in counted[M]] == ["2025-02-18T10:00:00Z", "2025-03-04T10:00:00Z"]
