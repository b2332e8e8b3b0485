"""A patient's earlier consultations: the same patient only, for the doctor who took them."""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path

import pytest

import wire
from hub.patients import match_key
from tests.hub.hub_rig import (
    FakeClock,
    Peer,
    Rig,
    decode_as,
    new_id,
    patient,
    run,
    running_hub,
    vital,
)

LINE = wire.PrescriptionLine(
    drug="Amoxicilline 1 g", dose="1 comprimé", frequency="2 fois par jour", duration="6 jours"
)


async def _consultation(
    rig: Rig,
    clock: FakeClock,
    cabin: Peer,
    console: Peer,
    consultation_id: str,
    who: wire.PatientSummary,
    *,
    notes: str = "",
    rx: bool = False,
) -> None:
    """A whole consultation: join, taken by the console's doctor, notes, maybe a prescription,
    ended. The clock moves on by an hour."""
    await rig.join(cabin, consultation_id, who)
    await console.send(wire.TakeConsultation(msg_id=new_id(), consultation_id=consultation_id))
    await console.expect(wire.CallAccepted)
    await cabin.expect(wire.CallAccepted)
    if notes:
        await console.send(
            wire.ConsultationNotes(msg_id=new_id(), consultation_id=consultation_id, text=notes)
        )
        await console.expect(wire.Ack)
    if rx:
        await console.send(
            wire.PrescriptionDraft(msg_id=new_id(), consultation_id=consultation_id, lines=[LINE])
        )
        await console.expect(wire.Ack)
    await console.send(
        wire.CallEnd(
            msg_id=new_id(),
            consultation_id=consultation_id,
            reason=wire.CallEndReason.COMPLETED,
        )
    )
    await cabin.expect(wire.CallEnd)
    clock.advance(3600)


def test_the_history_holds_the_same_patients_earlier_visits_newest_first(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        async with running_hub(tmp_path, clock=clock) as rig:
            cabin = await rig.cabin()
            doctor_a, doctor_b = await rig.login("dr.a"), await rig.login("dr.b")
            console_a, console_b = await doctor_a.console(), await doctor_b.console()
            yvonne = patient("Quélennec", "Yvonne Marie", date(1938, 5, 2))
            same_yvonne = patient("QUELENNEC", "yvonne-marie", date(1938, 5, 2))
            someone_else = patient("Quelennec", "Yvonne", date(1940, 1, 1))
            assert match_key(yvonne) == match_key(same_yvonne)
            assert match_key(yvonne) != match_key(someone_else)

            await _consultation(
                rig, clock, cabin, console_b, "c-old", yvonne, notes="angine", rx=True
            )
            await _consultation(rig, clock, cabin, console_a, "c-other", someone_else)
            await _consultation(rig, clock, cabin, console_a, "c-mid", same_yvonne, notes="otite")
            # today's consultation, taken by dr.a
            await rig.join(cabin, "c-now", yvonne)
            await console_a.send(wire.TakeConsultation(msg_id=new_id(), consultation_id="c-now"))
            await console_a.expect(wire.CallAccepted)

            response = await doctor_a.history("c-now")
            assert response.status == 200
            assert response.content_type == "application/json"
            history = decode_as(await response.read(), wire.PatientHistory)
            assert history.consultation_id == "c-now"
            assert [e.consultation_id for e in history.entries] == ["c-mid", "c-old"]
            mid, old = history.entries
            assert mid.doctor is not None and old.doctor is not None
            assert mid.notes == "otite"
            assert mid.doctor.display_name == "Dr A"
            assert mid.doctor.photo is None
            assert old.notes == "angine"
            assert old.doctor.display_name == "Dr B"
            assert old.doctor.specialty == "Médecine générale"
            assert old.ended_at is not None and old.started_at < mid.started_at
            assert [v.systolic_mmhg for v in old.vitals] == [vital().systolic_mmhg]
            assert [p.lines for p in old.prescriptions] == [[LINE]]
            assert mid.prescriptions == []
            assert old.reason == "fièvre"

            audit = await rig.hub.storage.audit_entries(consultation_id="c-now")
            reads = [e for e in audit if e.action == "history.read"]
            assert len(reads) == 1
            assert reads[0].actor_id == "dr.a"
            assert reads[0].client_address == "127.0.0.1"
            assert reads[0].at == clock.now()

    run(scenario())


def test_only_the_doctor_who_took_the_consultation_may_read_the_history(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with running_hub(tmp_path) as rig:
            cabin = await rig.cabin()
            await rig.join(cabin, "c-1")
            doctor_a, doctor_b = await rig.login("dr.a"), await rig.login("dr.b")
            # nobody has taken it yet
            assert (await doctor_a.history("c-1")).status == 403
            console_a = await doctor_a.console()
            await console_a.send(wire.TakeConsultation(msg_id=new_id(), consultation_id="c-1"))
            await console_a.expect(wire.CallAccepted)
            refused = await doctor_b.history("c-1")
            assert refused.status == 403
            assert await refused.json() == {"error": "forbidden"}
            assert (await doctor_b.history("no-such-consultation")).status == 403
            assert (await doctor_a.history("c-1")).status == 200

            audit = await rig.hub.storage.audit_entries()
            denied = [
                (e.actor_id, e.consultation_id) for e in audit if e.action == "history.denied"
            ]
            assert denied == [("dr.a", "c-1"), ("dr.b", "c-1"), ("dr.b", None)]

    run(scenario())


def test_no_log_line_names_the_patient_or_their_data(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        async with running_hub(tmp_path, clock=clock) as rig:
            cabin = await rig.cabin()
            doctor = await rig.login("dr.a")
            console = await doctor.console()
            who = patient("Kerhervé", "Maïwenn", date(1951, 7, 14))
            await _consultation(
                rig, clock, cabin, console, "c-1", who, notes="note-secrète", rx=True
            )
            await rig.join(cabin, "c-2", who, reason="raison-secrète")
            await console.send(wire.TakeConsultation(msg_id=new_id(), consultation_id="c-2"))
            await console.expect(wire.CallAccepted)
            assert (await doctor.history("c-2")).status == 200
            await cabin.send(
                wire.ReadingMessage(
                    msg_id=new_id(), consultation_id="c-2", reading=vital(203.5, 119.5)
                )
            )
            await cabin.expect(wire.Ack)

    with caplog.at_level(logging.DEBUG):
        run(scenario())
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "hub.consultation_taken consultation=c-2" in logged
    secrets = ["Kerhervé", "KERHERVE", "kerherve", "Maïwenn", "maiwenn", "1951-07-14"]
    secrets += ["note-secrète", "raison-secrète", "203.5", "119.5"]
    for secret in secrets:
        assert secret not in logged, secret
