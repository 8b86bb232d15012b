"""The emulators' OpenID Connect side, driven directly over HTTP as a relying party would.

The agenda's own sign-in tests (test_agenda_oidc.py) only ever send correct requests; these check
that the emulators refuse the wrong ones as Google and the Microsoft identity platform document.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
import pytest
import requests

from emulators.google import GoogleCalendarEmulator
from emulators.graph import GraphEmulator
from emulators.oidc import OidcProvider

REDIRECT = "https://agenda.example.com/auth/oidc/callback"
VERIFIER = "v" * 20 + "-._~" + "w" * 30
CHALLENGE = base64.urlsafe_b64encode(hashlib.sha256(VERIFIER.encode()).digest()).rstrip(b"=").decode()
USER = "bob@example.com"


@dataclass
class Idp:
    vendor: str
    discovery_url: str
    provider: OidcProvider
    verify: str | bool
    client_id: str = "the-client"
    secret: str = "the-secret"

    def discovery(self) -> dict[str, Any]:
        return dict(requests.get(self.discovery_url, verify=self.verify, timeout=10).json())

    def authorize(self, **changes: str) -> requests.Response:
        query = {
            "client_id": self.client_id,
            "response_type": "code",
            "redirect_uri": REDIRECT,
            "scope": "openid email profile",
            "state": "st",
            "nonce": "no",
            "code_challenge": CHALLENGE,
            "code_challenge_method": "S256",
            "login_hint": USER,
            **changes,
        }
        query = {k: v for k, v in query.items() if v}
        url = f"{self.discovery()['authorization_endpoint']}?{urlencode(query)}"
        return requests.get(url, allow_redirects=False, verify=self.verify, timeout=10)

    def code(self) -> str:
        answer = self.authorize()
        assert answer.status_code == 302
        location = answer.headers["Location"]
        assert location.startswith(REDIRECT + "?")
        params = parse_qs(urlsplit(location).query)
        assert params["state"] == ["st"]
        return params["code"][0]

    def redeem(self, code: str, **changes: str) -> requests.Response:
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "client_id": self.client_id,
            "client_secret": self.secret,
            "code_verifier": VERIFIER,
            **changes,
        }
        form = {k: v for k, v in form.items() if v}
        return requests.post(self.discovery()["token_endpoint"], data=form, verify=self.verify, timeout=10)


@pytest.fixture(params=["google", "entra"])
def idp(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Idp]:
    if request.param == "google":
        with GoogleCalendarEmulator() as google:
            google.add_calendar(USER)
            google.add_web_client("the-client", "the-secret", (REDIRECT,))
            yield Idp("google", f"{google.base_url}/.well-known/openid-configuration", google.sign_in.provider, True)
    else:
        with GraphEmulator(ca_dir=tmp_path / "ca") as graph:
            graph.add_user(USER, "Bob Example")
            assert graph.identity.sign_in is not None
            graph.identity.sign_in.register("the-client", "the-secret", (REDIRECT,))
            url = f"{graph.base_url}/{graph.tenant_id}/v2.0/.well-known/openid-configuration"
            yield Idp("entra", url, graph.identity.sign_in.provider, str(graph.ca_pem))


def test_a_code_gives_an_id_token_signed_by_a_published_key(idp: Idp) -> None:
    document = idp.discovery()
    answer = idp.redeem(idp.code())
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["token_type"] == "Bearer" and body["access_token"]
    header = jwt.get_unverified_header(body["id_token"])
    keys = requests.get(document["jwks_uri"], verify=idp.verify, timeout=10).json()["keys"]
    (jwk,) = [k for k in keys if k["kid"] == header["kid"]]
    assert header["alg"] == "RS256"
    claims = jwt.decode(
        body["id_token"],
        jwt.PyJWK.from_dict(jwk).key,
        algorithms=["RS256"],
        audience="the-client",
        issuer=document["issuer"],
        options={"verify_exp": False, "verify_iat": False},
    )
    assert claims["nonce"] == "no"
    if idp.vendor == "google":
        assert claims["email"] == USER and claims["email_verified"] is True and claims["azp"] == "the-client"
    else:
        assert claims["preferred_username"] == USER and claims["ver"] == "2.0"
        assert document["issuer"].endswith(f"/{claims['tid']}/v2.0")


def test_a_code_works_once_and_only_with_its_verifier_client_and_redirect(idp: Idp) -> None:
    wrong = idp.redeem(idp.code(), code_verifier="x" * 43)
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    assert idp.redeem(idp.code(), code_verifier="").status_code == 400  # PKCE was used: the verifier is required
    assert idp.redeem(idp.code(), redirect_uri=REDIRECT + "x").status_code == 400
    bad_client = idp.redeem(idp.code(), client_secret="guess")
    assert bad_client.status_code == 401 and bad_client.json()["error"] == "invalid_client"
    code = idp.code()
    assert idp.redeem(code).status_code == 200
    again = idp.redeem(code)
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
    if idp.vendor == "entra":
        assert again.json()["error_codes"] == [54005] and "AADSTS54005" in again.json()["error_description"]


def test_the_authorize_endpoint_never_redirects_to_an_unregistered_uri(idp: Idp) -> None:
    foreign = idp.authorize(redirect_uri="https://evil.example/cb")
    assert foreign.status_code == 400 and "Location" not in foreign.headers
    unknown = idp.authorize(client_id="someone-else")
    assert unknown.status_code == 400 and "Location" not in unknown.headers
    no_openid = idp.authorize(scope="email")
    assert no_openid.status_code == 302 and "error=invalid_scope" in no_openid.headers["Location"]
    chooser = idp.authorize(login_hint="")  # no account chosen yet: the emulator's sign-in form
    assert chooser.status_code == 200 and 'name="login_hint"' in chooser.text and 'value="st"' in chooser.text
    stranger = idp.authorize(login_hint="nobody@example.com")
    assert stranger.status_code == 200 and "id='error'" in stranger.text
