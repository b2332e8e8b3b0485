"""A doctor's week, stored as the booking desk and the cabins leave it: the rota of two doctors
(this week and the next), the cabins' calendars, and appointments in every state.

"Now" is Wednesday 9 December 2026, 10:20 in Paris (09:20 UTC): Monday and Tuesday are done,
Wednesday is under way, Thursday and Friday are ahead.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import wire
from hub.booking import Appointment, AppointmentStatus, BookingChannel
from hub.patients import match_key
from hub.schedule import CabinCalendar, RotaShift
from hub.storage import ConsultationRecord, ConsultationStatus, Storage

PARIS = ZoneInfo("Europe/Paris")
MONDAY = date(2026, 12, 7)
NOW = datetime(2026, 12, 9, 10, 20, tzinfo=PARIS).astimezone(UTC)
WEDNESDAY = MONDAY + timedelta(days=2)
_codes = itertools.count(100001)


def at(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime.combine(day, time(hh, mm), PARIS).astimezone(UTC)


def person(
    family: str, given: str, born: date, sex: wire.Sex = wire.Sex.FEMALE
) -> wire.PatientSummary:
    return wire.PatientSummary(family_name=family, given_names=given, birth_date=born, sex=sex)


YVONNE = person("Quélennec", "Yvonne", date(1938, 5, 2))
"""In the cabin now, with doctor A: the patient the handover is about."""


@dataclass(frozen=True, slots=True)
class Week:
    cabin_ids: tuple[str, str]
    in_cabin_consultation: str
    seen_consultation: str
    waiting_consultation: str


async def _consultation(
    storage: Storage,
    consultation_id: str,
    cabin_id: str,
    who: wire.PatientSummary,
    joined_at: datetime,
    status: ConsultationStatus,
    doctor: str | None,
    reason: str,
) -> None:
    await storage.open_consultation(
        ConsultationRecord(
            consultation_id=consultation_id,
            cabin_id=cabin_id,
            patient=who,
            match_key=match_key(who),
            reason=reason,
            age_years=None,
            sex=who.sex,
            language=wire.Language.FR,
            status=ConsultationStatus.WAITING,
            doctor=None,
            joined_at=joined_at,
        )
    )
    if doctor is not None:
        assert await storage.mark_taken(consultation_id, doctor=doctor, at=joined_at)
    if status is ConsultationStatus.ENDED:
        await storage.close_consultation(
            consultation_id, status=status, at=joined_at + timedelta(minutes=15)
        )


async def _appointment(
    storage: Storage,
    appointment_id: str,
    cabin_id: str,
    starts_at: datetime,
    who: wire.PatientSummary,
    status: AppointmentStatus,
    *,
    doctor: str,
    arrived_at: datetime | None = None,
    consultation_id: str | None = None,
    reason: str = "",
) -> None:
    await storage.add_appointment(
        Appointment(
            appointment_id=appointment_id,
            cabin_id=cabin_id,
            doctor=doctor,
            starts_at=starts_at,
            ends_at=starts_at + timedelta(minutes=15),
            status=status,
            patient=who,
            code=str(next(_codes)),
            channel=BookingChannel.PHONE,
            booked_at=starts_at - timedelta(days=3),
            booked_by="coord.mairie",
            reason=reason,
            arrived_at=arrived_at,
            consultation_id=consultation_id,
            cancelled_at=starts_at - timedelta(days=1)
            if status is AppointmentStatus.CANCELLED
            else None,
            cancelled_by="patient" if status is AppointmentStatus.CANCELLED else "",
            closed_at=starts_at + timedelta(minutes=30)
            if status in (AppointmentStatus.FULFILLED, AppointmentStatus.NOSHOW)
            else None,
        )
    )


async def seed_week(
    storage: Storage,
    doctor_a: str,
    doctor_b: str,
    cabin_ids: tuple[str, str] = ("cabin-1", "cabin-2"),
    *,
    in_cabin_with: str | None = None,
) -> Week:
    """Doctor A covers both cabins this week (Monday to Friday, 8:00 to 18:00), doctor B the
    next week; A's appointments in every state. The patient in the cabin now is with A, or
    with `in_cabin_with` (a colleague helping: A's console then opens on no call)."""
    one, two = cabin_ids
    await storage.put_calendar(CabinCalendar(one, "Murat"))
    await storage.put_calendar(CabinCalendar(two, "Saint-Flour"))
    for n, cabin_id in enumerate(cabin_ids):
        for k, (doctor, monday) in enumerate(
            ((doctor_a, MONDAY), (doctor_b, MONDAY + timedelta(days=7)))
        ):
            await storage.add_shift(
                RotaShift(
                    shift_id=f"shift-{n}-{k}",
                    doctor=doctor,
                    cabin_id=cabin_id,
                    starts_at=at(monday, 8),
                    ends_at=at(monday + timedelta(days=4), 18),
                    created_by="coord.mairie",
                    created_at=NOW - timedelta(days=20),
                )
            )
    monday, tuesday, wednesday = MONDAY, MONDAY + timedelta(days=1), WEDNESDAY
    thursday = MONDAY + timedelta(days=3)
    # Monday and Tuesday: seen, and a no-show each day.
    await _consultation(
        storage,
        "c-mon",
        one,
        person("Martin", "Jeanne", date(1950, 3, 9)),
        at(monday, 9, 2),
        ConsultationStatus.ENDED,
        doctor_a,
        "toux",
    )
    await _appointment(
        storage,
        "a-mon-1",
        one,
        at(monday, 9),
        person("Martin", "Jeanne", date(1950, 3, 9)),
        AppointmentStatus.FULFILLED,
        doctor=doctor_a,
        arrived_at=at(monday, 8, 55),
        consultation_id="c-mon",
    )
    await _appointment(
        storage,
        "a-mon-2",
        two,
        at(monday, 10, 30),
        person("Durand", "Paul", date(1961, 7, 1), wire.Sex.MALE),
        AppointmentStatus.NOSHOW,
        doctor=doctor_a,
    )
    await _consultation(
        storage,
        "c-tue",
        two,
        YVONNE,
        at(tuesday, 14, 1),
        ConsultationStatus.ENDED,
        doctor_a,
        "tension",
    )
    await _appointment(
        storage,
        "a-tue-1",
        two,
        at(tuesday, 14),
        YVONNE,
        AppointmentStatus.FULFILLED,
        doctor=doctor_a,
        arrived_at=at(tuesday, 13, 58),
        consultation_id="c-tue",
    )
    await _appointment(
        storage,
        "a-tue-2",
        one,
        at(tuesday, 15),
        person("Roux", "Henri", date(1944, 2, 2), wire.Sex.MALE),
        AppointmentStatus.NOSHOW,
        doctor=doctor_a,
    )
    # Wednesday, today: every state.
    await _consultation(
        storage,
        "c-wed-seen",
        one,
        person("Bernard", "Lucie", date(1972, 10, 4)),
        at(wednesday, 8, 31),
        ConsultationStatus.ENDED,
        doctor_a,
        "certificat",
    )
    await _appointment(
        storage,
        "a-wed-1",
        one,
        at(wednesday, 8, 30),
        person("Bernard", "Lucie", date(1972, 10, 4)),
        AppointmentStatus.FULFILLED,
        doctor=doctor_a,
        arrived_at=at(wednesday, 8, 28),
        consultation_id="c-wed-seen",
    )
    await _appointment(
        storage,
        "a-wed-2",
        one,
        at(wednesday, 9),
        person("Lefèvre", "Marc", date(1958, 1, 20), wire.Sex.MALE),
        AppointmentStatus.NOSHOW,
        doctor=doctor_a,
    )
    await _consultation(
        storage,
        "c-wed-cabin",
        one,
        YVONNE,
        at(wednesday, 10, 1),
        ConsultationStatus.TAKEN,
        in_cabin_with or doctor_a,
        "tension, vertiges",
    )
    await _appointment(
        storage,
        "a-wed-3",
        one,
        at(wednesday, 10),
        YVONNE,
        AppointmentStatus.ARRIVED,
        doctor=doctor_a,
        arrived_at=at(wednesday, 9, 57),
        consultation_id="c-wed-cabin",
        reason="tension",
    )
    await _consultation(
        storage,
        "c-wed-wait",
        two,
        person("Le Gall", "Anne", date(1985, 6, 30)),
        at(wednesday, 10, 17),
        ConsultationStatus.WAITING,
        None,
        "douleur au genou",
    )
    await _appointment(
        storage,
        "a-wed-4",
        two,
        at(wednesday, 10),
        person("Le Gall", "Anne", date(1985, 6, 30)),
        AppointmentStatus.ARRIVED,
        doctor=doctor_a,
        arrived_at=at(wednesday, 10, 17),
        consultation_id="c-wed-wait",
    )
    await _appointment(
        storage,
        "a-wed-5",
        one,
        at(wednesday, 10, 15),
        person("Petit", "Louis", date(2019, 4, 12), wire.Sex.MALE),
        AppointmentStatus.BOOKED,
        doctor=doctor_a,
        reason="fièvre",
    )
    await _appointment(
        storage,
        "a-wed-6",
        two,
        at(wednesday, 11),
        person("Moreau", "Claire", date(1990, 8, 8)),
        AppointmentStatus.BOOKED,
        doctor=doctor_a,
    )
    await _appointment(
        storage,
        "a-wed-7",
        one,
        at(wednesday, 14),
        person("Garnier", "Paul", date(1966, 9, 9), wire.Sex.MALE),
        AppointmentStatus.CANCELLED,
        doctor=doctor_a,
    )
    await _appointment(
        storage,
        "a-thu-1",
        two,
        at(thursday, 9, 15),
        person("Fournier", "Élise", date(1947, 11, 11)),
        AppointmentStatus.BOOKED,
        doctor=doctor_a,
    )
    return Week(
        cabin_ids=cabin_ids,
        in_cabin_consultation="c-wed-cabin",
        seen_consultation="c-tue",
        waiting_consultation="c-wed-wait",
    )
