"""A Slack Web API emulator, written from Slack's documentation (api.slack.com/methods, /web#responses).

What oneonone's bot calls, as Slack answers it: every method is `POST /api/<method>` with a bearer token
(`Authorization: Bearer xoxb-…`), arguments as a form or as JSON; an API error is an HTTP 200 with
`{"ok": false, "error": "<code>"}` (`not_authed`, `invalid_auth`, `token_revoked`, `users_not_found`,
`channel_not_found`, `invalid_blocks`); a rate limit is a 429 with `Retry-After` and `ratelimited`.

Methods: `auth.test`, `users.lookupByEmail`, `conversations.open` (a DM: channel ids `D…`),
`chat.postMessage` (text, blocks, `metadata` with `event_type`/`event_payload`; returns `ts`),
`conversations.history` (newest first, `oldest`, `limit`, metadata only with `include_all_metadata`).
It keeps what was posted (and writes each post as JSON, and a picture of it, into `directory`, for the
demo), and it plays
Slack's side of interactivity: `click` posts a signed `block_actions` payload to a request URL.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

from emulators.http import EmulatorServer, Fault, Reply, Request
from emulators.slack_preview import preview_png

TOKEN = "xoxb-emulator-token"
SCOPES = frozenset({"chat:write", "users:read.email", "im:write", "im:history"})
# The bot scope each method needs (conversations.history: the DM kind's, `im:history`).
NEEDS = {
    "users.lookupByEmail": "users:read.email",
    "conversations.open": "im:write",
    "chat.postMessage": "chat:write",
    "conversations.history": "im:history",
}


@dataclass
class Posted:
    channel: str
    user: str  # whom the DM is with
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    metadata: dict[str, Any] | None


@dataclass
class _State:
    users: dict[str, str] = field(default_factory=dict)  # email -> user id
    dms: dict[str, str] = field(default_factory=dict)  # user id -> DM channel id
    posted: list[Posted] = field(default_factory=list)


def _ok(**payload: Any) -> Reply:
    return Reply.json(200, {"ok": True, **payload})


def _error(code: str, **extra: Any) -> Reply:
    return Reply.json(200, {"ok": False, "error": code, **extra})


class SlackEmulator:
    def __init__(
        self, *, token: str = TOKEN, directory: Path | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        self.token = token
        self.scopes = set(SCOPES)  # what the app was granted: remove one to see `missing_scope`
        self.revoked = False
        self.directory = directory
        self._state = _State()
        self._lock = threading.Lock()
        self._clock = clock  # Slack's `ts` is its own clock's time of the post: a test's clock, or the wall's
        self._last = 0.0
        self.server = EmulatorServer(self.handle, server_name="slack-emulator")

    # --- setup and faults ---------------------------------------------------------------------------

    @property
    def api_url(self) -> str:
        return f"{self.server.base_url}/api/"

    def add_user(self, email: str) -> str:
        with self._lock:
            user = self._state.users.setdefault(email.lower(), f"U{len(self._state.users) + 1:08d}")
        return user

    def revoke_token(self) -> None:
        self.revoked = True

    def rate_limit(self, times: int = 1, retry_after: int = 30, method: str | None = None) -> Fault:
        """The next `times` calls (of `method`, or any) answer 429 `ratelimited` with `Retry-After`."""
        reply = Reply.json(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(retry_after)})
        return self.server.faults.add(Fault(reply, times=times, path=f"/api/{method}$" if method else None))

    def outage(self, times: int = 1, status: int = 503) -> Fault:
        reply = Reply.json(status, {"ok": False, "error": "service_unavailable"})
        return self.server.faults.add(Fault(reply, times=times))

    def messages(self, email: str | None = None) -> list[Posted]:
        """What was posted (to one person's DM, or all), oldest first."""
        with self._lock:
            user = self._state.users.get(email.lower()) if email else None
            return [p for p in self._state.posted if email is None or p.user == user]

    # --- the Web API ---------------------------------------------------------------------------------

    def handle(self, request: Request) -> Reply:
        method = request.path.removeprefix("/api/")
        if not request.path.startswith("/api/") or method not in _METHODS:
            return Reply.json(404, {"ok": False, "error": "unknown_method"})
        args = _arguments(request)
        auth = request.header("authorization") or ""
        token = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else args.get("token")
        if not token:
            return _error("not_authed")
        if token != self.token:
            return _error("invalid_auth")
        if self.revoked:
            return _error("token_revoked")
        needed = NEEDS.get(method)
        if needed is not None and needed not in self.scopes:
            return _error("missing_scope", needed=needed, provided=",".join(sorted(self.scopes)))
        with self._lock:
            return _METHODS[method](self, args)

    def _auth_test(self, args: dict[str, Any]) -> Reply:
        return _ok(
            url="https://emulator.slack.com/",
            team="Emulator",
            user="oneonone",
            team_id="T0000001",
            user_id="U00000000",
            bot_id="B0000001",
        )

    def _lookup(self, args: dict[str, Any]) -> Reply:
        email = str(args.get("email") or "").lower()
        user = self._state.users.get(email)
        if user is None:
            return _error("users_not_found")
        return _ok(user={"id": user, "profile": {"email": email}, "deleted": False, "is_bot": False})

    def _open(self, args: dict[str, Any]) -> Reply:
        users = [u for u in str(args.get("users") or "").split(",") if u]
        if len(users) != 1:
            return _error("not_enough_users" if not users else "too_many_users")
        if users[0] not in self._state.users.values():
            return _error("user_not_found")
        channel = self._state.dms.setdefault(users[0], f"D{len(self._state.dms) + 1:08d}")
        return _ok(channel={"id": channel, "is_im": True, "user": users[0]})

    def _post(self, args: dict[str, Any]) -> Reply:
        channel = str(args.get("channel") or "")
        user = next((u for u, dm in self._state.dms.items() if dm == channel), None)
        if user is None:
            return _error("channel_not_found")
        blocks = _json(args.get("blocks")) or []
        text = str(args.get("text") or "")
        if not text and not blocks:
            return _error("no_text")
        if (
            not isinstance(blocks, list)
            or len(blocks) > 50
            or any(not isinstance(b, dict) or "type" not in b for b in blocks)
        ):
            return _error("invalid_blocks")
        metadata = _json(args.get("metadata"))
        if metadata is not None and (not isinstance(metadata, dict) or not metadata.get("event_type")):
            return _error("invalid_metadata_format")
        self._last = max(self._clock(), self._last + 0.000001)  # ts are unique per channel
        posted = Posted(channel, user, f"{self._last:.6f}", text, blocks, metadata)
        self._state.posted.append(posted)
        if self.directory is not None:
            self.directory.mkdir(parents=True, exist_ok=True)
            email = next(e for e, u in self._state.users.items() if u == user)
            name = f"{len(self._state.posted):04d}-{email}.json"
            record = {
                "channel": channel,
                "to": email,
                "ts": posted.ts,
                "text": text,
                "blocks": blocks,
                "metadata": metadata,
            }
            (self.directory / name).write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n")
            (self.directory / name).with_suffix(".png").write_bytes(preview_png(blocks))  # what the person sees
        return _ok(channel=channel, ts=posted.ts, message=_message(posted, with_metadata=True))

    def _history(self, args: dict[str, Any]) -> Reply:
        channel = str(args.get("channel") or "")
        if channel not in self._state.dms.values():
            return _error("channel_not_found")
        oldest = float(args.get("oldest") or 0)
        limit = min(int(args.get("limit") or 100), 999)
        metadata = str(args.get("include_all_metadata") or "").lower() in ("1", "true")
        found = [p for p in reversed(self._state.posted) if p.channel == channel and float(p.ts) > oldest]
        return _ok(messages=[_message(p, with_metadata=metadata) for p in found[:limit]], has_more=len(found) > limit)

    # --- interactivity: Slack calling us -------------------------------------------------------------

    def click(
        self,
        request_url: str,
        posted: Posted,
        secret: str,
        *,
        action_index: int = 0,
        timestamp: int | None = None,
        signature: str | None = None,
    ) -> tuple[int, str]:
        """Press a button of a posted message: Slack's signed `block_actions` POST to the request URL.
        Returns the status and body; `timestamp`/`signature` forge or age the request."""
        action = buttons(posted.blocks)[action_index]
        payload = {
            "type": "block_actions",
            "user": {"id": posted.user},
            "team": {"id": "T0000001"},
            "container": {"type": "message", "message_ts": posted.ts, "channel_id": posted.channel},
            "channel": {"id": posted.channel},
            "trigger_id": "1234.5678.abcdef",
            "response_url": f"{self.server.base_url}/actions/response",
            "actions": [{**action, "block_id": "b1", "action_ts": f"{time.time():.6f}"}],
        }
        body = urlencode({"payload": json.dumps(payload)}).encode()
        ts = str(timestamp if timestamp is not None else int(time.time()))
        signed = signature or sign(secret, ts, body)
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": signed,
            "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
        }
        request = urllib.request.Request(request_url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def start(self) -> str:
        return self.server.start()

    def stop(self) -> None:
        self.server.stop()

    def __enter__(self) -> SlackEmulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def buttons(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A message's buttons, in order: sections' accessories and the elements of `actions` blocks."""
    found: list[dict[str, Any]] = []
    for block in blocks:
        candidates = (
            [block.get("accessory") or {}, *(block.get("elements") or [])]
            if block.get("type") in ("section", "actions")
            else []
        )
        found.extend(c for c in candidates if isinstance(c, dict) and c.get("type") == "button")
    return found


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """Slack's request signature: `v0=` + HMAC-SHA256(secret, "v0:{timestamp}:{body}") in hex."""
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def _arguments(request: Request) -> dict[str, Any]:
    """Slack takes arguments in the query, as a form or as JSON; the body wins."""
    args: dict[str, Any] = {k: v[-1] for k, v in request.query.items()}
    kind = (request.header("content-type") or "").split(";")[0].strip().lower()
    if kind == "application/json":
        body = request.json()
        if isinstance(body, dict):
            args.update(body)
    elif request.body:
        args.update({k: v[-1] for k, v in parse_qs(request.body.decode(), keep_blank_values=True).items()})
    return args


def _json(value: Any) -> Any:
    """A form sends `blocks` and `metadata` as JSON text; a JSON body sends them as they are."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return {"invalid": value}
    return value


def _message(posted: Posted, *, with_metadata: bool) -> dict[str, Any]:
    message: dict[str, Any] = {
        "type": "message",
        "user": "U00000000",
        "bot_id": "B0000001",
        "ts": posted.ts,
        "text": posted.text,
        "blocks": posted.blocks,
    }
    if with_metadata and posted.metadata is not None:
        message["metadata"] = posted.metadata
    return message


_METHODS = {
    "auth.test": SlackEmulator._auth_test,
    "users.lookupByEmail": SlackEmulator._lookup,
    "conversations.open": SlackEmulator._open,
    "chat.postMessage": SlackEmulator._post,
    "conversations.history": SlackEmulator._history,
}
