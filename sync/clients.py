"""API clients built from the settings, shared by the calendar providers, the directory and Graph mail.

Low in the house on purpose: `runtime` (which builds the daemon) and the directory readers both need
the one Graph client, and neither may import the other.
"""

from __future__ import annotations

from collections.abc import Callable

from providers.outlook_http import GraphClient, certificate_credential
from sync.config import ConfigError, Settings


def build_graph_client(settings: Settings) -> GraphClient:
    """The msal app and HTTP session for `outlook.*`; credentials are checked now, used lazily."""
    outlook = settings.outlook
    assert outlook.tenant_id is not None and outlook.client_id is not None
    credential: Callable[[], str | dict[str, str]]
    if outlook.certificate_file is not None:
        path = outlook.certificate_file
        try:
            certificate_credential(path)
        except OSError as exc:
            raise ConfigError(f"outlook.certificate_file: cannot read {path}: {exc.strerror}") from None
        except ValueError as exc:
            raise ConfigError(f"outlook.certificate_file: {path} is not a PEM with a certificate: {exc}") from None
        credential = lambda: certificate_credential(path)  # noqa: E731
    else:
        secret = outlook.client_secret()
        if secret is None or not secret.get_secret_value():
            raise ConfigError(f"outlook.client_secret_env: environment variable {outlook.client_secret_env} is empty")
        credential = secret.get_secret_value
    if outlook.ca_bundle is not None and not outlook.ca_bundle.is_file():
        raise ConfigError(f"outlook.ca_bundle: no such file {outlook.ca_bundle}")
    return GraphClient(
        tenant_id=outlook.tenant_id,
        client_id=outlook.client_id,
        credential=credential,
        authority=outlook.authority,
        graph_endpoint=outlook.graph_endpoint,
        ca_bundle=str(outlook.ca_bundle) if outlook.ca_bundle else None,
        timeout=outlook.timeout_seconds,
    )
