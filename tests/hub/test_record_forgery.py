"""A hostile cabin's records (issue 15, items 3 and 10), played against a real hub.

The attack of item 3: a cabin posted a record, backdated, naming another cabin's patient,
attributed to a real doctor with her RPPS, carrying an unsigned "prescription"; the next doctor
saw it as genuine. Item 10: a cabin that posts under another cabin's record id made the genuine
record answer "duplicate" (and never be stored)."""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from pathlib import Path

import msgspec
import pytest

import wire
from hub.prescriptions import prescription_from_record
from hub.services import SERVICES
from tests.hub.hub_key import connect
from tests.hub.hub_rig import (
    Doctor,
    FakeClock,
    Peer,
    Rig,
    decode_as,
    new_id,
    patient,
    run,
    running_hub,
)
from tests.hub.test_history import LINE, _consultation
from wire.fhir_record import RecordInput, build_bundle, record_id_for

YVONNE = patient("Quélennec", "Yvonne", date(1938, 5, 2))
BOB = patient("Martin", "Bob", date(1950, 1, 1))
DR_A_AS_CLAIMED = wire.DoctorInfo(
    display_name="Dr A", specialty="Médecine générale", registration_number="10101010101"
)


def upload(
    consultation_id: str,
    *,
    who: wire.PatientSummary,
    started_at: datetime,
    cabin_id: str = "cabin-1",
    record_id: str | None = None,
    doctor: wire.DoctorInfo | None = None,
    doctor_id: str | None = None,
    prescriptions: tuple[wire.PrescriptionMessage, ...] = (),
    summary_pdf: bytes | None = None,
) -> wire.RecordUpload:
    """A record as a cabin builds it (`wire.fhir_record`), with whatever the cabin says."""
    record = RecordInput(
        record_id=record_id or record_id_for(consultation_id),
        consultation_id=consultation_id,
        cabin_id=cabin_id,
        cabin_name=f"Cabine {cabin_id}",
        patient_local_id="patient-1",
        patient=who,
        language=wire.Language.FR,
        started_at=started_at,
        ended_at=started_at + timedelta(minutes=20),
        end_reason="completed",
        reason="toux",
        doctor=doctor,
        doctor_id=doctor_id,
        vitals=(),
        prescriptions=prescriptions,
        prescription_pdfs={},
        summary_pdf=summary_pdf,
        advice="",
    )
    return wire.RecordUpload(
        msg_id=new_id("record"),
        record_id=record.record_id,
        consultation_id=consultation_id,
        created_at=record.ended_at,
        bundle=msgspec.Raw(build_bundle(record)),
    )


async def send(cabin: Peer, record: wire.RecordUpload) -> wire.RecordAck | wire.ErrorMessage:
    await cabin.send(record)
    while True:
        answer = await cabin.receive()
        if isinstance(answer, wire.RecordAck | wire.ErrorMessage):
            return answer


async def history_of(
    rig: Rig,
    cabin: Peer,
    doctor: Doctor,
    console: Peer,
    consultation_id: str,
    who: wire.PatientSummary,
) -> wire.PatientHistory:
    """`who` joins at `cabin`, `doctor` takes them and reads their history."""
    await rig.join(cabin, consultation_id, who)
    await console.send(wire.TakeConsultation(msg_id=new_id(), consultation_id=consultation_id))
    await console.expect(wire.CallAccepted)
    response = await doctor.history(consultation_id)
    assert response.status == 200
    return decode_as(await response.read(), wire.PatientHistory)


def _unsigned(rig: Rig, consultation_id: str, issued_at: datetime) -> wire.PrescriptionMessage:
    """A "prescription" the cabin made up: the hub's key id, a signature of zeros."""
    signer = rig.hub.app[SERVICES].signer
    return wire.PrescriptionMessage(
        msg_id=new_id("rx"),
        prescription_id=signer.number(2025, 777),
        consultation_id=consultation_id,
        issued_at=issued_at,
        prescriber=DR_A_AS_CLAIMED,
        lines=[LINE],
        key_id=signer.key_id,
        signature="A" * 86 + "==",
    )


def test_a_forged_record_is_shown_as_the_cabins_word_never_as_the_hubs(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        async with running_hub(tmp_path, clock=clock) as rig:
            cabin_1, cabin_2 = await rig.cabin("cabin-1"), await rig.cabin("cabin-2")
            doctor_a = await rig.login("dr.a")
            console_a = await doctor_a.console()

            # a genuine consultation at cabin-1, with a prescription the hub signed
            joined = clock.now()
            await _consultation(rig, clock, cabin_1, console_a, "c-genuine", YVONNE, rx=True)
            issued = await rig.hub.storage.prescriptions("c-genuine")
            genuine = upload(
                "c-genuine",
                who=YVONNE,
                started_at=joined - timedelta(minutes=5),
                doctor=DR_A_AS_CLAIMED,
                doctor_id="dr.a",
                prescriptions=tuple(prescription_from_record(p) for p in issued),
            )
            assert isinstance(await send(cabin_1, genuine), wire.RecordAck)

            # the attack: cabin-2 posts a record of a consultation the hub never saw, a year
            # back, naming cabin-1's patient, "by" Dr A with her RPPS, with an unsigned
            # prescription. It is kept (a cabin offline makes such records)...
            a_year_ago = joined - timedelta(days=365)
            forged = upload(
                "c-forged",
                cabin_id="cabin-2",
                who=YVONNE,
                started_at=a_year_ago,
                doctor=DR_A_AS_CLAIMED,
                doctor_id="dr.a",
                prescriptions=(_unsigned(rig, "c-forged", a_year_ago),),
            )
            assert isinstance(await send(cabin_2, forged), wire.RecordAck)

            # ...but the next doctor sees it as the cabin's word only
            history = await history_of(rig, cabin_1, doctor_a, console_a, "c-now", YVONNE)
            assert [e.consultation_id for e in history.entries] == ["c-genuine", "c-forged"]
            real, fake = history.entries
            assert real.seen_by_hub and real.cabin_id == "cabin-1"
            assert real.doctor is not None and real.doctor.display_name == "Dr A"
            assert [p.verified for p in real.prescriptions] == [True]
            assert not fake.seen_by_hub and fake.cabin_id == "cabin-2"
            assert fake.doctor is None  # no doctor held it on the hub: none is named
            assert [(p.prescription_id, p.verified) for p in fake.prescriptions] == [
                (forged_rx_id(rig), False)
            ]

            # a prescription changed in the database no longer verifies
            with connect(rig.database) as db:
                db.execute(
                    "UPDATE prescriptions SET lines = replace(lines, '1 g', '3 g')"
                    " WHERE consultation_id = 'c-genuine'"
                )
            db.close()
            response = await doctor_a.history("c-now")
            again = decode_as(await response.read(), wire.PatientHistory)
            assert [p.verified for p in again.entries[0].prescriptions] == [False]

    run(scenario())


def forged_rx_id(rig: Rig) -> str:
    return rig.hub.app[SERVICES].signer.number(2025, 777)


def test_a_record_of_a_held_consultation_takes_the_hubs_doctor_patient_and_times(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Cabin-2 held Bob's consultation (Dr B); its record names Yvonne and Dr A. The hub's
    values win: filed under Bob, shown with Dr B and the hub's times; the mismatch is logged."""

    async def scenario() -> None:
        clock = FakeClock()
        async with running_hub(tmp_path, clock=clock) as rig:
            cabin_1, cabin_2 = await rig.cabin("cabin-1"), await rig.cabin("cabin-2")
            doctor_a, doctor_b = await rig.login("dr.a"), await rig.login("dr.b")
            console_a, console_b = await doctor_a.console(), await doctor_b.console()
            joined = clock.now()
            await _consultation(rig, clock, cabin_2, console_b, "c-bob", BOB)
            lying = upload(
                "c-bob",
                cabin_id="cabin-2",
                who=YVONNE,
                started_at=joined - timedelta(minutes=10),
                doctor=DR_A_AS_CLAIMED,
                doctor_id="dr.a",
            )
            assert isinstance(await send(cabin_2, lying), wire.RecordAck)

            yvonne = await history_of(rig, cabin_1, doctor_a, console_a, "c-yvonne", YVONNE)
            assert yvonne.entries == []
            bob = await history_of(rig, cabin_2, doctor_b, console_b, "c-bob-2", BOB)
            assert [e.consultation_id for e in bob.entries] == ["c-bob"]
            entry = bob.entries[0]
            assert entry.seen_by_hub and entry.started_at == joined
            assert entry.doctor is not None and entry.doctor.display_name == "Dr B"

    with caplog.at_level(logging.INFO, logger="hub"):
        run(scenario())
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "hub.record_doctor_mismatch cabin=cabin-2 consultation=c-bob" in logged
    assert "hub.record_patient_mismatch cabin=cabin-2 consultation=c-bob" in logged
    for secret in ["Quélennec", "Yvonne", "Martin", "1938"]:
        assert secret not in logged, secret


def test_a_record_dated_outside_the_hubs_consultation_is_refused(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        async with running_hub(tmp_path, clock=clock) as rig:
            cabin = await rig.cabin("cabin-2")
            console = await (await rig.login("dr.b")).console()
            joined = clock.now()
            await _consultation(rig, clock, cabin, console, "c-bob", BOB)
            for started_at in [
                joined - timedelta(days=365),  # backdated
                joined - timedelta(hours=3),  # long before the patient joined
                joined + timedelta(minutes=30),  # after the hub's join
                clock.now() + timedelta(days=2),  # in the future
            ]:
                record = upload("c-bob", cabin_id="cabin-2", who=BOB, started_at=started_at)
                answer = await send(cabin, record)
                assert isinstance(answer, wire.ErrorMessage), started_at
                assert answer.code is wire.ErrorCode.CONFLICT
                assert answer.in_reply_to == record.msg_id
            with connect(rig.database) as db:
                assert db.execute("SELECT count(*) FROM records").fetchone() == (0,)
            db.close()
            # the true one is taken
            record = upload(
                "c-bob", cabin_id="cabin-2", who=BOB, started_at=joined - timedelta(minutes=8)
            )
            assert isinstance(await send(cabin, record), wire.RecordAck)

    run(scenario())


def test_a_cabin_cannot_squat_another_cabins_record_id(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        async with running_hub(tmp_path, clock=clock) as rig:
            cabin_1, cabin_2 = await rig.cabin("cabin-1"), await rig.cabin("cabin-2")
            earlier = clock.now() - timedelta(days=3)
            target = record_id_for("c-offline")  # anyone can compute it from the consultation
            squat = upload(
                "c-squat", cabin_id="cabin-2", who=BOB, started_at=earlier, record_id=target
            )
            first = await send(cabin_2, squat)
            assert isinstance(first, wire.RecordAck) and not first.duplicate

            genuine = upload("c-offline", who=YVONNE, started_at=earlier)
            answer = await send(cabin_1, genuine)
            assert isinstance(answer, wire.RecordAck)
            assert (answer.record_id, answer.duplicate) == (target, False)
            again = await send(cabin_1, msgspec.structs.replace(genuine, msg_id=new_id()))
            assert isinstance(again, wire.RecordAck) and again.duplicate
            with connect(rig.database) as db:
                rows = db.execute(
                    "SELECT cabin_id, consultation_id FROM records WHERE record_id = ?"
                    " ORDER BY cabin_id",
                    (target,),
                ).fetchall()
            db.close()
            assert rows == [("cabin-1", "c-offline"), ("cabin-2", "c-squat")]

            doctor = await rig.login("dr.a")
            console = await doctor.console()
            history = await history_of(rig, cabin_1, doctor, console, "c-now", YVONNE)
            assert [(e.consultation_id, e.cabin_id) for e in history.entries] == [
                ("c-offline", "cabin-1")
            ]

    run(scenario())
