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
from collections.abc import Iterator
from contextlib import contextmanager
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
        self._changing: dict[str, int] = {}
        """Consultations this replica is changing now (a join, a take, an end), and how many
        times over: a refresh leaves them as they are, their change is under way."""
        self._version = 0
        self._changed: dict[str, int] = {}
        """When (`_version`) this replica last finished changing each consultation: a refresh
        that read the database before then leaves it as it is (it read it stale)."""
        self._running: asyncio.Future[bool] | None = None
        self._again = False

    @contextmanager
    def changing(self, consultation_id: str) -> Iterator[None]:
        """Around a change of this replica to a consultation (in the database, then in the
        cache): no refresh undoes it with what it read before."""
        self._changing[consultation_id] = self._changing.get(consultation_id, 0) + 1
        try:
            yield
        finally:
            left = self._changing.pop(consultation_id) - 1
            if left:
                self._changing[consultation_id] = left
            self._version += 1
            self._changed[consultation_id] = self._version

    def is_changing(self, consultation_id: str) -> bool:
        return consultation_id in self._changing

    def _untouched(self, consultation_id: str, since: int) -> bool:
        """Whether this replica has left the consultation alone since `since`."""
        return (
            consultation_id not in self._changing and self._changed.get(consultation_id, 0) <= since
        )

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

    async def vitals(self, consultation_id: str) -> bool:
        """Re-read a waiting patient's readings (taken through another replica); whether the
        room changed."""
        if self._room.get(consultation_id) is None:
            return False
        readings = await self._storage.readings(consultation_id)
        patient = self._room.get(consultation_id)
        if patient is None or len(readings) <= len(patient.vitals):
            return False
        self._room.replace_vitals(consultation_id, [r.vital for r in readings])
        return True

    async def _refresh_once(self) -> bool:
        since = self._version
        before = {*self._room_ids(), *(c.consultation_id for c in self._calls.all())}
        records = await self._storage.active_consultations(limit=ACTIVE_READ)
        changed = False
        for record in records:
            if self._untouched(record.consultation_id, since):
                changed |= await self._apply(record, since)
        active = {r.consultation_id for r in records}
        for consultation_id in before - active:
            if not self._untouched(consultation_id, since):
                continue
            # closed in the database (by another replica): the one who closed it told the peers
            if self._room.remove(consultation_id) is not None:
                changed = True
            if self._calls.end(consultation_id) is not None:
                changed = True
        self._changed = {k: v for k, v in self._changed.items() if v > since}
        return changed

    def _room_ids(self) -> list[str]:
        return [p.consultation_id for p in self._room.of_all()]

    async def _apply(self, record: ConsultationRecord, since: int) -> bool:
        consultation_id = record.consultation_id
        changed = False
        patient = self._room.get(consultation_id)
        vitals = None
        if patient is None or record.status is ConsultationStatus.WAITING:
            readings = await self._storage.readings(consultation_id)
            vitals = [r.vital for r in readings]
        if not self._untouched(consultation_id, since):  # changed here meanwhile
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
