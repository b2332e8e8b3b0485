"""A patient's earlier consultations, as the doctor who sees them now reads them.

They come from the cabins' records first (`hub.records`): what the cabin measured, the advice
it printed, why the patient came; the hub adds its own doctor's notes, which no record
carries. An earlier consultation the hub saw live but whose record has not arrived yet (a cabin
offline) comes from the hub's own data instead, so that nothing disappears meanwhile; a
consultation appears once, whichever way it is known.

What the hub knows better than a cabin, the hub says: for a consultation it held, the cabin,
the times and the doctor are the hub's (`seen_by_hub`); a record of it from another cabin, or
filed under another patient than the hub's, is left out. A prescription is `verified` only if
the hub issued it for that consultation and what it stored still matches its signature;
anything else a record claims is shown as the cabin's word. A consultation only a record tells
(made offline) names no doctor.

Memory: a history reads each record's digest (`hub.records.RecordDigest`: what it shows, no
PDF), kept with the record since it arrived; a record without one (a digest that no longer
reads) has its Bundle read alone, parsed, and dropped before the next. At most
`RecordLimits.history_readers` histories are built at once. No PDF is ever sent with a history.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

import wire
from hub.accounts import doctor_info
from hub.log_safe import log_safe
from hub.message_ids import new_msg_id
from hub.prescriptions import stored_prescription_verifies
from hub.records import RecordDesk, RecordDigest, make_digest, read_digest
from hub.storage import ConsultationRecord, PrescriptionRecord, RecordHead, Storage
from wire.fhir_record import RecordError, parse_record

log = logging.getLogger(__name__)

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


class _Reader:
    """One history being built: the storage, the hub's keys, the records' pool."""

    def __init__(
        self,
        storage: Storage,
        public_keys: Mapping[str, Ed25519PublicKey],
        desk: RecordDesk,
        current: ConsultationRecord,
    ) -> None:
        self.storage = storage
        self.public_keys = public_keys
        self.desk = desk
        self.current = current
        self.doctors = _Doctors(storage)
        self.consultations: dict[str, ConsultationRecord | None] = {}

    async def consultation(self, consultation_id: str) -> ConsultationRecord | None:
        if consultation_id not in self.consultations:
            self.consultations[consultation_id] = await self.storage.consultation(consultation_id)
        return self.consultations[consultation_id]

    async def content(self, head: RecordHead) -> RecordDigest | None:
        """What the history shows of the record: its digest, stored with it; else (a digest
        that no longer reads) its Bundle, read, parsed on the records' pool, and dropped."""
        if head.digest is not None:
            digest = read_digest(head.digest)
            if digest is not None:
                return digest
        bundle = await self.storage.record_bundle(head.cabin_id, head.record_id)
        if bundle is None:
            return None
        try:
            content = await self.desk.run(lambda: parse_record(bundle), bounded=False)
        except RecordError as exc:
            log.error("hub.record_unreadable record=%s error=%s", head.record_id, log_safe(exc))
            return None
        return make_digest(content)

    async def prescriptions(
        self, claimed: tuple[wire.PastPrescription, ...], seen: ConsultationRecord | None
    ) -> list[wire.PastPrescription]:
        """The record's prescriptions, each the hub's (verified) if the hub issued it for
        this consultation and its signature holds; and the hub's that the record lacks."""
        issued: dict[str, PrescriptionRecord] = {}
        if seen is not None:
            stored = await self.storage.prescriptions(seen.consultation_id)
            issued = {p.prescription_id: p for p in stored}
        shown: list[wire.PastPrescription] = []
        for prescription in claimed:
            hub_copy = issued.pop(prescription.prescription_id, None)
            if hub_copy is not None:
                shown.append(self.past_prescription(hub_copy))
            else:
                shown.append(
                    wire.PastPrescription(
                        prescription_id=prescription.prescription_id,
                        issued_at=prescription.issued_at,
                        lines=list(prescription.lines),
                        verified=False,
                    )
                )
        shown += [self.past_prescription(p) for p in issued.values()]
        shown.sort(key=lambda p: p.issued_at)
        return shown[-MAX_PRESCRIPTIONS:]

    def past_prescription(self, issued: PrescriptionRecord) -> wire.PastPrescription:
        return wire.PastPrescription(
            prescription_id=issued.prescription_id,
            issued_at=issued.issued_at,
            lines=list(issued.lines),
            verified=stored_prescription_verifies(issued, self.public_keys),
        )


async def patient_history(
    storage: Storage,
    current: ConsultationRecord,
    *,
    public_keys: Mapping[str, Ed25519PublicKey],
    desk: RecordDesk,
) -> wire.PatientHistory:
    """The consultations of `current`'s patient (same match key) that began before it, newest
    first, with their readings, notes, advice, prescriptions and doctor."""
    async with desk.history_slots:
        return await _history(_Reader(storage, public_keys, desk, current))


async def _history(reader: _Reader) -> wire.PatientHistory:
    storage, current = reader.storage, reader.current
    live = await storage.earlier_consultations(
        current.match_key,
        before=current.joined_at,
        exclude=current.consultation_id,
        limit=MAX_ENTRIES,
    )
    for consultation in live:
        reader.consultations[consultation.consultation_id] = consultation
    heads: dict[str, RecordHead] = {}
    for head in await storage.earlier_record_heads(
        current.match_key,
        before=current.joined_at,
        exclude=current.consultation_id,
        limit=MAX_ENTRIES,
    ):
        if head.consultation_id in heads:
            continue  # the newest first
        seen = await reader.consultation(head.consultation_id)
        if seen is not None and (
            seen.cabin_id != head.cabin_id or seen.match_key != current.match_key
        ):
            log.warning(
                "hub.record_left_out record=%s consultation=%s cabin=%s",
                head.record_id,
                head.consultation_id,
                head.cabin_id,
            )
            continue  # not the record of the consultation the hub held
        heads[head.consultation_id] = head
    for consultation in live:  # a record filed under another spelling of the patient
        if consultation.consultation_id not in heads:
            found = await storage.record_head_of_consultation(
                consultation.consultation_id, cabin_id=consultation.cabin_id
            )
            if found is not None:
                heads[consultation.consultation_id] = found
    live_by_id = {c.consultation_id: c for c in live}
    entries: list[wire.PastConsultation] = []
    for head in heads.values():
        content = await reader.content(head)
        if content is None:
            continue
        seen = await reader.consultation(head.consultation_id)
        live_by_id.pop(head.consultation_id, None)
        entries.append(await _from_record(reader, head, content, seen))
    for consultation in live_by_id.values():
        entries.append(await _from_live(reader, consultation))
    entries.sort(key=lambda entry: entry.started_at, reverse=True)
    return wire.PatientHistory(
        msg_id=new_msg_id(), consultation_id=current.consultation_id, entries=entries[:MAX_ENTRIES]
    )


async def _from_record(
    reader: _Reader, head: RecordHead, content: RecordDigest, seen: ConsultationRecord | None
) -> wire.PastConsultation:
    """An earlier consultation as its record tells it, with what the hub knows better when it
    held it (times, doctor, notes, advice, its prescriptions)."""
    return wire.PastConsultation(
        consultation_id=content.consultation_id,
        cabin_id=head.cabin_id,
        started_at=content.started_at if seen is None else seen.joined_at,
        ended_at=content.ended_at if seen is None else (seen.ended_at or content.ended_at),
        doctor=None if seen is None else await reader.doctors.info(seen.doctor),
        reason=content.reason[:_MAX_REASON_CHARS],
        vitals=list(content.vitals[-MAX_VITALS:]),
        notes="" if seen is None else seen.notes,
        advice=(content.advice if seen is None else seen.advice or content.advice)[
            :_MAX_NOTES_CHARS
        ],
        prescriptions=await reader.prescriptions(content.prescriptions, seen),
        seen_by_hub=seen is not None,
    )


async def _from_live(reader: _Reader, record: ConsultationRecord) -> wire.PastConsultation:
    """An earlier consultation as the hub saw it live (its record has not arrived yet)."""
    readings = await reader.storage.readings(record.consultation_id)
    return wire.PastConsultation(
        consultation_id=record.consultation_id,
        cabin_id=record.cabin_id,
        started_at=record.joined_at,
        ended_at=record.ended_at,
        doctor=await reader.doctors.info(record.doctor),
        reason=record.reason,
        vitals=[r.vital for r in readings[-MAX_VITALS:]],
        notes=record.notes,
        advice=record.advice,
        prescriptions=await reader.prescriptions((), record),
        seen_by_hub=True,
    )
