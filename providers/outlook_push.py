"""Graph change notifications: subscriptions on a mailbox's events (calendar-apis.md §3.7).

Creating one makes Graph call our notification URL with a validation token before it answers,
so the daemon's web server must already be up. Subscriptions are renewed by PATCHing their
expiry (at most 10,080 minutes for Outlook events); notifications are hints, the delta poll stays.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from providers.outlook import OutlookProvider

MAX_LIFETIME = timedelta(minutes=10_080)


@dataclass(frozen=True)
class Subscription:
    mailbox: str
    subscription_id: str
    expires_at: datetime


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.0000000Z")


def _expiry(body: dict[str, object], fallback: datetime) -> datetime:
    raw = body.get("expirationDateTime")
    if isinstance(raw, str):
        try:
            return datetime.fromisoformat(raw.replace("Z", "+00:00")).astimezone(UTC)
        except ValueError:
            pass
    return fallback


def subscribe(
    provider: OutlookProvider,
    mailbox: str,
    notification_url: str,
    lifecycle_url: str,
    client_state: str,
    lifetime: timedelta,
    now: datetime,
) -> Subscription:
    client = provider.client
    wanted = now + min(lifetime, MAX_LIFETIME)
    reply = client.call(
        mailbox,
        "POST",
        f"{client.graph_endpoint}/subscriptions",
        what="create subscription",
        json={
            "changeType": "created,updated,deleted",
            "notificationUrl": notification_url,
            "lifecycleNotificationUrl": lifecycle_url,
            "resource": f"users/{mailbox}/events",
            "expirationDateTime": _iso(wanted),
            "clientState": client_state,
        },
        idempotent=False,  # a retried POST could open a second subscription
    )
    return Subscription(mailbox, str(reply.body["id"]), _expiry(reply.body, wanted))


def renew(provider: OutlookProvider, subscription: Subscription, lifetime: timedelta, now: datetime) -> Subscription:
    client = provider.client
    wanted = now + min(lifetime, MAX_LIFETIME)
    reply = client.call(
        subscription.mailbox,
        "PATCH",
        f"{client.graph_endpoint}/subscriptions/{subscription.subscription_id}",
        what="renew subscription",
        json={"expirationDateTime": _iso(wanted)},
    )
    return Subscription(subscription.mailbox, subscription.subscription_id, _expiry(reply.body, wanted))


def delete(provider: OutlookProvider, subscription: Subscription) -> None:
    client = provider.client
    client.call(
        subscription.mailbox,
        "DELETE",
        f"{client.graph_endpoint}/subscriptions/{subscription.subscription_id}",
        what="delete subscription",
        allow=frozenset({404}),
    )
