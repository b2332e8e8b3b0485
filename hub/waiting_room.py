"""The waiting room, in memory: who waits, since when, and who is being seen.

It is one replica's cache of the database, where the truth is the consultations' status
(`hub.queue` re-reads it); this is what the consoles see. Every method is synchronous:
between two awaits of the event loop nobody else runs, so `take` checks and marks in one step
and, of two doctors of this replica who click at once, the second is refused at once; across
replicas, the database's conditional `mark_taken` decides.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import wire

MAX_VITALS_SHOWN = 32


class TakeRefusal(enum.Enum):
    NOT_FOUND = "not_found"
    ALREADY_TAKEN = "already_taken"


@dataclass(slots=True)
class WaitingPatient:
    """One patient in the room. Holds who they are: never put one in a log line."""

    consultation_id: str
    cabin_id: str
    joined_at: datetime
    language: wire.Language
    patient: wire.PatientSummary
    reason: str = ""
    age_years: int | None = None
    vitals: list[wire.Vital] = field(default_factory=list)
    taken_by: str | None = None
    """The username of the doctor who took the patient."""
    taken_by_name: str | None = None
    """That doctor's display name."""
    appointment_id: str | None = None
    """The appointment the patient checked in with (its code and their birth date)."""
    appointment_at: datetime | None = None
    """Its slot's start: a booked patient waits at their slot time."""
    booked_doctor: str | None = None
    """The username of the doctor they booked with: offered the patient first."""
    booked_doctor_name: str | None = None
    appointment_timezone: str | None = None
    """The cabin's time zone, in which the slot's time is shown."""

    @property
    def queued_at(self) -> datetime:
        """Where the patient stands in the room: a booked patient at their slot time, a
        walk-in at their arrival; walk-ins fit between the slots."""
        return self.appointment_at if self.appointment_at is not None else self.joined_at

    def entry(self, *, cabin_online: bool) -> wire.WaitingEntry:
        return wire.WaitingEntry(
            consultation_id=self.consultation_id,
            cabin_id=self.cabin_id,
            joined_at=self.joined_at,
            language=self.language,
            reason=self.reason,
            age_years=self.age_years,
            sex=self.patient.sex,
            vitals=list(self.vitals[-MAX_VITALS_SHOWN:]),
            taken_by=self.taken_by,
            taken_by_name=self.taken_by_name,
            cabin_online=cabin_online,
            appointment_at=self.appointment_at,
            booked_doctor=self.booked_doctor,
            booked_doctor_name=self.booked_doctor_name,
            appointment_timezone=self.appointment_timezone,
        )


class WaitingRoom:
    def __init__(self) -> None:
        self._patients: dict[str, WaitingPatient] = {}

    def __contains__(self, consultation_id: object) -> bool:
        return consultation_id in self._patients

    def __len__(self) -> int:
        return len(self._patients)

    def get(self, consultation_id: str) -> WaitingPatient | None:
        return self._patients.get(consultation_id)

    def of_all(self) -> list[WaitingPatient]:
        return list(self._patients.values())

    def replace_vitals(self, consultation_id: str, vitals: list[wire.Vital]) -> None:
        """The vitals as the database has them (readings taken through another replica)."""
        patient = self._patients.get(consultation_id)
        if patient is not None:
            patient.vitals = list(vitals[-MAX_VITALS_SHOWN:])

    def join(self, patient: WaitingPatient) -> None:
        self._patients[patient.consultation_id] = patient

    def remove(self, consultation_id: str) -> WaitingPatient | None:
        return self._patients.pop(consultation_id, None)

    def of_cabin(self, cabin_id: str) -> list[WaitingPatient]:
        return [p for p in self._patients.values() if p.cabin_id == cabin_id]

    def take(self, consultation_id: str, doctor: str, doctor_name: str) -> TakeRefusal | None:
        """Mark the patient taken by `doctor` (a username; `doctor_name` is shown); the reason
        it cannot be, else None."""
        patient = self._patients.get(consultation_id)
        if patient is None:
            return TakeRefusal.NOT_FOUND
        if patient.taken_by is not None:
            return TakeRefusal.ALREADY_TAKEN
        patient.taken_by, patient.taken_by_name = doctor, doctor_name
        return None

    def release(self, consultation_id: str) -> None:
        """Undo a take that could not be completed."""
        patient = self._patients.get(consultation_id)
        if patient is not None:
            patient.taken_by = patient.taken_by_name = None

    def add_vital(self, consultation_id: str, vital: wire.Vital) -> bool:
        patient = self._patients.get(consultation_id)
        if patient is None:
            return False
        patient.vitals.append(vital)
        del patient.vitals[:-MAX_VITALS_SHOWN]
        return True

    def positions(self) -> dict[str, int]:
        """Each waiting (not taken) patient's place, 1 being next: booked patients at their
        slot time, walk-ins at their arrival, between them."""
        waiting = sorted(
            (p for p in self._patients.values() if p.taken_by is None),
            key=lambda p: (p.queued_at, p.joined_at, p.consultation_id),
        )
        return {p.consultation_id: place for place, p in enumerate(waiting, start=1)}

    def entries(self, *, cabin_online: Callable[[str], bool]) -> list[wire.WaitingEntry]:
        """Every patient in the room's order (`positions`); `cabin_online` tells whose cabin is
        connected."""
        ordered = sorted(
            self._patients.values(), key=lambda p: (p.queued_at, p.joined_at, p.consultation_id)
        )
        return [p.entry(cabin_online=cabin_online(p.cabin_id)) for p in ordered]
