"""A throw-away test CA for the emulators, because msal accepts only https authorities.

One `TestCA` issues a server certificate for "localhost" and "127.0.0.1"; clients verify it with
the CA file written by `write_ca_pem` (pass that path as `verify=` to requests and msal).
"""

from __future__ import annotations

import ssl
import tempfile
from pathlib import Path

import trustme


class TestCA:
    """A trustme CA plus the one server certificate every emulator serves."""

    __test__ = False  # not a pytest test class, despite the name

    def __init__(self, hosts: tuple[str, ...] = ("localhost", "127.0.0.1")) -> None:
        self._ca = trustme.CA()
        self._leaf = self._ca.issue_cert(*hosts)

    @property
    def cert_pem(self) -> bytes:
        return bytes(self._ca.cert_pem.bytes())

    def server_context(self) -> ssl.SSLContext:
        """A TLS server context holding the leaf certificate and its chain."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        self._leaf.configure_cert(context)
        return context

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts only this CA (for stdlib clients)."""
        context = ssl.create_default_context()
        self._ca.configure_trust(context)
        return context

    def write_ca_pem(self, path: Path) -> Path:
        """Write the CA certificate to `path` (a file, or a directory that gets `ca.pem`)."""
        target = path / "ca.pem" if path.is_dir() else path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(self.cert_pem)
        return target


def ca_file_in(directory: Path | None, ca: TestCA) -> Path:
    """Write `ca.pem` into `directory`, or into a fresh temporary directory when it is None."""
    base = directory if directory is not None else Path(tempfile.mkdtemp(prefix="emulator-ca-"))
    base.mkdir(parents=True, exist_ok=True)
    return ca.write_ca_pem(base / "ca.pem")
