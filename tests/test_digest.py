"""The weekly digest: over real SMTP with inline timeline PNGs, once per manager per week, in their zone."""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from typing import Any

from PIL import Image, ImageChops
from rules_builders import B, M, P, R
from views_fixtures import NOW, org_settings, seed

from emulators.smtp import MailSink
from rules.summary import CANCELLED, GAP, HELD, WeekCell
from sync.actions.digest import digest_job, is_due, iso_week
from sync.config import parse_settings
from sync.cycle import run_cycle
from sync.notify.graph_mail import message_payload
from sync.notify.smtp import SmtpMailer
from sync.runtime import Runtime, build_runtime
from sync.store.models import DigestRow, FindingRow, OutboxRow
from sync.views.timeline import CELL, SCALE, SPACE, legend, size, swatch_png, timeline_png
from sync.web import agenda_deps, create_app

DIGEST_SUBJECT = "Your 1:1s, week"


@dataclass
class World:
    runtime: Runtime
    sink: MailSink
    now: list[datetime]

    def at(self, moment: datetime) -> int:
        """Move the clock, run a cycle and the digest job (as the daemon would); digests queued."""
        self.now[0] = moment
        run_cycle(self.runtime)
        return digest_job(self.runtime)()

    def digests(self) -> list[EmailMessage]:
        return [m for m in self.sink.messages if str(m["Subject"]).startswith(DIGEST_SUBJECT)]

    def restart(self) -> World:
        self.runtime.db.dispose()
        return make_world(self.runtime.settings.resolved_database_url(), self.sink, self.now, seeded=True)


def make_world(
    database_url: str, sink: MailSink, now: list[datetime] | None = None, *, seeded: bool = False, **extra: Any
) -> World:
    settings = parse_settings(org_settings(database_url, smtp_port=sink.port, **extra))
    clock = now or [NOW]
    mailer = SmtpMailer(host="127.0.0.1", port=sink.port, sender="oneonone@acme.test")
    runtime = build_runtime(settings, clock=lambda: clock[0], providers=[], send=mailer.send)
    if not seeded:
        seed(runtime.db)
    return World(runtime, sink, clock)


def _digest_for(world: World, person: str) -> EmailMessage:
    (mail,) = [m for m in world.digests() if m["To"] == person]
    return mail


def test_the_digest_arrives_over_smtp_with_inline_timelines_and_a_text_part(database_url: str, sink: MailSink) -> None:
    world = make_world(database_url, sink)
    assert world.at(NOW) == 2  # Maria and Bea, Monday 08:30 in Berlin
    mail = _digest_for(world, M)
    assert mail["Subject"] == "Your 1:1s, week 11: 2 reports, 2 need attention"
    assert mail["Message-ID"].startswith("<oneonone.") and mail["Auto-Submitted"] == "auto-generated"
    assert mail.get_content_type() == "multipart/alternative"
    related = [part for part in mail.walk() if part.get_content_type() == "multipart/related"]
    assert len(related) == 1, "the HTML and its pictures travel together"
    html = mail.get_body(("html",)).get_content()
    text = mail.get_body(("plain",)).get_content()

    images = [part for part in mail.walk() if part.get_content_type() == "image/png"]
    strips = [part for part in images if part.get_filename().startswith("timeline-")]
    keys = [part for part in images if part.get_filename().startswith("key-")]
    assert len(strips) == 2  # one timeline per pair
    assert len(keys) == len(legend()) + 1  # the legend's keys, and the week under way
    width, height = size(12)
    for part in images:
        cid = part["Content-ID"].strip("<>")
        assert f'src="cid:{cid}"' in html
        assert part.get_content_disposition() == "inline"
        data = part.get_content()
        assert len(data) < 20_000
        picture = Image.open(io.BytesIO(data))
        picture.verify()
        expected = (width * SCALE, height * SCALE) if part in strips else (CELL * SCALE, CELL * SCALE)
        assert picture.format == "PNG" and picture.size == expected

    # The table, in the manager's zone, with the hand-computed figures.
    assert "Raj" in html and "Pia" in html and "Mon 03 Mar 10:00" in html
    assert "27 !" in html  # Pia: 27 days, marked as too long
    # The timeline in words: the alt text and the text part say what the picture shows.
    words = "W03 cancelled · W04 moved · W05 replaced by another 1:1 · W06 held · W07 cancelled while away"
    assert words in text and words in html
    assert "Week by week: W52 no 1:1 due" in text
    # The digest-only finding shows here, and links lead to each pair's agenda page.
    assert "very short 1:1s" in text and "15 minutes long" in text
    assert html.count("https://oneonone.acme.test/a/") == 2 and "Agenda: https://oneonone.acme.test/a/" in text
    assert "Open findings: no 1:1 for too long, a gap is coming, cancelled without a new date ×3" in text
    assert "digest.opt_out" not in text and "cadence-gap" not in text  # words, never setting names or rule ids

    bea = _digest_for(world, B)
    assert "1 report" in bea["Subject"] and "need" not in bea["Subject"]
    assert len([p for p in bea.walk() if str(p.get_filename() or "").startswith("timeline-")]) == 1


def test_digest_only_findings_are_never_emailed_as_warnings(database_url: str, sink: MailSink) -> None:
    world = make_world(database_url, sink)
    world.at(NOW)
    warnings = [m for m in sink.messages if not str(m["Subject"]).startswith(DIGEST_SUBJECT)]
    assert warnings, "the cancellations and the gap are warned about"
    for mail in warnings:
        assert "15 minutes long" not in mail.get_body(("plain",)).get_content()


def test_one_digest_per_manager_per_week_across_cycles_and_a_restart(database_url: str, sink: MailSink) -> None:
    world = make_world(database_url, sink)
    assert world.at(NOW - timedelta(hours=1)) == 0  # 07:30: not yet
    assert world.at(NOW) == 2
    assert world.at(NOW + timedelta(minutes=5)) == 0
    assert world.at(NOW + timedelta(hours=1)) == 0
    world = world.restart()
    assert world.at(NOW + timedelta(hours=3)) == 0
    assert len(world.digests()) == 2
    assert world.at(NOW + timedelta(days=2)) == 0  # a missed digest is not sent late in the week
    assert world.at(NOW + timedelta(weeks=1)) == 2  # the next Monday: the next week's digests
    assert len(world.digests()) == 4
    with world.runtime.db.session() as session:
        weeks = sorted((row.manager, row.week) for row in session.query(DigestRow))
        kinds = session.query(OutboxRow).filter_by(kind="digest").count()
    assert weeks == [(B, "2025-W11"), (B, "2025-W12"), (M, "2025-W11"), (M, "2025-W12")]
    assert kinds == 4
    assert len({m["Message-ID"] for m in world.digests()}) == 4


def test_opted_out_managers_get_no_digest_and_it_can_be_switched_off(database_url: str, sink: MailSink) -> None:
    world = make_world(database_url, sink, digest={"opt_out": [B.upper()]})
    assert world.at(NOW) == 1
    assert [m["To"] for m in world.digests()] == [M]
    world.runtime.db.dispose()
    off = make_world(database_url, sink, world.now, seeded=True, digest={"enabled": False})
    assert off.at(NOW + timedelta(weeks=1)) == 0


def test_observe_mode_records_the_digest_but_sends_nothing(database_url: str, sink: MailSink) -> None:
    world = make_world(database_url, sink, notify={"mode": "observe"})
    assert world.at(NOW) == 2
    assert world.digests() == []
    with world.runtime.db.session() as session:
        assert {row.status for row in session.query(OutboxRow).filter_by(kind="digest")} == {"observed"}


def test_the_digest_is_due_at_the_managers_own_weekday_and_hour() -> None:
    monday_0830_berlin = datetime(2025, 3, 10, 7, 30, tzinfo=UTC)
    assert is_due(monday_0830_berlin, "Europe/Berlin", "monday", 8)
    assert not is_due(monday_0830_berlin, "America/New_York", "monday", 8)  # 03:30 there
    assert is_due(monday_0830_berlin + timedelta(hours=5), "America/New_York", "monday", 8)
    assert not is_due(monday_0830_berlin, "Europe/Berlin", "monday", 9)
    assert is_due(monday_0830_berlin + timedelta(days=3), "Europe/Berlin", "thursday", 8)
    assert not is_due(monday_0830_berlin + timedelta(days=1), "Europe/Berlin", "monday", 8)  # a day late: skipped
    # Sunday 23:30 UTC is already Monday in Berlin: the week is the manager's week.
    assert iso_week(datetime(2025, 3, 9, 23, 30, tzinfo=UTC), "Europe/Berlin") == "2025-W11"
    assert iso_week(datetime(2025, 3, 9, 23, 30, tzinfo=UTC), "UTC") == "2025-W10"


def test_graph_sends_the_timelines_as_inline_attachments(database_url: str, sink: MailSink) -> None:
    world = make_world(database_url, sink, notify={"mode": "observe"})
    world.at(NOW)
    with world.runtime.db.session() as session:
        row = session.query(OutboxRow).filter_by(kind="digest", recipient=M).one()
        session.expunge(row)
    message = message_payload(row)["message"]
    attachments = message["attachments"]
    assert [a["name"] for a in attachments if a["name"].startswith("timeline-")] == ["timeline-1.png", "timeline-2.png"]
    assert len(attachments) == 2 + len(legend()) + 1  # and the legend's keys, the week under way last
    for attachment in attachments:
        assert attachment["@odata.type"] == "#microsoft.graph.fileAttachment"
        assert attachment["isInline"] is True and attachment["contentType"] == "image/png"
        assert f"cid:{attachment['contentId']}" in message["body"]["content"]
        assert base64.b64decode(attachment["contentBytes"]).startswith(b"\x89PNG\r\n\x1a\n")
    assert "ccRecipients" not in message
    assert P in message["body"]["content"] and R in message["body"]["content"]


def test_the_digest_can_be_stopped_with_one_click_and_started_again(database_url: str, sink: MailSink) -> None:
    """RFC 8058: the mail carries List-Unsubscribe and List-Unsubscribe-Post; the mail client's POST stops the
    next digests without a sign-in; a GET (a link scanner) stops nothing; a made-up token stops nothing."""
    world = make_world(database_url, sink)
    assert world.at(NOW) == 2
    mail = _digest_for(world, M)
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = str(mail["List-Unsubscribe"]).strip("<>")
    assert url.startswith("https://oneonone.acme.test/unsubscribe/digest.")
    path = url.removeprefix("https://oneonone.acme.test")
    client = create_app(agenda_deps(world.runtime)).test_client()
    assert client.get(path).status_code == 200  # only a button: nothing stopped yet
    assert client.post(path[:-3] + "AAA", data="List-Unsubscribe=One-Click").status_code == 404
    assert world.at(NOW + timedelta(weeks=1)) == 2
    answer = client.post(path, data="List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded")
    assert answer.status_code == 200 and "no more weekly digests of your 1:1s" in answer.get_data(as_text=True)
    assert world.at(NOW + timedelta(weeks=2)) == 1  # Bea's only: Maria stopped hers
    assert client.post(path + "/undo").status_code == 200
    assert world.at(NOW + timedelta(weeks=3)) == 2
    warnings = [m for m in sink.messages if not str(m["Subject"]).startswith(DIGEST_SUBJECT)]
    assert warnings and all(m["List-Unsubscribe"] is None for m in warnings)  # a warning cannot be switched off


def test_an_acknowledged_finding_shows_as_acknowledged_and_does_not_need_attention(
    database_url: str, sink: MailSink
) -> None:
    world = make_world(database_url, sink)
    world.now[0] = NOW
    run_cycle(world.runtime)
    with world.runtime.db.session() as session:
        gap = session.query(FindingRow).filter_by(manager=M, report=P, rule="cadence-gap", status="open").one()
        gap.acknowledged_at, gap.acknowledged_by, gap.ack_reason = NOW, "ravi", "Pia is on parental leave"
    assert digest_job(world.runtime)() == 2
    text = _digest_for(world, M).get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "no 1:1 for too long (acknowledged by ravi: Pia is on parental leave)" in text
    assert "Open findings: a gap is coming, cancelled without a new date ×3" in text  # no longer "too long" there


def _picture(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data)).convert("RGB")


def test_the_legend_keys_are_the_strips_own_cells_and_a_gap_stays_in_its_week() -> None:
    """Each key of the legend is pixel for pixel the cell the strip draws for that state; the gap's
    hatching never reaches the held week beside it; the week under way is drawn pale after today."""
    monday = date(2025, 3, 3)
    states = [HELD, GAP, CANCELLED, GAP]
    cells = [WeekCell(monday + timedelta(weeks=n), state) for n, state in enumerate(states)]
    cells.append(WeekCell(monday + timedelta(weeks=4), HELD, days=3))
    strip = _picture(timeline_png(cells))
    side, pitch = CELL * SCALE, (CELL + SPACE) * SCALE
    for n, cell in enumerate(cells):
        drawn = strip.crop((n * pitch, SCALE, n * pitch + side, SCALE + side))
        key = _picture(swatch_png(cell.state, cell.days))
        difference = ImageChops.difference(drawn, key).getextrema()
        assert max(high for _, high in difference) <= 12, (n, cell.state)  # the same, bar palette rounding
        if n == len(cells) - 1:
            break
        gutter = strip.crop((n * pitch + side, SCALE, (n + 1) * pitch, SCALE + side))
        assert gutter.getcolors() == [(gutter.width * gutter.height, (255, 255, 255))], "nothing between weeks"
    today = _picture(swatch_png(HELD, days=3))
    past, future = today.getpixel((2, 2)), today.getpixel((side - 3, 2))
    assert sum(future) > sum(past) + 200  # the days to come are pale
