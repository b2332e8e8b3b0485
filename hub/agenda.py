"""A doctor's agenda: the appointments of the cabins they are on the rota for, during their
shifts, for a day or a week, each with where it stands.

The five states the console shows: booked, checked in (the code was checked at the cabin: the
patient waits), in the cabin (their consultation is taken), seen, no-show. A patient past the
start of their slot and not there yet is marked late, and so is one who came after it (a late
patient turned from no-show to arrived shows as arrived). The no-shows are counted. Times are
shown in the cabin's time zone (its calendar's, Europe/Paris by default); days are the
doctor's first cabin's.
"""

from __future__ import annotations

import enum
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import msgspec

from hub.booking import Appointment, AppointmentStatus
from hub.clock import Clock
from hub.handover import ConsoleStore, patient_age
from hub.schedule import DEFAULT_TIMEZONE, RotaShift
from hub.storage import ConsultationStatus

LATE_AFTER = timedelta(minutes=5)
"""A patient who arrives this long after the start of their slot came late."""


class AgendaStatus(enum.StrEnum):
    BOOKED = "booked"
    CHECKED_IN = "checked_in"
    IN_CABIN = "in_cabin"
    SEEN = "seen"
    NOSHOW = "noshow"
    CANCELLED = "cancelled"


class AgendaEntry(msgspec.Struct, frozen=True):
    appointment_id: str
    cabin_id: str
    town: str
    starts_at: datetime
    ends_at: datetime
    local_day: date
    local_time: str
    """"09:00", in the cabin's zone."""
    timezone: str
    status: AgendaStatus
    family_name: str
    given_names: str
    age_years: int
    sex: str
    reason: str
    channel: str
    late: bool
    late_min: int | None
    """Minutes past the slot's start: still awaited (booked), or when they came."""
    consultation_id: str | None
    taken_by_me: bool = False
    """Its consultation was taken by the doctor whose agenda this is (they may flag it)."""
    followup_open: bool = False
    """Its consultation is flagged "to follow up" (not cleared yet)."""


class AgendaDay(msgspec.Struct, frozen=True):
    day: date
    entries: list[AgendaEntry]


class AgendaCounts(msgspec.Struct, frozen=True):
    booked: int = 0
    checked_in: int = 0
    in_cabin: int = 0
    seen: int = 0
    noshow: int = 0
    cancelled: int = 0


class ShiftView(msgspec.Struct, frozen=True):
    cabin_id: str
    town: str
    starts_at: datetime
    ends_at: datetime


class Agenda(msgspec.Struct, frozen=True):
    today: date
    first_day: date
    last_day: date
    timezone: str
    days: list[AgendaDay]
    counts: AgendaCounts
    shifts: list[ShiftView]


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ValueError, KeyError, OSError):
        return ZoneInfo(DEFAULT_TIMEZONE)


def monday_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


class AgendaDesk:
    def __init__(self, storage: ConsoleStore, clock: Clock) -> None:
        self._storage = storage
        self._clock = clock

    async def _zones(self, cabin_ids: set[str]) -> dict[str, tuple[ZoneInfo, str]]:
        found: dict[str, tuple[ZoneInfo, str]] = {}
        for cabin_id in sorted(cabin_ids):
            calendar = await self._storage.calendar(cabin_id)
            if calendar is None:
                found[cabin_id] = (ZoneInfo(DEFAULT_TIMEZONE), cabin_id)
            else:
                found[cabin_id] = (_zone(calendar.timezone), calendar.town)
        return found

    async def home_zone(self, doctor: str) -> ZoneInfo:
        """The zone of the doctor's days: their first cabin's this week (Europe/Paris if none)."""
        now = self._clock.now()
        shifts = await self._storage.shifts(
            starts_before=now + timedelta(days=7), ends_after=now - timedelta(days=7), doctor=doctor
        )
        for shift in sorted(shifts, key=lambda s: (s.starts_at, s.cabin_id)):
            calendar = await self._storage.calendar(shift.cabin_id)
            if calendar is not None:
                return _zone(calendar.timezone)
        return ZoneInfo(DEFAULT_TIMEZONE)

    async def agenda(self, doctor: str, *, day: date | None, week: bool) -> Agenda:
        zone = await self.home_zone(doctor)
        now = self._clock.now()
        today = now.astimezone(zone).date()
        first = day or today
        if week:
            first = monday_of(first)
        last = first + timedelta(days=6 if week else 0)
        start = datetime.combine(first, time(0), zone)
        end = datetime.combine(last + timedelta(days=1), time(0), zone)
        shifts = await self._storage.shifts(starts_before=end, ends_after=start, doctor=doctor)
        zones = await self._zones({s.cabin_id for s in shifts})
        appointments = await self._appointments(shifts, start, end)
        entries = [await self._entry(a, zones, now, doctor) for a in appointments]
        days = []
        for offset in range((last - first).days + 1):
            current = first + timedelta(days=offset)
            days.append(
                AgendaDay(
                    current,
                    [
                        e
                        for e in entries
                        if e.local_day == current and e.status is not AgendaStatus.CANCELLED
                    ],
                )
            )
        counted = {status: 0 for status in AgendaStatus}
        for entry in entries:
            counted[entry.status] += 1
        return Agenda(
            today=today,
            first_day=first,
            last_day=last,
            timezone=zone.key,
            days=days,
            counts=AgendaCounts(**{status.value: n for status, n in counted.items()}),
            shifts=[
                ShiftView(s.cabin_id, zones[s.cabin_id][1], s.starts_at, s.ends_at)
                for s in sorted(shifts, key=lambda s: (s.starts_at, s.cabin_id))
            ],
        )

    async def _appointments(
        self, shifts: list[RotaShift], start: datetime, end: datetime
    ) -> list[Appointment]:
        """The appointments of the cabins during the doctor's shifts within [start, end)."""
        found: dict[str, Appointment] = {}
        for shift in shifts:
            for appointment in await self._storage.appointments(
                cabin_ids=[shift.cabin_id],
                starts_from=max(shift.starts_at, start),
                starts_before=min(shift.ends_at, end),
            ):
                found[appointment.appointment_id] = appointment
        return sorted(found.values(), key=lambda a: (a.starts_at, a.cabin_id))

    async def _status(self, appointment: Appointment) -> tuple[AgendaStatus, str | None]:
        """Where it stands, and who took its consultation."""
        record = None
        if appointment.consultation_id is not None:
            record = await self._storage.consultation(appointment.consultation_id)
        doctor = None if record is None else record.doctor
        match appointment.status:
            case AppointmentStatus.BOOKED:
                return AgendaStatus.BOOKED, doctor
            case AppointmentStatus.FULFILLED:
                return AgendaStatus.SEEN, doctor
            case AppointmentStatus.NOSHOW:
                return AgendaStatus.NOSHOW, doctor
            case AppointmentStatus.CANCELLED:
                return AgendaStatus.CANCELLED, doctor
        if record is not None and record.status is ConsultationStatus.TAKEN:
            return AgendaStatus.IN_CABIN, doctor
        if record is not None and record.status is ConsultationStatus.ENDED:
            return AgendaStatus.SEEN, doctor
        return AgendaStatus.CHECKED_IN, doctor

    async def _entry(
        self,
        appointment: Appointment,
        zones: dict[str, tuple[ZoneInfo, str]],
        now: datetime,
        doctor: str,
    ) -> AgendaEntry:
        zone, town = zones.get(appointment.cabin_id, (ZoneInfo(DEFAULT_TIMEZONE), ""))
        local = appointment.starts_at.astimezone(zone)
        status, taken_by = await self._status(appointment)
        late_by: timedelta | None = None
        if status is AgendaStatus.BOOKED and now > appointment.starts_at:
            late_by = now - appointment.starts_at
        elif appointment.arrived_at is not None and (
            appointment.arrived_at - appointment.starts_at > LATE_AFTER
        ):
            late_by = appointment.arrived_at - appointment.starts_at
        flagged = False
        if appointment.consultation_id is not None:
            flags = await self._storage.followups_of_consultation(appointment.consultation_id)
            flagged = any(f.is_open for f in flags)
        patient = appointment.patient
        return AgendaEntry(
            appointment_id=appointment.appointment_id,
            cabin_id=appointment.cabin_id,
            town=town,
            starts_at=appointment.starts_at,
            ends_at=appointment.ends_at,
            local_day=local.date(),
            local_time=local.strftime("%H:%M"),
            timezone=zone.key,
            status=status,
            family_name=patient.family_name,
            given_names=patient.given_names,
            age_years=patient_age(patient, local.date()),
            sex=patient.sex.value,
            reason=appointment.reason,
            channel=appointment.channel.value,
            late=late_by is not None,
            late_min=None if late_by is None else int(late_by.total_seconds() // 60),
            consultation_id=appointment.consultation_id,
            taken_by_me=taken_by == doctor,
            followup_open=flagged,
        )
