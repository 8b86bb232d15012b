"""Rendering warning emails: plain text plus HTML, event text always escaped.

Subjects and bodies name the report, the date (in the manager's zone) and what to do. Nothing
from an event (titles, descriptions) is ever placed in a header; headers are built from
addresses and dates only, and CR/LF is stripped from anything that could reach one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from rules.address import parse_address
from rules.attendance import in_words
from rules.model import Occurrence
from sync.notify.inline import InlineImage
from sync.store.models import FindingRow

# Every email's templates, in one place and one design (`templates/_layout.html`): warnings, escalation,
# the digest, nudges and sign-in links.
MAIL_TEMPLATES = Environment(
    loader=PackageLoader("sync.notify", "templates"),
    autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)

ADVICE = {
    "cancelled-without-reschedule": "Reschedule it, don't cancel it: find a slot within the next few days.",
    "cadence-gap": "Book a 1:1 this week: more than two weeks without one is too long.",
    "cadence-gap-ahead": "Nothing is booked soon enough: add a 1:1 before the gap opens.",
    "short-meeting": "A 1:1 needs time to go beyond status: 30 minutes is the default.",
    "reschedule-churn": "This slot keeps moving: consider a time that works for both of you.",
    "agenda-not-prepared": "Add your talking points to the agenda before the meeting.",
    "held-without-both": "A 1:1 only counts when you both join: book another one soon and check the time still works.",
}

TITLES = {
    "cancelled-without-reschedule": "cancelled without a new date",
    "cadence-gap": "no 1:1 for too long",
    "cadence-gap-ahead": "a gap is coming",
    "short-meeting": "very short 1:1s",
    "reschedule-churn": "keeps being moved",
    "agenda-not-prepared": "no talking points yet",
    "held-without-both": "on the calendar, but not both joined",
}


def one_line(text: str) -> str:
    """Header-safe: no CR/LF or other control characters."""
    return " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())


def display_name(address: str) -> str:
    local = address.split("@", 1)[0]
    return " ".join(part.capitalize() for part in local.replace("_", ".").split(".") if part) or address


def first_name(address: str) -> str:
    """How a mail greets or names a person: the first word of their display name."""
    return display_name(address).split()[0]


@dataclass(frozen=True)
class RenderedMail:
    subject: str
    text: str
    html: str


def message_id_for(recipient: str, identities: Sequence[str], domain: str) -> str:
    """Deterministic, so a resend after a crash carries the same Message-ID as the first copy."""
    digest = hashlib.sha256("\n".join([recipient, *sorted(identities)]).encode()).hexdigest()[:32]
    return f"<oneonone.{digest}@{one_line(domain) or 'localhost'}>"


def local_time(value: datetime | None, zone: str) -> str:
    if value is None:
        return ""
    return value.astimezone(ZoneInfo(zone)).strftime("%a %d %b %Y, %H:%M %Z")


def _day(value: str) -> str:
    return date.fromisoformat(value).strftime("%a %d %b")


def advice_for(finding: FindingRow) -> str:
    """What to do, fitted to the cause: a report's decline, an ended series, a date to book by."""
    details, name, first = finding.details or {}, display_name(finding.report), first_name(finding.report)
    if finding.rule == "cancelled-without-reschedule":
        last = str(details.get("replacement_looked_for", "")).partition("/")[2]
        by = f" by {_day(last)}" if last else ""
        if details.get("how") == "declined" and details.get("cancelled_by") == finding.report:
            return f"{name} declined: ask {first} for a time that works for you both, and book it{by}."
        return f"Book a replacement{by}: a moved 1:1 is fine, a cancelled one is not."
    if finding.rule == "cadence-gap-ahead" and details.get("series_ended") == "true":
        return f"Your recurring 1:1 with {name} has ended: set up a new weekly one."
    if finding.rule == "cadence-gap-ahead" and details.get("book_by"):
        return f"Add a 1:1 with {first} by {_day(str(details['book_by']))}."
    return ADVICE.get(finding.rule, "")


def render_warning(
    manager: str,
    findings: Sequence[FindingRow],
    zone: str,
    pages: Mapping[str, str] | None = None,
    offers: Mapping[int, Any] | None = None,
) -> RenderedMail:
    """One email for a manager's due findings; `pages` links each report's 1:1 page (by report);
    `offers` (by finding id, `sync.booking.offers.OfferView`) its proposed slots as buttons."""
    items = [
        {
            "rule": f.rule,
            "title": TITLES.get(f.rule, f.rule),
            "report": f.report,
            "report_name": display_name(f.report),
            # A gap's occurrence is the last 1:1 held: "since" it, not "on" it.
            "when": ("last 1:1 " if f.rule.startswith("cadence-gap") and f.occurrence else "")
            + local_time(f.occurrence, zone),
            # The rules name people by address; a person reads a name.
            "message": f.message.replace(f.report, display_name(f.report)),
            "explanation": f.explanation.replace(f.report, display_name(f.report)),
            "advice": advice_for(f),
            "page": (pages or {}).get(f.report),
            "slots": list(getattr((offers or {}).get(f.id), "links", ())),
            "slots_note": getattr((offers or {}).get(f.id), "note", ""),
            "booking": f.id in (offers or {}),
        }
        for f in findings
    ]
    if len(items) == 1:
        item = items[0]
        day = local_time(findings[0].occurrence, zone).split(",")[0] if findings[0].occurrence else ""
        # A gap's occurrence is the last 1:1 held: the subject says "since" it, not "on" it.
        when = (f" since {day}" if findings[0].rule.startswith("cadence-gap") else f" ({day})") if day else ""
        subject = f"1:1 with {item['report_name']}: {item['title']}{when}"
    else:
        reports = sorted({str(i["report_name"]) for i in items})
        subject = f"{len(items)} of your 1:1s need attention ({', '.join(reports)})"
    context = {"manager_name": first_name(manager), "items": items, "zone": zone}
    return RenderedMail(
        subject=one_line(subject),
        text=MAIL_TEMPLATES.get_template("warning.txt").render(context),
        html=MAIL_TEMPLATES.get_template("warning.html").render(context),
    )


def build_email(
    *,
    sender: str,
    recipient: str,
    subject: str,
    text: str,
    html: str,
    message_id: str,
    date: datetime,
    images: Sequence[InlineImage] = (),
    cc: str | None = None,
    list_unsubscribe: str | None = None,
) -> EmailMessage:
    """Text and HTML alternatives; `images` make the HTML a multipart/related with `cid:` parts.

    Address headers hold parsed addresses only (`rules.address`): an address that is not one plain
    mailbox raises `AddressError`, never becomes a header of its own."""
    mail = EmailMessage()
    mail["From"] = Address(display_name="oneonone", addr_spec=parse_address(sender))  # a name, not a bare address
    mail["To"] = Address(addr_spec=parse_address(recipient))
    if cc:
        mail["Cc"] = Address(addr_spec=parse_address(cc))
    mail["Subject"] = one_line(subject)
    mail["Message-ID"] = one_line(message_id)
    mail["Date"] = format_datetime(date)
    mail["Auto-Submitted"] = "auto-generated"
    if list_unsubscribe:  # RFC 8058: the mail client's own "Unsubscribe" button, one POST, no sign-in
        mail["List-Unsubscribe"] = f"<{one_line(list_unsubscribe)}>"
        mail["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    mail.set_content(text)
    mail.add_alternative(html, subtype="html")
    if images:
        html_part = mail.get_body(("html",))
        assert html_part is not None
        for image in images:
            html_part.add_related(
                image.data,
                maintype="image",
                subtype=image.subtype,
                cid=f"<{one_line(image.cid)}>",
                filename=one_line(image.filename),
                disposition="inline",
            )
    return mail


def render_admin_alert(heading: str, what: str, consequence: str, advice: str, per: str) -> tuple[str, str]:
    """An admin alert's text and HTML, in the one mail design: what happened, what it costs, what to do."""
    context = {"heading": heading, "what": what, "consequence": consequence, "advice": advice, "per": per}
    return (
        MAIL_TEMPLATES.get_template("admin_alert.txt").render(context),
        MAIL_TEMPLATES.get_template("admin_alert.html").render(context),
    )


def attendance_words(occurrence: Occurrence) -> str:
    """Who joined its call, with names: "held (both joined, 28 min)", "no-show: Raj did not join"; "" unread."""
    if occurrence.attendance is None:
        return ""
    words = in_words(occurrence.attendance)
    for person in occurrence.attendance.absent:
        words = words.replace(person, display_name(person))
    return words
