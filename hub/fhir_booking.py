"""Bookings as FHIR R4 (4.0.1): Schedule, Slot and Appointment, and the export Bundle an
operator takes away (``python -m hub export-bookings FILE``), so that a town's bookings outlive
any vendor.

- A cabin is a Location with a Schedule (``actor``: the Location); its bookable slots are Slots
  of that Schedule, ``free`` or ``busy`` (held by an appointment not cancelled), those kept for
  walk-ins with the appointment type ``WALKIN`` (HL7 v2 table 0276), the others ``ROUTINE``.
- A doctor is a Practitioner with a Schedule (``actor``: the Practitioner and the Locations of
  the cabins they cover); each rota shift is a ``free`` Slot of it: the doctor is available.
- An appointment is an Appointment with its status (booked, arrived, fulfilled, cancelled,
  noshow), its start and end in UTC, the patient, practitioner and location as participants,
  the slot it holds, and the reason of a cancellation. The six-digit code is never exported:
  it is a key to the cabin, not data.

Every entry's ``fullUrl`` is a name-based UUID (the same export of the same data is the same
file); identifiers use the systems of the consultation records (`wire.fhir_record`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import msgspec

from hub.booking import Appointment, AppointmentStatus
from hub.patients import match_key
from hub.schedule import (
    CabinCalendar,
    RotaShift,
    Slot,
    day_bounds,
    day_slots,
    free_slots,
    local_day,
    zone,
)
from hub.storage import Storage
from wire.fhir_record import (
    BCP47,
    CABIN_SYSTEM,
    CONSULTATION_SYSTEM,
    HUB_DOCTOR_SYSTEM,
    RPPS_SYSTEM,
)

Json = dict[str, Any]

APPOINTMENT_SYSTEM: Final = "urn:cabin:appointment"
SHIFT_SYSTEM: Final = "urn:cabin:shift"
SLOT_SYSTEM: Final = "urn:cabin:slot"
EXPORT_SYSTEM: Final = "urn:cabin:booking-export"
CHANNEL_SYSTEM: Final = "urn:cabin:booking-channel"
"""A tag of each Appointment: ``online`` (the public page) or ``phone`` (a coordinator)."""
APPOINTMENT_TYPE: Final = "http://terminology.hl7.org/CodeSystem/v2-0276"
_LOCATION_TYPE: Final = "http://terminology.hl7.org/CodeSystem/location-physical-type"
_NAMESPACE: Final = uuid.UUID("6f0a4a52-7c1e-4b8e-9d55-0b7f3f1c2a17")
_ROUTINE: Final = {"system": APPOINTMENT_TYPE, "code": "ROUTINE", "display": "Routine appointment"}
_WALKIN: Final = {"system": APPOINTMENT_TYPE, "code": "WALKIN", "display": "A walk-in visit"}
_FAR: Final = timedelta(days=3660)
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def full_url(kind: str, key: str) -> str:
    """The entry's ``urn:uuid:``, from what it is (so that references resolve in the file)."""
    return f"urn:uuid:{uuid.uuid5(_NAMESPACE, f'{kind}/{key}')}"


def instant(at: datetime) -> str:
    """An aware instant as FHIR's ``instant`` in UTC (``2026-03-23T08:00:00Z``)."""
    if at.tzinfo is None:
        raise ValueError("a naive datetime has no instant")
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _ref(url: str, display: str = "") -> Json:
    reference: Json = {"reference": url}
    if display:
        reference["display"] = display
    return reference


@dataclass(frozen=True, slots=True)
class DoctorName:
    """What the export says of a doctor of the rota."""

    username: str
    display_name: str = ""
    registration_number: str | None = None
    """The RPPS number."""


def location(calendar: CabinCalendar) -> Json:
    return {
        "resourceType": "Location",
        "identifier": [{"system": CABIN_SYSTEM, "value": calendar.cabin_id}],
        "status": "active",
        "name": f"Cabine de {calendar.town}",
        "mode": "instance",
        "physicalType": {"coding": [{"system": _LOCATION_TYPE, "code": "ro", "display": "Room"}]},
        "address": {"city": calendar.town, "country": "FR"},
    }


def practitioner(doctor: DoctorName) -> Json:
    identifiers = [{"system": HUB_DOCTOR_SYSTEM, "value": doctor.username}]
    if doctor.registration_number:
        identifiers.append({"system": RPPS_SYSTEM, "value": doctor.registration_number})
    resource: Json = {"resourceType": "Practitioner", "identifier": identifiers}
    if doctor.display_name:
        resource["name"] = [{"text": doctor.display_name}]
    return resource


def cabin_schedule(
    calendar: CabinCalendar, location_url: str, horizon: tuple[datetime, datetime]
) -> Json:
    """The cabin's Schedule: its slots, over `horizon`."""
    return {
        "resourceType": "Schedule",
        "identifier": [{"system": CABIN_SYSTEM, "value": calendar.cabin_id}],
        "active": True,
        "actor": [_ref(location_url, f"Cabine de {calendar.town}")],
        "planningHorizon": {"start": instant(horizon[0]), "end": instant(horizon[1])},
        "comment": (
            f"Créneaux de {calendar.slot_minutes} min, fuseau {calendar.timezone};"
            f" {calendar.walk_in_share:.0%} gardés pour les patients sans rendez-vous."
        ),
    }


def doctor_schedule(
    doctor: DoctorName,
    practitioner_url: str,
    location_urls: Iterable[str],
    horizon: tuple[datetime, datetime],
) -> Json:
    """The doctor's Schedule: their rota shifts (as Slots), at the cabins they cover."""
    return {
        "resourceType": "Schedule",
        "identifier": [{"system": HUB_DOCTOR_SYSTEM, "value": doctor.username}],
        "active": True,
        "actor": [
            _ref(practitioner_url, doctor.display_name),
            *(_ref(url) for url in sorted(set(location_urls))),
        ],
        "planningHorizon": {"start": instant(horizon[0]), "end": instant(horizon[1])},
        "comment": "Permanences du médecin (planning)",
    }


def slot(cabin_slot: Slot, schedule_url: str, *, busy: bool) -> Json:
    """A cabin's slot: ``busy`` when an appointment not cancelled holds it."""
    resource: Json = {
        "resourceType": "Slot",
        "identifier": [
            {
                "system": SLOT_SYSTEM,
                "value": f"{cabin_slot.cabin_id}/{instant(cabin_slot.starts_at)}",
            }
        ],
        "appointmentType": {"coding": [_WALKIN if cabin_slot.walk_in else _ROUTINE]},
        "schedule": _ref(schedule_url),
        "status": "busy" if busy else "free",
        "start": instant(cabin_slot.starts_at),
        "end": instant(cabin_slot.ends_at),
    }
    if cabin_slot.walk_in:
        resource["comment"] = "Gardé pour les patients sans rendez-vous"
    return resource


def shift_slot(shift: RotaShift, schedule_url: str, location_display: str) -> Json:
    """A rota shift, as a ``free`` Slot of the doctor's Schedule."""
    return {
        "resourceType": "Slot",
        "identifier": [{"system": SHIFT_SYSTEM, "value": shift.shift_id}],
        "schedule": _ref(schedule_url),
        "status": "free",
        "start": instant(shift.starts_at),
        "end": instant(shift.ends_at),
        "comment": f"Permanence : {location_display}",
    }


def patient(
    appointment: Appointment, *, phones: Iterable[str] = (), emails: Iterable[str] = ()
) -> Json:
    """The Patient an appointment is for (name, birth date, language, how to reach them)."""
    who = appointment.patient
    resource: Json = {
        "resourceType": "Patient",
        "name": [
            {
                "use": "official",
                "family": who.family_name,
                "given": who.given_names.split() or [who.given_names],
            }
        ],
        "gender": who.sex.value,
        "birthDate": who.birth_date.isoformat(),
        "communication": [
            {
                "language": {"coding": [{"system": BCP47, "code": appointment.language.value}]},
                "preferred": True,
            }
        ],
    }
    telecom = [{"system": "phone", "value": p, "use": "mobile"} for p in sorted(set(phones))]
    telecom += [{"system": "email", "value": e} for e in sorted(set(emails))]
    if telecom:
        resource["telecom"] = telecom
    return resource


def appointment_resource(
    appointment: Appointment,
    *,
    patient_url: str,
    location_url: str,
    practitioner_url: str | None,
    slot_url: str | None = None,
) -> Json:
    """The FHIR Appointment (the code is left out: it opens the cabin)."""
    a = appointment
    declined = a.status is AppointmentStatus.CANCELLED and a.cancelled_by == "patient"
    participants: list[Json] = [
        {
            "actor": _ref(patient_url),
            "required": "required",
            "status": "declined" if declined else "accepted",
        }
    ]
    if practitioner_url is not None:
        participants.append(
            {"actor": _ref(practitioner_url), "required": "required", "status": "accepted"}
        )
    participants.append({"actor": _ref(location_url), "required": "required", "status": "accepted"})
    resource: Json = {
        "resourceType": "Appointment",
        "meta": {"tag": [{"system": CHANNEL_SYSTEM, "code": a.channel.value}]},
        "identifier": [{"system": APPOINTMENT_SYSTEM, "value": a.appointment_id}],
        "status": a.status.value,
        "appointmentType": {"coding": [_ROUTINE]},
        "start": instant(a.starts_at),
        "end": instant(a.ends_at),
        "minutesDuration": max(1, round((a.ends_at - a.starts_at).total_seconds() / 60)),
        "created": instant(a.booked_at),
        "participant": participants,
    }
    if a.status is AppointmentStatus.CANCELLED:
        resource["cancelationReason"] = {"text": a.cancel_reason or "(sans motif)"}
    if a.reason:
        resource["comment"] = a.reason
    if slot_url is not None:
        resource["slot"] = [_ref(slot_url)]
    if a.consultation_id:
        resource["supportingInformation"] = [
            {
                "type": "Encounter",
                "identifier": {"system": CONSULTATION_SYSTEM, "value": a.consultation_id},
            }
        ]
    return resource


@dataclass(frozen=True, slots=True)
class BookingExport:
    """Everything the export holds: the cabins, their slots over the horizon, the rota, every
    appointment, and the names of the doctors."""

    generated_at: datetime
    horizon: tuple[datetime, datetime]
    calendars: tuple[CabinCalendar, ...]
    slots: tuple[Slot, ...]
    shifts: tuple[RotaShift, ...]
    appointments: tuple[Appointment, ...]
    doctors: Mapping[str, DoctorName] = field(default_factory=dict)


def build_export_bundle(export: BookingExport) -> bytes:
    """The export as a FHIR R4 Bundle of type ``collection`` (JSON, keys sorted)."""
    entries: list[Json] = []

    def add(url: str, resource: Json) -> str:
        entries.append({"fullUrl": url, "resource": resource})
        return url

    locations: dict[str, str] = {}
    schedules: dict[str, str] = {}
    towns: dict[str, str] = {}
    for calendar in export.calendars:
        cabin = calendar.cabin_id
        towns[cabin] = f"Cabine de {calendar.town}"
        locations[cabin] = add(full_url("location", cabin), location(calendar))
    for calendar in export.calendars:
        cabin = calendar.cabin_id
        schedules[cabin] = add(
            full_url("schedule/cabin", cabin),
            cabin_schedule(calendar, locations[cabin], export.horizon),
        )
    doctors = sorted(
        {s.doctor for s in export.shifts} | {a.doctor for a in export.appointments if a.doctor}
    )
    practitioners: dict[str, str] = {}
    for username in doctors:
        name = export.doctors.get(username, DoctorName(username))
        practitioners[username] = add(full_url("practitioner", username), practitioner(name))
    for username in doctors:
        name = export.doctors.get(username, DoctorName(username))
        own = [s for s in export.shifts if s.doctor == username]
        covered = [locations[s.cabin_id] for s in own if s.cabin_id in locations]
        url = add(
            full_url("schedule/doctor", username),
            doctor_schedule(name, practitioners[username], covered, export.horizon),
        )
        for shift in own:
            add(
                full_url("shift", shift.shift_id),
                shift_slot(shift, url, towns.get(shift.cabin_id, shift.cabin_id)),
            )
    held = {
        (a.cabin_id, a.starts_at)
        for a in export.appointments
        if a.status is not AppointmentStatus.CANCELLED
    }
    bookable = free_slots([replace(s, walk_in=False) for s in export.slots], export.appointments)
    free_starts = {(s.cabin_id, s.starts_at) for s in bookable}
    slot_urls: dict[tuple[str, datetime], str] = {}
    for cabin_slot in export.slots:
        if cabin_slot.cabin_id not in schedules:
            continue
        key = (cabin_slot.cabin_id, cabin_slot.starts_at)
        slot_urls[key] = add(
            full_url("slot", f"{cabin_slot.cabin_id}/{instant(cabin_slot.starts_at)}"),
            slot(cabin_slot, schedules[cabin_slot.cabin_id], busy=key not in free_starts),
        )
    patients: dict[str, list[Appointment]] = {}
    for a in export.appointments:
        patients.setdefault(match_key(a.patient), []).append(a)
    patient_urls: dict[str, str] = {}
    for person, theirs in patients.items():
        latest = max(theirs, key=lambda a: a.booked_at)
        patient_urls[person] = add(
            full_url("patient", person),
            patient(
                latest,
                phones=(a.phone for a in theirs if a.phone),
                emails=(a.email for a in theirs if a.email),
            ),
        )
    for a in export.appointments:
        location_url = locations.get(a.cabin_id)
        if location_url is None:  # a cabin no longer on the calendars: keep the appointment
            location_url = add(
                full_url("location", a.cabin_id),
                location(CabinCalendar(a.cabin_id, a.cabin_id)),
            )
            locations[a.cabin_id] = location_url
        slot_key = (a.cabin_id, a.starts_at)
        add(
            full_url("appointment", a.appointment_id),
            appointment_resource(
                a,
                patient_url=patient_urls[match_key(a.patient)],
                location_url=location_url,
                practitioner_url=practitioners.get(a.doctor) if a.doctor else None,
                slot_url=slot_urls.get(slot_key) if slot_key in held else None,
            ),
        )
    bundle: Json = {
        "resourceType": "Bundle",
        "type": "collection",
        "identifier": {"system": EXPORT_SYSTEM, "value": instant(export.generated_at)},
        "timestamp": instant(export.generated_at),
        "entry": entries,
    }
    return msgspec.json.encode(bundle, order="sorted")


async def collect_export(
    storage: Storage, *, now: datetime, days_ahead: int | None = None
) -> BookingExport:
    """Read what the export holds: every appointment and shift ever stored, and each cabin's
    slots from today for its `bookable_days` (or `days_ahead`)."""
    calendars = tuple(sorted(await storage.calendars(), key=lambda c: c.cabin_id))
    shifts = await storage.shifts(starts_before=now + _FAR, ends_after=_EPOCH)
    appointments = await storage.appointments(
        cabin_ids=None, starts_from=_EPOCH, starts_before=now + _FAR
    )
    slots: list[Slot] = []
    horizon_end = now
    for calendar in calendars:
        tz = zone(calendar.timezone)
        today = local_day(now, tz)
        days = days_ahead if days_ahead is not None else calendar.bookable_days
        last_day = today + timedelta(days=days)
        horizon_end = max(horizon_end, day_bounds(last_day, tz)[0])
        hours = await storage.opening_hours(calendar.cabin_id)
        closures = await storage.closures(calendar.cabin_id, first_day=today, last_day=last_day)
        own = [s for s in shifts if s.cabin_id == calendar.cabin_id]
        for offset in range(days):
            slots += day_slots(calendar, hours, closures, own, today + timedelta(days=offset))
    doctors = {
        d.username: DoctorName(d.username, d.display_name, d.registration_number)
        for d in await storage.doctors()
    }
    return BookingExport(
        generated_at=now,
        horizon=(now, horizon_end),
        calendars=calendars,
        slots=tuple(slots),
        shifts=tuple(shifts),
        appointments=tuple(appointments),
        doctors=doctors,
    )
