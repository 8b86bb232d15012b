"""Warning emails: one per manager per cycle, over real SMTP, never lost, never twice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from emulators.smtp import MailSink
from rules.model import Finding
from sync.actions.findings import record_findings
from sync.actions.warnings import enqueue_warnings
from sync.notify.outbox import deliver_pending
from sync.notify.policy import MailPolicy
from sync.notify.smtp import SmtpMailer
from sync.store.db import Database
from sync.store.models import FindingRow, OutboxRow

NOW = datetime(2025, 1, 20, 8, 0, tzinfo=UTC)
ALICE, BOB, CAROL = "alice@example.com", "bob.jones@example.com", "carol@example.com"


@pytest.fixture
def db(database_url: str) -> Database:
    database = Database(database_url)
    database.migrate()
    return database


def _finding(report: str, key: str, *, notify_at: datetime | None = NOW, message: str = "") -> Finding:
    return Finding(
        rule="cancelled-without-reschedule",
        manager=ALICE,
        report=report,
        key=key,
        occurrence=datetime.fromisoformat(key.replace("Z", "+00:00")),
        message=message or f"Your 1:1 with {report} was cancelled and not rescheduled.",
        explanation="No replacement within 6 days of the original slot.",
        notify_at=notify_at,
    )


def _mailer(sink: MailSink) -> SmtpMailer:
    return SmtpMailer(host="127.0.0.1", port=sink.port, sender="oneonone@example.com")


def _cycle(db: Database, sink: MailSink, findings: list[Finding], now: datetime = NOW) -> int:
    with db.session() as s:
        record_findings(s, findings, {(f.manager, f.report) for f in findings}, now)
        enqueue_warnings(s, now, MailPolicy(sender_domain="example.com"), {ALICE: "Europe/Berlin"})
    return deliver_pending(db, _mailer(sink).send, now).sent


def test_one_email_per_manager_names_each_report_and_what_to_do(db: Database, sink: MailSink) -> None:
    findings = [_finding(BOB, "2025-01-13T09:00:00Z"), _finding(CAROL, "2025-01-14T09:00:00Z")]
    assert _cycle(db, sink, findings) == 1
    (mail,) = sink.messages
    assert mail["To"] == ALICE
    assert "2 of your 1:1s need attention" in mail["Subject"]
    text = mail.get_body(("plain",)).get_content()
    html = mail.get_body(("html",)).get_content()
    for body in (text, html):
        assert "Bob Jones" in body and "Carol" in body
        assert "Book a replacement" in body  # what to do, fitted to a cancellation
    assert "Mon 13 Jan 2025, 10:00 CET" in text  # the manager's zone


def test_a_second_cycle_sends_nothing_new(db: Database, sink: MailSink) -> None:
    findings = [_finding(BOB, "2025-01-13T09:00:00Z")]
    assert _cycle(db, sink, findings) == 1
    assert _cycle(db, sink, findings, NOW + timedelta(minutes=5)) == 0
    assert len(sink.messages) == 1


def test_a_finding_that_is_not_due_yet_waits(db: Database, sink: MailSink) -> None:
    findings = [_finding(BOB, "2025-01-13T09:00:00Z", notify_at=NOW + timedelta(hours=3))]
    assert _cycle(db, sink, findings) == 0
    assert _cycle(db, sink, findings, NOW + timedelta(hours=3)) == 1


def test_event_text_is_escaped_and_cannot_inject_headers(db: Database, sink: MailSink) -> None:
    hostile = "Title <script>alert(1)</script>\r\nBcc: victim@evil.example"
    _cycle(db, sink, [_finding(BOB, "2025-01-13T09:00:00Z", message=hostile)])
    (mail,) = sink.messages
    assert mail["Bcc"] is None
    assert sink.envelopes[0][1] == [ALICE]
    html = mail.get_body(("html",)).get_content()
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_smtp_down_is_retried_later_and_nothing_is_lost(db: Database, sink: MailSink) -> None:
    sink.refuse_next(1)
    assert _cycle(db, sink, [_finding(BOB, "2025-01-13T09:00:00Z")]) == 0
    with db.session() as s:
        (row,) = s.query(OutboxRow).all()
        assert (row.status, row.attempts) == ("pending", 1)
        assert "451" in (row.last_error or "")
        retry_at = row.next_attempt_at
    assert deliver_pending(db, _mailer(sink).send, NOW + timedelta(seconds=1)).sent == 0  # backing off
    assert deliver_pending(db, _mailer(sink).send, retry_at).sent == 1
    with db.session() as s:
        assert s.query(FindingRow).one().notified_at == retry_at


def test_a_crash_after_smtp_acceptance_resends_with_the_same_message_id(db: Database, sink: MailSink) -> None:
    mailer = _mailer(sink)

    def send_then_crash(row: OutboxRow) -> None:
        mailer.send(row)
        raise SystemExit("killed between the server's acceptance and our commit")

    with db.session() as s:
        record_findings(s, [_finding(BOB, "2025-01-13T09:00:00Z")], {(ALICE, BOB)}, NOW)
        enqueue_warnings(s, NOW, MailPolicy(sender_domain="example.com"), {})
    with pytest.raises(SystemExit):
        deliver_pending(db, send_then_crash, NOW)
    # The restarted daemon waits out the dead worker's claim, then sends the copy.
    assert deliver_pending(db, mailer.send, NOW + timedelta(minutes=1)).sent == 0
    assert deliver_pending(db, mailer.send, NOW + timedelta(minutes=10)).sent == 1
    first, second = sink.messages
    assert first["Message-ID"] == second["Message-ID"]


def test_a_server_that_hangs_up_before_confirming_gets_at_most_three_copies_with_one_message_id(
    db: Database, sink: MailSink
) -> None:
    """The server kept each copy, then dropped the line before its `250`: we cannot know it arrived. It is
    tried again (a lost warning is worse), but three times in all, never the eight a refusal gets."""
    sink.drop_after_data(100)
    _cycle(db, sink, [_finding(BOB, "2025-01-13T09:00:00Z")])
    moment = NOW
    for _ in range(10):
        moment += timedelta(hours=2)  # past every backoff
        deliver_pending(db, _mailer(sink).send, moment)
    assert len(sink.messages) == 3 and len({m["Message-ID"] for m in sink.messages}) == 1
    with db.session() as s:
        (row,) = s.query(OutboxRow).all()
        assert (row.status, row.attempts) == ("failed", 3) and "may have been delivered" in (row.last_error or "")


def test_observe_mode_records_but_sends_nothing(db: Database, sink: MailSink) -> None:
    with db.session() as s:
        record_findings(s, [_finding(BOB, "2025-01-13T09:00:00Z")], {(ALICE, BOB)}, NOW)
        enqueue_warnings(s, NOW, MailPolicy(sender_domain="example.com", observe=True), {})
    assert deliver_pending(db, _mailer(sink).send, NOW).sent == 0
    assert sink.messages == []
    with db.session() as s:
        assert s.query(OutboxRow).one().status == "observed"


def test_opted_out_managers_are_not_emailed(db: Database, sink: MailSink) -> None:
    with db.session() as s:
        record_findings(s, [_finding(BOB, "2025-01-13T09:00:00Z")], {(ALICE, BOB)}, NOW)
        queued = enqueue_warnings(s, NOW, MailPolicy(sender_domain="example.com", opt_out=frozenset({ALICE})), {})
    assert queued == 0


def test_resolved_findings_are_kept_and_a_reopened_one_is_not_emailed_again(db: Database, sink: MailSink) -> None:
    finding = _finding(BOB, "2025-01-13T09:00:00Z")
    assert _cycle(db, sink, [finding]) == 1
    with db.session() as s:
        stats = record_findings(s, [], {(ALICE, BOB)}, NOW + timedelta(hours=1))
        assert stats.resolved == 1
        assert s.query(FindingRow).one().status == "resolved"
    assert _cycle(db, sink, [finding], NOW + timedelta(hours=2)) == 0
    assert len(sink.messages) == 1


def test_a_report_who_declined_is_not_a_cancellation_to_scold_the_manager_for(db: Database, sink: MailSink) -> None:
    declined = Finding(
        rule="cancelled-without-reschedule",
        manager=ALICE,
        report=BOB,
        key="2025-01-13T09:00:00Z",
        occurrence=datetime(2025, 1, 13, 9, tzinfo=UTC),
        message="Your 1:1 with Bob on Mon 13 Jan 2025 was declined by Bob and no other time was found.",
        explanation="No replacement was found.",
        notify_at=NOW,
        details={"how": "declined", "cancelled_by": BOB, "replacement_looked_for": "2025-01-07/2025-01-19"},
    )
    _cycle(db, sink, [declined])
    (mail,) = sink.messages
    text = mail.get_body(("plain",)).get_content()
    assert "Bob Jones declined: ask Bob for a time that works for you both, and book it by Sun 19 Jan." in text


def test_each_row_goes_to_its_own_channel_and_waits_for_a_process_that_has_it(db: Database, sink: MailSink) -> None:
    from sync.notify.channel import FakeChannel
    from sync.notify.outbox import Message, queue_message

    chat = FakeChannel(name="chat")
    policy = MailPolicy(sender_domain="example.com")
    with db.session() as s:
        queue_message(s, Message("warning", ALICE, ["mail"], "s", "t", "<p>t</p>"), NOW, policy)
        queue_message(
            s,
            Message("warning", ALICE, ["chat"], "s", "t", "<p>t</p>", channel="chat"),
            NOW,
            policy,
        )
    assert deliver_pending(db, _mailer(sink).send, NOW).sent == 1  # email only: the chat row waits
    assert len(sink.messages) == 1 and chat.sent == []
    chat.refuse = 1
    assert deliver_pending(db, {"email": _mailer(sink).send, "chat": chat.send}, NOW).deferred == 1
    assert deliver_pending(db, {"email": _mailer(sink).send, "chat": chat.send}, NOW + timedelta(hours=1)).sent == 1
    assert [r.channel for r in chat.sent] == ["chat"] and len(sink.messages) == 1


def test_mail_comes_from_a_name_not_a_bare_address(db: Database, sink: MailSink) -> None:
    _cycle(db, sink, [_finding(BOB, "2025-01-13T09:00:00Z")])
    (mail,) = sink.messages
    assert str(mail["From"]) == "oneonone <oneonone@example.com>"
    assert sink.envelopes[0][0] == "oneonone@example.com"


def test_a_channel_that_cannot_deliver_hands_the_row_to_email_once_with_its_message_id(
    db: Database, sink: MailSink
) -> None:
    from sync.notify.channel import EMAIL, DeliveryError
    from sync.notify.outbox import Message, queue_message

    tries: list[str] = []

    def chat(row: OutboxRow) -> None:
        tries.append(row.message_id)
        raise DeliveryError("chat: nobody by that address", fallback=EMAIL)

    with db.session() as s:
        queued = queue_message(
            s,
            Message("warning", ALICE, ["x"], "s", "t", "<p>t</p>", channel="chat"),
            NOW,
            MailPolicy(sender_domain="example.com"),
        )
        message_id = queued.message_id
    stats = deliver_pending(db, {"email": _mailer(sink).send, "chat": chat}, NOW)
    assert (stats.sent, stats.fallbacks, stats.deferred) == (1, 1, 0)  # by email in the same pass
    (mail,) = sink.messages
    assert mail["Message-ID"] == message_id and tries == [message_id]
    assert deliver_pending(db, {"email": _mailer(sink).send, "chat": chat}, NOW + timedelta(hours=1)).sent == 0
    assert tries == [message_id]  # never back to the channel that could not


def test_the_policy_picks_the_channel_per_kind_and_escalations_stay_email(db: Database) -> None:
    from sync.notify.outbox import Message, queue_message

    policy = MailPolicy(sender_domain="example.com", channels={"warning": "slack", "nudge": "slack"})
    with db.session() as s:
        rows = [
            queue_message(s, Message(kind, ALICE, [kind], "s", "t", "<p>t</p>"), NOW, policy)
            for kind in ("warning", "agenda-nudge", "notes-nudge", "digest", "escalation", "admin")
        ]
        assert [r.channel for r in rows] == ["slack", "slack", "slack", "email", "email", "email"]


def test_a_worker_that_died_mid_send_counts_as_an_attempt(db: Database, sink: MailSink) -> None:
    """So a channel can tell a first try from a retry whose first try may have got through."""
    seen: list[int] = []

    def send_then_crash(row: OutboxRow) -> None:
        raise SystemExit("killed mid-send")

    with db.session() as s:
        record_findings(s, [_finding(BOB, "2025-01-13T09:00:00Z")], {(ALICE, BOB)}, NOW)
        enqueue_warnings(s, NOW, MailPolicy(sender_domain="example.com"), {})
    with pytest.raises(SystemExit):
        deliver_pending(db, send_then_crash, NOW)
    assert deliver_pending(db, lambda row: seen.append(row.attempts), NOW + timedelta(minutes=10)).sent == 1
    assert seen == [1]


def test_an_acknowledged_finding_is_never_emailed(db: Database, sink: MailSink) -> None:
    finding = _finding(BOB, "2025-01-13T09:00:00Z")
    with db.session() as s:
        record_findings(s, [finding], {(ALICE, BOB)}, NOW)
        row = s.query(FindingRow).one()
        row.acknowledged_at, row.acknowledged_by, row.ack_reason = NOW, "ravi", "Bob is on leave until March"
    assert _cycle(db, sink, [finding]) == 0  # the same finding again: still acknowledged, nothing queued
    assert sink.messages == []
