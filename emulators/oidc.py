"""The OpenID Connect authorization code flow, shared by the Google and Entra ID identity emulators.

Built to what both vendors document (and RFC 6749 / RFC 7636 / OpenID Connect Core):

- `authorize` (GET): `client_id` and an exactly registered `redirect_uri`, else an error *page*
  (never a redirect); `response_type=code`; `scope` with `openid`; `state`, `nonce`; PKCE
  `code_challenge` with `code_challenge_method` S256 or plain. The emulator has no passwords: with
  `login_hint` naming a known, enabled account it approves at once and redirects to `redirect_uri`
  with `code` and `state`; without one it shows an account form (a real browser can fill it in).
- `redeem` (the token endpoint's `grant_type=authorization_code`): client authentication by
  `client_secret_post` or `client_secret_basic`; a code works once, for ten minutes, for the client
  and `redirect_uri` it was issued to; the PKCE verifier must match the challenge. The answer holds
  an access token and an ID token signed RS256 with a key generated when the emulator starts
  (`kid` in the header, the public half in `jwks`).
- A side door for tests, `tamper_next`: the next ID token gets other claims or a foreign key.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal
from urllib.parse import urlencode

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from emulators.http import Reply

Vendor = Literal["google", "entra"]
CODE_SECONDS = 600
ID_TOKEN_SECONDS = 3600
ACCESS_TOKEN_SECONDS = 3599
VERIFIER = re.compile(r"[A-Za-z0-9._~-]{43,128}")  # RFC 7636 §4.1
GOOGLE_SCOPES = {
    "email": "https://www.googleapis.com/auth/userinfo.email",
    "profile": "https://www.googleapis.com/auth/userinfo.profile",
}

# An identity callback: the vendor's claims for an account, or why it cannot sign in (shown on the form).
Identity = Callable[[str, str, frozenset[str]], "dict[str, Any] | str"]


@dataclass
class Client:
    client_id: str
    client_secret: str
    redirect_uris: tuple[str, ...]


@dataclass(frozen=True)
class _Code:
    client_id: str
    redirect_uri: str
    claims: dict[str, Any]  # the account's claims, fixed when the user approved
    scopes: frozenset[str]
    nonce: str | None
    challenge: str | None
    method: str
    expires_at: float


@dataclass
class Tamper:
    claims: dict[str, Any] = field(default_factory=dict)  # merged into the ID token's claims; None drops one
    foreign_key: bool = False  # sign with a key that is not in the JWKS (same `kid`)


class Refused(Exception):
    """A token request the provider refuses; each vendor words it in its own error shape."""

    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.reason, self.status = reason, status


def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


class OidcProvider:
    def __init__(
        self, vendor: Vendor, issuer: Callable[[], str], clock: Callable[[], datetime], identity: Identity
    ) -> None:
        self.vendor = vendor
        self.issuer = issuer
        self.clock = clock
        self.identity = identity
        self.key = rsa_key()
        self.kid = secrets.token_hex(20)
        self.clients: dict[str, Client] = {}
        self._codes: dict[str, _Code] = {}
        self._used: set[str] = set()
        self._tamper: Tamper | None = None
        self._lock = threading.Lock()

    # -- side doors ---------------------------------------------------------------------------
    def register(self, client_id: str, client_secret: str, redirect_uris: tuple[str, ...]) -> Client:
        client = Client(client_id, client_secret, tuple(redirect_uris))
        with self._lock:
            self.clients[client_id] = client
        return client

    def tamper_next(self, claims: Mapping[str, Any] | None = None, *, foreign_key: bool = False) -> None:
        with self._lock:
            self._tamper = Tamper(dict(claims or {}), foreign_key)

    def now(self) -> float:
        return self.clock().timestamp()

    # -- endpoints ----------------------------------------------------------------------------
    def jwks(self) -> dict[str, Any]:
        jwk = jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        return {"keys": [{**jwk, "kid": self.kid, "use": "sig", "alg": "RS256"}]}

    def authorize(self, query: Mapping[str, list[str]], action: str) -> Reply:
        params = {k: v[-1] for k, v in query.items() if v}
        client = self.clients.get(params.get("client_id", ""))
        redirect_uri = params.get("redirect_uri", "")
        if client is None:
            return _page(400, "Access blocked: authorization error", "The OAuth client was not found (invalid_client).")
        if redirect_uri not in client.redirect_uris:
            return _page(
                400,
                "Access blocked: this app's request is invalid",
                f"The redirect URI in the request, {redirect_uri}, does not match the ones authorized for the "
                "OAuth client (redirect_uri_mismatch).",
            )
        state = params.get("state")

        def error(code: str, description: str) -> Reply:
            return self._back(redirect_uri, {"error": code, "error_description": description, "state": state})

        if params.get("response_type") != "code":
            return error("unsupported_response_type", "Only response_type=code is supported here.")
        scopes = frozenset(params.get("scope", "").split())
        if "openid" not in scopes:
            return error("invalid_scope", "The scope must include openid.")
        challenge, method = params.get("code_challenge"), params.get("code_challenge_method", "plain")
        if challenge is not None and method not in ("S256", "plain"):
            return error("invalid_request", f"Invalid code_challenge_method: {method}")
        if challenge is None and "code_challenge_method" in params:
            return error("invalid_request", "code_challenge_method without code_challenge.")
        hint = params.get("login_hint", "").strip()
        if not hint:
            return _account_form(action, params, None)
        claims = self.identity(hint, client.client_id, scopes)
        if isinstance(claims, str):
            return _account_form(action, params, claims)
        code = secrets.token_urlsafe(48)
        with self._lock:
            self._codes[code] = _Code(
                client.client_id,
                redirect_uri,
                claims,
                scopes,
                params.get("nonce"),
                challenge,
                method,
                self.now() + CODE_SECONDS,
            )
        answer: dict[str, str | None] = {"code": code, "state": state}
        if self.vendor == "google":
            answer |= {"scope": " ".join(sorted(GOOGLE_SCOPES.get(s, s) for s in scopes)), "authuser": "0"}
        else:
            answer["session_state"] = secrets.token_hex(16)
        return self._back(redirect_uri, answer)

    def redeem(self, form: Mapping[str, str], authorization: str | None) -> dict[str, Any]:
        client = self._client(form, authorization)
        code = form.get("code", "")
        with self._lock:
            grant = self._codes.pop(code, None)
            reused = grant is None and code in self._used
            self._used.add(code)
            tamper, self._tamper = self._tamper, None
        if grant is None:
            raise Refused("used_code" if reused else "bad_code")
        if grant.expires_at <= self.now():
            raise Refused("expired_code")
        if grant.client_id != client.client_id:
            raise Refused("bad_code")
        if form.get("redirect_uri") != grant.redirect_uri:
            raise Refused("redirect_mismatch")
        self._check_pkce(grant, form.get("code_verifier"))
        access = ("ya29.emu-" if self.vendor == "google" else "eyJ0eXAi.emu-") + secrets.token_urlsafe(32)
        body: dict[str, Any] = {
            "access_token": access,
            "expires_in": ACCESS_TOKEN_SECONDS,
            "token_type": "Bearer",
            "id_token": self._id_token(client, grant, access, tamper),
        }
        if self.vendor == "google":
            body["scope"] = " ".join(sorted(GOOGLE_SCOPES.get(s, s) for s in grant.scopes))
        else:
            body["ext_expires_in"] = ACCESS_TOKEN_SECONDS
            body["scope"] = " ".join(sorted(grant.scopes & {"openid", "email", "profile"})) + " User.Read"
        return body

    # -- internals ----------------------------------------------------------------------------
    def _client(self, form: Mapping[str, str], authorization: str | None) -> Client:
        client_id, secret = form.get("client_id"), form.get("client_secret")
        scheme, _, credentials = (authorization or "").partition(" ")
        if scheme.casefold() == "basic" and credentials:
            try:
                client_id, _, secret = base64.b64decode(credentials).decode().partition(":")
            except (ValueError, UnicodeDecodeError) as exc:
                raise Refused("bad_client", 401) from exc
        client = self.clients.get(client_id or "")
        if client is None or secret is None or not secrets.compare_digest(secret, client.client_secret):
            raise Refused("bad_client", 401)
        return client

    @staticmethod
    def _check_pkce(grant: _Code, verifier: str | None) -> None:
        if grant.challenge is None:
            return
        if not verifier:
            raise Refused("missing_verifier")
        if not VERIFIER.fullmatch(verifier):
            raise Refused("bad_verifier")
        if grant.method == "S256":
            digest = hashlib.sha256(verifier.encode("ascii")).digest()
            expected = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        else:
            expected = verifier
        if not secrets.compare_digest(expected, grant.challenge):
            raise Refused("bad_verifier")

    def _id_token(self, client: Client, grant: _Code, access: str, tamper: Tamper | None) -> str:
        now = int(self.now())
        claims: dict[str, Any] = {
            "iss": self.issuer(),
            "aud": client.client_id,
            "iat": now,
            "exp": now + ID_TOKEN_SECONDS,
        }
        if grant.nonce is not None:
            claims["nonce"] = grant.nonce
        claims |= grant.claims
        if self.vendor == "google":
            digest = hashlib.sha256(access.encode()).digest()
            claims |= {"azp": client.client_id, "at_hash": base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode()}
        else:
            claims |= {"nbf": now, "uti": secrets.token_urlsafe(16), "aio": secrets.token_urlsafe(24)}
        key = self.key
        if tamper is not None:
            claims |= tamper.claims
            claims = {k: v for k, v in claims.items() if v is not None}
            key = rsa_key() if tamper.foreign_key else key
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": self.kid, "typ": "JWT"})

    @staticmethod
    def _back(redirect_uri: str, params: Mapping[str, str | None]) -> Reply:
        query = urlencode({k: v for k, v in params.items() if v is not None})
        location = f"{redirect_uri}{'&' if '?' in redirect_uri else '?'}{query}"
        return Reply(302, b"", {"Location": location, "Cache-Control": "no-store"})


def _page(status: int, title: str, message: str) -> Reply:
    body = (
        f"<!doctype html><title>{html.escape(title)}</title><h1>{html.escape(title)}</h1>"
        f"<p id='error'>{html.escape(message)}</p>"
    )
    return Reply(status, body.encode(), {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store"})


def _account_form(action: str, params: Mapping[str, str], problem: str | None) -> Reply:
    """The emulator's sign-in page: which account (no password); submitting it comes back with login_hint."""
    hidden = "".join(
        f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
        for k, v in params.items()
        if k != "login_hint"
    )
    error = f"<p id='error'>{html.escape(problem)}</p>" if problem else ""
    body = (
        "<!doctype html><title>Sign in</title><h1>Sign in</h1>"
        f'{error}<form method="get" action="{html.escape(action)}">{hidden}'
        '<label for="login_hint">Email</label><input id="login_hint" name="login_hint" type="email">'
        '<button type="submit" id="approve">Next</button></form>'
    )
    return Reply(200, body.encode(), {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store"})
