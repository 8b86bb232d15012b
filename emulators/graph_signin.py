"""Sign-in with Entra ID (Microsoft identity platform v2.0, OpenID Connect) for the Graph emulator.

`/{tenant}/oauth2/v2.0/authorize`, the `authorization_code` grant of `/{tenant}/oauth2/v2.0/token`
(errors in AAD's shape: an AADSTS code in `error_description` and `error_codes`) and the keys at
`/{tenant}/discovery/v2.0/keys`; the flow itself is emulators/oidc.py. Accounts are the directory's
users (`add_user` / `add_mailbox`); a disabled one cannot sign in. ID tokens are v2.0: `iss`
`{base}/{tenant GUID}/v2.0`, `tid`, `oid`, a pairwise `sub`, `preferred_username` (the UPN), and
`email` when the `email` scope was asked for.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from emulators.graph_directory import DirectoryUser
from emulators.http import Reply, Request
from emulators.oidc import OidcProvider, Refused

# (status, error, AADSTS code, message) per refusal of the authorization_code grant.
_ERRORS: dict[str, tuple[int, str, int, str]] = {
    "bad_code": (400, "invalid_grant", 9002313, "Invalid request. Request is malformed or invalid."),
    "used_code": (
        400,
        "invalid_grant",
        54005,
        "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an "
        "existing refresh token.",
    ),
    "expired_code": (
        400,
        "invalid_grant",
        70008,
        "The provided authorization code or refresh token has expired due to inactivity. Send a new "
        "interactive authorization request for this user and resource.",
    ),
    "redirect_mismatch": (
        400,
        "invalid_grant",
        70000,
        "The request was denied because the 'redirect_uri' does not match the one the authorization code "
        "was issued to.",
    ),
    "missing_verifier": (
        400,
        "invalid_request",
        900144,
        "The request body must contain the following parameter: 'code_verifier'.",
    ),
    "bad_verifier": (
        400,
        "invalid_grant",
        501481,
        "The Code_Verifier does not match the code_challenge supplied in the authorization request.",
    ),
    "bad_client": (
        401,
        "invalid_client",
        7000215,
        "Invalid client secret provided. Ensure the secret being sent in the request is the client secret "
        "value, not the client secret ID.",
    ),
}

# Raises the caller's AAD error: (status, error, aadsts, message).
AadFail = Callable[[int, str, int, str], Exception]


class EntraSignIn:
    def __init__(
        self,
        issuer: Callable[[], str],
        tenant_guid: str,
        clock: Callable[[], datetime],
        users: Callable[[], Mapping[str, DirectoryUser]],
    ) -> None:
        self.tenant_guid = tenant_guid
        self._users = users
        self.provider = OidcProvider("entra", issuer, clock, self._identity)

    def register(self, client_id: str, client_secret: str, redirect_uris: tuple[str, ...]) -> None:
        """An app registration with a Web platform redirect URI and a client secret."""
        self.provider.register(client_id, client_secret, redirect_uris)

    def authorize(self, request: Request, action: str) -> Reply:
        return self.provider.authorize(request.query, action)

    def jwks(self) -> Reply:
        return Reply.json(200, self.provider.jwks())

    def redeem(self, form: dict[str, str], request: Request, fail: AadFail) -> dict[str, Any]:
        try:
            return self.provider.redeem(form, request.header("authorization"))
        except Refused as exc:
            raise fail(*_ERRORS.get(exc.reason, (400, "invalid_request", 900144, "Invalid request."))) from exc

    def _identity(self, login: str, client_id: str, scopes: frozenset[str]) -> dict[str, Any] | str:
        user = self._users().get(login.strip().casefold())
        if user is None:
            return "AADSTS50034: The user account does not exist in this directory."
        if not user.account_enabled:
            return "AADSTS50057: The user account is disabled."
        pairwise = hashlib.sha256(f"{user.id}|{client_id}".encode()).digest()
        claims: dict[str, Any] = {
            "ver": "2.0",
            "tid": self.tenant_guid,
            "oid": user.id,
            "sub": base64.urlsafe_b64encode(pairwise).rstrip(b"=").decode()[:43],
            "sid": secrets.token_hex(16),
            "rh": "0.emu-" + secrets.token_urlsafe(12),
        }
        if "profile" in scopes:
            claims |= {"preferred_username": user.mail, "name": user.display_name}
        if "email" in scopes:
            claims["email"] = user.mail
        return claims
