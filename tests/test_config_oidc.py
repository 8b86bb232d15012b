"""`agenda.oidc`: what a configuration must say for OIDC sign-in, with errors that name the key path."""

from __future__ import annotations

from pathlib import Path

import pytest

from sync.agenda.oidc import Provider
from sync.config import ConfigError, load_settings, parse_settings

GOOGLE = {"provider": "google", "client_id": "123-web.apps.googleusercontent.com", "client_secret_env": "OIDC_SECRET"}
ENTRA = {**GOOGLE, "provider": "entra", "client_id": "11112222-bbbb-3333-cccc-4444dddd5555", "tenant": "contoso.com"}


def oidc(**changes: object) -> dict[str, object]:
    return {"agenda": {"oidc": changes}}


@pytest.mark.parametrize(
    ("data", "path", "hint"),
    [
        (oidc(provider="okta"), "agenda.oidc.provider", "'google' or 'entra'"),
        (oidc(**{**GOOGLE, "client_id": None}), "agenda.oidc", "agenda.oidc.client_id is not set"),
        (oidc(**{**GOOGLE, "client_secret_env": None}), "agenda.oidc", "exactly one of agenda.oidc.client_secret_env"),
        (oidc(**GOOGLE, client_secret_file="secret.txt"), "agenda.oidc", "exactly one of"),
        (oidc(**{**ENTRA, "tenant": None}), "agenda.oidc", "agenda.oidc.tenant (your tenant id) is not set"),
        (oidc(**{**ENTRA, "tenant": "common"}), "agenda.oidc.tenant", "any organization"),
        (oidc(**{**ENTRA, "tenant": "Organizations"}), "agenda.oidc.tenant", "any organization"),
        (oidc(**{**ENTRA, "tenant": "consumers"}), "agenda.oidc.tenant", "any organization"),
        (oidc(**{**ENTRA, "tenant": "contoso.com/../x"}), "agenda.oidc.tenant", "not a tenant id"),
        (oidc(**GOOGLE, tenant="contoso.com"), "agenda.oidc", "for provider entra only"),
        (oidc(**GOOGLE, issuer="http://idp.example.com"), "agenda.oidc.issuer", "must be an https:// URL"),
        (oidc(**GOOGLE, issuer="https://idp.example.com/?x=1"), "agenda.oidc.issuer", "must not have a query"),
        (oidc(**GOOGLE, timeout_seconds=0), "agenda.oidc.timeout_seconds", "greater than 0"),
        (oidc(**GOOGLE, redirect_uri="https://x"), "agenda.oidc.redirect_uri", "unknown key"),
    ],
)
def test_an_incomplete_oidc_config_is_refused_naming_the_key(data: dict[str, object], path: str, hint: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_settings(data)
    message = str(error.value)
    assert f"{path}:" in message and hint in message


def test_the_default_issuers_are_the_vendors_own() -> None:
    google = parse_settings(oidc(**GOOGLE)).agenda.oidc
    entra = parse_settings(oidc(**ENTRA)).agenda.oidc
    assert google.resolved_issuer == "https://accounts.google.com"
    assert entra.resolved_issuer == "https://login.microsoftonline.com/contoso.com/v2.0"
    local = parse_settings(oidc(**GOOGLE, issuer="http://127.0.0.1:8081/")).agenda.oidc
    assert local.resolved_issuer == "http://127.0.0.1:8081"  # plain http only on this machine (an emulator)
    assert parse_settings({}).agenda.oidc.provider is None  # emailed links stay the default


def test_the_client_secret_is_read_from_a_file_next_to_the_config_and_never_shown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "oidc-secret").write_text("GOCSPX-very-secret\n", encoding="utf-8")
    (tmp_path / "ca.pem").write_text("", encoding="utf-8")
    config = tmp_path / "config.yaml"
    config.write_text(
        "web: {base_url: 'https://agenda.example.com/'}\n"
        "agenda:\n  oidc: {provider: entra, client_id: app, tenant: contoso.com, "
        "client_secret_file: oidc-secret, ca_bundle: ca.pem}\n",
        encoding="utf-8",
    )
    settings = load_settings(config)
    assert settings.agenda.oidc.client_secret_file == tmp_path / "oidc-secret"
    assert settings.agenda.oidc.ca_bundle == tmp_path / "ca.pem"
    provider = Provider.from_settings(settings.agenda.oidc, settings.web.base_url)
    assert provider is not None
    assert provider.redirect_uri == "https://agenda.example.com/auth/oidc/callback"
    assert provider.verify == str(tmp_path / "ca.pem") and provider.label == "Microsoft"
    assert provider.client_secret.get_secret_value() == "GOCSPX-very-secret"
    assert "very-secret" not in repr(provider) and "very-secret" not in repr(settings)
    monkeypatch.delenv("OIDC_SECRET", raising=False)
    missing = r"agenda\.oidc\.client_secret_env: environment variable OIDC_SECRET is not set"
    with pytest.raises(ConfigError, match=missing):
        Provider.from_settings(parse_settings(oidc(**GOOGLE)).agenda.oidc, "https://agenda.example.com")
