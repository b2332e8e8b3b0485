"""Prescriptions: numbered, signed, sent to the cabin and the console, verifiable."""

from __future__ import annotations

import asyncio
import re
import stat
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest

import wire
from hub.app import start_hub
from hub.config import load_hub_config
from hub.errors import InvalidPrescription, SigningKeyError
from hub.prescriptions import (
    PRIVATE_KEY_FILE,
    PUBLIC_KEY_FILE,
    PrescriptionSigner,
    canonical_bytes,
    load_public_key,
    prescription_from_record,
    verify_prescription,
)
from hub.services import SERVICES
from tests.hub.hub_key import TEST_KEY
from tests.hub.hub_rig import (
    TIMEOUT_S,
    FakeClock,
    Peer,
    Rig,
    decode_as,
    new_id,
    run,
    running_hub,
    stored_consultation,
    until,
)

RETRY_S = 1.0  # the hub's resend interval: an ack sent at once beats it, even on a busy machine
LINES = [
    wire.PrescriptionLine(
        drug="Paracétamol 1 g", dose="1 comprimé", frequency="3 fois par jour", duration="5 jours"
    ),
    wire.PrescriptionLine(
        drug="Ibuprofène 400 mg",
        dose="1 comprimé",
        frequency="2 fois par jour",
        duration="3 jours",
        instructions="au cours du repas",
    ),
]
NUMBER = re.compile(r"^RX-\d{4}-\d{6}-[0-9A-HJKMNP-TV-Z]{4}$")


def _prescription(signer: PrescriptionSigner) -> wire.PrescriptionMessage:
    return signer.sign(
        wire.PrescriptionMessage(
            msg_id="m-1",
            prescription_id=signer.number(2026, 123),
            consultation_id="c-1",
            issued_at=datetime(2026, 11, 23, 9, 30, tzinfo=UTC),
            prescriber=wire.DoctorInfo(
                display_name="Dr Claire Martin",
                specialty="Médecine générale",
                registration_number="10101010101",
            ),
            lines=LINES,
            key_id="unset",
            signature="AAAA",
        )
    )


def test_a_signed_prescription_verifies_and_a_tampered_one_does_not(tmp_path: Path) -> None:
    signer = PrescriptionSigner.load_or_create(tmp_path)
    prescription = _prescription(signer)
    assert prescription.key_id == signer.key_id
    verify_prescription(prescription, signer.public_keys)

    # the msg_id is not signed: a copy sent again still verifies
    verify_prescription(msgspec.structs.replace(prescription, msg_id="m-2"), signer.public_keys)

    tampered_lines = [msgspec.structs.replace(LINES[0], dose="10 comprimés"), LINES[1]]
    for tampered in [
        msgspec.structs.replace(prescription, lines=tampered_lines),
        msgspec.structs.replace(prescription, consultation_id="c-2"),
        msgspec.structs.replace(prescription, prescription_id=signer.number(2026, 124)),
        msgspec.structs.replace(
            prescription,
            prescriber=msgspec.structs.replace(prescription.prescriber, display_name="Dr X"),
        ),
    ]:
        with pytest.raises(InvalidPrescription):
            verify_prescription(tampered, signer.public_keys)

    (tmp_path / "other").mkdir()
    other = PrescriptionSigner.load_or_create(tmp_path / "other")
    with pytest.raises(InvalidPrescription, match="unknown signing key"):
        verify_prescription(prescription, other.public_keys)
    with pytest.raises(InvalidPrescription):
        verify_prescription(
            msgspec.structs.replace(prescription, key_id=other.key_id), other.public_keys
        )


def test_the_signature_covers_the_canonical_json(tmp_path: Path) -> None:
    signer = PrescriptionSigner.load_or_create(tmp_path)
    prescription = _prescription(signer)
    canonical = canonical_bytes(prescription)
    assert b'"msg_id"' not in canonical and b'"signature"' not in canonical
    assert canonical.startswith(b'{"consultation_id":"c-1","issued_at":"2026-11-23T09:30:00Z"')
    assert b'"type":"prescription"' in canonical
    assert b'": ' not in canonical and b'", ' not in canonical  # no whitespace between tokens
    assert "Médecine générale".encode() in canonical  # UTF-8, not escaped
    # what a pharmacy page would do: decode the JSON as sent, then check it
    received = decode_as(wire.encode(prescription), wire.PrescriptionMessage)
    verify_prescription(received, {signer.key_id: load_public_key(tmp_path / PUBLIC_KEY_FILE)})


def test_the_key_is_made_once_with_mode_0600_and_too_open_a_key_is_refused(tmp_path: Path) -> None:
    first = PrescriptionSigner.load_or_create(tmp_path)
    path = tmp_path / PRIVATE_KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = PrescriptionSigner.load_or_create(tmp_path)
    assert again.key_id == first.key_id
    assert re.fullmatch(r"[0-9a-f]{16}", first.key_id)
    path.chmod(0o644)
    with pytest.raises(SigningKeyError, match="chmod 600"):
        PrescriptionSigner.load_or_create(tmp_path)


def test_numbers_read_well_and_their_check_characters_catch_a_typo(tmp_path: Path) -> None:
    signer = PrescriptionSigner.load_or_create(tmp_path)
    number = signer.number(2026, 123)
    assert NUMBER.fullmatch(number)
    assert number.startswith("RX-2026-000123-")
    assert signer.is_well_formed(number)
    assert not signer.is_well_formed(number.replace("000123", "000124"))
    assert len({signer.number(2026, n) for n in range(1, 200)}) == 199


def test_a_draft_is_numbered_signed_sent_to_cabin_and_console_and_acknowledged(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path) as rig:
            cabin = await rig.cabin()
            await rig.join(cabin, "c-1")
            doctor = await rig.login("dr.a")
            console, other_tab = await doctor.console(), await doctor.console()
            await console.send(wire.TakeConsultation(msg_id=new_id(), consultation_id="c-1"))
            await console.expect(wire.CallAccepted)
            await cabin.expect(wire.CallAccepted)

            draft = wire.PrescriptionDraft(msg_id=new_id(), consultation_id="c-1", lines=LINES)
            await console.send(draft)
            to_cabin = await cabin.expect(wire.PrescriptionMessage)
            to_console = await console.expect(wire.PrescriptionMessage)
            assert (await console.expect(wire.Ack)).ack_of == draft.msg_id
            assert (await other_tab.expect(wire.PrescriptionMessage)) == to_console
            assert to_cabin == to_console
            assert NUMBER.fullmatch(to_cabin.prescription_id)
            assert to_cabin.prescriber.display_name == "Dr A"
            assert to_cabin.prescriber.registration_number == "10101010101"
            assert to_cabin.prescriber.photo is None
            assert to_cabin.lines == LINES

            signer = rig.hub.app[SERVICES].signer
            verify_prescription(to_cabin, signer.public_keys)
            stored = await rig.hub.storage.prescription(to_cabin.prescription_id)
            assert stored is not None and stored.doctor == "dr.a"
            verify_prescription(prescription_from_record(stored), signer.public_keys)

            second = wire.PrescriptionDraft(msg_id=new_id(), consultation_id="c-1", lines=LINES)
            await console.send(second)
            next_one = await cabin.expect(wire.PrescriptionMessage)
            assert next_one.prescription_id != to_cabin.prescription_id
            audit = await rig.hub.storage.audit_entries(consultation_id="c-1")
            assert [e.action for e in audit].count("prescription.issue") == 2

    run(scenario())


def test_only_the_doctor_in_the_call_may_prescribe(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path) as rig:
            cabin = await rig.cabin()
            await rig.join(cabin, "c-1")
            holder = await (await rig.login("dr.a")).console()
            other = await (await rig.login("dr.b")).console()
            draft = wire.PrescriptionDraft(msg_id=new_id(), consultation_id="c-1", lines=LINES)
            await other.send(draft)  # not taken by anyone yet
            assert (await other.expect(wire.ErrorMessage)).code is wire.ErrorCode.UNAUTHORIZED
            await holder.send(wire.TakeConsultation(msg_id=new_id(), consultation_id="c-1"))
            await holder.expect(wire.CallAccepted)
            await other.send(draft)
            error = await other.expect(wire.ErrorMessage)
            assert error.code is wire.ErrorCode.UNAUTHORIZED
            assert error.in_reply_to == draft.msg_id
            await cabin.nothing_more(ignore=(wire.QueuePosition, wire.CallAccepted))

    run(scenario())


def test_notes_are_kept_for_the_doctor_who_took_the_patient(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path) as rig:
            cabin = await rig.cabin()
            await rig.join(cabin, "c-1")
            holder = await (await rig.login("dr.a")).console()
            other = await (await rig.login("dr.b")).console()
            await holder.send(wire.TakeConsultation(msg_id=new_id(), consultation_id="c-1"))
            await holder.expect(wire.CallAccepted)
            for text in ["first", "second, replacing the first"]:
                notes = wire.ConsultationNotes(msg_id=new_id(), consultation_id="c-1", text=text)
                await holder.send(notes)
                assert (await holder.expect(wire.Ack)).ack_of == notes.msg_id
            await other.send(
                wire.ConsultationNotes(msg_id=new_id(), consultation_id="c-1", text="intrusion")
            )
            assert (await other.expect(wire.ErrorMessage)).code is wire.ErrorCode.UNAUTHORIZED
            record = await stored_consultation(rig.hub.storage, "c-1")
            assert record.notes == "second, replacing the first"

    run(scenario())


async def _prescribe_while_the_cabin_is_away(rig: Rig) -> tuple[Peer, wire.PrescriptionMessage]:
    """A call on c-1 whose cabin drops; the doctor prescribes meanwhile. The doctor's console
    and what it got."""
    cabin = await rig.cabin()
    await rig.join(cabin, "c-1")
    console = await (await rig.login("dr.a")).console()
    await console.send(wire.TakeConsultation(msg_id=new_id(), consultation_id="c-1"))
    await console.expect(wire.CallAccepted)
    await cabin.expect(wire.CallAccepted)
    await cabin.close()
    await until(lambda: not rig.switchboard.is_cabin_online("cabin-1"))
    draft = wire.PrescriptionDraft(msg_id=new_id(), consultation_id="c-1", lines=LINES)
    await console.send(draft)
    issued = await console.expect(wire.PrescriptionMessage)
    assert (await console.expect(wire.Ack)).ack_of == draft.msg_id
    return console, issued


def test_a_prescription_made_while_the_cabin_is_offline_reaches_it_when_it_is_back(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path) as rig:
            console, issued = await _prescribe_while_the_cabin_is_away(rig)
            stored = await rig.hub.storage.prescription(issued.prescription_id)
            assert stored is not None and stored.delivered_at is None

            back = await rig.cabin()
            again = await back.expect(wire.PrescriptionMessage)
            assert again.prescription_id == issued.prescription_id
            assert again.msg_id == issued.msg_id  # the cabin's Ack names it
            verify_prescription(again, rig.hub.app[SERVICES].signer.public_keys)

            # another cabin cannot acknowledge it for this one
            intruder = await rig.cabin("cabin-2")
            await intruder.send(wire.Ack(msg_id=new_id(), ack_of=issued.msg_id))
            await console.nothing_more(ignore=(wire.WaitingRoom,))
            stored = await rig.hub.storage.prescription(issued.prescription_id)
            assert stored is not None and stored.delivered_at is None

            await back.send(wire.Ack(msg_id=new_id(), ack_of=again.msg_id))
            delivered = await console.expect(wire.PrescriptionDelivered)
            assert delivered.prescription_id == issued.prescription_id
            assert delivered.consultation_id == "c-1"
            stored = await rig.hub.storage.prescription(issued.prescription_id)
            assert stored is not None and stored.delivered_at == delivered.delivered_at
            audit = await rig.hub.storage.audit_entries(consultation_id="c-1")
            assert ("prescription.delivered", "cabin-1") in [(e.action, e.actor_id) for e in audit]

            # acknowledged: not sent again on the next reconnection; a second Ack changes nothing
            await back.send(wire.Ack(msg_id=new_id(), ack_of=again.msg_id))
            await back.close()
            await until(lambda: not rig.switchboard.is_cabin_online("cabin-1"))
            last = await rig.cabin()
            await last.nothing_more(0.5, ignore=(wire.CallAccepted, wire.QueuePosition))
            await console.nothing_more(ignore=(wire.WaitingRoom,))

    run(scenario())


def test_a_prescription_the_cabin_does_not_acknowledge_is_sent_again(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path, prescription_retry_s=RETRY_S) as rig:
            cabin = await rig.cabin()
            await rig.join(cabin, "c-1")
            console = await (await rig.login("dr.a")).console()
            await console.send(wire.TakeConsultation(msg_id=new_id(), consultation_id="c-1"))
            await console.expect(wire.CallAccepted)
            await cabin.expect(wire.CallAccepted)
            await console.send(
                wire.PrescriptionDraft(msg_id=new_id(), consultation_id="c-1", lines=LINES)
            )
            first = await cabin.expect(wire.PrescriptionMessage)
            second = await cabin.expect(wire.PrescriptionMessage)
            assert second == first
            await cabin.send(wire.Ack(msg_id=new_id(), ack_of=second.msg_id))
            assert (await console.expect(wire.PrescriptionDelivered)).prescription_id == (
                first.prescription_id
            )
            await cabin.nothing_more(1.5 * RETRY_S, ignore=(wire.QueuePosition,))

    run(scenario())


def test_only_the_last_seven_days_are_sent_again(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        async with running_hub(tmp_path, clock=clock) as rig:
            await _prescribe_while_the_cabin_is_away(rig)
            clock.advance(8 * 86400)
            back = await rig.cabin()
            await back.nothing_more(0.5, ignore=(wire.CallAccepted, wire.QueuePosition))

    run(scenario())


def test_a_prescription_not_delivered_before_the_hub_restarts_is_delivered_after(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path) as rig:
            _console, issued = await _prescribe_while_the_cabin_is_away(rig)
            await rig.hub.stop()
            config = load_hub_config(
                None,
                data_dir=tmp_path / "hub-data",
                overrides={"port": 0, "argon2_cost": "test"},
            )
            restarted = Rig(await start_hub(config, key=TEST_KEY), rig.tokens)
            try:
                cabin = await restarted.cabin()
                again = await cabin.expect(wire.PrescriptionMessage)
                assert again.prescription_id == issued.prescription_id
                await cabin.send(wire.Ack(msg_id=new_id(), ack_of=again.msg_id))
                await _delivered_at(restarted, issued.prescription_id)
                await cabin.close()
                again_later = await restarted.cabin()
                # the call outlives the restart (it is the database's): the cabin gets it again
                await again_later.nothing_more(0.5, ignore=(wire.QueuePosition, wire.CallAccepted))
            finally:
                await restarted.close()
                await restarted.hub.stop()

    run(scenario())


async def _delivered_at(rig: Rig, prescription_id: str) -> datetime:
    """When the hub recorded the delivery of `prescription_id` (waits for it)."""
    async with asyncio.timeout(TIMEOUT_S):
        while True:
            stored = await rig.hub.storage.prescription(prescription_id)
            assert stored is not None
            if stored.delivered_at is not None:
                return stored.delivered_at
            await asyncio.sleep(0.02)


def test_a_console_that_comes_back_during_the_call_gets_its_prescriptions_and_their_delivery(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path) as rig:
            cabin = await rig.cabin()
            await rig.join(cabin, "c-1")
            doctor = await rig.login("dr.a")
            console = await doctor.console()
            await console.send(wire.TakeConsultation(msg_id=new_id(), consultation_id="c-1"))
            await console.expect(wire.CallAccepted)
            await cabin.expect(wire.CallAccepted)
            for _ in range(2):
                await console.send(
                    wire.PrescriptionDraft(msg_id=new_id(), consultation_id="c-1", lines=LINES)
                )
            first = await cabin.expect(wire.PrescriptionMessage)
            second = await cabin.expect(wire.PrescriptionMessage)
            await cabin.send(wire.Ack(msg_id=new_id(), ack_of=first.msg_id))
            await console.expect(wire.PrescriptionDelivered)
            await console.close()  # the page is reloaded

            back = await doctor.console()
            assert isinstance(await back.receive(), wire.CallAccepted)
            again = [await back.receive() for _ in range(3)]
            assert again == [
                first,
                wire.PrescriptionDelivered(
                    msg_id=again[1].msg_id,
                    prescription_id=first.prescription_id,
                    consultation_id="c-1",
                    delivered_at=await _delivered_at(rig, first.prescription_id),
                ),
                second,
            ]

    run(scenario())
