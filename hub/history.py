"""A patient's earlier consultations, as the doctor who sees them now reads them."""

from __future__ import annotations

import wire
from hub.accounts import doctor_info
from hub.message_ids import new_msg_id
from hub.storage import ConsultationRecord, Storage

MAX_ENTRIES = 200
MAX_VITALS = 64
MAX_PRESCRIPTIONS = 20


async def patient_history(storage: Storage, current: ConsultationRecord) -> wire.PatientHistory:
    """The consultations of `current`'s patient (same match key) that began before it, newest
    first, with their readings, notes, prescriptions and doctor."""
    earlier = await storage.earlier_consultations(
        current.match_key,
        before=current.joined_at,
        exclude=current.consultation_id,
        limit=MAX_ENTRIES,
    )
    doctors: dict[str, wire.DoctorInfo | None] = {}
    entries: list[wire.PastConsultation] = []
    for record in earlier:
        doctor = None
        if record.doctor is not None:
            if record.doctor not in doctors:
                found = await storage.doctor(record.doctor)
                doctors[record.doctor] = (
                    None if found is None else doctor_info(found, with_photo=False)
                )
            doctor = doctors[record.doctor]
        readings = await storage.readings(record.consultation_id)
        prescriptions = await storage.prescriptions(record.consultation_id)
        entries.append(
            wire.PastConsultation(
                consultation_id=record.consultation_id,
                cabin_id=record.cabin_id,
                started_at=record.joined_at,
                ended_at=record.ended_at,
                doctor=doctor,
                reason=record.reason,
                vitals=[r.vital for r in readings[-MAX_VITALS:]],
                notes=record.notes,
                prescriptions=[
                    wire.PastPrescription(
                        prescription_id=p.prescription_id,
                        issued_at=p.issued_at,
                        lines=list(p.lines),
                    )
                    for p in prescriptions[-MAX_PRESCRIPTIONS:]
                ],
            )
        )
    return wire.PatientHistory(
        msg_id=new_msg_id(), consultation_id=current.consultation_id, entries=entries
    )
