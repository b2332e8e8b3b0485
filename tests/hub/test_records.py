"""The cabins' consultation records: read, stored once, indexed by patient, and the patient's
history built from them, with the hub's live data for what has not arrived yet."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import msgspec
import pytest

import wire
from hub.patients import match_key
from hub.records import index_old_records
from hub.services import SERVICES
from hub.sqlite_storage import SqliteStorage
from hub.storage import ConsultationRecordUpload
from tests.hub.hub_key import TEST_KEY, connect
from tests.hub.hub_rig import (
    Doctor,
    FakeClock,
    Peer,
    Rig,
    decode_as,
    new_id,
    patient,
    record_upload,
    run,
    running_hub,
    vital,
)

YVONNE = patient("Quélennec", "Yvonne Marie", date(1938, 5, 2))
SAME_YVONNE = patient("QUELENNEC", "yvonne-marie", date(1938, 5, 2))
LINE = wire.PrescriptionLine(
    drug="Amoxicilline 1 g", dose="1 comprimé", frequency="2 fois par jour", duration="6 jours"
)
DR_B = wire.DoctorInfo(
    display_name="Dr B",
    specialty="Médecine générale",
    registration_number="10005619407",
    photo="iVBORw0KGgo=",
    address="3 rue de la Poste\n15300 Murat",
)
OFFLINE_START = datetime(2026, 11, 20, 14, 0, tzinfo=UTC)


def _bp(at: datetime, systolic: float, diastolic: float) -> wire.Vital:
    return wire.Vital(
        kind=wire.VitalKind.BLOOD_PRESSURE,
        measured_at=at,
        device_id="bp-1",
        systolic_mmhg=systolic,
        diastolic_mmhg=diastolic,
    )


def _signed_prescription(
    rig: Rig, consultation_id: str, issued_at: datetime
) -> wire.PrescriptionMessage:
    signer = rig.hub.app[SERVICES].signer
    return signer.sign(
        wire.PrescriptionMessage(
            msg_id=new_id("rx"),
            prescription_id=signer.number(2026, 900),
            consultation_id=consultation_id,
            issued_at=issued_at,
            prescriber=msgspec.structs.replace(DR_B, photo=None),
            lines=[LINE],
            key_id=signer.key_id,
            signature="AAAA",
        )
    )


async def _send(cabin: Peer, upload: wire.RecordUpload) -> wire.RecordAck | wire.ErrorMessage:
    await cabin.send(upload)
    while True:
        answer = await cabin.receive()
        if isinstance(answer, wire.RecordAck | wire.ErrorMessage):
            return answer


def _stored(rig: Rig) -> list[tuple[str, str, str, str | None, str | None]]:
    with connect(rig.database) as db:
        rows = db.execute(
            "SELECT record_id, consultation_id, cabin_id, match_key, started_at FROM records"
        ).fetchall()
    db.close()
    return [tuple(row) for row in rows]


async def _live(
    rig: Rig,
    cabin: Peer,
    console: Peer,
    consultation_id: str,
    who: wire.PatientSummary,
    *,
    notes: str = "",
    advice: str = "",
) -> None:
    """A consultation the hub sees live: joined, taken by the console's doctor, notes and
    advice written, ended."""
    await rig.join(cabin, consultation_id, who, reason="toux")
    await console.send(wire.TakeConsultation(msg_id=new_id(), consultation_id=consultation_id))
    await console.expect(wire.CallAccepted)
    await cabin.expect(wire.CallAccepted)
    if notes or advice:
        await console.send(
            wire.ConsultationNotes(
                msg_id=new_id(), consultation_id=consultation_id, text=notes, advice=advice
            )
        )
        await console.expect(wire.Ack)
    await console.send(
        wire.CallEnd(
            msg_id=new_id(), consultation_id=consultation_id, reason=wire.CallEndReason.COMPLETED
        )
    )
    await cabin.expect(wire.CallEnd)


def test_a_record_sent_twice_is_stored_once_and_indexed_by_patient(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path, clock=FakeClock()) as rig:
            cabin = await rig.cabin()
            upload = record_upload("c-offline", who=YVONNE, started_at=OFFLINE_START)
            first = await _send(cabin, upload)
            again = await _send(cabin, msgspec.structs.replace(upload, msg_id=new_id()))
            assert isinstance(first, wire.RecordAck) and isinstance(again, wire.RecordAck)
            assert (first.record_id, first.duplicate) == (upload.record_id, False)
            assert (again.record_id, again.duplicate) == (upload.record_id, True)
            assert _stored(rig) == [
                (
                    upload.record_id,
                    "c-offline",
                    "cabin-1",
                    match_key(YVONNE),
                    "2026-11-20T14:00:00.000000Z",
                )
            ]

    run(scenario())


def test_a_record_that_cannot_be_read_is_refused_and_not_stored(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path) as rig:
            cabin = await rig.cabin()
            good = record_upload("c-1", who=YVONNE, advice="secret-advice")
            refused = [
                # a Bundle, but not a record
                msgspec.structs.replace(
                    good,
                    msg_id=new_id(),
                    bundle=msgspec.Raw(b'{"resourceType":"Bundle","type":"collection"}'),
                ),
                # a record, but of another consultation than the upload says
                msgspec.structs.replace(good, msg_id=new_id(), consultation_id="c-2"),
                # a record, but under another id
                msgspec.structs.replace(good, msg_id=new_id(), record_id="rec-other"),
            ]
            for upload in refused:
                answer = await _send(cabin, upload)
                assert isinstance(answer, wire.ErrorMessage), upload.record_id
                assert answer.code is wire.ErrorCode.MALFORMED
                assert answer.in_reply_to == upload.msg_id
                assert answer.text.startswith(("malformed record", "the Bundle"))
            # a record a cabin makes of another cabin's name
            other = record_upload("c-3", cabin_id="cabin-2", who=YVONNE)
            answer = await _send(cabin, other)
            assert isinstance(answer, wire.ErrorMessage)
            assert answer.code is wire.ErrorCode.MALFORMED
            assert _stored(rig) == []
            # the connection goes on: the good one is taken
            assert isinstance(await _send(cabin, good), wire.RecordAck)
            assert len(_stored(rig)) == 1

    with caplog.at_level(logging.DEBUG):
        run(scenario())
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "hub.record_refused cabin=cabin-1 consultation=c-1" in logged
    for secret in ["Quélennec", "QUELENNEC", "quelennec", "Yvonne", "1938", "secret-advice"]:
        assert secret not in logged, secret


def test_a_record_of_another_cabins_consultation_is_refused(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        async with running_hub(tmp_path, clock=clock) as rig:
            cabin_1, cabin_2 = await rig.cabin("cabin-1"), await rig.cabin("cabin-2")
            await rig.join(cabin_1, "c-1", YVONNE)
            upload = record_upload("c-1", cabin_id="cabin-2", who=YVONNE)
            answer = await _send(cabin_2, upload)
            assert isinstance(answer, wire.ErrorMessage)
            assert answer.code is wire.ErrorCode.UNAUTHORIZED
            assert answer.in_reply_to == upload.msg_id
            assert _stored(rig) == []
            # its own cabin's is taken, even while the hub still has it in the waiting room
            started_at = clock.now() - timedelta(minutes=10)  # identity and vitals come first
            clock.advance(1800)
            own = record_upload("c-1", who=YVONNE, started_at=started_at)
            assert isinstance(await _send(cabin_1, own), wire.RecordAck)

    run(scenario())


def test_the_history_comes_from_the_records_and_from_what_the_hub_saw_live(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        async with running_hub(tmp_path, clock=clock) as rig:
            cabin = await rig.cabin()
            doctor_a = await rig.login("dr.a")
            console_a = await doctor_a.console()

            # 1. a consultation the hub never saw (made while the cabin was cut off from it):
            # only its record tells it
            offline = record_upload(
                "c-offline",
                who=SAME_YVONNE,
                started_at=OFFLINE_START,
                reason="douleur à l'oreille",
                doctor=DR_B,
                doctor_id="dr.b",
                vitals=(_bp(OFFLINE_START + timedelta(minutes=3), 151, 92),),
                prescriptions=(
                    _signed_prescription(rig, "c-offline", OFFLINE_START + timedelta(minutes=15)),
                ),
                advice="Gouttes deux fois par jour, revoir dans une semaine.",
            )
            assert isinstance(await _send(cabin, offline), wire.RecordAck)

            # 2. one the hub saw live, whose record has not arrived yet
            await _live(
                rig, cabin, console_a, "c-live", YVONNE, notes="otite guérie", advice="Repos."
            )
            clock.advance(3600)

            # 3. someone else's record: never in Yvonne's history
            other = record_upload("c-other", who=patient("Quelennec", "Yvonne", date(1940, 1, 1)))
            assert isinstance(await _send(cabin, other), wire.RecordAck)

            # today: dr.a takes Yvonne and reads her history
            await rig.join(cabin, "c-now", YVONNE)
            await console_a.send(wire.TakeConsultation(msg_id=new_id(), consultation_id="c-now"))
            await console_a.expect(wire.CallAccepted)
            history = await _history(doctor_a, "c-now")
            assert [e.consultation_id for e in history.entries] == ["c-live", "c-offline"]
            live, past = history.entries

            assert past.cabin_id == "cabin-1"
            assert past.started_at == OFFLINE_START
            assert past.ended_at == OFFLINE_START + timedelta(minutes=20)
            assert past.reason == "douleur à l'oreille"
            # the hub never saw it: the cabin's word only, no doctor named, nothing verified
            assert past.seen_by_hub is False and past.doctor is None
            assert [(v.systolic_mmhg, v.diastolic_mmhg) for v in past.vitals] == [(151, 92)]
            assert [p.lines for p in past.prescriptions] == [[LINE]]
            assert past.prescriptions[0].prescription_id == offline_rx_id(rig)
            assert past.prescriptions[0].verified is False
            assert past.advice == "Gouttes deux fois par jour, revoir dans une semaine."
            assert past.notes == ""  # the hub has no notes of a consultation it never saw

            # from the live data meanwhile: notes, advice, the readings it received
            assert (live.notes, live.advice, live.reason) == ("otite guérie", "Repos.", "toux")
            assert live.seen_by_hub is True
            assert live.doctor is not None and live.doctor.display_name == "Dr A"
            assert live.doctor.photo is None  # never sent to the console
            assert [v.systolic_mmhg for v in live.vitals] == [vital().systolic_mmhg]

            # c-live's record arrives: it is shown once, from the record, with the hub's notes
            record = record_upload(
                "c-live",
                who=YVONNE,
                started_at=datetime(2026, 11, 23, 8, 58, tzinfo=UTC),
                reason="toux",
                doctor=msgspec.structs.replace(DR_B, display_name="Dr A"),
                doctor_id="dr.a",
                vitals=(vital(), _bp(datetime(2026, 11, 23, 9, 5, tzinfo=UTC), 128, 80)),
                advice="Repos.",
            )
            assert isinstance(await _send(cabin, record), wire.RecordAck)
            history = await _history(doctor_a, "c-now")
            assert [e.consultation_id for e in history.entries] == ["c-live", "c-offline"]
            live = history.entries[0]
            assert [v.systolic_mmhg for v in live.vitals] == [132, 128]  # the record's
            assert (live.notes, live.advice) == ("otite guérie", "Repos.")
            assert live.doctor is not None and live.doctor.display_name == "Dr A"

            # who read whose history stays in the audit log
            audit = await rig.hub.storage.audit_entries(consultation_id="c-now")
            assert [e.actor_id for e in audit if e.action == "history.read"] == ["dr.a", "dr.a"]

            # the next doctor, at another cabin, sees the same
            cabin_2 = await rig.cabin("cabin-2")
            doctor_b = await rig.login("dr.b")
            console_b = await doctor_b.console()
            clock.advance(3600)
            await rig.join(cabin_2, "c-later", SAME_YVONNE)
            await console_b.send(wire.TakeConsultation(msg_id=new_id(), consultation_id="c-later"))
            await console_b.expect(wire.CallAccepted)
            later = await _history(doctor_b, "c-later")
            assert [e.consultation_id for e in later.entries] == [
                "c-now",
                "c-live",
                "c-offline",
            ]

    run(scenario())


def offline_rx_id(rig: Rig) -> str:
    return rig.hub.app[SERVICES].signer.number(2026, 900)


async def _history(doctor: Doctor, consultation_id: str) -> wire.PatientHistory:
    response = await doctor.history(consultation_id)
    assert response.status == 200
    return decode_as(await response.read(), wire.PatientHistory)


def test_records_stored_before_they_were_indexed_are_indexed_at_start(tmp_path: Path) -> None:
    async def scenario() -> None:
        storage = await SqliteStorage.open(tmp_path / "hub.db", TEST_KEY)
        try:
            upload = record_upload("c-old", who=YVONNE, started_at=OFFLINE_START)
            for record_id, bundle in [
                (upload.record_id, bytes(upload.bundle)),
                ("rec-unreadable", b'{"resourceType":"Bundle"}'),
            ]:
                await storage.add_record(
                    ConsultationRecordUpload(
                        record_id=record_id,
                        consultation_id="c-old" if record_id == upload.record_id else "c-bad",
                        cabin_id="cabin-1",
                        created_at=OFFLINE_START,
                        received_at=OFFLINE_START,
                        bundle=bundle,
                    )
                )
            assert await index_old_records(storage) == 2
            assert await index_old_records(storage) == 0  # once
            found = await storage.earlier_records(
                match_key(SAME_YVONNE),
                before=OFFLINE_START + timedelta(days=1),
                exclude="c-now",
                limit=10,
            )
            assert [(r.record_id, r.started_at) for r in found] == [
                (upload.record_id, OFFLINE_START)
            ]
            assert await storage.unindexed_records(limit=10) == []
        finally:
            await storage.close()

    run(scenario())
