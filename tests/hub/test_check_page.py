"""The page a pharmacy reaches from a prescription's QR code: a genuine prescription verifies; a
changed number, a wrong code or content changed in the database is refused; JSON as well as
HTML; a rate limit per address; the public key for offline checkers."""

from __future__ import annotations

import base64
import hashlib
import html
import json
import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import aiohttp
import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from playwright.sync_api import Route, sync_playwright

import wire
from hub.accounts import set_doctor_details
from hub.check_page import PAGE_POLICY
from hub.prescriptions import (
    PUBLIC_KEY_FILE,
    PrescriptionSigner,
    canonical_bytes,
    load_public_key,
    verify_prescription,
)
from hub.services import SERVICES
from simulators import doctor as doctor_browser
from tests.hub.hub_key import connect
from tests.hub.hub_rig import (
    FakeClock,
    Peer,
    Rig,
    new_id,
    patient,
    run,
    running_hub,
    until,
)

LINES = [
    wire.PrescriptionLine(
        drug="Amoxicilline 1 g",
        dose="1 comprimé",
        frequency="2 fois par jour",
        duration="6 jours",
        instructions="au milieu du repas",
    ),
    wire.PrescriptionLine(
        drug="Paracétamol 1 g",
        dose="1 comprimé",
        frequency="jusqu'à 3 fois par jour",
        duration="5 jours",
        renewals=2,
    ),
]
WHO = patient("Le Gall-Éon", "Anne Marie", date(1950, 2, 3))
ADDRESS = "Cabinet médical des Planchettes\n8 avenue du Docteur Mallet\n15100 Saint-Flour"
JSON = {"Accept": "application/json"}
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def expected_code(signature: str) -> str:
    """The check code as PROTOCOL.md defines it, computed here on its own: the first 16
    Crockford base32 characters (80 bits) of the SHA-256 of the raw signature."""
    digest = hashlib.sha256(base64.b64decode(signature)).digest()
    top = int.from_bytes(digest, "big") >> (256 - 80)
    return "".join(_CROCKFORD[(top >> (5 * (15 - i))) & 31] for i in range(16))


@dataclass
class Issued:
    rig: Rig
    cabin: Peer
    prescription: wire.PrescriptionMessage

    @property
    def url(self) -> str:
        assert self.prescription.check_url is not None
        return self.prescription.check_url

    async def get(
        self, url: str | None = None, *, headers: dict[str, str] | None = None
    ) -> tuple[int, str, aiohttp.ClientResponse]:
        async with self.rig.client().get(url or self.url, headers=headers) as response:
            return response.status, await response.text(), response


async def _issue(rig: Rig) -> Issued:
    """dr.a, with the practice's details, prescribes for WHO in cabin-1."""
    await set_doctor_details(
        rig.hub.storage,
        username="dr.a",
        address=ADDRESS,
        phone="04 65 71 20 14",
        email="dr.a@cabinet.example",
    )
    cabin = await rig.cabin()
    await rig.join(cabin, "c-rx", WHO)
    console = await (await rig.login("dr.a")).console()
    await console.send(wire.TakeConsultation(msg_id=new_id(), consultation_id="c-rx"))
    await console.expect(wire.CallAccepted)
    await cabin.expect(wire.CallAccepted)
    await console.send(wire.PrescriptionDraft(msg_id=new_id(), consultation_id="c-rx", lines=LINES))
    prescription = await cabin.expect(wire.PrescriptionMessage)
    return Issued(rig, cabin, prescription)


def _tamper(rig: Rig, statement: str, *parameters: object) -> None:
    """Change the hub's database behind its back, as someone with the file could."""
    with connect(rig.database) as db:
        assert db.execute(statement, parameters).rowcount == 1
    db.close()


def test_a_genuine_prescription_verifies_in_html_and_json(tmp_path: Path) -> None:
    pages: dict[str, tuple[int, dict[str, str], str]] = {}

    async def scenario() -> None:
        async with running_hub(tmp_path, clock=FakeClock()) as rig:
            issued = await _issue(rig)
            rx = issued.prescription
            # what the QR code holds: the hub's address, the number, the code of the signature
            assert rx.check_url == (
                f"{rig.url}/rx/{rx.prescription_id}?k={expected_code(rx.signature)}"
            )
            assert rx.prescriber.address == ADDRESS
            assert rx.prescriber.phone == "04 65 71 20 14"
            assert rx.prescriber.email == "dr.a@cabinet.example"
            # the address is not signed (it is made from the signature): the rest is
            signer = rig.hub.app[SERVICES].signer
            assert b"check_url" not in canonical_bytes(rx)
            assert b"04 65 71 20 14" in canonical_bytes(rx)
            verify_prescription(rx, signer.public_keys)
            verify_prescription(msgspec.structs.replace(rx, check_url=None), signer.public_keys)

            status, body, response = await issued.get()
            assert status == 200
            assert response.content_type == "text/html"
            assert response.headers["Content-Security-Policy"] == PAGE_POLICY
            assert response.headers["Cache-Control"] == "no-store"
            assert response.headers["Referrer-Policy"] == "no-referrer"
            assert "script" not in PAGE_POLICY and "default-src 'none'" in PAGE_POLICY
            assert "<script" not in body
            french, english = body.index("Ordonnance authentique"), body.index("In English")
            assert french < english  # French first, English below
            for shown in [
                "Genuine prescription",
                rx.prescription_id,
                "23/11/2026 à 10:00",  # 09:00 UTC, as a pharmacy in Paris reads it
                "Dr A",
                "Médecine générale",
                "RPPS 10101010101",
                "LE GALL-ÉON Anne Marie",
                "née le 03/02/1950",
                "Amoxicilline 1 g",
                "2 fois par jour",
                "6 jours",
                "au milieu du repas",
                "Non renouvelable",
                "À renouveler 2 fois",
                "jusqu&#x27;à 3 fois par jour",  # escaped, as every value
            ]:
                assert shown in body, shown
            pages["genuine"] = (status, dict(response.headers), body)

            # the same as JSON, for a pharmacy's software
            status, text, response = await issued.get(headers=JSON)
            assert status == 200
            assert response.content_type == "application/json"
            answer = json.loads(text)
            assert answer["valid"] is True
            checked = answer["prescription"]
            assert checked["prescription_id"] == rx.prescription_id
            assert checked["issued_at"] == "2026-11-23T09:00:00Z"
            assert checked["patient"] == {
                "family_name": "Le Gall-Éon",
                "given_names": "Anne Marie",
                "birth_date": "1950-02-03",
            }
            assert checked["prescriber"]["registration_number"] == "10101010101"
            assert checked["prescriber"]["address"] == ADDRESS
            assert [line["drug"] for line in checked["lines"]] == [line.drug for line in LINES]
            assert checked["lines"][1]["renewals"] == 2
            assert checked["key_id"] == signer.key_id

            # a code typed by hand (lower case, O for 0, I for 1) opens it too
            typed_code = expected_code(rx.signature).lower().replace("0", "o").replace("1", "i")
            typed = f"{rig.url}/rx/{rx.prescription_id.lower()}?k={typed_code}"
            assert (await issued.get(typed, headers=JSON))[0] == 200

            # each genuine check is in the audit log, with the address, never who read it
            audit = await rig.hub.storage.audit_entries(consultation_id="c-rx")
            checks = [e for e in audit if e.action == "prescription.checked"]
            assert [(e.actor_kind.value, e.client_address) for e in checks] == [
                ("public", "127.0.0.1")
            ] * 3

    run(scenario())
    _screenshot(tmp_path, "check-genuine.png", *pages["genuine"])


def test_redelivery_sends_the_same_check_url_even_after_public_url_changes(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path, public_url="https://hub.example.fr/sante/") as rig:
            issued = await _issue(rig)
            first = issued.prescription
            assert first.check_url is not None
            assert first.check_url.startswith("https://hub.example.fr/sante/rx/RX-")
            await issued.cabin.close()
            await until(lambda: not rig.switchboard.is_cabin_online("cabin-1"))
            again = await (await rig.cabin()).expect(wire.PrescriptionMessage)
            assert again == first
            stored = await rig.hub.storage.prescription(first.prescription_id)
            assert stored is not None and stored.check_url == first.check_url

    run(scenario())


def test_a_changed_number_a_wrong_code_or_a_changed_database_is_refused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pages: dict[str, tuple[int, dict[str, str], str]] = {}

    async def scenario() -> None:
        async with running_hub(tmp_path) as rig:
            issued = await _issue(rig)
            rx = issued.prescription
            signer = rig.hub.app[SERVICES].signer
            base = f"{rig.url}/rx"
            code = expected_code(rx.signature)
            other_code = "0" * 16 if code != "0" * 16 else "1" * 16
            neighbour = signer.number(2026, 2)  # well formed, never issued
            mistyped = rx.prescription_id[:-1] + ("A" if rx.prescription_id[-1] != "A" else "B")

            # not found, or not genuine: the same answer, without saying which
            for url in [
                f"{base}/{rx.prescription_id}?k={other_code}",
                f"{base}/{rx.prescription_id}",
                f"{base}/{rx.prescription_id}?k=",
                f"{base}/{neighbour}?k={code}",
                f"{base}/{mistyped}?k={code}",
            ]:
                status, body, response = await issued.get(url)
                assert status == 404, url
                assert "Ordonnance introuvable ou non authentique" in body
                assert "Prescription not found or not genuine" in body
                assert "Anne Marie" not in body and "Amoxicilline" not in body
                assert response.headers["Content-Security-Policy"] == PAGE_POLICY
                status, text, _ = await issued.get(url, headers=JSON)
                assert (status, json.loads(text)) == (404, {"valid": False, "reason": "not_found"})
            pages["refused"] = (status, dict(response.headers), body)

            # a number that cannot be one
            for malformed in ["RX-2026-12", "RX-2026-000001-ABCDE", "hello", "RX-2026-000001-AB!D"]:
                status, body, _ = await issued.get(f"{base}/{malformed}?k={code}")
                assert status == 400, malformed
                assert "Numéro d'ordonnance mal formé" in html.unescape(body)
                status, text, _ = await issued.get(f"{base}/{malformed}", headers=JSON)
                assert (status, json.loads(text)["reason"]) == (400, "malformed")

            # a line changed in the database: the signature no longer holds
            assert (await issued.get(headers=JSON))[0] == 200
            forged = [msgspec.structs.replace(LINES[0], dose="3 comprimés")]
            _tamper(
                rig,
                "UPDATE prescriptions SET lines = ? WHERE prescription_id = ?",
                msgspec.json.encode(forged).decode(),
                rx.prescription_id,
            )
            status, body, _ = await issued.get()
            assert status == 409
            assert "Ordonnance altérée : ne pas délivrer" in body
            assert "Altered prescription: do not dispense" in body
            assert "3 comprimés" not in body and "Anne Marie" not in body
            pages["altered"] = (status, {}, body)
            status, text, _ = await issued.get(headers=JSON)
            assert (status, json.loads(text)) == (409, {"valid": False, "reason": "altered"})
            # ...and without the code, it is not even said to exist
            status, _, _ = await issued.get(f"{base}/{rx.prescription_id}?k={other_code}")
            assert status == 404

            # a row that no longer reads at all is altered too (not a server error)
            _tamper(
                rig,
                "UPDATE prescriptions SET lines = 'not json' WHERE prescription_id = ?",
                rx.prescription_id,
            )
            assert (await issued.get(headers=JSON))[0] == 409

            # the prescriber changed, in the database
            good_lines = msgspec.json.encode(LINES).decode()
            _tamper(
                rig,
                "UPDATE prescriptions SET lines = ? WHERE prescription_id = ?",
                good_lines,
                rx.prescription_id,
            )
            assert (await issued.get(headers=JSON))[0] == 200
            # the patient is signed too: another name in the database is an alteration
            assert rx.patient == WHO
            other = msgspec.structs.replace(WHO, family_name="Autre")
            _tamper(
                rig,
                "UPDATE prescriptions SET patient = ? WHERE prescription_id = ?",
                msgspec.json.encode(other).decode(),
                rx.prescription_id,
            )
            assert (await issued.get(headers=JSON))[0] == 409
            _tamper(
                rig,
                "UPDATE prescriptions SET patient = ? WHERE prescription_id = ?",
                msgspec.json.encode(WHO).decode(),
                rx.prescription_id,
            )
            assert (await issued.get(headers=JSON))[0] == 200
            prescriber = msgspec.structs.replace(rx.prescriber, registration_number="99999999999")
            _tamper(
                rig,
                "UPDATE prescriptions SET prescriber = ? WHERE prescription_id = ?",
                msgspec.json.encode(prescriber).decode(),
                rx.prescription_id,
            )
            assert (await issued.get(headers=JSON))[0] == 409

            # another signature in the database: the printed code no longer opens it
            forged_signature = base64.b64encode(bytes(64)).decode()
            _tamper(
                rig,
                "UPDATE prescriptions SET signature = ? WHERE prescription_id = ?",
                forged_signature,
                rx.prescription_id,
            )
            assert (await issued.get(headers=JSON))[0] == 404
            forged_url = f"{base}/{rx.prescription_id}?k={expected_code(forged_signature)}"
            assert (await issued.get(forged_url, headers=JSON))[0] == 409

    with caplog.at_level(logging.DEBUG):
        run(scenario())
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "hub.rx_check result=altered" in logged
    assert "hub.rx_check result=not_found" in logged
    for secret in ["Le Gall", "LE GALL", "Anne Marie", "1950-02-03", "03/02/1950", "Amoxicilline"]:
        assert secret not in logged, secret
    _screenshot(tmp_path, "check-refused.png", *pages["refused"])
    _screenshot(tmp_path, "check-altered.png", *pages["altered"])


def test_checks_are_rate_limited_per_address(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        async with running_hub(tmp_path, clock=clock, check_page_requests_per_minute=3) as rig:
            issued = await _issue(rig)
            for _ in range(2):
                assert (await issued.get(headers=JSON))[0] == 200
            assert (await issued.get(f"{rig.url}/rx/RX-1"))[0] == 400  # counted too
            status, text, response = await issued.get(headers=JSON)
            assert status == 429
            assert json.loads(text) == {
                "valid": False,
                "reason": "rate_limited",
                "retry_after_s": 60,
            }
            assert response.headers["Retry-After"] == "60"
            status, body, _ = await issued.get()
            assert status == 429
            assert "Trop de vérifications depuis ce poste" in body
            assert "Too many checks from this computer" in body
            # the public key is not limited
            async with rig.client().get(f"{rig.url}/rx/public-key.pem") as response:
                assert response.status == 200
            clock.advance(61)
            assert (await issued.get(headers=JSON))[0] == 200

    run(scenario())


def test_the_public_key_is_served_for_offline_checkers(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path) as rig:
            issued = await _issue(rig)
            async with rig.client().get(f"{rig.url}/rx/public-key.pem") as response:
                assert response.status == 200
                assert response.content_type == "application/x-pem-file"
                pem = await response.read()
                key_id = response.headers["X-Key-Id"]
            signer = rig.hub.app[SERVICES].signer
            assert pem == (rig.hub.app[SERVICES].config.data_path / PUBLIC_KEY_FILE).read_bytes()
            assert key_id == signer.key_id
            offline = tmp_path / "downloaded.pem"
            offline.write_bytes(pem)
            verify_prescription(issued.prescription, {key_id: load_public_key(offline)})

    run(scenario())


def test_a_prescription_signed_before_the_prescriber_had_an_address_still_verifies(
    tmp_path: Path,
) -> None:
    """What a hub signed before DoctorInfo had `address`, `phone` and `email` (and before
    PrescriptionMessage had `check_url`): those bytes, written out as that hub made them."""
    key = Ed25519PrivateKey.generate()
    signer = PrescriptionSigner(key)
    number = signer.number(2026, 7)
    old_bytes = (
        '{"consultation_id":"c-1","issued_at":"2026-11-20T09:30:00Z",'
        f'"key_id":"{signer.key_id}",'
        '"lines":[{"dose":"1 comprimé","drug":"Paracétamol 1 g","duration":"5 jours",'
        '"frequency":"3 fois par jour","instructions":"","renewals":0}],'
        '"prescriber":{"display_name":"Dr A","photo":null,"registration_number":"10101010101",'
        '"specialty":"Médecine générale"},'
        f'"prescription_id":"{number}","type":"prescription"}}'
    ).encode()
    old = wire.PrescriptionMessage(
        msg_id="m-1",
        prescription_id=number,
        consultation_id="c-1",
        issued_at=datetime(2026, 11, 20, 9, 30, tzinfo=UTC),
        prescriber=wire.DoctorInfo(
            display_name="Dr A", specialty="Médecine générale", registration_number="10101010101"
        ),
        lines=[
            wire.PrescriptionLine(
                drug="Paracétamol 1 g",
                dose="1 comprimé",
                frequency="3 fois par jour",
                duration="5 jours",
            )
        ],
        key_id=signer.key_id,
        signature=base64.b64encode(key.sign(old_bytes)).decode(),
    )
    assert canonical_bytes(old, legacy=True) == old_bytes
    verify_prescription(old, signer.public_keys)
    # ...but only with empty details: the legacy form does not open a door to changing them
    with_address = msgspec.structs.replace(
        old, prescriber=msgspec.structs.replace(old.prescriber, address="ailleurs")
    )
    with pytest.raises(Exception, match="does not match"):
        verify_prescription(with_address, signer.public_keys)


def _screenshot(tmp_path: Path, name: str, status: int, headers: dict[str, str], body: str) -> None:
    """The page as Chromium shows it, with the hub's CSP: saved in the test's folder to be
    looked at (its style must load under the strict policy)."""
    chromium = Path(doctor_browser.CHROMIUM)
    if not chromium.exists():
        return

    def serve(route: Route) -> None:
        route.fulfill(
            status=status,
            headers={
                "Content-Type": "text/html; charset=utf-8",
                "Content-Security-Policy": headers.get("Content-Security-Policy", PAGE_POLICY),
            },
            body=body,
        )

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(chromium), headless=True, args=list(doctor_browser.CHROMIUM_ARGS)
        )
        try:
            page = browser.new_page(viewport={"width": 430, "height": 932}, device_scale_factor=1)
            page.route("http://rx.test/**", serve)
            page.goto("http://rx.test/rx/page")
            colour = page.evaluate(
                "getComputedStyle(document.querySelector('.verdict')).backgroundColor"
            )
            assert colour != "rgba(0, 0, 0, 0)", "the style sheet was blocked"
            page.screenshot(path=tmp_path / name, full_page=True)
        finally:
            browser.close()
