"""Google's OAuth 2.0 token endpoint and bearer-token checks, offline.

Two grants, as google-auth sends them: the service-account JWT bearer grant (domain-wide
delegation: the token acts as the JWT's `sub`) and the user refresh-token grant. The JWT's
RS256 signature is verified against the emulator's own key, but `aud` is not checked:
google-auth keeps `aud=https://oauth2.googleapis.com/token` whatever `token_uri` says.

`GoogleSignIn` is "Sign in with Google" (OpenID Connect, emulators/oidc.py): discovery at
`/.well-known/openid-configuration`, `/o/oauth2/v2/auth`, keys at `/oauth2/v3/certs`, and the
third grant of `/token`, `authorization_code`, in Google's error wording.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from emulators.google_errors import GoogleApiError
from emulators.http import Reply, Request
from emulators.oidc import OidcProvider, Refused

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
PROJECT = "oneonone-emulator"
CLOCK_SKEW = 300  # seconds of iat/exp slack, against real time (google-auth signs with real time)
_SHORT_LIVED = (
    "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. "
    "Check your iat and exp values in the JWT claim."
)


@dataclass(frozen=True)
class Principal:
    subject: str  # the user the token acts as (or the service account itself)
    scopes: frozenset[str]


class OAuthError(Exception):
    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(f"{error}: {description}")
        self.error, self.description, self.status = error, description, status

    def reply(self) -> Reply:
        return Reply.json(self.status, {"error": self.error, "error_description": self.description})


class TokenService:
    """Issues and checks access tokens; one RSA key and one OAuth client per emulator."""

    def __init__(self, known_user: Callable[[str], bool]) -> None:
        self._known_user = known_user
        self._lock = threading.Lock()
        self._key: rsa.RSAPrivateKey | None = None
        self.key_id = secrets.token_hex(20)
        self.client_email = f"oneonone-sync@{PROJECT}.iam.gserviceaccount.com"
        self.sa_client_id = str(10**20 + secrets.randbelow(9 * 10**20))
        self.oauth_client_id = f"{secrets.randbelow(10**12):012d}-emulator.apps.googleusercontent.com"
        self.oauth_client_secret = "GOCSPX-" + secrets.token_urlsafe(21)
        self.token_lifetime = 3599
        self._access: dict[str, tuple[Principal, float]] = {}
        self._refresh: dict[str, Principal] = {}
        self._revoked: set[str] = set()
        self.sign_in: GoogleSignIn | None = None  # the authorization_code grant, when the emulator has one
        # The scopes the Admin console's domain-wide delegation grants the service account (None: any asked for).
        self.delegated_scopes: frozenset[str] | None = None

    @property
    def key(self) -> rsa.RSAPrivateKey:
        with self._lock:
            if self._key is None:
                self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            return self._key

    def service_account_info(self, token_uri: str) -> dict[str, str]:
        pem = self.key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        return {
            "type": "service_account",
            "project_id": PROJECT,
            "private_key_id": self.key_id,
            "private_key": pem,
            "client_email": self.client_email,
            "client_id": self.sa_client_id,
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": token_uri,
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "client_x509_cert_url": f"https://www.googleapis.com/robot/v1/metadata/x509/{self.client_email}",
            "universe_domain": "googleapis.com",
        }

    def mint_refresh_token(self, user: str, scopes: list[str]) -> dict[str, str]:
        token = "1//emu-" + secrets.token_urlsafe(32)
        with self._lock:
            self._refresh[token] = Principal(user.lower(), frozenset(scopes))
        return {"client_id": self.oauth_client_id, "client_secret": self.oauth_client_secret, "refresh_token": token}

    def revoke(self, subject: str) -> None:
        with self._lock:
            self._revoked.add(subject.lower())

    def restore(self, subject: str) -> None:
        with self._lock:
            self._revoked.discard(subject.lower())

    def expire_access_tokens(self, subject: str | None = None) -> None:
        with self._lock:
            for token, (principal, _) in list(self._access.items()):
                if subject is None or principal.subject == subject.lower():
                    del self._access[token]

    def handle(self, request: Request) -> Reply:
        if request.method != "POST":
            return OAuthError("invalid_request", "Only POST is supported.", 405).reply()
        form = {k: v[-1] for k, v in parse_qs(request.body.decode("utf-8", "replace")).items()}
        try:
            grant = form.get("grant_type")
            if grant == JWT_BEARER:
                principal = self._jwt_grant(form.get("assertion", ""))
            elif grant == "refresh_token":
                principal = self._refresh_grant(form)
            elif grant == "authorization_code" and self.sign_in is not None:
                return self.sign_in.redeem(form, request.header("authorization"))
            else:
                raise OAuthError("unsupported_grant_type", f"Invalid grant_type: {grant}")
        except OAuthError as exc:
            return exc.reply()
        token = "ya29.emu-" + secrets.token_urlsafe(32)
        with self._lock:
            self._access[token] = (principal, time.monotonic() + self.token_lifetime)
        body: dict[str, Any] = {"access_token": token, "expires_in": self.token_lifetime, "token_type": "Bearer"}
        if grant == "refresh_token":
            body["scope"] = " ".join(sorted(principal.scopes))
        return Reply.json(200, body, {"Cache-Control": "no-cache, no-store, max-age=0, must-revalidate"})

    def authenticate(self, header: str | None) -> Principal:
        """The principal behind `Authorization: Bearer …`, or Google's 401."""
        token = header[7:].strip() if header and header[:7].lower() == "bearer " else None
        with self._lock:
            entry = self._access.get(token) if token else None
            if entry is not None and (entry[1] < time.monotonic() or entry[0].subject in self._revoked):
                entry = None
        if entry is None:
            raise GoogleApiError(
                401,
                "authError",
                headers={"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/", error="invalid_token"'},
            )
        return entry[0]

    def _jwt_grant(self, assertion: str) -> Principal:
        claims = self._verify(assertion)
        scopes = frozenset(str(claims.get("scope") or "").split())
        if not scopes:
            raise OAuthError("invalid_scope", "Invalid OAuth scope or ID token audience provided.")
        subject = str(claims.get("sub") or claims.get("iss")).lower()
        with self._lock:
            revoked = subject in self._revoked
        if revoked:
            raise OAuthError("invalid_grant", "Token has been expired or revoked.")
        if subject != self.client_email and not self._known_user(subject):
            raise OAuthError("invalid_grant", "Invalid email or User ID")
        if claims.get("sub") and self.delegated_scopes is not None and not scopes <= self.delegated_scopes:
            raise OAuthError(
                "unauthorized_client",
                "Client is unauthorized to retrieve access tokens using this method, or client not authorized for any "
                "of the scopes requested.",
                401,
            )
        return Principal(subject, scopes)

    def _verify(self, assertion: str) -> dict[str, Any]:
        parts = assertion.split(".")
        if len(parts) != 3:
            raise OAuthError("invalid_grant", "Invalid JWT: not a JWS compact serialization.")
        try:
            header = json.loads(_b64(parts[0]))
            claims = json.loads(_b64(parts[1]))
            signature = _b64(parts[2])
        except (ValueError, binascii.Error) as exc:
            raise OAuthError("invalid_grant", "Invalid JWT: malformed.") from exc
        if header.get("alg") != "RS256" or header.get("kid") not in (None, self.key_id):
            raise OAuthError("invalid_grant", "Invalid JWT Signature.")
        try:
            self.key.public_key().verify(
                signature, f"{parts[0]}.{parts[1]}".encode(), padding.PKCS1v15(), hashes.SHA256()
            )
        except InvalidSignature as exc:
            raise OAuthError("invalid_grant", "Invalid JWT Signature.") from exc
        if claims.get("iss") != self.client_email:
            raise OAuthError("invalid_grant", "Invalid JWT Signature.")
        now = time.time()
        iat, exp = claims.get("iat"), claims.get("exp")
        if not isinstance(iat, int | float) or not isinstance(exp, int | float):
            raise OAuthError("invalid_grant", _SHORT_LIVED)
        if exp < now - CLOCK_SKEW or iat > now + CLOCK_SKEW or exp - iat > 3600 + CLOCK_SKEW:
            raise OAuthError("invalid_grant", _SHORT_LIVED)
        return dict(claims)

    def _refresh_grant(self, form: dict[str, str]) -> Principal:
        if form.get("client_id") != self.oauth_client_id or form.get("client_secret") != self.oauth_client_secret:
            raise OAuthError("invalid_client", "Unauthorized", 401)
        with self._lock:
            principal = self._refresh.get(form.get("refresh_token", ""))
            revoked = principal is not None and principal.subject in self._revoked
        if principal is None:
            raise OAuthError("invalid_grant", "Bad Request")
        if revoked:
            raise OAuthError("invalid_grant", "Token has been expired or revoked.")
        asked = frozenset(form.get("scope", "").split())
        if asked and not asked <= principal.scopes:
            raise OAuthError("invalid_scope", "Some requested scopes were invalid.")
        return Principal(principal.subject, asked or principal.scopes)


def _b64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


# Google's words for the authorization_code grant's refusals (status, error, error_description).
_SIGN_IN_ERRORS = {
    "bad_code": (400, "invalid_grant", "Malformed auth code."),
    "used_code": (400, "invalid_grant", "Bad Request"),
    "expired_code": (400, "invalid_grant", "Bad Request"),
    "redirect_mismatch": (400, "redirect_uri_mismatch", "Bad Request"),
    "missing_verifier": (400, "invalid_grant", "Missing code verifier."),
    "bad_verifier": (400, "invalid_grant", "Invalid code verifier."),
    "bad_client": (401, "invalid_client", "Unauthorized"),
}


class GoogleSignIn:
    """Sign in with Google for accounts the emulator knows (`known_user`); see emulators/oidc.py."""

    PATHS = ("/.well-known/openid-configuration", "/o/oauth2/v2/auth", "/oauth2/v3/certs")

    def __init__(self, base_url: Callable[[], str], clock: Callable[[], datetime], known_user: Callable[[str], bool]):
        self.base_url = base_url
        self._known_user = known_user
        self.provider = OidcProvider("google", base_url, clock, self._identity)

    def handle(self, request: Request) -> Reply:
        if request.path == "/.well-known/openid-configuration":
            return Reply.json(200, self.discovery())
        if request.path == "/oauth2/v3/certs":
            return Reply.json(200, self.provider.jwks(), {"Cache-Control": "public, max-age=21600"})
        return self.provider.authorize(request.query, f"{self.base_url()}/o/oauth2/v2/auth")

    def redeem(self, form: dict[str, str], authorization: str | None) -> Reply:
        try:
            body = self.provider.redeem(form, authorization)
        except Refused as exc:
            status, error, description = _SIGN_IN_ERRORS.get(exc.reason, (400, "invalid_request", "Bad Request"))
            return OAuthError(error, description, status).reply()
        return Reply.json(200, body, {"Cache-Control": "no-cache, no-store, max-age=0, must-revalidate"})

    def discovery(self) -> dict[str, Any]:
        base = self.base_url()
        return {
            "issuer": base,
            "authorization_endpoint": f"{base}/o/oauth2/v2/auth",
            "device_authorization_endpoint": f"{base}/device/code",
            "token_endpoint": f"{base}/token",
            "userinfo_endpoint": f"{base}/v1/userinfo",
            "revocation_endpoint": f"{base}/revoke",
            "jwks_uri": f"{base}/oauth2/v3/certs",
            "response_types_supported": ["code", "token", "id_token", "code token", "code id_token", "none"],
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "email", "profile"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            "claims_supported": [
                "aud",
                "email",
                "email_verified",
                "exp",
                "family_name",
                "given_name",
                "iat",
                "iss",
                "name",
                "picture",
                "sub",
            ],
            "code_challenge_methods_supported": ["plain", "S256"],
            "grant_types_supported": [
                "authorization_code",
                "refresh_token",
                "urn:ietf:params:oauth:grant-type:device_code",
                JWT_BEARER,
            ],
        }

    def _identity(self, user: str, client_id: str, scopes: frozenset[str]) -> dict[str, Any] | str:
        email = user.strip().lower()
        if not self._known_user(email):
            return "Couldn't find your Google Account."
        number = int.from_bytes(hashlib.sha256(email.encode()).digest()[:8], "big")
        claims: dict[str, Any] = {"sub": str(10**20 + number % (9 * 10**20))}
        domain = email.rpartition("@")[2]
        if domain != "gmail.com":
            claims["hd"] = domain
        if "email" in scopes:
            claims |= {"email": email, "email_verified": True}
        if "profile" in scopes:
            given = email.split("@")[0].split(".")[0].capitalize()
            claims |= {"name": given, "given_name": given}
        return claims
