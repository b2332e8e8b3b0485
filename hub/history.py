"""A patient's earlier consultations, as the doctor who sees them now reads them.

They come from the cabins' records first (`hub.records`): what the cabin measured, the
prescriptions it received, the advice it printed, who the doctor was, why the patient came and
when; the hub adds its own doctor's notes, which no record carries, and the prescriptions it
issued that a record lacks. An earlier consultation the hub saw live but whose record has not
arrived yet (a cabin offline) comes from the hub's own data instead, so that nothing disappears
meanwhile; a consultation appears once, whichever way it is known.
"""

from __future__ import annotations

import asyncio

import msgspec

import wire
from hub.accounts import doctor_info
from hub.message_ids import new_msg_id
from hub.records import ReadRecord, read_stored
from hub.storage import ConsultationRecord, ConsultationRecordUpload, Storage

MAX_ENTRIES = 200
MAX_VITALS = 64
MAX_PRESCRIPTIONS = 20
_MAX_REASON_CHARS = 500
_MAX_NOTES_CHARS = 10_000


class _Doctors:
    """Doctors' `DoctorInfo` (no photo) by username, each read once."""

    def __init__(self, storage: Storage) -> None:
        self._storage = storage
        self._known: dict[str, wire.DoctorInfo | None] = {}

    async def info(self, username: str | None) -> wire.DoctorInfo | None:
        if username is None:
            return None
        if username not in self._known:
            found = await self._storage.doctor(username)
            self._known[username] = None if found is None else doctor_info(found, with_photo=False)
        return self._known[username]


async def patient_history(storage: Storage, current: ConsultationRecord) -> wire.PatientHistory:
    """The consultations of `current`'s patient (same match key) that began before it, newest
    first, with their readings, notes, advice, prescriptions and doctor."""
    live = await storage.earlier_consultations(
        current.match_key,
        before=current.joined_at,
        exclude=current.consultation_id,
        limit=MAX_ENTRIES,
    )
    stored: dict[str, ConsultationRecordUpload] = {}
    for record in await storage.earlier_records(
        current.match_key,
        before=current.joined_at,
        exclude=current.consultation_id,
        limit=MAX_ENTRIES,
    ):
        stored.setdefault(record.consultation_id, record)  # the newest first
    for consultation in live:  # a record filed under another spelling of the patient
        if consultation.consultation_id not in stored:
            found = await storage.record_of_consultation(consultation.consultation_id)
            if found is not None:
                stored[consultation.consultation_id] = found
    records = await asyncio.to_thread(read_stored, list(stored.values()))
    live_by_id = {c.consultation_id: c for c in live}
    doctors = _Doctors(storage)
    entries: list[wire.PastConsultation] = []
    for read in records:
        seen = live_by_id.pop(read.stored.consultation_id, None)
        if seen is None:
            seen = await storage.consultation(read.stored.consultation_id)
        entries.append(await _from_record(storage, doctors, read, seen))
    for consultation in live_by_id.values():
        entries.append(await _from_live(storage, doctors, consultation))
    entries.sort(key=lambda entry: entry.started_at, reverse=True)
    return wire.PatientHistory(
        msg_id=new_msg_id(), consultation_id=current.consultation_id, entries=entries[:MAX_ENTRIES]
    )


async def _from_record(
    storage: Storage, doctors: _Doctors, read: ReadRecord, seen: ConsultationRecord | None
) -> wire.PastConsultation:
    """An earlier consultation as its record tells it, with the hub's notes when it saw it."""
    content = read.content
    doctor = content.doctor
    if doctor is not None:
        doctor = msgspec.structs.replace(doctor, photo=None)
    else:
        doctor = await doctors.info(content.doctor_id or (seen.doctor if seen else None))
    prescriptions = list(content.prescriptions)
    if seen is not None:  # issued by the hub, yet not in the record (never reached the cabin)
        known = {p.prescription_id for p in prescriptions}
        for issued in await storage.prescriptions(seen.consultation_id):
            if issued.prescription_id not in known:
                prescriptions.append(
                    wire.PastPrescription(
                        prescription_id=issued.prescription_id,
                        issued_at=issued.issued_at,
                        lines=list(issued.lines),
                    )
                )
        prescriptions.sort(key=lambda p: p.issued_at)
    return wire.PastConsultation(
        consultation_id=content.consultation_id,
        cabin_id=read.stored.cabin_id,
        started_at=content.started_at,
        ended_at=content.ended_at,
        doctor=doctor,
        reason=content.reason[:_MAX_REASON_CHARS],
        vitals=list(content.vitals[-MAX_VITALS:]),
        notes="" if seen is None else seen.notes,
        advice=(content.advice or ("" if seen is None else seen.advice))[:_MAX_NOTES_CHARS],
        prescriptions=prescriptions[-MAX_PRESCRIPTIONS:],
    )


async def _from_live(
    storage: Storage, doctors: _Doctors, record: ConsultationRecord
) -> wire.PastConsultation:
    """An earlier consultation as the hub saw it live (its record has not arrived yet)."""
    readings = await storage.readings(record.consultation_id)
    prescriptions = await storage.prescriptions(record.consultation_id)
    return wire.PastConsultation(
        consultation_id=record.consultation_id,
        cabin_id=record.cabin_id,
        started_at=record.joined_at,
        ended_at=record.ended_at,
        doctor=await doctors.info(record.doctor),
        reason=record.reason,
        vitals=[r.vital for r in readings[-MAX_VITALS:]],
        notes=record.notes,
        advice=record.advice,
        prescriptions=[
            wire.PastPrescription(
                prescription_id=p.prescription_id, issued_at=p.issued_at, lines=list(p.lines)
            )
            for p in prescriptions[-MAX_PRESCRIPTIONS:]
        ],
    )
