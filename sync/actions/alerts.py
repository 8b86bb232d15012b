"""Admin alerts: a calendar oneonone cannot read, or an event it cannot use, is reported to
`notify.admin_email`, at most daily each.

A revoked delegation or a removed app consent does not fix itself; the managers whose calendar it
is silently lose their warnings until someone acts, so an admin is told — once a day, not once a
poll. The same holds for an event whose dates or repeat rule the rules refuse.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from rules.screen import BadData
from sync.ingest.calendars import CalendarResult
from sync.notify.outbox import Message, queue_alert
from sync.notify.policy import MailPolicy
from sync.notify.render import render_admin_alert

ALERT_KINDS = ("auth", "permanent")
ADVICE = {
    "google": "Check the service account's domain-wide delegation (scope calendar.events) and that the user exists.",
    "outlook": "Check the app's admin consent (Calendars.ReadWrite) and the ApplicationAccessPolicy for this mailbox.",
}


def enqueue_admin_alerts(
    session: Session,
    results: Sequence[CalendarResult],
    policy: MailPolicy,
    now: datetime,
) -> int:
    if not policy.admin:
        return 0
    queued = 0
    for result in results:
        if result.ok or result.error_kind not in ALERT_KINDS:
            continue
        advice = ADVICE.get(result.provider, "Check the credentials configured for this provider.")
        error = result.error or result.error_kind or "unknown error"
        text, html = render_admin_alert(
            f"oneonone cannot read a calendar ({result.provider})",
            f"oneonone could not sync {result.calendar} ({result.provider}): {error}",
            "Until then, this person's 1:1s are not checked.",
            advice,
            "per calendar",
        )
        key = f"{result.error_kind}:{result.provider}:{result.calendar}"
        subject = f"oneonone cannot read the calendar of {result.calendar} ({result.provider})"
        message = Message("admin", policy.admin, [key, now.date().isoformat()], subject, text, html)
        queued += queue_alert(session, key, message, now, policy)
    return queued


def enqueue_bad_data_alerts(session: Session, bad_data: Sequence[BadData], policy: MailPolicy, now: datetime) -> int:
    """Each event the rules refused (and each pair left unjudged by it), told to the admin once a day."""
    if not policy.admin:
        return 0
    queued = 0
    for bad in bad_data:
        what = bad.describe()
        consequence = (
            "Until it is fixed, this pair's 1:1s are not checked; everyone else's are."
            if bad.pair
            else "oneonone ignores this event (a series counts as its first meeting only); everything else is checked."
        )
        advice = "Ask the calendar's owner to fix or delete the event."
        text, html = render_admin_alert(
            "oneonone cannot use an event", f"oneonone cannot use an event: {what}.", consequence, advice, "per event"
        )
        key = f"bad-data:{hashlib.sha256(bad.key.encode()).hexdigest()[:40]}"  # event ids are long and untrusted
        subject = f"oneonone cannot use an event on the calendar of {bad.calendar}"
        message = Message("admin", policy.admin, [key, now.date().isoformat()], subject, text, html)
        queued += queue_alert(session, key, message, now, policy)
    return queued


ATTENDANCE_ADVICE = {
    "google-meet": "Grant the service account the scopes meetings.space.readonly and admin.directory.user.readonly "
    "in the domain-wide delegation settings of the Google Admin console.",
    "teams": "Grant the app OnlineMeetings.Read.All, OnlineMeetingArtifact.Read.All and User.Read.All (application) "
    "with admin consent, and an application access policy for online meetings that covers the organizers "
    "(Grant-CsApplicationAccessPolicy).",
}
_VENDOR = {"google-meet": "Google Meet", "teams": "Microsoft Teams"}


def enqueue_attendance_alerts(session: Session, denied: dict[str, str], policy: MailPolicy, now: datetime) -> int:
    """A vendor refused to show who joined the 1:1 calls (source -> its refusal): the calendar decides meanwhile."""
    return sum(_attendance_alert(session, source, error, policy, now) for source, error in sorted(denied.items()))


def _attendance_alert(session: Session, source: str, error: str, policy: MailPolicy, now: datetime) -> int:
    if not policy.admin:
        return 0
    vendor = _VENDOR.get(source, source)
    advice = ATTENDANCE_ADVICE.get(source, "Check the permissions of the credentials configured for this provider.")
    consequence = (
        f"Until then, whether a 1:1 in {vendor} was held is decided by the calendar alone, as before: "
        "a 1:1 that one of the two never joined is not noticed."
    )
    text, html = render_admin_alert(
        f"oneonone cannot see who joined the {vendor} calls",
        f"oneonone may not read who joined the {vendor} calls: {error}",
        consequence,
        advice,
        f"for {vendor}",
    )
    key = f"attendance-denied:{source}"
    subject = f"oneonone cannot see who joined the {vendor} calls"
    message = Message("admin", policy.admin, [key, now.date().isoformat()], subject, text, html)
    return int(queue_alert(session, key, message, now, policy))
