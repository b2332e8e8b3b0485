"""A hub with TLS: https, and the session cookie marked Secure."""

from __future__ import annotations

import ssl
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address
from pathlib import Path

import aiohttp
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from hub.accounts import create_doctor
from hub.app import start_hub
from hub.config import load_hub_config
from tests.hub.hub_key import TEST_KEY
from tests.hub.hub_rig import run


def _self_signed(folder: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(IPv4Address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    (folder / "hub.crt").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (folder / "hub.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def test_with_tls_the_hub_speaks_https_and_the_cookie_is_secure(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    _self_signed(data)

    async def scenario() -> None:
        config = load_hub_config(
            None,
            data_dir=data,
            overrides={
                "port": 0,
                "argon2_cost": "test",
                "tls_cert": "hub.crt",
                "tls_key": "hub.key",
            },
        )
        hub = await start_hub(config, key=TEST_KEY)
        try:
            assert hub.url.startswith("https://127.0.0.1:")
            await create_doctor(
                hub.storage,
                username="dr.tls",
                password="a-long-enough-password",
                display_name="Dr TLS",
                specialty="MG",
                argon2_cost="test",
            )
            trust = ssl.create_default_context(cafile=str(data / "hub.crt"))
            async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
                response = await http.post(
                    f"{hub.url}/api/login",
                    json={"username": "dr.tls", "password": "a-long-enough-password"},
                    headers={"Origin": hub.url},
                    ssl=trust,
                )
                assert response.status == 200
                assert response.cookies["hub_session"]["secure"]
                assert (await http.get(f"{hub.url}/api/me", ssl=trust)).status == 200
        finally:
            await hub.stop()

    run(scenario())
