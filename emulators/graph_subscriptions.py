"""Graph change-notification subscriptions on `users/{id}/events`, delivered over webhooks.

Creation runs the documented validation handshake synchronously (POST `?validationToken=`,
200 text/plain echo within 10 s, for the notification URL and the lifecycle URL) before the
201. Change notifications are POSTed from one background thread so a slow receiver never
blocks a Graph call; lifecycle notifications are sent on demand by the test.
"""

from __future__ import annotations

import queue
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

import requests

from emulators.graph_input import parse_datetime
from emulators.graph_model import GraphError, Mailbox
from emulators.graph_state import GraphStore

MAX_MINUTES = 10080  # Outlook events, without resource data
MIN_MINUTES = 45
CHANGE_TYPES = ("created", "updated", "deleted")
LIFECYCLE_EVENTS = ("reauthorizationRequired", "missed", "subscriptionRemoved")
_RESOURCE = re.compile(r"^/?users(?:/|\('|\(\")([^/'\")]+)(?:'\)|\"\))?/(?:calendar/)?events$", re.I)


@dataclass
class Subscription:
    id: str
    resource: str
    mailbox: str
    change_types: tuple[str, ...]
    notification_url: str
    lifecycle_url: str | None
    expiration: datetime
    client_state: str | None
    application_id: str
    creator_id: str


@dataclass(frozen=True)
class Delivery:
    """One POST the emulator made to a receiver, for assertions."""

    subscription_id: str
    url: str
    payload: dict[str, Any]
    status: int | None
    error: str | None = None


@dataclass
class Subscriptions:
    store: GraphStore
    tenant_id: str
    base_url: Callable[[], str]
    validation_timeout: float = 10.0
    delivery_timeout: float = 3.0
    subs: dict[str, Subscription] = field(default_factory=dict)
    deliveries: list[Delivery] = field(default_factory=list)
    _queue: queue.Queue[tuple[Subscription, dict[str, Any]] | None] = field(default_factory=queue.Queue)
    _thread: threading.Thread | None = None
    _session: requests.Session = field(default_factory=requests.Session)

    def __post_init__(self) -> None:
        self._session.trust_env = False  # a proxy from the environment must not swallow loopback calls

    # -- lifecycle of the emulator ----------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._deliver_forever, name="graph-notifications", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=5)
            self._thread = None

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Wait until every queued notification has been POSTed (or failed)."""
        done = threading.Event()

        def drain() -> None:
            self._queue.join()
            done.set()

        threading.Thread(target=drain, daemon=True).start()
        return done.wait(timeout)

    # -- Graph API ----------------------------------------------------------------------------------
    def create(self, body: Any, app_id: str, creator_id: str) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise GraphError(400, "InvalidRequest", "The request body must be a subscription object.")
        change_types = self._change_types(body.get("changeType"))
        url = self._url(body.get("notificationUrl"), "notificationUrl")
        lifecycle = (
            self._url(body["lifecycleNotificationUrl"], "lifecycleNotificationUrl")
            if body.get("lifecycleNotificationUrl")
            else None
        )
        resource = str(body.get("resource") or "")
        mailbox = self._mailbox(resource)
        expiration = self._expiration(body.get("expirationDateTime"))
        client_state = body.get("clientState")
        if client_state is not None and (not isinstance(client_state, str) or len(client_state) > 128):
            raise GraphError(400, "InvalidRequest", "clientState must be a string of at most 128 characters.")
        for target in (url, lifecycle):
            if target is not None:
                self._handshake(target)
        sub = Subscription(
            str(uuid.uuid4()),
            resource,
            mailbox.address.casefold(),
            change_types,
            url,
            lifecycle,
            expiration,
            client_state,
            app_id,
            creator_id,
        )
        with self.store.lock:
            self.subs[sub.id] = sub
        return self.render(sub)

    def update(self, sub_id: str, body: Any, app_id: str) -> dict[str, Any]:
        sub = self.get(sub_id, app_id)
        if not isinstance(body, dict) or not set(body) <= {"expirationDateTime", "notificationUrl", "@odata.type"}:
            raise GraphError(400, "InvalidRequest", "Only expirationDateTime and notificationUrl can be updated.")
        if "expirationDateTime" in body:
            sub.expiration = self._expiration(body["expirationDateTime"])
        if "notificationUrl" in body:
            url = self._url(body["notificationUrl"], "notificationUrl")
            self._handshake(url)
            sub.notification_url = url
        return self.render(sub)

    def delete(self, sub_id: str, app_id: str) -> None:
        sub = self.get(sub_id, app_id)
        with self.store.lock:
            self.subs.pop(sub.id, None)

    def get(self, sub_id: str, app_id: str) -> Subscription:
        with self.store.lock:
            sub = self.subs.get(sub_id)
            if sub is not None and sub.expiration <= self.store.clock():
                del self.subs[sub_id]  # Graph removes subscriptions that were not renewed in time
                sub = None
        if sub is None or sub.application_id != app_id:
            raise GraphError(404, "ResourceNotFound", f"The object '{sub_id}' was not found.")
        return sub

    def listing(self, app_id: str) -> list[dict[str, Any]]:
        with self.store.lock:
            mine = [s for s in self.subs.values() if s.application_id == app_id and s.expiration > self.store.clock()]
        return [self.render(s, context=False) for s in mine]

    def render(self, sub: Subscription, *, context: bool = True) -> dict[str, Any]:
        body: dict[str, Any] = (
            {"@odata.context": f"{self.base_url()}/v1.0/$metadata#subscriptions/$entity"} if context else {}
        )
        return body | {
            "id": sub.id,
            "resource": sub.resource,
            "applicationId": sub.application_id,
            "changeType": ",".join(sub.change_types),
            "clientState": sub.client_state,
            "notificationUrl": sub.notification_url,
            "notificationQueryOptions": None,
            "lifecycleNotificationUrl": sub.lifecycle_url,
            "expirationDateTime": _stamp(sub.expiration),
            "creatorId": sub.creator_id,
            "includeResourceData": False,
            "latestSupportedTlsVersion": "v1_2",
            "encryptionCertificate": None,
            "encryptionCertificateId": None,
            "notificationUrlAppId": None,
        }

    # -- notifications ------------------------------------------------------------------------------
    def on_change(self, box: Mailbox, change_type: str, event_id: str, change_key: str) -> None:
        """Store listener: queue a notification for every live subscription on that mailbox."""
        now = self.store.clock()
        for sub in list(self.subs.values()):
            if sub.mailbox != box.address.casefold() or change_type not in sub.change_types or sub.expiration <= now:
                continue
            resource = f"Users/{box.user_id}/Events/{event_id}"
            item: dict[str, Any] = {
                "subscriptionId": sub.id,
                "subscriptionExpirationDateTime": sub.expiration.astimezone(UTC).isoformat(),
                "changeType": change_type,
                "resource": resource,
                "resourceData": {
                    "@odata.type": "#Microsoft.Graph.Event",
                    "@odata.id": resource,
                    "@odata.etag": f'W/"{change_key}"',
                    "id": event_id,
                },
                "clientState": sub.client_state,
                "tenantId": self.tenant_id,
            }
            self._queue.put((sub, {"value": [item]}))

    def emit_lifecycle(self, sub_id: str, event: str) -> int:
        """POST a lifecycle notification now; `subscriptionRemoved` also removes the subscription."""
        if event not in LIFECYCLE_EVENTS:
            raise ValueError(f"unknown lifecycle event {event!r}")
        with self.store.lock:
            sub = self.subs.get(sub_id)
        if sub is None or sub.lifecycle_url is None:
            raise ValueError(f"subscription {sub_id} does not exist or has no lifecycleNotificationUrl")
        payload = {
            "value": [
                {
                    "subscriptionId": sub.id,
                    "subscriptionExpirationDateTime": sub.expiration.astimezone(UTC).isoformat(),
                    "tenantId": self.tenant_id,
                    "clientState": sub.client_state,
                    "lifecycleEvent": event,
                }
            ]
        }
        if event == "subscriptionRemoved":
            with self.store.lock:
                self.subs.pop(sub.id, None)
        return self._post(sub, sub.lifecycle_url, payload)

    def _deliver_forever(self) -> None:
        while True:
            job = self._queue.get()
            try:
                if job is None:
                    return
                sub, payload = job
                if sub.id in self.subs and sub.expiration > self.store.clock():
                    self._post(sub, sub.notification_url, payload)
            finally:
                self._queue.task_done()

    def _post(self, sub: Subscription, url: str, payload: dict[str, Any]) -> int:
        status: int | None = None
        error: str | None = None
        try:
            reply = self._session.post(url, json=payload, timeout=self.delivery_timeout)
            status = reply.status_code
        except requests.RequestException as exc:
            error = repr(exc)
        with self.store.lock:
            self.deliveries.append(Delivery(sub.id, url, payload, status, error))
        return status or 0

    # -- validation ---------------------------------------------------------------------------------
    def _handshake(self, url: str) -> None:
        token = f"Validation: Testing client application reachability for subscription Request-Id: {uuid.uuid4()}"
        target = f"{url}{'&' if '?' in url else '?'}validationToken={quote(token, safe='')}"
        headers = {"Content-Type": "text/plain; charset=utf-8"}
        try:
            reply = self._session.post(target, data=b"", headers=headers, timeout=self.validation_timeout)
        except requests.Timeout as exc:
            raise GraphError(400, "InvalidRequest", "Subscription validation request timed out.") from exc
        except requests.RequestException as exc:
            raise GraphError(
                400, "InvalidRequest", f"Subscription validation request failed. {exc.__class__.__name__}"
            ) from exc
        content_type = reply.headers.get("Content-Type", "").split(";")[0].strip().casefold()
        if (
            reply.status_code != 200
            or content_type != "text/plain"
            or reply.content.decode("utf-8", "replace") != token
        ):
            raise GraphError(
                400,
                "InvalidRequest",
                "Subscription validation request failed. Notification endpoint must respond with 200 OK "
                "to validation request.",
            )

    def _change_types(self, value: Any) -> tuple[str, ...]:
        parts = [p.strip() for p in str(value or "").split(",") if p.strip()]
        if not parts or any(p not in CHANGE_TYPES for p in parts):
            raise GraphError(
                400, "InvalidRequest", f"'{value}' is not a valid changeType; use created, updated, deleted."
            )
        return tuple(dict.fromkeys(parts))

    def _url(self, value: Any, name: str) -> str:
        parts = urlsplit(str(value or ""))
        loopback = parts.hostname in ("localhost", "127.0.0.1", "::1")
        if parts.scheme != "https" and not (parts.scheme == "http" and loopback):
            raise GraphError(400, "InvalidRequest", f"The {name} must use the https scheme.")
        return str(value)

    def _mailbox(self, resource: str) -> Mailbox:
        if re.match(r"^/?me/", resource, re.I):
            raise GraphError(400, "BadRequest", "/me request is only valid with delegated authentication flow.")
        match = _RESOURCE.match(resource.strip())
        if not match:
            raise GraphError(
                400, "InvalidRequest", f"The resource '{resource}' is not supported; use users/{{id}}/events."
            )
        return self.store.mailbox(match.group(1))

    def _expiration(self, value: Any) -> datetime:
        if not isinstance(value, str):
            raise GraphError(400, "InvalidRequest", "expirationDateTime is required.")
        when = parse_datetime(value, "expirationDateTime")
        when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
        now = self.store.clock()
        if when <= now:
            raise GraphError(400, "InvalidRequest", "Subscription expiration must be in the future.")
        if when > now + timedelta(minutes=MAX_MINUTES):
            raise GraphError(
                400, "InvalidRequest", f"Subscription expiration can only be {MAX_MINUTES} minutes in the future."
            )
        return max(when, now + timedelta(minutes=MIN_MINUTES))  # shorter requests are raised to 45 minutes


def _stamp(when: datetime) -> str:
    utc = when.astimezone(UTC)
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond:06d}0Z"
