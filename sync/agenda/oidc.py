"""OpenID Connect sign-in (Google, Entra ID): the relying party's side of the authorization code flow.

Discovery from `{issuer}/.well-known/openid-configuration`; an authorization request with PKCE
(S256), `state` and `nonce`; the code redeemed at the token endpoint with the client secret; the ID
token checked as both vendors document: an RS256 signature by a key of the issuer's JWKS, `iss`,
`aud` (and `azp`), `exp`/`iat`/`nbf` against the daemon's clock with a minute of leeway, `nonce`.
Then the address: Google's only if `email_verified`; Entra's `email`, else `preferred_username`,
and only from the configured tenant (`tid`). Nothing here logs a secret, a code or a token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

import jwt
import requests
from pydantic import SecretStr

from rules.address import address_or_none
from sync.config import ConfigError, OidcSettings

log = logging.getLogger(__name__)

SCOPE = "openid email profile"
CALLBACK_PATH = "/auth/oidc/callback"
LEEWAY_SECONDS = 60
CACHE_SECONDS = 3600  # discovery document and keys; an unknown `kid` refetches the keys sooner
LABELS = {"google": "Google", "entra": "Microsoft"}


class OidcRefused(Exception):
    """The sign-in is refused; `reason` is for the log (never a token or a secret)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class OidcUnavailable(Exception):
    """The identity provider could not be reached or answered nonsense."""


@dataclass(frozen=True)
class Provider:
    kind: str  # google | entra
    issuer: str  # where discovery starts
    client_id: str
    client_secret: SecretStr
    redirect_uri: str
    tenant: str | None = None
    verify: str | bool = True  # requests' `verify`: a CA bundle path, or the system's trust store
    timeout: float = 10.0

    @property
    def label(self) -> str:
        return LABELS[self.kind]

    @classmethod
    def from_settings(cls, settings: OidcSettings, base_url: str) -> Provider | None:
        if settings.provider is None:
            return None
        secret = settings.client_secret()
        issuer = settings.resolved_issuer
        if secret is None or issuer is None or not settings.client_id:  # checked when the config loaded
            raise ConfigError("agenda.oidc: client_id and a client secret are needed")
        return cls(
            kind=settings.provider,
            issuer=issuer,
            client_id=settings.client_id,
            client_secret=secret,
            redirect_uri=base_url.rstrip("/") + CALLBACK_PATH,
            tenant=settings.tenant,
            verify=str(settings.ca_bundle) if settings.ca_bundle else True,
            timeout=settings.timeout_seconds,
        )


@dataclass(frozen=True)
class Login:
    """One sign-in attempt's secrets: `state` and `nonce` travel, the verifier never leaves the server."""

    state: str
    nonce: str
    verifier: str

    @classmethod
    def new(cls) -> Login:
        return cls(secrets.token_urlsafe(32), secrets.token_urlsafe(32), secrets.token_urlsafe(48))

    @property
    def challenge(self) -> str:
        return s256(self.verifier)


def s256(verifier: str) -> str:
    """RFC 7636 S256: BASE64URL(SHA256(ASCII(verifier))), unpadded."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


@dataclass
class _Cached:
    value: dict[str, Any]
    fetched: float


class OidcClient:
    """One configured provider; caches its discovery document and keys (thread-safe)."""

    def __init__(
        self, provider: Provider, clock: Callable[[], datetime], session: requests.Session | None = None
    ) -> None:
        self.provider = provider
        self.clock = clock
        self._http = session or requests.Session()
        self._lock = threading.Lock()
        self._metadata: _Cached | None = None
        self._keys: _Cached | None = None

    def authorization_origin(self) -> str:
        """scheme://host[:port] of the authorization endpoint (the issuer's, if discovery is unreachable)."""
        try:
            endpoint = str(self.metadata().get("authorization_endpoint") or self.provider.issuer)
        except OidcUnavailable:
            endpoint = self.provider.issuer
        parts = urlsplit(endpoint)
        if parts.scheme not in ("https", "http") or not re.fullmatch(r"[A-Za-z0-9.:\[\]-]+", parts.netloc):
            parts = urlsplit(self.provider.issuer)  # checked when the config was loaded
        return f"{parts.scheme}://{parts.netloc}"

    # -- the two legs of the flow ---------------------------------------------------------------
    def authorization_url(self, login: Login) -> str:
        endpoint = str(self.metadata().get("authorization_endpoint") or "")
        if not endpoint.startswith(("https://", "http://")):
            raise OidcUnavailable("the discovery document has no authorization_endpoint")
        query = {
            "client_id": self.provider.client_id,
            "response_type": "code",
            "redirect_uri": self.provider.redirect_uri,
            "scope": SCOPE,
            "state": login.state,
            "nonce": login.nonce,
            "code_challenge": login.challenge,
            "code_challenge_method": "S256",
            "prompt": "select_account",
        }
        if self.provider.kind == "entra":
            query["response_mode"] = "query"
        return f"{endpoint}{'&' if '?' in endpoint else '?'}{urlencode(query)}"

    def sign_in(self, code: str, verifier: str, nonce: str) -> str:
        """The verified email address behind an authorization code, or `OidcRefused`."""
        claims = self.verify(self.redeem(code, verifier), nonce)
        return self.email(claims)

    def redeem(self, code: str, verifier: str) -> str:
        endpoint = str(self.metadata().get("token_endpoint") or "")
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.provider.redirect_uri,
            "client_id": self.provider.client_id,
            "client_secret": self.provider.client_secret.get_secret_value(),
            "code_verifier": verifier,
        }
        try:
            response = self._http.post(endpoint, data=form, timeout=self.provider.timeout, verify=self.provider.verify)
            body = response.json()
        except (requests.RequestException, ValueError) as exc:
            raise OidcUnavailable(f"token endpoint: {type(exc).__name__}") from exc
        if response.status_code != 200 or not isinstance(body, dict):
            error = body.get("error") if isinstance(body, dict) else None
            raise OidcRefused(f"the token endpoint refused the code ({response.status_code} {error})")
        token = body.get("id_token")
        if not isinstance(token, str):
            raise OidcRefused("the token response has no id_token")
        return token

    # -- the ID token ---------------------------------------------------------------------------
    def verify(self, token: str, nonce: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as exc:
            raise OidcRefused(f"the ID token is malformed ({exc})") from exc
        if header.get("alg") != "RS256":
            raise OidcRefused(f"the ID token is signed with {header.get('alg')!r}, not RS256")
        key = self._signing_key(str(header.get("kid") or ""))
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=["RS256"],
                audience=self.provider.client_id,
                issuer=self._issuers(),
                # The times are checked below against the daemon's clock, not the host's.
                options={
                    "require": ["iss", "aud", "sub", "exp", "iat"],
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                },
            )
        except jwt.InvalidSignatureError as exc:
            raise OidcRefused("the ID token's signature does not verify") from exc
        except jwt.InvalidAudienceError as exc:
            raise OidcRefused("the ID token's audience is not this client") from exc
        except jwt.InvalidIssuerError as exc:
            raise OidcRefused("the ID token's issuer is not the configured one") from exc
        except jwt.InvalidTokenError as exc:
            raise OidcRefused(f"the ID token is invalid ({exc})") from exc
        self._check_times(claims)
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if (len(audiences) > 1 or "azp" in claims) and claims.get("azp") != self.provider.client_id:
            raise OidcRefused("the ID token's authorized party (azp) is not this client")
        sent = claims.get("nonce")
        if not isinstance(sent, str) or not hmac.compare_digest(sent.encode(), nonce.encode()):
            raise OidcRefused("the ID token's nonce is not the one this sign-in sent")
        return claims

    def email(self, claims: dict[str, Any]) -> str:
        if self.provider.kind == "google":
            if claims.get("email_verified") not in (True, "true"):
                raise OidcRefused("Google has not verified this account's email address (email_verified)")
            address = claims.get("email")
        else:
            tenant = self._tenant_id()
            if str(claims.get("tid") or "").casefold() != tenant.casefold():
                raise OidcRefused("the ID token is from another Entra ID tenant (tid)")
            address = claims.get("email") or claims.get("preferred_username")
        parsed = address_or_none(address)
        if parsed is None:
            raise OidcRefused("the ID token carries no email address")
        return parsed

    def _check_times(self, claims: dict[str, Any]) -> None:
        now = self.clock().timestamp()
        exp, iat, nbf = claims.get("exp"), claims.get("iat"), claims.get("nbf")
        if not isinstance(exp, int | float) or not isinstance(iat, int | float):
            raise OidcRefused("the ID token's exp or iat is not a number")
        if exp <= now - LEEWAY_SECONDS:
            raise OidcRefused("the ID token has expired")
        if iat > now + LEEWAY_SECONDS or (isinstance(nbf, int | float) and nbf > now + LEEWAY_SECONDS):
            raise OidcRefused("the ID token is not valid yet (iat/nbf in the future)")

    def _issuers(self) -> list[str]:
        issuer = str(self.metadata().get("issuer") or "")
        if self.provider.kind == "google" and issuer.startswith("https://"):
            return [issuer, issuer.removeprefix("https://")]  # Google documents both forms of `iss`
        return [issuer]

    def _tenant_id(self) -> str:
        """The tenant's GUID: the configured one, or (for a domain) the one in the discovered issuer."""
        issuer = str(self.metadata().get("issuer") or "")
        path = urlsplit(issuer).path.strip("/").split("/")
        return path[0] if len(path) == 2 and path[1] == "v2.0" else ""

    # -- discovery and keys ---------------------------------------------------------------------
    def metadata(self) -> dict[str, Any]:
        with self._lock:
            if self._metadata is not None and self._fresh(self._metadata):
                return self._metadata.value
        url = f"{self.provider.issuer}/.well-known/openid-configuration"
        document = self._get(url)
        self._check_discovery(document)
        with self._lock:
            self._metadata = _Cached(document, self.clock().timestamp())
        return document

    def _check_discovery(self, document: dict[str, Any]) -> None:
        issuer = str(document.get("issuer") or "")
        if self.provider.kind == "google":
            if issuer != self.provider.issuer:
                raise OidcUnavailable(f"discovery names issuer {issuer!r}, not {self.provider.issuer!r}")
            return
        # Entra: configured with a domain, the issuer names the tenant's GUID instead; same host, `/{tid}/v2.0`.
        configured, found = urlsplit(self.provider.issuer), urlsplit(issuer)
        segments = found.path.strip("/").split("/")
        if (found.scheme, found.netloc) != (configured.scheme, configured.netloc) or len(segments) != 2:
            raise OidcUnavailable(f"discovery names issuer {issuer!r}, not a tenant of {self.provider.issuer!r}")
        if "{" in segments[0] or segments[1] != "v2.0":
            raise OidcUnavailable(f"discovery names issuer {issuer!r}: a specific tenant's v2.0 issuer is needed")
        tenant = self.provider.tenant or ""
        if _is_guid(tenant) and segments[0].casefold() != tenant.casefold():
            raise OidcUnavailable(f"discovery names issuer {issuer!r}, not tenant {tenant}")

    def _signing_key(self, kid: str) -> Any:
        for refresh in (False, True):
            keys = self._jwks(refresh)
            for entry in keys.get("keys", []):
                if isinstance(entry, dict) and entry.get("kid") == kid and entry.get("kty") == "RSA":
                    try:
                        return jwt.PyJWK.from_dict(entry, algorithm="RS256").key
                    except jwt.PyJWKError as exc:
                        raise OidcRefused(f"the issuer's key {kid!r} is unusable ({exc})") from exc
        raise OidcRefused(f"no key {kid!r} in the issuer's JWKS")

    def _jwks(self, refresh: bool) -> dict[str, Any]:
        with self._lock:
            cached = self._keys
        if cached is not None and self._fresh(cached) and not (refresh and self._stale_enough(cached)):
            return cached.value
        uri = str(self.metadata().get("jwks_uri") or "")
        keys = self._get(uri)
        with self._lock:
            self._keys = _Cached(keys, self.clock().timestamp())
        return keys

    def _get(self, url: str) -> dict[str, Any]:
        if not url.startswith(("https://", "http://")):
            raise OidcUnavailable(f"not a URL: {url!r}")
        try:
            response = self._http.get(url, timeout=self.provider.timeout, verify=self.provider.verify)
            response.raise_for_status()
            document = response.json()
        except (requests.RequestException, ValueError) as exc:
            raise OidcUnavailable(f"{url}: {type(exc).__name__}") from exc
        if not isinstance(document, dict):
            raise OidcUnavailable(f"{url}: not a JSON object")
        return document

    def _fresh(self, cached: _Cached) -> bool:
        return 0 <= self.clock().timestamp() - cached.fetched < CACHE_SECONDS

    def _stale_enough(self, cached: _Cached) -> bool:
        # An unknown `kid` refetches the keys (rotation), but at most once a minute: a forged `kid` is no lever.
        return abs(self.clock().timestamp() - cached.fetched) >= LEEWAY_SECONDS


def _is_guid(value: str) -> bool:
    hexed = value.replace("-", "")
    return len(value) == 36 and len(hexed) == 32 and all(c in "0123456789abcdefABCDEF" for c in hexed)
