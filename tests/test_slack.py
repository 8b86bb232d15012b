"""Warnings and nudges in Slack: DMs through the real slack_sdk client and the Slack emulator, email when
Slack cannot take them, never two, never in the night."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from emulators.slack import Posted, SlackEmulator, buttons
from emulators.smtp import MailSink
from rules.model import Finding
from sync.actions.findings import record_findings
from sync.actions.warnings import enqueue_warnings
from sync.agenda.mail import notes_nudge_mail, queue
from sync.config import ConfigError, SlackSettings, parse_settings
from sync.notify.outbox import DeliveryStats, deliver_pending
from sync.notify.policy import MailPolicy, mail_policy
from sync.notify.slack import SlackChannel, slack_client
from sync.notify.slack_requests import slack_blueprint
from sync.notify.smtp import SmtpMailer
from sync.runtime import build_channels
from sync.store.db import Database
from sync.store.models import AgendaPairRow, OutboxRow
from sync.web import WebServer, create_app

NOW = datetime(2025, 1, 20, 8, 0, tzinfo=UTC)  # a Monday, 09:00 in Berlin
ALICE, BOB = "alice@example.com", "bob.jones@example.com"
BASE = "https://1on1.example.com"
PAGE_ID = "p4g3-alice-bob"
PAGE = f"{BASE}/a/{PAGE_ID}"
SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
SLACK_TO_EMAIL = {"warning": "slack"}


@pytest.fixture
def db(sqlite_url: str) -> Database:
    database = Database(sqlite_url)
    database.migrate()
    return database


@pytest.fixture
def slack() -> Iterator[SlackEmulator]:
    with SlackEmulator() as emulator:
        yield emulator


@pytest.fixture
def waits() -> list[float]:
    """The waits the Slack client asked for (the injected sleeper): no test sleeps for real."""
    return []


@pytest.fixture
def channel(slack: SlackEmulator, waits: list[float], monkeypatch: pytest.MonkeyPatch) -> SlackChannel:
    monkeypatch.setenv("ONEONONE_SLACK_BOT_TOKEN", slack.token)
    settings = SlackSettings(bot_token_env="ONEONONE_SLACK_BOT_TOKEN", api_url=slack.api_url, max_wait_seconds=60)
    return SlackChannel(slack_client(settings, sleep=waits.append))


def _finding(message: str = "") -> Finding:
    return Finding(
        rule="cancelled-without-reschedule",
        manager=ALICE,
        report=BOB,
        key="2025-01-13T09:00:00Z",
        occurrence=datetime(2025, 1, 13, 9, 0, tzinfo=UTC),
        message=message or f"Your 1:1 with {BOB} was cancelled and not rescheduled.",
        explanation="No replacement within 6 days of the original slot.",
        notify_at=NOW,
    )


def _policy(**overrides: Any) -> MailPolicy:
    values: dict[str, Any] = {"sender_domain": "example.com", "base_url": BASE, "channels": SLACK_TO_EMAIL}
    return MailPolicy(**{**values, **overrides})


def _queue_warning(db: Database, now: datetime = NOW, policy: MailPolicy | None = None, **finding: Any) -> OutboxRow:
    with db.session() as s:
        s.add(AgendaPairRow(manager=ALICE, report=BOB, page_id=PAGE_ID, previous_page_ids=[], created_at=now))
        record_findings(s, [_finding(**finding)], {(ALICE, BOB)}, now)
        enqueue_warnings(s, now, policy or _policy(), {ALICE: "Europe/Berlin"})
    return _row(db)


def _row(db: Database) -> OutboxRow:
    with db.session() as s:
        row = s.query(OutboxRow).one()
        s.expunge(row)
        return row


def _deliver(db: Database, channel: SlackChannel, sink: MailSink, now: datetime = NOW) -> DeliveryStats:
    mailer = SmtpMailer(host="127.0.0.1", port=sink.port, sender="oneonone@example.com")
    return deliver_pending(db, {"slack": channel.send, "email": mailer.send}, now)


def test_a_warning_arrives_as_a_dm_with_what_broke_when_and_the_agenda_link(
    db: Database, slack: SlackEmulator, channel: SlackChannel, sink: MailSink
) -> None:
    slack.add_user(ALICE)
    _queue_warning(db)
    assert _deliver(db, channel, sink).sent == 1
    (posted,) = slack.messages(ALICE)
    assert posted.channel.startswith("D")  # a DM from the bot, not a channel
    header = posted.blocks[0]
    assert header["type"] == "header"
    assert header["text"]["text"] == "1:1 with Bob Jones: cancelled without a new date (Mon 13 Jan 2025)"
    assert posted.text == header["text"]["text"]  # what a phone's notification shows
    item = next(b for b in posted.blocks if "Book a replacement" in b["text"]["text"])
    assert item["text"]["text"].startswith("*Bob Jones &lt;bob.jones@example.com&gt;: cancelled without a new date")
    assert "Mon 13 Jan 2025, 10:00 CET" in item["text"]["text"]  # when, in the manager's zone
    (button,) = buttons(posted.blocks)
    assert (button["text"]["text"], button["url"]) == ("Your 1:1 page with Bob Jones", PAGE)
    assert sink.messages == []  # Slack, not also email
    row = _row(db)
    assert (row.status, row.channel) == ("sent", "slack")
    assert posted.metadata == {
        "event_type": "oneonone_message",
        "event_payload": {"message_id": row.message_id, "kind": "warning"},
    }


def test_event_text_is_shown_in_slack_never_acted_on(
    db: Database, slack: SlackEmulator, channel: SlackChannel, sink: MailSink
) -> None:
    slack.add_user(ALICE)
    _queue_warning(db, message="Cancelled: <!channel> & <https://evil.example|click here>")
    _deliver(db, channel, sink)
    (posted,) = slack.messages(ALICE)
    text = json.dumps(posted.blocks)
    assert "&lt;!channel&gt; &amp; &lt;https://evil.example|click here&gt;" in text
    assert "<!channel>" not in text and "<https://evil" not in text


def test_a_nudge_arrives_in_slack_with_its_link_as_a_button_and_whole_sentences(
    db: Database, slack: SlackEmulator, channel: SlackChannel, sink: MailSink
) -> None:
    slack.add_user(ALICE)
    held = datetime(2025, 1, 17, 14, 0, tzinfo=UTC)
    mail = replace(notes_nudge_mail(ALICE, BOB, PAGE, held, "Europe/Berlin"), zone="Europe/Berlin")
    with db.session() as s:
        queue(s, mail, NOW, _policy(channels={"nudge": "slack"}))
    assert _deliver(db, channel, sink).sent == 1 and sink.messages == []
    (posted,) = slack.messages(ALICE)
    (button,) = buttons(posted.blocks)
    assert (button["text"]["text"], button["url"]) == ("Open the 1:1 page", PAGE)
    texts = [b["text"]["text"] for b in posted.blocks if b["type"] == "section"]
    assert any("has no notes or action items yet. Write down what you agreed while it is fresh" in t for t in texts)
    assert not any("oneonone" in t for t in texts)  # the email's signature: Slack shows who posted


def test_a_person_slack_does_not_know_gets_the_email_instead_once(
    db: Database, slack: SlackEmulator, channel: SlackChannel, sink: MailSink, caplog: pytest.LogCaptureFixture
) -> None:
    queued = _queue_warning(db)  # Alice has no Slack account
    with caplog.at_level(logging.WARNING):
        stats = _deliver(db, channel, sink)
    assert (stats.sent, stats.fallbacks) == (1, 1)
    (mail,) = sink.messages
    assert mail["To"] == ALICE and mail["Message-ID"] == queued.message_id
    assert PAGE in mail.get_body(("plain",)).get_content()  # the same words and link
    assert slack.messages() == []
    row = _row(db)
    assert (row.status, row.channel) == ("sent", "email")
    assert "sending it by email instead" in caplog.text and "no Slack user" in caplog.text
    assert _deliver(db, channel, sink, NOW + timedelta(hours=1)).sent == 0  # once


def test_a_revoked_token_sends_by_email_and_says_so(
    db: Database, slack: SlackEmulator, channel: SlackChannel, sink: MailSink, caplog: pytest.LogCaptureFixture
) -> None:
    slack.add_user(ALICE)
    slack.revoke_token()
    _queue_warning(db)
    with caplog.at_level(logging.WARNING):
        assert _deliver(db, channel, sink).fallbacks == 1
    assert len(sink.messages) == 1 and slack.messages() == []
    assert "the bot token is refused (token_revoked)" in caplog.text


def test_a_slack_outage_is_tried_once_more_then_goes_by_email(
    db: Database, slack: SlackEmulator, channel: SlackChannel, sink: MailSink
) -> None:
    slack.add_user(ALICE)
    slack.outage(times=10)
    _queue_warning(db)
    first = _deliver(db, channel, sink)
    assert (first.deferred, first.fallbacks, sink.messages) == (1, 0, [])  # a blip is not an outage
    second = _deliver(db, channel, sink, _row(db).next_attempt_at)
    assert (second.sent, second.fallbacks) == (1, 1)
    assert len(sink.messages) == 1 and slack.messages() == []


def test_a_429_is_waited_out_as_retry_after_asks(
    db: Database, slack: SlackEmulator, channel: SlackChannel, sink: MailSink, waits: list[float]
) -> None:
    slack.add_user(ALICE)
    slack.rate_limit(times=2, retry_after=7, method="chat.postMessage")
    _queue_warning(db)
    assert _deliver(db, channel, sink).sent == 1
    assert waits == [7.0, 7.0]  # exactly what Slack asked, twice, and nothing else
    assert len(slack.messages(ALICE)) == 1 and sink.messages == []
    posts = slack.server.requests_matching("POST", r"/api/chat\.postMessage$")
    assert len(posts) == 3  # two refused, one posted: no busy loop


def test_a_retry_after_longer_than_we_wait_leaves_the_message_for_later_on_slack(
    db: Database, slack: SlackEmulator, channel: SlackChannel, sink: MailSink, waits: list[float]
) -> None:
    slack.add_user(ALICE)
    slack.rate_limit(times=1, retry_after=600, method="chat.postMessage")
    _queue_warning(db)
    assert _deliver(db, channel, sink).deferred == 1
    assert waits == [] and sink.messages == []
    row = _row(db)
    assert (row.status, row.channel) == ("pending", "slack")
    assert "rate limited (Retry-After 600s)" in str(row.last_error)
    assert _deliver(db, channel, sink, row.next_attempt_at).sent == 1
    assert len(slack.messages(ALICE)) == 1


@pytest.mark.parametrize(
    ("zone", "now", "morning"),
    [
        # 21:30 in Berlin: waits for 08:00 CET the next day.
        ("Europe/Berlin", datetime(2025, 1, 20, 20, 30, tzinfo=UTC), datetime(2025, 1, 21, 7, 0, tzinfo=UTC)),
        # 06:59 in Berlin: waits one minute past the hour, not a day.
        ("Europe/Berlin", datetime(2025, 1, 21, 5, 59, tzinfo=UTC), datetime(2025, 1, 21, 7, 0, tzinfo=UTC)),
        # 21:00 in New York is 02:00 UTC: the recipient's zone decides, not the server's.
        ("America/New_York", datetime(2025, 1, 21, 2, 0, tzinfo=UTC), datetime(2025, 1, 21, 13, 0, tzinfo=UTC)),
    ],
)
def test_quiet_hours_defer_a_slack_message_to_eight_in_the_recipients_zone(
    db: Database,
    slack: SlackEmulator,
    channel: SlackChannel,
    sink: MailSink,
    zone: str,
    now: datetime,
    morning: datetime,
) -> None:
    settings = parse_settings(
        {
            "notify": {"channels": {"warning": "slack"}},  # quiet_hours: the default, 20:00-08:00
            "slack": {"bot_token_env": "ONEONONE_SLACK_BOT_TOKEN"},
            "web": {"base_url": BASE},
        }
    )
    slack.add_user(ALICE)
    with db.session() as s:
        record_findings(s, [_finding()], {(ALICE, BOB)}, now)
        enqueue_warnings(s, now, mail_policy(settings), {ALICE: zone})
    assert _row(db).next_attempt_at == morning
    assert _deliver(db, channel, sink, now).sent == 0
    assert _deliver(db, channel, sink, morning - timedelta(seconds=1)).sent == 0
    assert _deliver(db, channel, sink, morning).sent == 1
    assert len(slack.messages(ALICE)) == 1


def test_email_is_never_held_back_by_quiet_hours(db: Database) -> None:
    late = datetime(2025, 1, 20, 22, 0, tzinfo=UTC)
    row = _queue_warning(db, late, _policy(channels={}, quiet=mail_policy(parse_settings({})).quiet))
    assert (row.channel, row.next_attempt_at) == ("email", late)


def test_a_crash_between_post_and_commit_posts_the_dm_once(
    db: Database, slack: SlackEmulator, channel: SlackChannel, sink: MailSink
) -> None:
    slack.add_user(ALICE)
    _queue_warning(db)

    def post_then_crash(row: OutboxRow) -> None:
        channel.send(row)
        raise SystemExit("killed between Slack's ok and our commit")

    with pytest.raises(SystemExit):
        deliver_pending(db, {"slack": post_then_crash}, NOW)
    assert len(slack.messages(ALICE)) == 1 and _row(db).status == "pending"  # posted, not recorded
    # The restarted daemon waits out the dead worker's claim, finds the post in the DM and does not post again.
    assert _deliver(db, channel, sink, NOW + timedelta(minutes=10)).sent == 1
    assert len(slack.messages(ALICE)) == 1 and sink.messages == []
    history = slack.server.requests_matching("POST", r"/api/conversations\.history$")
    assert len(history) == 1  # read once, on the retry only
    assert _row(db).status == "sent"


def test_without_im_history_a_crash_retry_posts_at_most_one_copy_more_and_says_why(
    db: Database, slack: SlackEmulator, channel: SlackChannel, sink: MailSink, caplog: pytest.LogCaptureFixture
) -> None:
    slack.add_user(ALICE)
    slack.scopes.discard("im:history")  # an app installed with the three scopes of the issue only
    _queue_warning(db)

    def post_then_crash(row: OutboxRow) -> None:
        channel.send(row)
        raise SystemExit("killed between Slack's ok and our commit")

    with pytest.raises(SystemExit):
        deliver_pending(db, {"slack": post_then_crash}, NOW)
    with caplog.at_level(logging.WARNING):
        assert _deliver(db, channel, sink, NOW + timedelta(minutes=10)).sent == 1
    assert len(slack.messages(ALICE)) == 2 and sink.messages == []  # one copy more, in the DM; not also email
    assert "lacks im:history" in caplog.text


def test_a_first_try_never_reads_the_history(
    db: Database, slack: SlackEmulator, channel: SlackChannel, sink: MailSink
) -> None:
    slack.add_user(ALICE)
    _queue_warning(db)
    _deliver(db, channel, sink)
    assert slack.server.requests_matching(path=r"/api/conversations\.history$") == []


@pytest.fixture
def request_url() -> Iterator[str]:
    app = create_app(blueprints=[slack_blueprint(SECRET.encode(), lambda: NOW, BASE)])
    with WebServer() as server:
        server.mount(app)
        yield f"{server.url}/slack/interactions"


@pytest.fixture
def posted(db: Database, slack: SlackEmulator, channel: SlackChannel, sink: MailSink) -> Posted:
    slack.add_user(ALICE)
    _queue_warning(db)
    _deliver(db, channel, sink)
    return slack.messages(ALICE)[0]


def test_the_button_opens_the_pairs_page_and_books_nothing(
    slack: SlackEmulator, posted: Posted, request_url: str
) -> None:
    status, body = slack.click(request_url, posted, SECRET, timestamp=int(NOW.timestamp()))
    assert status == 200
    assert json.loads(body) == {"ok": True, "open": PAGE}


@pytest.mark.parametrize(
    ("secret", "age", "signature"),
    [
        ("not-the-signing-secret", 0, None),  # forged: signed with another secret
        (SECRET, 0, "v0=" + "0" * 64),  # forged: a made-up signature
        (SECRET, 301, None),  # stale: a recorded request replayed five minutes later
        (SECRET, -301, None),  # from the future
    ],
)
def test_a_forged_or_stale_interactive_request_is_refused(
    slack: SlackEmulator, posted: Posted, request_url: str, secret: str, age: int, signature: str | None
) -> None:
    status, _ = slack.click(request_url, posted, secret, timestamp=int(NOW.timestamp()) - age, signature=signature)
    assert status == 401


def test_a_kind_sent_by_slack_needs_the_slack_section() -> None:
    with pytest.raises(ConfigError) as error:
        parse_settings({"notify": {"channels": {"warning": "slack"}}})
    assert "notify.channels.warning is slack" in str(error.value) and "slack.bot_token_env" in str(error.value)


def test_quiet_hours_that_are_not_two_times_are_an_error_naming_the_key() -> None:
    with pytest.raises(ConfigError) as error:
        parse_settings({"notify": {"quiet_hours": "8pm-8am"}})
    assert "notify.quiet_hours" in str(error.value) and "20:00-08:00" in str(error.value)


def test_the_emulator_keeps_each_dm_as_json_and_a_picture_for_the_demo(
    db: Database, sink: MailSink, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    slack = SlackEmulator(directory=tmp_path / "slack")
    monkeypatch.setenv("ONEONONE_SLACK_BOT_TOKEN", slack.token)
    with slack:
        slack.add_user(ALICE)
        settings = SlackSettings(bot_token_env="ONEONONE_SLACK_BOT_TOKEN", api_url=slack.api_url)
        _queue_warning(db)
        _deliver(db, SlackChannel(slack_client(settings)), sink)
    (saved,) = sorted((tmp_path / "slack").glob("*.json"))
    record = json.loads(saved.read_text())
    assert record["to"] == ALICE and record["blocks"][0]["type"] == "header"
    assert saved.with_suffix(".png").read_bytes().startswith(b"\x89PNG")
    shots = Path(__file__).resolve().parents[1] / "artifacts" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)  # the preview, kept with the other screenshots to look at
    (shots / "slack-warning.png").write_bytes(saved.with_suffix(".png").read_bytes())


def test_quiet_hours_off_even_as_yaml_reads_it() -> None:
    for off in ("off", False, ""):
        assert mail_policy(parse_settings({"notify": {"quiet_hours": off}})).quiet is None


def test_the_runtime_delivers_slack_when_the_settings_give_a_bot_token(
    db: Database, slack: SlackEmulator, sink: MailSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ONEONONE_SLACK_BOT_TOKEN", slack.token)
    settings = parse_settings({"slack": {"bot_token_env": "ONEONONE_SLACK_BOT_TOKEN", "api_url": slack.api_url}})
    channels = build_channels(settings)
    assert sorted(channels) == ["slack"] and build_channels(parse_settings({})) == {}
    slack.add_user(ALICE)
    _queue_warning(db)
    assert deliver_pending(db, channels, NOW).sent == 1
    assert len(slack.messages(ALICE)) == 1


def test_an_unreadable_bot_token_file_is_an_error_naming_the_key(tmp_path: Path) -> None:
    settings = parse_settings({"slack": {"bot_token_file": str(tmp_path / "missing")}})
    with pytest.raises(ConfigError) as error:
        build_channels(settings)
    assert "slack.bot_token_file: cannot read" in str(error.value)
