"""The documents a consultation leaves (printed at closing) and its record (filed in the outbox),
on the real core: a real SQLCipher file, the real renderers, the demo's PDF-folder printer (a
folder made unwritable is a real printer failure: the job is kept, the agent alerted, and the
assistant's "print again" works)."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from pathlib import Path

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import wire
from demo.root import start_core
from devices.reading import Quantity, Reading, ReadingKind, Value
from hub.prescriptions import PrescriptionSigner
from kiosk.app import KioskCore
from kiosk.assistant import UnlockOutcome
from kiosk.config import load_config
from kiosk.events import PrintProgress, PrintState
from kiosk.patient import PatientIdentity, Sex
from kiosk.session_states import EndReason, SessionState
from kiosk.store import DatabaseKey, Store
from kiosk.visit_reasons import VisitReason
from tests.kiosk.test_session import FakeClock
from wire import fhir_record

KEY = DatabaseKey.generate()
PATIENT = PatientIdentity("Le Gall", "Anne-Marie", date(1940, 7, 14), Sex.FEMALE)
SIGNER = PrescriptionSigner(Ed25519PrivateKey.generate())
DOCTOR = wire.DoctorInfo(
    display_name="Dr Claire Martin",
    specialty="Médecine générale",
    registration_number="10101010101",
    address="12 rue de la Santé, 29200 Brest",
    phone="02 98 00 00 00",
    email="claire.martin@exemple.fr",
)
ADVICE = "Buvez beaucoup d'eau. Si la fièvre dépasse 38,5 °C, appelez le 15."
READING = Reading(
    "bp-1",
    ReadingKind.BLOOD_PRESSURE,
    (
        Value(Quantity.SYSTOLIC_MMHG, 152.0),
        Value(Quantity.DIASTOLIC_MMHG, 91.0),
        Value(Quantity.PULSE_BPM, 74.0),
    ),
    datetime(2026, 11, 23, 9, 5, tzinfo=UTC),
)


def prescription(consultation_id: str, number: int = 123) -> wire.PrescriptionMessage:
    unsigned = wire.PrescriptionMessage(
        msg_id=f"m{number}",
        prescription_id=SIGNER.number(2026, number),
        consultation_id=consultation_id,
        issued_at=datetime(2026, 11, 23, 9, 20, tzinfo=UTC),
        prescriber=DOCTOR,
        lines=[
            wire.PrescriptionLine(
                drug="Paracétamol 500 mg, comprimé",
                dose="1 comprimé",
                frequency="3 fois par jour",
                duration="5 jours",
                renewals=1,
            )
        ],
        key_id=SIGNER.key_id,
        signature="AAAA",
    )
    signed = SIGNER.sign(unsigned)
    return msgspec.structs.replace(
        signed, check_url=f"http://127.0.0.1:8765/rx/{signed.prescription_id}?k=0123456789ABCDEF"
    )


def with_core(
    tmp_path: Path, body: Callable[[KioskCore], Awaitable[None]], *, restart: bool = False
) -> None:
    async def scenario() -> None:
        for _ in range(2 if restart else 1):
            core = await start_core(
                load_config(None),
                tmp_path,
                env={"CABIN_DB_KEY": KEY.hex()},
                clock=FakeClock(),
                instruments={},
            )
            try:
                await body(core)
            finally:
                await core.aclose()

    asyncio.run(scenario())


async def to_the_call(core: KioskCore) -> str:
    """Identified, consented, measured, with a reason, a doctor and advice: at the call."""
    c = core.consultation
    await c.start("fr")
    await c.choose_identify()
    await c.identify(PATIENT)
    await c.consent(True)
    consultation_id = core.session.context.consultation_id
    assert consultation_id is not None
    await c.record_reading(READING)
    core.session.set_reason(VisitReason.FEVER)
    core.session.advance(SessionState.WAITING_ROOM)
    await core.store.run(
        Store.set_consultation_details,
        consultation_id,
        reason=VisitReason.FEVER.value,
        doctor_info=msgspec.json.encode(DOCTOR),
        advice=ADVICE,
    )
    core.session.advance(SessionState.CALL)
    return consultation_id


async def receive(core: KioskCore, message: wire.PrescriptionMessage) -> None:
    await core.store.run(
        Store.add_prescription,
        message.prescription_id,
        message.consultation_id,
        message.issued_at,
        DOCTOR.display_name,
        wire.encode(message),
        message.signature,
    )


def pdf_text(path: Path) -> str:
    return subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True
    ).stdout


def test_closing_prints_the_prescription_and_summary_then_files_the_record(
    tmp_path: Path,
) -> None:
    progress: list[PrintProgress] = []

    async def body(core: KioskCore) -> None:
        assert core.paperwork is not None
        core.bus.subscribe(PrintProgress, progress.append)
        await core.store.run(Store.record_paper_refill, "agent", 20)
        consultation_id = await to_the_call(core)
        rx = prescription(consultation_id)
        await receive(core, rx)
        core.session.advance(SessionState.CLOSING)
        await core.paperwork.settled()
        jobs = await core.store.run(Store.print_jobs, consultation_id)
        assert [(j.document, j.state) for j in jobs] == [
            ("prescription", "printed"),
            ("summary", "printed"),
        ]
        folder = tmp_path / "printed"
        text = pdf_text(folder / f"ordonnance {rx.prescription_id}.pdf")
        for needle in (rx.prescription_id, "Paracétamol 500 mg", "LE GALL", "10101010101"):
            assert needle in text
        summary = pdf_text(folder / f"compte rendu {consultation_id[:8]}.pdf")
        assert "152" in summary and "Buvez beaucoup d'eau" in summary
        assert rx.prescription_id in summary
        assert progress[-1].state is PrintState.DONE
        assert await core.store.run(Store.sheets_left) == 20 - sum(j.pages or 0 for j in jobs)
        # Before the record is filed, the printed PDFs are kept (encrypted): it carries them.
        kept = await core.store.run(Store.print_job, jobs[0].job_id)
        assert kept is not None and kept.payload is not None
        core.session.advance(SessionState.SURVEY)
        core.session.end(EndReason.COMPLETED)
        await core.consultation.settled()
        due = await core.store.run(Store.due_outbox)
        assert [item.key for item in due] == [f"record:{consultation_id}"]
        upload = wire.decode(due[0].payload, allowed=wire.RecordUpload)
        assert isinstance(upload, wire.RecordUpload)
        content = fhir_record.parse_record(bytes(upload.bundle))
        assert content.consultation_id == consultation_id
        assert content.advice == ADVICE
        assert content.reason == "Fièvre"
        assert content.doctor is not None and content.doctor.registration_number == "10101010101"
        assert [p.prescription_id for p in content.prescriptions] == [rx.prescription_id]
        assert [v.systolic_mmhg for v in content.vitals if v.systolic_mmhg] == [152.0]
        bundle = json.loads(bytes(upload.bundle))
        documents = [
            e["resource"]
            for e in bundle["entry"]
            if e["resource"]["resourceType"] == "DocumentReference"
        ]
        assert len(documents) == 2
        # Filed: the printed PDFs leave the print jobs (the outbox holds the record).
        for job in jobs:
            after = await core.store.run(Store.print_job, job.job_id)
            assert after is not None and after.payload is None
        # Acknowledged by the hub: the outbox keeps the row, not the record.
        await core.store.run(Store.outbox_acknowledged, due[0].key)
        assert await core.store.run(Store.outbox_pending) == 0
        assert await core.store.run(Store.due_outbox) == []

    with_core(tmp_path, body)


def test_a_printer_that_fails_keeps_the_job_alerts_and_prints_it_again(tmp_path: Path) -> None:
    progress: list[PrintProgress] = []
    folder = tmp_path / "printed"
    folder.write_text("not a folder")  # the printer cannot print: nothing can be written

    async def body(core: KioskCore) -> None:
        assert core.paperwork is not None
        core.bus.subscribe(PrintProgress, progress.append)
        consultation_id = await to_the_call(core)
        rx = prescription(consultation_id, 7)
        await receive(core, rx)
        core.session.advance(SessionState.CLOSING)
        await core.paperwork.settled()
        assert progress[-1].state in (PrintState.OFFLINE, PrintState.PAPER_OUT)
        waiting = await core.store.run(Store.print_jobs, consultation_id, unprinted_only=True)
        assert {j.document for j in waiting} == {"prescription", "summary"}
        alerts = await core.store.run(Store.alerts, True)
        assert [a.kind for a in alerts] == ["printer"]
        # The patient leaves; the record is filed with the documents all the same.
        core.session.advance(SessionState.SURVEY)
        core.session.end(EndReason.COMPLETED)
        await core.consultation.settled()
        assert await core.store.run(Store.outbox_pending) == 1
        # The agent fixes the printer and prints again from the assistant mode.
        folder.unlink()
        core.session.advance(SessionState.IDLE)
        assert (await core.assistant.unlock("2468")).outcome is UnlockOutcome.OK
        listed = await core.assistant.waiting_documents()
        assert {(d.document, d.ref) for d in listed} == {
            ("prescription", rx.prescription_id),
            ("summary", ""),
        }
        assert await core.assistant.reprint_waiting() == (2, 0)
        assert (folder / f"ordonnance {rx.prescription_id}.pdf").read_bytes().startswith(b"%PDF")
        assert await core.store.run(Store.alerts, True) == []
        assert await core.assistant.waiting_documents() == []

    with_core(tmp_path, body)


def test_a_prescription_never_printed_is_kept_for_the_agent(tmp_path: Path) -> None:
    async def body(core: KioskCore) -> None:
        assert core.paperwork is not None
        consultation_id = await to_the_call(core)
        await receive(core, prescription(consultation_id, 9))
        core.session.end(EndReason.ABANDONED)  # the patient left during the call
        await core.consultation.settled()
        jobs = await core.store.run(Store.print_jobs, consultation_id, unprinted_only=True)
        assert [(j.document, j.problem) for j in jobs] == [("prescription", "not_printed")]
        assert [a.kind for a in await core.store.run(Store.alerts, True)] == ["printer"]
        assert await core.store.run(Store.outbox_pending) == 1

    with_core(tmp_path, body)


def test_a_record_a_crash_kept_from_being_filed_is_filed_at_the_next_start(
    tmp_path: Path,
) -> None:
    started: list[int] = []

    async def body(core: KioskCore) -> None:
        if not started:
            await to_the_call(core)
            # As if the power went: the consultation stays open, nothing is filed.
            core.consultation.after_end.clear()
            core.session.end(EndReason.ABANDONED)
            await core.consultation.settled()
            assert await core.store.run(Store.outbox_pending) == 0
            started.append(1)
            return
        assert await core.store.run(Store.outbox_pending) == 1

    with_core(tmp_path, body, restart=True)


def test_the_agent_learns_of_a_broken_printer_before_a_patient_does(tmp_path: Path) -> None:
    folder = tmp_path / "printed"
    folder.write_text("not a folder")  # the demo printer cannot print from the start

    async def body(core: KioskCore) -> None:
        assert core.paperwork is not None
        status = await core.paperwork.check_printer()
        assert status.problem is wire.PrinterProblem.OFFLINE
        assert [a.kind for a in await core.store.run(Store.alerts, True)] == ["printer"]
        folder.unlink()  # fixed: the agent sees it in the assistant mode
        assert (await core.assistant.unlock("2468")).outcome is UnlockOutcome.OK
        fixed = await core.assistant.printer_status()
        assert fixed is not None and fixed.ready

    with_core(tmp_path, body)


def test_a_prescription_arriving_after_the_patient_left_waits_for_the_agent(
    tmp_path: Path,
) -> None:
    async def body(core: KioskCore) -> None:
        assert core.paperwork is not None
        consultation_id = await to_the_call(core)
        core.session.advance(SessionState.CLOSING)
        core.session.advance(SessionState.SURVEY)
        core.session.end(EndReason.COMPLETED)
        await core.consultation.settled()
        await core.paperwork.settled()
        late = prescription(consultation_id, 11)
        await receive(core, late)  # what Teleconsultation stores, then hands over
        await core.paperwork.keep_late_prescription(consultation_id)
        jobs = await core.store.run(Store.print_jobs, consultation_id, unprinted_only=True)
        assert [(j.document, j.ref, j.problem) for j in jobs] == [
            ("prescription", late.prescription_id, "arrived_late")
        ]
        assert [a.kind for a in await core.store.run(Store.alerts, True)] == ["printer"]
        core.session.advance(SessionState.IDLE)
        assert (await core.assistant.unlock("2468")).outcome is UnlockOutcome.OK
        assert await core.assistant.reprint_waiting() == (1, 0)

    with_core(tmp_path, body)
