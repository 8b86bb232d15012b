"""The Microsoft identity platform's client-credentials token endpoint, enough for msal.

Serves OIDC discovery and `/oauth2/v2.0/token` for registered apps (secret or certificate) and,
through `sign_in` (emulators/graph_signin.py), the authorization code grant of user sign-in,
answering errors in AAD's shape (`error`, `error_description` with an AADSTS code, `error_codes`,
trace and correlation ids). Access tokens are HS256 JWTs that only this emulator accepts; their
lifetime runs on the real clock, as msal's token cache does.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.hazmat.primitives.serialization import Encoding

from emulators.graph_model import GraphError
from emulators.http import Reply, Request

if TYPE_CHECKING:
    from emulators.graph_signin import EntraSignIn

GRAPH_RESOURCE = "https://graph.microsoft.com"
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
DEFAULT_ROLES = ("Calendars.ReadWrite", "Mail.Send", "User.Read.All", "MailboxSettings.Read")
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
TOKEN_LIFETIME = 3599


@dataclass
class App:
    client_id: str
    secrets: set[str] = field(default_factory=set)
    keys: dict[str, PublicKeyTypes] = field(default_factory=dict)  # base64url thumbprint → key
    roles: tuple[str, ...] = DEFAULT_ROLES
    object_id: str = field(default_factory=lambda: str(uuid.uuid4()))


@dataclass(frozen=True)
class Grant:
    """What a bearer token proves: which app, in which tenant, with which roles."""

    app: App
    expires_at: float


class Identity:
    def __init__(self, tenant_id: str, clock: Callable[[], datetime]) -> None:
        self.tenant_id = tenant_id
        self.tenant_guid = str(uuid.uuid5(uuid.NAMESPACE_DNS, tenant_id))
        self.clock = clock
        self.base_url = ""
        self.apps: dict[str, App] = {}
        self._grants: dict[str, Grant] = {}
        self._secret = secrets.token_bytes(32)
        self._lock = threading.Lock()
        self.sign_in: EntraSignIn | None = None  # user sign-in (OpenID Connect), set by the emulator

    # -- registration -----------------------------------------------------------------------------
    def add_app(self, client_id: str, client_secret: str | None = None, roles: tuple[str, ...] | None = None) -> App:
        with self._lock:
            app = self.apps.setdefault(client_id, App(client_id))
            if client_secret is not None:
                app.secrets.add(client_secret)
            if roles is not None:
                app.roles = roles
            return app

    def add_certificate(self, client_id: str, certificate_pem: str | bytes) -> None:
        """Register a certificate credential; msal signs its assertion with the private key."""
        pem = certificate_pem.encode() if isinstance(certificate_pem, str) else certificate_pem
        cert = x509.load_pem_x509_certificate(pem)
        app = self.add_app(client_id)
        for algorithm in ("sha1", "sha256"):
            digest = cert.fingerprint(_hash(algorithm))
            app.keys[jwt.utils.base64url_encode(digest).decode().rstrip("=")] = cert.public_key()

    def expire_tokens(self) -> None:
        """Make every issued token invalid, as if it had expired (Graph then answers 401)."""
        with self._lock:
            self._grants = {t: Grant(g.app, 0.0) for t, g in self._grants.items()}

    # -- endpoints --------------------------------------------------------------------------------
    def knows_tenant(self, tenant: str) -> bool:
        return tenant.casefold() in (self.tenant_id.casefold(), self.tenant_guid)

    def openid_configuration(self, tenant: str) -> dict[str, Any]:
        root = f"{self.base_url}/{tenant}"
        return {
            "token_endpoint": f"{root}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "jwks_uri": f"{root}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"{self.base_url}/{self.tenant_guid}/v2.0",
            "request_uri_parameter_supported": False,
            "userinfo_endpoint": f"{self.base_url}/oidc/userinfo",
            "authorization_endpoint": f"{root}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{root}/oauth2/v2.0/devicecode",
            "http_logout_supported": True,
            "frontchannel_logout_supported": True,
            "end_session_endpoint": f"{root}/oauth2/v2.0/logout",
            "tenant_region_scope": "EU",
            "cloud_instance_name": "microsoftonline.com",
            "msgraph_host": "graph.microsoft.com",
        }

    @property
    def authority_root(self) -> str:
        return f"{self.base_url}/{self.tenant_id}"

    def instance_discovery(self, request: Request) -> dict[str, Any]:
        host = self.base_url.split("://", 1)[-1]
        return {
            "tenant_discovery_endpoint": f"{self.authority_root}/v2.0/.well-known/openid-configuration",
            "api-version": "1.1",
            "metadata": [{"preferred_network": host, "preferred_cache": host, "aliases": [host]}],
        }

    def token(self, tenant: str, request: Request) -> Reply:
        form = {k: v[-1] for k, v in parse_qs(request.body.decode("utf-8", "replace"), keep_blank_values=True).items()}
        correlation = request.header("client-request-id") or str(uuid.uuid4())
        if form.get("grant_type") == "authorization_code" and self.sign_in is not None:
            try:
                self._check_tenant(tenant)
                body = self.sign_in.redeem(form, request, _AadError)
            except _AadError as err:
                return self._error_reply(err, correlation)
            return Reply.json(200, body, {"Cache-Control": "no-store, no-cache", "client-request-id": correlation})
        try:
            app = self._authenticate(tenant, form, request)
        except _AadError as err:
            return self._error_reply(err, correlation)
        token = self._issue(app)
        body = {
            "token_type": "Bearer",
            "expires_in": TOKEN_LIFETIME,
            "ext_expires_in": TOKEN_LIFETIME,
            "access_token": token,
        }
        return Reply.json(200, body, {"Cache-Control": "no-store, no-cache", "client-request-id": correlation})

    def check(self, authorization: str | None) -> Grant:
        """The grant behind an `Authorization: Bearer` header, or a Graph 401."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.casefold() != "bearer" or not token.strip():
            raise _unauthenticated("Access token is empty.")
        with self._lock:
            grant = self._grants.get(token.strip())
        if grant is None:
            message = (
                "IDX14100: JWT is not well formed, there are no dots (.)."
                if "." not in token
                else "Access token validation failure."
            )
            raise _unauthenticated(message)
        if grant.expires_at <= time.time():
            raise _unauthenticated("Lifetime validation failed, the token is expired.")
        return grant

    # -- internals --------------------------------------------------------------------------------
    def _authenticate(self, tenant: str, form: dict[str, str], request: Request) -> App:
        self._check_tenant(tenant)
        if form.get("grant_type") != "client_credentials":
            raise _AadError(
                400,
                "unsupported_grant_type",
                70003,
                f"The app requested an unsupported grant type '{form.get('grant_type', '')}'.",
            )
        return self._client_credentials(tenant, form, request)

    def _check_tenant(self, tenant: str) -> None:
        if not self.knows_tenant(tenant):
            raise _AadError(
                400,
                "invalid_request",
                90002,
                f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are "
                "signing into the correct cloud.",
            )

    def _client_credentials(self, tenant: str, form: dict[str, str], request: Request) -> App:
        client_id = form.get("client_id", "")
        if not client_id:
            raise _AadError(
                400, "invalid_request", 900144, "The request body must contain the following parameter: 'client_id'."
            )
        app = self.apps.get(client_id)
        if app is None:
            raise _AadError(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{client_id}' was not found in the directory '{tenant}'. "
                "This can happen if the "
                "application has not been installed by the administrator of the tenant or consented to "
                "by any user in the tenant.",
            )
        self._check_scope(form.get("scope", ""), tenant)
        if "client_secret" in form:
            if form["client_secret"] not in app.secrets:
                raise _AadError(
                    401,
                    "invalid_client",
                    7000215,
                    "Invalid client secret provided. Ensure the secret being sent in the request is the "
                    "client secret value, "
                    f"not the client secret ID, for a secret added to app '{client_id}'.",
                )
            return app
        if "client_assertion" in form:
            self._check_assertion(app, form, f"{self.base_url}/{tenant}/oauth2/v2.0/token")
            return app
        raise _AadError(
            401,
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        )

    def _check_scope(self, scope: str, tenant: str) -> None:
        if not scope:
            raise _AadError(
                400, "invalid_request", 900144, "The request body must contain the following parameter: 'scope'."
            )
        parts = scope.split()
        if len(parts) != 1 or not parts[0].endswith("/.default"):
            raise _AadError(
                400,
                "invalid_scope",
                1002012,
                f"The provided value for scope {scope} is not valid. Client credential flows must have a "
                "scope value with "
                "/.default suffixed to the resource identifier (application ID URI).",
            )
        resource = parts[0].removesuffix("/.default").rstrip("/")
        if resource not in (GRAPH_RESOURCE, GRAPH_APP_ID, "https://graph.microsoft.com/v1.0"):
            raise _AadError(
                400,
                "invalid_resource",
                500011,
                f"The resource principal named {resource} was not found in the tenant named {tenant}. "
                "This can happen if the "
                "application has not been installed by the administrator of the tenant or consented to "
                "by any user in the tenant.",
            )

    def _check_assertion(self, app: App, form: dict[str, str], audience: str) -> None:
        if form.get("client_assertion_type") != JWT_BEARER:
            raise _AadError(
                400,
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'client_assertion_type'.",
            )
        assertion = form["client_assertion"]
        try:
            header = jwt.get_unverified_header(assertion)
        except jwt.InvalidTokenError as exc:
            raise _AadError(401, "invalid_client", 700027, "Client assertion failed signature validation.") from exc
        thumbprint = str(header.get("x5t#S256") or header.get("x5t") or "").rstrip("=")
        key = app.keys.get(thumbprint)
        if key is None:
            raise _AadError(
                401,
                "invalid_client",
                700027,
                "Client assertion contains an invalid signature. [Reason - The key was not found., "
                f"Thumbprint of key used by client: '{thumbprint}']",
            )
        try:
            jwt.decode(
                assertion,
                key,  # type: ignore[arg-type]
                algorithms=["RS256", "PS256", "ES256"],
                audience=audience,
                issuer=app.client_id,
                leeway=300,
                options={"require": ["exp", "aud", "iss"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise _AadError(
                401, "invalid_client", 700024, "Client assertion is not within its valid time range."
            ) from exc
        except jwt.InvalidAudienceError as exc:
            raise _AadError(
                401, "invalid_client", 700016, f"The audience claim is not valid; expected '{audience}'."
            ) from exc
        except jwt.InvalidTokenError as exc:
            raise _AadError(
                401, "invalid_client", 700027, f"Client assertion failed signature validation. {exc}"
            ) from exc

    def _issue(self, app: App) -> str:
        now = int(time.time())
        claims = {
            "aud": GRAPH_RESOURCE,
            "iss": f"https://sts.windows.net/{self.tenant_guid}/",
            "iat": now,
            "nbf": now,
            "exp": now + TOKEN_LIFETIME,
            "appid": app.client_id,
            "idtyp": "app",
            "oid": app.object_id,
            "roles": list(app.roles),
            "sub": app.object_id,
            "tid": self.tenant_guid,
            "ver": "1.0",
            "uti": secrets.token_urlsafe(16),
        }
        token = jwt.encode(claims, self._secret, algorithm="HS256", headers={"typ": "JWT"})
        with self._lock:
            self._grants[token] = Grant(app, float(now + TOKEN_LIFETIME))
        return token

    def _error_reply(self, err: _AadError, correlation: str) -> Reply:
        trace = str(uuid.uuid4())
        now = self.clock().astimezone(UTC)
        stamp = now.strftime("%Y-%m-%d %H:%M:%SZ")
        description = (
            f"AADSTS{err.aadsts}: {err.message}\r\nTrace ID: {trace}\r\n"
            f"Correlation ID: {correlation}\r\nTimestamp: {stamp}"
        )
        body = {
            "error": err.error,
            "error_description": description,
            "error_codes": [err.aadsts],
            "timestamp": stamp,
            "trace_id": trace,
            "correlation_id": correlation,
            "error_uri": f"{self.base_url}/error?code={err.aadsts}",
        }
        return Reply.json(err.status, body, {"Cache-Control": "no-store, no-cache"})


class _AadError(Exception):
    def __init__(self, status: int, error: str, aadsts: int, message: str) -> None:
        super().__init__(message)
        self.status, self.error, self.aadsts, self.message = status, error, aadsts, message


def _unauthenticated(message: str) -> GraphError:
    challenge = (
        'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", '
        f'client_id="{GRAPH_APP_ID}"'
    )
    return GraphError(401, "InvalidAuthenticationToken", message, {"WWW-Authenticate": challenge})


def _hash(name: str) -> hashes.HashAlgorithm:
    return hashes.SHA1() if name == "sha1" else hashes.SHA256()


def thumbprint_sha1(certificate_pem: bytes) -> str:
    """The hex SHA-1 thumbprint msal's `client_credential={"thumbprint": ...}` expects."""
    cert = x509.load_pem_x509_certificate(certificate_pem)
    return hashlib.sha1(cert.public_bytes(Encoding.DER)).hexdigest().upper()
