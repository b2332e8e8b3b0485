"""A fleet's replicas sign prescriptions with one key, given to each as the systemd credential
``hub-signing-key``: the check page of any replica verifies what another signed."""

from __future__ import annotations

import shutil
from pathlib import Path

import aiohttp
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import wire
from hub.app import start_hub
from hub.config import load_hub_config
from hub.prescriptions import PRIVATE_KEY_FILE, SIGNING_KEY_CREDENTIAL, PrescriptionSigner
from hub.services import SERVICES
from tests.hub.hub_key import TEST_KEY
from tests.hub.hub_rig import TIMEOUT_S, FakeClock, new_id, patient, run, running_hub

JSON = {"Accept": "application/json"}


def _credentials(folder: Path) -> Path:
    """A credentials folder as systemd makes it, holding a new Ed25519 key in PEM."""
    folder.mkdir(mode=0o700)
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    (folder / SIGNING_KEY_CREDENTIAL).write_bytes(pem)
    (folder / SIGNING_KEY_CREDENTIAL).chmod(0o400)
    return folder


def test_two_replicas_given_the_credential_sign_with_one_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    credentials = _credentials(tmp_path / "credentials")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(credentials))
    a = PrescriptionSigner.load_or_create(_folder(tmp_path / "a"), credentials)
    b = PrescriptionSigner.load_or_create(_folder(tmp_path / "b"), credentials)
    alone = PrescriptionSigner.load_or_create(_folder(tmp_path / "c"))
    assert a.key_id == b.key_id != alone.key_id
    assert a.number(2026, 7) == b.number(2026, 7)  # the check characters too
    assert not (tmp_path / "a" / PRIVATE_KEY_FILE).exists()  # nothing written beside the data

    async def scenario() -> None:
        (tmp_path / "one").mkdir()
        async with running_hub(tmp_path / "one", clock=FakeClock()) as rig:
            assert rig.hub.app[SERVICES].signer.key_id == a.key_id
            cabin = await rig.cabin()
            await rig.join(cabin, "c-fleet", patient())
            console = await (await rig.login("dr.a")).console()
            await console.send(wire.TakeConsultation(msg_id=new_id(), consultation_id="c-fleet"))
            await cabin.expect(wire.CallAccepted)
            line = wire.PrescriptionLine(
                drug="Paracétamol 1 g",
                dose="1 comprimé",
                frequency="3 fois par jour",
                duration="5 jours",
            )
            await console.send(
                wire.PrescriptionDraft(msg_id=new_id(), consultation_id="c-fleet", lines=[line])
            )
            rx = await cabin.expect(wire.PrescriptionMessage)
        # Another replica over the same database (a copy here: the embedded one is a file),
        # with its own data folder and no key file of its own: only the credential.
        other = tmp_path / "other-data"
        shutil.copytree(tmp_path / "one" / "hub-data", other)
        (other / PRIVATE_KEY_FILE).unlink(missing_ok=True)
        config = load_hub_config(None, data_dir=other, overrides={"port": 0})
        hub = await start_hub(config, key=TEST_KEY, console_dir=tmp_path / "one" / "console")
        try:
            assert rx.check_url is not None
            check = rx.check_url.replace(rx.check_url.split("/rx/")[0], hub.url)
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT_S)) as http,
                http.get(check, headers=JSON) as response,
            ):
                assert response.status == 200, await response.text()
                body = await response.json()
            assert body["valid"] is True
            assert body["prescription"]["prescription_id"] == rx.prescription_id
            assert body["prescription"]["key_id"] == a.key_id
        finally:
            await hub.stop()

    run(scenario())


def _folder(path: Path) -> Path:
    path.mkdir(mode=0o700)
    return path
