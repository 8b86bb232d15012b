"""Talking to Microsoft Graph: msal client-credentials tokens, requests, retries, a per-mailbox cap.

Choices (calendar-apis.md §3.6, §4): the msal app is built lazily (its constructor does network
I/O) and rebuilt after any token failure (msal replays cached token-endpoint failures); every
request passes `verify=` explicitly, because `REQUESTS_CA_BUNDLE` in the environment overrides a
session's own `verify`; at most 4 requests per mailbox are in flight (Outlook's limit, a 5th is
throttled); 429/503/504 wait out `Retry-After`; only idempotent calls are retried.
"""

from __future__ import annotations

import hashlib
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import msal
import requests
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from providers.base import AuthError, PermanentError, ProviderError, RateLimited, TransientError
from providers.deadline import REQUEST_SECONDS, bounded_session
from providers.retry import RetryPolicy, Sleeper, call_with_retries

log = logging.getLogger(__name__)

GRAPH_SCOPE = "https://graph.microsoft.com/.default"
DEFAULT_AUTHORITY = "https://login.microsoftonline.com"
DEFAULT_GRAPH = "https://graph.microsoft.com/v1.0"
MAILBOX_CONCURRENCY = 4
_MICROSOFT_LOGIN_HOSTS = (
    "login.microsoftonline.com",
    "login.microsoftonline.us",
    "login.chinacloudapi.cn",
    "login.windows.net",
    "login.microsoft.com",
    "sts.windows.net",
)
_FORBIDDEN_HINT = (
    "check that the app has the application permission and admin consent, and that its "
    "ApplicationAccessPolicy includes this mailbox"
)


class VerifyingSession(requests.Session):
    """A session that always passes our `verify=` and a timeout (msal's `http_client` too); each
    request, body included, completes within `seconds` (`timeout` bounds each socket read)."""

    def __init__(self, verify: str | bool, timeout: float, seconds: float = REQUEST_SECONDS) -> None:
        super().__init__()
        self._verify_with = verify
        self._timeout = timeout
        bounded_session(self, seconds)

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs["verify"] = self._verify_with
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self._timeout
        return super().request(method, url, *args, **kwargs)


def certificate_credential(path: Path) -> dict[str, str]:
    """msal's certificate credential from one PEM holding the private key and the certificate."""
    pem = path.read_bytes()
    certificate = x509.load_pem_x509_certificate(pem)
    thumbprint = hashlib.sha1(certificate.public_bytes(Encoding.DER)).hexdigest().upper()
    return {"private_key": pem.decode("ascii"), "thumbprint": thumbprint}


@dataclass
class GraphResponse:
    status: int
    body: dict[str, Any]
    headers: Mapping[str, str]


@dataclass
class GraphClient:
    """One msal app and one HTTP session for a tenant; every call names the mailbox it is for."""

    tenant_id: str
    client_id: str
    credential: Callable[[], str | dict[str, str]]  # read when the app is (re)built
    authority: str = DEFAULT_AUTHORITY
    graph_endpoint: str = DEFAULT_GRAPH
    ca_bundle: str | None = None
    timeout: float = 30.0
    request_seconds: float = REQUEST_SECONDS  # a whole request; `timeout` bounds each socket read
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    sleeper: Sleeper = time.sleep
    rng: random.Random = field(default_factory=random.Random)
    concurrency: int = MAILBOX_CONCURRENCY
    requests_made: int = 0

    def __post_init__(self) -> None:
        self.graph_endpoint = self.graph_endpoint.rstrip("/")
        self.authority = self.authority.rstrip("/")
        self.session = VerifyingSession(self.verify, self.timeout, self.request_seconds)
        self._app: msal.ConfidentialClientApplication | None = None
        self._lock = threading.RLock()
        self._slots: dict[str, threading.BoundedSemaphore] = {}

    @property
    def verify(self) -> str | bool:
        return self.ca_bundle or True

    def user_url(self, mailbox: str, *segments: str) -> str:
        path = "/".join(quote(s, safe="@") for s in segments)
        return f"{self.graph_endpoint}/users/{quote(mailbox, safe='@')}" + (f"/{path}" if path else "")

    # -- tokens ------------------------------------------------------------------------------------
    def _build_app(self) -> msal.ConfidentialClientApplication:
        host = (urlsplit(self.authority).hostname or "").casefold()
        return msal.ConfidentialClientApplication(
            self.client_id,
            client_credential=self.credential(),
            authority=f"{self.authority}/{self.tenant_id}",
            # Instance discovery only knows Microsoft's own hosts (an emulator or proxy would fail it).
            instance_discovery=None if host in _MICROSOFT_LOGIN_HOSTS else False,
            http_client=VerifyingSession(self.verify, self.timeout, self.request_seconds),
        )

    def forget_token(self) -> None:
        """Drop the app and its token cache; the next call builds a fresh one (msal replays failures)."""
        with self._lock:
            self._app = None

    def token(self, mailbox: str) -> str:
        try:
            with self._lock:  # one token request at a time: concurrent mailboxes share the cached token
                if self._app is None:
                    self._app = self._build_app()
                result = self._app.acquire_token_for_client(scopes=[GRAPH_SCOPE])
        except msal.exceptions.MsalServiceError as exc:
            self.forget_token()
            raise TransientError(mailbox, f"the Microsoft identity platform failed: {exc}") from exc
        except (requests.RequestException, OSError) as exc:
            self.forget_token()
            raise TransientError(mailbox, f"cannot reach the token endpoint {self.authority}: {exc}") from exc
        except ValueError as exc:  # msal refuses the authority or the credential before sending
            self.forget_token()
            raise AuthError(mailbox, f"outlook.authority/credentials rejected by msal: {exc}") from exc
        if not isinstance(result, dict) or "access_token" not in result:
            self.forget_token()
            error = result.get("error", "no token") if isinstance(result, dict) else "no token"
            description = str(result.get("error_description", "")).splitlines()[0] if isinstance(result, dict) else ""
            raise AuthError(
                mailbox,
                f"token request for app {self.client_id} in tenant {self.tenant_id} refused: {error}: {description} "
                "(check outlook.tenant_id, outlook.client_id and the client secret or certificate)",
            )
        return str(result["access_token"])

    # -- requests ------------------------------------------------------------------------------------
    @contextmanager
    def slot(self, mailbox: str) -> Iterator[None]:
        """Outlook allows 4 concurrent requests per app and mailbox; never send a 5th."""
        with self._lock:
            semaphore = self._slots.setdefault(mailbox.casefold(), threading.BoundedSemaphore(self.concurrency))
        with semaphore:
            yield

    def call(
        self,
        mailbox: str,
        method: str,
        url: str,
        *,
        what: str,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        allow: frozenset[int] = frozenset(),
        idempotent: bool = True,
    ) -> GraphResponse:
        """One Graph call, retried when idempotent; statuses in `allow` are returned, not raised."""

        def attempt() -> GraphResponse:
            for renewed in (False, True):
                reply = self._send(mailbox, method, url, params, json, headers)
                if reply.status == 401 and not renewed:
                    log.info("%s: Graph refused the token (401); fetching a new one", mailbox)
                    self.forget_token()
                    continue
                if 200 <= reply.status < 300 or reply.status in allow:
                    return reply
                raise classify(mailbox, reply, what)
            raise AssertionError("unreachable")

        if not idempotent:
            return attempt()
        return call_with_retries(
            attempt, policy=self.retry, sleeper=self.sleeper, rng=self.rng, describe=f"{mailbox}: {what}"
        )

    def _send(
        self,
        mailbox: str,
        method: str,
        url: str,
        params: Mapping[str, str] | None,
        json: Any,
        headers: Mapping[str, str] | None,
    ) -> GraphResponse:
        token = self.token(mailbox)
        with self.slot(mailbox):
            with self._lock:
                self.requests_made += 1
            try:
                reply = self.session.request(
                    method,
                    url,
                    params=params,
                    json=json,
                    headers={"Authorization": f"Bearer {token}", **(headers or {})},
                    timeout=self.timeout,
                    verify=self.verify,
                )
            except requests.RequestException as exc:
                raise TransientError(mailbox, f"network error talking to Graph: {exc}") from exc
        body: dict[str, Any] = {}
        if reply.content:
            try:
                parsed = reply.json()
            except ValueError:
                parsed = None
            if isinstance(parsed, dict):
                body = parsed
            elif 200 <= reply.status_code < 300:
                raise TransientError(mailbox, f"Graph answered {reply.status_code} with a body that is not JSON")
        return GraphResponse(reply.status_code, body, reply.headers)


def error_code(reply: GraphResponse) -> tuple[str, str]:
    error = reply.body.get("error")
    if isinstance(error, dict):
        return str(error.get("code") or ""), str(error.get("message") or "")
    return "", ""


def _retry_after(reply: GraphResponse) -> float | None:
    value = reply.headers.get("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def classify(mailbox: str, reply: GraphResponse, what: str) -> ProviderError:
    """Graph error bodies carry `error.code`, never `errors[]` (calendar-apis.md §3.6)."""
    status = reply.status
    code, message = error_code(reply)
    text = f"{what}: HTTP {status} {code} {message}".strip()
    if status in (429, 503, 504):
        kind = RateLimited if status == 429 else TransientError
        return kind(mailbox, text, retry_after=_retry_after(reply))
    if status == 401:
        return AuthError(mailbox, f"Graph refused a fresh token: {text}")
    if status == 403:
        return AuthError(mailbox, f"access denied: {_FORBIDDEN_HINT}: {text}")
    if status == 404 and code in ("ErrorInvalidUser", "MailboxNotEnabledForRESTAPI", "ResourceNotFound", ""):
        return PermanentError(mailbox, f"no such mailbox (or it is not enabled for REST): {text}")
    if status >= 500:
        return TransientError(mailbox, text, retry_after=_retry_after(reply))
    return PermanentError(mailbox, text)
