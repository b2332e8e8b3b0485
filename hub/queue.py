"""The queue and the calls as the database knows them, cached on each replica.

The database is the truth: a consultation waiting or taken is in the waiting room, a taken one
is a call with its doctor. Each replica keeps the `WaitingRoom` and the `CallRegistry` as a
cache of it, changed at once by what this replica does and re-read (`QueueView.refresh`)
when another replica signals a change, on every (re)connection to the cluster, and on a
periodic check: a lost signal delays a change, never loses it. Taking a patient stays atomic
across replicas because `Storage.mark_taken` is a conditional update: of two doctors who
click at once, on one replica or two, exactly one wins.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

import wire
from hub.accounts import doctor_info
from hub.calls import Call, CallRegistry
from hub.message_ids import new_msg_id
from hub.storage import ConsultationRecord, ConsultationStatus, DoctorRecord, Storage
from hub.turn import IceServers
from hub.waiting_room import WaitingPatient, WaitingRoom

log = logging.getLogger(__name__)

ACTIVE_READ = 5000
"""At most this many live consultations are read back at once."""


def call_accepts(
    doctor: DoctorRecord,
    *,
    consultation_id: str,
    cabin_id: str,
    patient: wire.PatientSummary,
    ice: IceServers,
    at: datetime,
) -> tuple[wire.CallAccepted, wire.CallAccepted]:
    """What the cabin gets (the doctor with their photo, no patient) and what the doctor's
    consoles get (with the patient) when a call begins."""
    cabin_accept = wire.CallAccepted(
        msg_id=new_msg_id(),
        consultation_id=consultation_id,
        doctor=doctor_info(doctor, with_photo=True),
        ice_servers=ice.for_peer(cabin_id, at),
        ice_transport_policy=ice.policy,
    )
    console_accept = wire.CallAccepted(
        msg_id=new_msg_id(),
        consultation_id=consultation_id,
        doctor=doctor_info(doctor, with_photo=False),
        ice_servers=ice.for_peer(doctor.username, at),
        ice_transport_policy=ice.policy,
        patient=patient,
    )
    return cabin_accept, console_accept


class QueueView:
    """Refreshes a replica's waiting room and calls from the database."""

    def __init__(
        self, *, storage: Storage, room: WaitingRoom, calls: CallRegistry, ice: IceServers
    ) -> None:
        self._storage = storage
        self._room = room
        self._calls = calls
        self._ice = ice
        self.busy: set[str] = set()
        """Consultations this replica is changing now (a join, a take, an end): a refresh
        leaves them as they are, their change is under way."""
        self._running: asyncio.Future[bool] | None = None
        self._again = False

    async def refresh(self) -> bool:
        """Re-read the live consultations; whether the cache changed. Refreshes asked for
        while one runs are done once, after it."""
        if self._running is not None:
            self._again = True
            running = self._running
            return await asyncio.shield(running)
        loop = asyncio.get_running_loop()
        self._running = loop.create_future()
        changed = False
        try:
            while True:
                self._again = False
                changed |= await self._refresh_once()
                if not self._again:
                    break
        except BaseException as exc:
            self._running.set_exception(exc)
            self._running.exception()  # retrieved: the caller gets it
            raise
        finally:
            running, self._running = self._running, None
            if not running.done():
                running.set_result(changed)
        return changed

    async def load(self, consultation_id: str) -> Call | None:
        """The call of a consultation the cache does not know yet (begun on another replica,
        its signal not yet here), read from the database; None if it is not taken."""
        call = self._calls.get(consultation_id)
        if call is not None:
            return call
        record = await self._storage.consultation(consultation_id)
        if record is None or record.status is not ConsultationStatus.TAKEN:
            return None
        call = self._calls.get(consultation_id)  # a refresh may have found it meanwhile
        if call is not None:
            return call
        return await self._call_of(record)

    async def _refresh_once(self) -> bool:
        before = {*self._room_ids(), *(c.consultation_id for c in self._calls.all())}
        records = await self._storage.active_consultations(limit=ACTIVE_READ)
        changed = False
        for record in records:
            if record.consultation_id in self.busy:
                continue
            changed |= await self._apply(record)
        active = {r.consultation_id for r in records}
        for consultation_id in before - active - self.busy:
            # closed in the database (by another replica): the one who closed it told the peers
            if self._room.remove(consultation_id) is not None:
                changed = True
            if self._calls.end(consultation_id) is not None:
                changed = True
        return changed

    def _room_ids(self) -> list[str]:
        return [p.consultation_id for p in self._room.of_all()]

    async def _apply(self, record: ConsultationRecord) -> bool:
        consultation_id = record.consultation_id
        changed = False
        patient = self._room.get(consultation_id)
        vitals = None
        if patient is None or record.status is ConsultationStatus.WAITING:
            readings = await self._storage.readings(consultation_id)
            vitals = [r.vital for r in readings]
        if consultation_id in self.busy:  # a change of this replica began meanwhile
            return False
        patient = self._room.get(consultation_id)
        if patient is None:
            patient = WaitingPatient(
                consultation_id=consultation_id,
                cabin_id=record.cabin_id,
                joined_at=record.joined_at,
                language=record.language,
                patient=record.patient,
                reason=record.reason,
                age_years=record.age_years,
                vitals=vitals or [],
            )
            self._room.join(patient)
            changed = True
        elif vitals is not None and len(vitals) > len(patient.vitals):
            self._room.replace_vitals(consultation_id, vitals)
            changed = True
        if record.status is ConsultationStatus.WAITING:
            if self._calls.end(consultation_id) is not None:
                changed = True
            if patient.taken_by is not None:
                self._room.release(consultation_id)
                changed = True
            return changed
        doctor = record.doctor or ""
        if patient.taken_by != doctor:
            account = await self._storage.doctor(doctor)
            patient = self._room.get(consultation_id) or patient
            patient.taken_by = doctor
            patient.taken_by_name = account.display_name if account is not None else doctor
            changed = True
        call = self._calls.get(consultation_id)
        if call is None or call.doctor != doctor:
            changed |= await self._call_of(record) is not None
        return changed

    async def _call_of(self, record: ConsultationRecord) -> Call | None:
        """The call of a taken consultation, put in the cache."""
        if record.doctor is None:
            return None
        doctor = await self._storage.doctor(record.doctor)
        if doctor is None:
            log.warning(
                "hub.call_without_doctor consultation=%s doctor=%s",
                record.consultation_id,
                record.doctor,
            )
            return None
        current = self._calls.get(record.consultation_id)
        if current is not None and current.doctor == record.doctor:
            return current
        cabin_accept, console_accept = call_accepts(
            doctor,
            consultation_id=record.consultation_id,
            cabin_id=record.cabin_id,
            patient=record.patient,
            ice=self._ice,
            at=record.taken_at or record.joined_at,
        )
        call = Call(
            consultation_id=record.consultation_id,
            cabin_id=record.cabin_id,
            doctor=record.doctor,
            cabin_accept=cabin_accept,
            console_accept=console_accept,
        )
        self._calls.start(call)
        return call
