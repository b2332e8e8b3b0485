"""A self-signed certificate for the proxy on loopback (tests, benchmarks, `./cabin fleet`).

HAProxy reads the certificate and its key from one PEM file; clients trust the certificate
alone (`TlsFiles.client_context`). A real deploy uses a real certificate (deploy/hub/README.md).
"""

from __future__ import annotations

import os
import secrets
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

VALID_FOR = timedelta(days=2)


@dataclass(frozen=True, slots=True)
class TlsFiles:
    bundle: Path
    """Certificate then private key, in one PEM (HAProxy's ``crt``), mode 0600."""
    certificate: Path
    """The certificate alone: what a client trusts."""

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts this certificate only, and checks the host name."""
        return ssl.create_default_context(cafile=str(self.certificate))


def self_signed(folder: Path, *, host: str = "127.0.0.1") -> TlsFiles:
    """A new P-256 key and a certificate for `host` (an IPv4 address) and ``localhost``."""
    folder.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    # A name of its own: a client that trusts two of these (two fleets run one after the other
    # in one process) finds each one's issuer by name, and the older one would be taken.
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, f"cabin fleet {secrets.token_hex(8)}"),
            x509.NameAttribute(NameOID.COMMON_NAME, host),
        ]
    )
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + VALID_FOR)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(IPv4Address(host)), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_pem = certificate.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    bundle = folder / "proxy.pem"
    fd = os.open(bundle, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(cert_pem + key_pem)
    (folder / "proxy.crt").write_bytes(cert_pem)
    return TlsFiles(bundle=bundle, certificate=folder / "proxy.crt")
