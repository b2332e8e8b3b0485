"""The coordinator's page (``/coordination``) and its API (``/api/coordination/...``).

For agents with the coordinator role only (``AgentRecord.coordinator``): anyone else signed in
gets 403, nobody signed in 401. A coordinator sees and changes the cabins they look after
(``cabins``, or every cabin with ``all_cabins``): their agendas side by side, a patient's
bookings and visits, booking, moving and cancelling for a caller, the rota, opening hours and
closures, and the messages that could not be delivered.

Every change goes through `hub.bookings.BookingDesk`, which audits it; the reads of a patient's
data (a search) are audited here. Bodies are msgspec Structs (unknown fields refused); a body
that does not decode is a 400, never a 500. State-changing requests carry the session's CSRF
token (`hub.web_security.state_change_guard`). Patient searches are POSTs, so that no name or
birth date ever lands in a URL or an access log; log lines carry ids only.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Literal, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec
from aiohttp import web

import wire
from hub.auth import client_address
from hub.booking import (
    ACTIVE,
    Appointment,
    AppointmentStatus,
    BookingChannel,
    NotificationState,
    SlotTaken,
)
from hub.bookings import BookingDesk, BookingRefused
from hub.holidays import french_public_holidays
from hub.http_api import _console_file, _file_response
from hub.patients import match_key
from hub.schedule import CabinCalendar, Closure, OpeningHours, RotaShift
from hub.services import SERVICES
from hub.storage import AccountRole, ActorKind, AgentRecord
from hub.web_security import json_error

log = logging.getLogger(__name__)
_T = TypeVar("_T")

COORDINATOR_DIR = Path(__file__).parent / "coordinator"
DESK = web.AppKey("hub_booking_desk", BookingDesk)
MAX_DAYS = 14
"""The most days one agenda request covers (the page asks for one day, or a week)."""
VISITS_SHOWN = 20
PATIENT_REQUIRED = "only coordinators may open this page"

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Id = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Reason = Annotated[str, msgspec.Meta(min_length=2, max_length=500)]
Phone = Annotated[str, msgspec.Meta(max_length=32, pattern=r"^(\+?[0-9 .()-]{6,30})?$")]
Email = Annotated[str, msgspec.Meta(max_length=254, pattern=r"^([^@\s]+@[^@\s]+\.[^@\s]+)?$")]
ClockTime = Annotated[str, msgspec.Meta(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$")]


# --- bodies ---------------------------------------------------------------------------------


class BookBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    cabin_id: Id
    starts_at: datetime
    family_name: Name
    given_names: Name
    birth_date: date
    phone: Phone = ""
    email: Email = ""
    language: wire.Language = wire.Language.FR
    reason: Annotated[str, msgspec.Meta(max_length=500)] = ""


class MoveBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    starts_at: datetime


class CancelBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    reason: Reason


class SearchBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    family_name: Name
    given_names: Name
    birth_date: date


class ShiftBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    doctor: Id
    cabin_ids: Annotated[list[Id], msgspec.Meta(min_length=1, max_length=50)]
    days: Annotated[list[date], msgspec.Meta(min_length=1, max_length=31)]
    starts: ClockTime
    ends: ClockTime


class HoursSpan(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    weekday: Annotated[int, msgspec.Meta(ge=0, le=6)]
    opens: ClockTime
    closes: ClockTime


class HoursBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    hours: Annotated[list[HoursSpan], msgspec.Meta(max_length=28)]


class ClosureBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    cabin_ids: Annotated[list[Id], msgspec.Meta(min_length=1, max_length=50)]
    first_day: date
    last_day: date
    reason: Reason


class HolidaysBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    year: Annotated[int, msgspec.Meta(ge=2000, le=2100)]


# --- answers --------------------------------------------------------------------------------


class HoursView(msgspec.Struct, frozen=True):
    weekday: int
    opens: str
    closes: str


class CabinView(msgspec.Struct, frozen=True):
    cabin_id: str
    name: str
    town: str
    timezone: str
    slot_minutes: int
    opening_hours: list[HoursView]


class AppointmentView(msgspec.Struct, frozen=True):
    appointment_id: str
    cabin_id: str
    cabin_name: str
    town: str
    timezone: str
    starts_at: datetime
    ends_at: datetime
    local_date: str
    local_time: str
    status: AppointmentStatus
    family_name: str
    given_names: str
    birth_date: date
    phone: str
    email: str
    language: wire.Language
    channel: BookingChannel
    booked_by: str
    doctor: str | None
    code: str
    """The coordinator reads it out to the caller (and prints it): only while it is active."""
    cancel_reason: str = ""
    cancelled_by: str = ""


class SlotView(msgspec.Struct, frozen=True):
    starts_at: datetime
    ends_at: datetime
    local_time: str
    state: Literal["free", "booked", "walk_in", "past"]
    doctors: list[str]
    appointment: AppointmentView | None = None


class CabinDay(msgspec.Struct, frozen=True):
    cabin_id: str
    slots: list[SlotView]
    cancelled: list[AppointmentView]
    closed: str | None = None
    """The closure's reason when the cabin is closed that day."""


class DayCount(msgspec.Struct, frozen=True):
    day: date
    booked: int
    free: int


class AgendaView(msgspec.Struct, frozen=True):
    day: date
    cabins: list[CabinDay]
    week: list[DayCount]


class CabinsView(msgspec.Struct, frozen=True):
    cabins: list[CabinView]
    doctors: list[DoctorChoice]


class DoctorChoice(msgspec.Struct, frozen=True):
    username: str
    display_name: str


class VisitView(msgspec.Struct, frozen=True):
    cabin_id: str
    cabin_name: str
    at: datetime
    doctor: str | None
    status: str


class PatientView(msgspec.Struct, frozen=True):
    appointments: list[AppointmentView]
    visits: list[VisitView]


class ShiftView(msgspec.Struct, frozen=True):
    shift_id: str
    doctor: str
    doctor_name: str
    cabin_id: str
    starts_at: datetime
    ends_at: datetime
    local_day: str
    local_starts: str
    local_ends: str
    created_by: str


class ClosureView(msgspec.Struct, frozen=True):
    closure_id: str
    cabin_id: str
    first_day: date
    last_day: date
    reason: str


class RotaView(msgspec.Struct, frozen=True):
    week: date
    shifts: list[ShiftView]
    closures: list[ClosureView]


class FailedView(msgspec.Struct, frozen=True):
    notification_id: str
    appointment_id: str
    channel: str
    kind: str
    error: str
    attempts: int
    appointment: AppointmentView | None


class Refusal(msgspec.Struct, frozen=True):
    """Why a change was refused, in words for the coordinator (each `conflicts` item one)."""

    error: str
    reason: str
    conflicts: list[str] = []


# --- who may --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Coordinator:
    agent: AgentRecord
    cabins: dict[str, CabinCalendar]
    """The calendars of the cabins they look after, by id."""
    names: dict[str, str]
    """Every cabin's name, by id."""
    address: str

    def zone(self, cabin_id: str) -> ZoneInfo:
        return _zone(self.cabins[cabin_id].timezone)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("Europe/Paris")


async def _coordinator(request: web.Request) -> Coordinator | web.Response:
    services = request.app[SERVICES]
    session = await services.sessions.of_request(request)
    if session is None:
        return json_error(401, "not signed in")
    agent = None
    if session.role is AccountRole.AGENT:
        agent = await services.storage.agent(session.username)
    if agent is None or not agent.coordinator:
        log.warning(
            "hub.coordination_refused %s=%s path=%s",
            session.role.value,
            session.username,
            request.path,
        )
        return json_error(403, PATIENT_REQUIRED, reason="not_coordinator")
    calendars = {
        calendar.cabin_id: calendar
        for calendar in await services.storage.calendars()
        if agent.looks_after(calendar.cabin_id)
    }
    names = {cabin.cabin_id: cabin.name for cabin in await services.storage.cabins()}
    return Coordinator(agent, calendars, names, client_address(request))


def _json(value: object, status: int = 200) -> web.Response:
    return web.Response(
        body=msgspec.json.encode(value), status=status, content_type="application/json"
    )


def _refused(status: int, error: str, reason: str, conflicts: list[str] | None = None) -> web.Response:
    return _json(Refusal(error, reason, conflicts or []), status)


async def _body(request: web.Request, kind: type[_T]) -> _T | web.Response:
    if request.content_type != "application/json":
        return json_error(415, "send JSON (Content-Type: application/json)")
    try:
        return msgspec.json.decode(await request.read(), type=kind)
    except msgspec.ValidationError as exc:
        return json_error(400, f"invalid request: {exc}", reason="invalid")
    except msgspec.DecodeError:
        return json_error(400, "the body is not JSON", reason="invalid")


def _day_query(request: web.Request, name: str, default: date) -> date | None:
    given = request.query.get(name)
    if given is None:
        return default
    try:
        return date.fromisoformat(given)
    except ValueError:
        return None


def _clock_time(text: str) -> time:
    return time(0, 0) if text == "24:00" else time.fromisoformat(text)


def _at(day: date, clock: str, zone: ZoneInfo) -> datetime:
    """`day` at wall-clock `clock` ("24:00": the next midnight) in `zone`, as UTC."""
    if clock == "24:00":
        day, clock = day + timedelta(days=1), "00:00"
    return datetime.combine(day, time.fromisoformat(clock), zone).astimezone(UTC)


# --- views ----------------------------------------------------------------------------------


def _appointment_view(who: Coordinator, appointment: Appointment) -> AppointmentView:
    calendar = who.cabins.get(appointment.cabin_id)
    zone = _zone(calendar.timezone if calendar else "Europe/Paris")
    local = appointment.starts_at.astimezone(zone)
    return AppointmentView(
        appointment_id=appointment.appointment_id,
        cabin_id=appointment.cabin_id,
        cabin_name=who.names.get(appointment.cabin_id, appointment.cabin_id),
        town=calendar.town if calendar else "",
        timezone=zone.key,
        starts_at=appointment.starts_at,
        ends_at=appointment.ends_at,
        local_date=local.date().isoformat(),
        local_time=local.strftime("%H:%M"),
        status=appointment.status,
        family_name=appointment.patient.family_name,
        given_names=appointment.patient.given_names,
        birth_date=appointment.patient.birth_date,
        phone=appointment.phone,
        email=appointment.email,
        language=appointment.language,
        channel=appointment.channel,
        booked_by=appointment.booked_by,
        doctor=appointment.doctor,
        code=appointment.code if appointment.status in ACTIVE else "",
        cancel_reason=appointment.cancel_reason,
        cancelled_by=appointment.cancelled_by,
    )


def _cabin_view(who: Coordinator, calendar: CabinCalendar, hours: list[OpeningHours]) -> CabinView:
    return CabinView(
        cabin_id=calendar.cabin_id,
        name=who.names.get(calendar.cabin_id, calendar.cabin_id),
        town=calendar.town,
        timezone=calendar.timezone,
        slot_minutes=calendar.slot_minutes,
        opening_hours=[
            HoursView(span.weekday, span.opens.strftime("%H:%M"), span.closes.strftime("%H:%M"))
            for span in sorted(hours, key=lambda span: (span.weekday, span.opens))
        ],
    )


# --- handlers -------------------------------------------------------------------------------


async def cabins(request: web.Request) -> web.StreamResponse:
    who = await _coordinator(request)
    if isinstance(who, web.Response):
        return who
    storage = request.app[SERVICES].storage
    views = [
        _cabin_view(who, calendar, await storage.opening_hours(cabin_id))
        for cabin_id, calendar in sorted(who.cabins.items())
    ]
    doctors = [
        DoctorChoice(doctor.username, doctor.display_name)
        for doctor in await storage.doctors()
    ]
    return _json(CabinsView(views, doctors))


async def agenda(request: web.Request) -> web.StreamResponse:
    """``?day=YYYY-MM-DD``: that day's slots of every cabin side by side, and the counts of
    its week (Monday to Sunday)."""
    who = await _coordinator(request)
    if isinstance(who, web.Response):
        return who
    services = request.app[SERVICES]
    desk = request.app[DESK]
    today = services.clock.now().astimezone(_zone("Europe/Paris")).date()
    day = _day_query(request, "day", today)
    if day is None:
        return json_error(400, "day: YYYY-MM-DD", reason="invalid")
    cabin_ids = sorted(who.cabins)
    monday = day - timedelta(days=day.weekday())
    week = await desk.agenda(cabin_ids, monday, 7)
    now = services.clock.now()
    counts: dict[date, list[int]] = {monday + timedelta(days=n): [0, 0] for n in range(7)}
    columns: dict[str, CabinDay] = {}
    for entry in week:
        zone = who.zone(entry.cabin_id)
        slots: list[SlotView] = []
        for agenda_slot in entry.slots:
            slot = agenda_slot.slot
            booked = agenda_slot.appointment
            count = counts.setdefault(entry.day, [0, 0])
            state: Literal["free", "booked", "walk_in", "past"]
            if booked is not None:
                state = "booked"
                count[0] += 1
            elif slot.walk_in:
                state = "walk_in"
            elif slot.starts_at <= now:
                state = "past"
            else:
                state = "free"
                count[1] += 1
            slots.append(
                SlotView(
                    starts_at=slot.starts_at,
                    ends_at=slot.ends_at,
                    local_time=slot.starts_at.astimezone(zone).strftime("%H:%M"),
                    state=state,
                    doctors=list(slot.doctors),
                    appointment=None if booked is None else _appointment_view(who, booked),
                )
            )
        if entry.day == day:
            columns[entry.cabin_id] = CabinDay(
                cabin_id=entry.cabin_id,
                slots=slots,
                cancelled=[_appointment_view(who, a) for a in entry.cancelled],
                closed=entry.closed,
            )
    view = AgendaView(
        day=day,
        cabins=[columns.get(cabin_id, CabinDay(cabin_id, [], [])) for cabin_id in cabin_ids],
        week=[DayCount(d, c[0], c[1]) for d, c in sorted(counts.items())],
    )
    return _json(view)


async def book(request: web.Request) -> web.StreamResponse:
    who = await _coordinator(request)
    if isinstance(who, web.Response):
        return who
    body = await _body(request, BookBody)
    if isinstance(body, web.Response):
        return body
    if body.cabin_id not in who.cabins:
        return json_error(403, "not one of your cabins", reason="not_your_cabin")
    patient = wire.PatientSummary(
        family_name=body.family_name.strip(),
        given_names=body.given_names.strip(),
        birth_date=body.birth_date,
    )
    try:
        appointment = await request.app[DESK].book(
            body.cabin_id,
            body.starts_at.astimezone(UTC),
            patient,
            phone=body.phone.strip(),
            email=body.email.strip(),
            language=body.language,
            reason=body.reason.strip(),
            channel=BookingChannel.PHONE,
            booked_by=who.agent.username,
            client_address=who.address,
        )
    except SlotTaken:
        return _refused(409, "this slot was just taken: pick another one", "slot_taken")
    except BookingRefused as exc:
        return _refused(409, str(exc), exc.reason)
    log.info("hub.coordination_booked appointment=%s", appointment.appointment_id)
    return _json(_appointment_view(who, appointment), 201)


async def _own_appointment(
    request: web.Request, who: Coordinator
) -> Appointment | web.Response:
    appointment_id = request.match_info["appointment_id"]
    appointment = None
    if len(appointment_id) <= 64:
        appointment = await request.app[SERVICES].storage.appointment(appointment_id)
    if appointment is None or appointment.cabin_id not in who.cabins:
        return json_error(404, "no such appointment in your cabins", reason="not_found")
    return appointment


async def move(request: web.Request) -> web.StreamResponse:
    who = await _coordinator(request)
    if isinstance(who, web.Response):
        return who
    appointment = await _own_appointment(request, who)
    if isinstance(appointment, web.Response):
        return appointment
    body = await _body(request, MoveBody)
    if isinstance(body, web.Response):
        return body
    try:
        moved = await request.app[DESK].move(
            appointment.appointment_id,
            body.starts_at.astimezone(UTC),
            by=who.agent.username,
            client_address=who.address,
        )
    except SlotTaken:
        return _refused(409, "this slot was just taken: pick another one", "slot_taken")
    except BookingRefused as exc:
        return _refused(409, str(exc), exc.reason)
    return _json(_appointment_view(who, moved))


async def cancel(request: web.Request) -> web.StreamResponse:
    who = await _coordinator(request)
    if isinstance(who, web.Response):
        return who
    appointment = await _own_appointment(request, who)
    if isinstance(appointment, web.Response):
        return appointment
    body = await _body(request, CancelBody)
    if isinstance(body, web.Response):
        return body
    try:
        cancelled = await request.app[DESK].cancel(
            appointment.appointment_id,
            by=who.agent.username,
            reason=body.reason.strip(),
            client_address=who.address,
        )
    except BookingRefused as exc:
        return _refused(409, str(exc), exc.reason)
    return _json(_appointment_view(who, cancelled))


async def search_patient(request: web.Request) -> web.StreamResponse:
    """A patient's bookings in the coordinator's cabins, and their visits there; audited."""
    who = await _coordinator(request)
    if isinstance(who, web.Response):
        return who
    body = await _body(request, SearchBody)
    if isinstance(body, web.Response):
        return body
    services = request.app[SERVICES]
    patient = wire.PatientSummary(
        family_name=body.family_name.strip(),
        given_names=body.given_names.strip(),
        birth_date=body.birth_date,
    )
    found = await services.storage.appointments_of_patient(patient)
    appointments = [_appointment_view(who, a) for a in found if a.cabin_id in who.cabins]
    earlier = await services.storage.earlier_consultations(
        match_key(patient), before=services.clock.now(), exclude="", limit=VISITS_SHOWN
    )
    visits = [
        VisitView(
            cabin_id=record.cabin_id,
            cabin_name=who.names.get(record.cabin_id, record.cabin_id),
            at=record.joined_at,
            doctor=record.doctor,
            status=record.status.value,
        )
        for record in earlier
        if record.cabin_id in who.cabins
    ]
    await services.audit.record(
        "coordination.patient_search",
        actor_kind=ActorKind.AGENT,
        actor_id=who.agent.username,
        client_address=who.address,
    )
    return _json(PatientView(appointments, visits))


async def rota(request: web.Request) -> web.StreamResponse:
    """``?week=YYYY-MM-DD`` (any day of it): the shifts and closures of that week."""
    who = await _coordinator(request)
    if isinstance(who, web.Response):
        return who
    services = request.app[SERVICES]
    today = services.clock.now().astimezone(_zone("Europe/Paris")).date()
    day = _day_query(request, "week", today)
    if day is None:
        return json_error(400, "week: YYYY-MM-DD", reason="invalid")
    monday = day - timedelta(days=day.weekday())
    names = {doctor.username: doctor.display_name for doctor in await services.storage.doctors()}
    shifts: list[ShiftView] = []
    closures: list[ClosureView] = []
    for cabin_id in sorted(who.cabins):
        zone = who.zone(cabin_id)
        found = await services.storage.shifts(
            starts_before=_at(monday + timedelta(days=7), "00:00", zone),
            ends_after=_at(monday, "00:00", zone),
            cabin_id=cabin_id,
        )
        shifts.extend(_shift_view(shift, zone, names) for shift in found)
        closures.extend(
            ClosureView(c.closure_id, c.cabin_id, c.first_day, c.last_day, c.reason)
            for c in await services.storage.closures(
                cabin_id, first_day=monday, last_day=monday + timedelta(days=6)
            )
        )
    shifts.sort(key=lambda s: (s.starts_at, s.cabin_id, s.doctor))
    return _json(RotaView(monday, shifts, closures))


def _shift_view(shift: RotaShift, zone: ZoneInfo, names: dict[str, str]) -> ShiftView:
    starts = shift.starts_at.astimezone(zone)
    ends = shift.ends_at.astimezone(zone)
    return ShiftView(
        shift_id=shift.shift_id,
        doctor=shift.doctor,
        doctor_name=names.get(shift.doctor, shift.doctor),
        cabin_id=shift.cabin_id,
        starts_at=shift.starts_at,
        ends_at=shift.ends_at,
        local_day=starts.date().isoformat(),
        local_starts=starts.strftime("%H:%M"),
        local_ends="24:00" if ends.date() > starts.date() and ends.time() == time(0) else ends.strftime("%H:%M"),
        created_by=shift.created_by,
    )


async def add_shifts(request: web.Request) -> web.StreamResponse:
    """One shift per cabin and day, all or none: a conflict refuses them all, explained."""
    who = await _coordinator(request)
    if isinstance(who, web.Response):
        return who
    body = await _body(request, ShiftBody)
    if isinstance(body, web.Response):
        return body
    services = request.app[SERVICES]
    if await services.storage.doctor(body.doctor) is None:
        return _refused(400, "no doctor has this username", "unknown_doctor")
    strange = [cabin_id for cabin_id in body.cabin_ids if cabin_id not in who.cabins]
    if strange:
        return json_error(403, "not one of your cabins", reason="not_your_cabin")
    if _clock_time(body.ends) <= _clock_time(body.starts) and body.ends != "24:00":
        return _refused(400, "a shift ends after it starts", "ends_before_start")
    shifts = [
        (cabin_id, day, _at(day, body.starts, who.zone(cabin_id)), _at(day, body.ends, who.zone(cabin_id)))
        for cabin_id in dict.fromkeys(body.cabin_ids)
        for day in sorted(set(body.days))
    ]
    result = await request.app[DESK].add_shifts(
        [(body.doctor, cabin_id, starts, ends) for cabin_id, _day, starts, ends in shifts],
        by=who.agent.username,
        client_address=who.address,
    )
    if result.conflicts:
        return _refused(
            409,
            "the rota was not changed: this conflicts with it",
            "conflict",
            [conflict.explanation for conflict in result.conflicts],
        )
    return _json([shift.shift_id for shift in result.shifts], 201)


async def remove_shift(request: web.Request) -> web.StreamResponse:
    who = await _coordinator(request)
    if isinstance(who, web.Response):
        return who
    shift_id = request.match_info["shift_id"]
    services = request.app[SERVICES]
    found = await services.storage.shifts(
        starts_before=datetime.max.replace(tzinfo=UTC),
        ends_after=datetime.min.replace(tzinfo=UTC),
    )
    shift = next((s for s in found if s.shift_id == shift_id and s.cabin_id in who.cabins), None)
    if shift is None:
        return json_error(404, "no such shift in your cabins", reason="not_found")
    conflicts = await request.app[DESK].remove_shift(
        shift_id, by=who.agent.username, client_address=who.address
    )
    if conflicts:
        return _refused(
            409,
            "the shift was kept: booked patients would be left without a doctor",
            "conflict",
            [conflict.explanation for conflict in conflicts],
        )
    return web.Response(status=204)


async def set_hours(request: web.Request) -> web.StreamResponse:
    who = await _coordinator(request)
    if isinstance(who, web.Response):
        return who
    cabin_id = request.match_info["cabin_id"]
    if cabin_id not in who.cabins:
        return json_error(403, "not one of your cabins", reason="not_your_cabin")
    body = await _body(request, HoursBody)
    if isinstance(body, web.Response):
        return body
    hours: list[OpeningHours] = []
    for span in body.hours:
        if span.closes != "24:00" and _clock_time(span.closes) <= _clock_time(span.opens):
            return _refused(400, "a cabin closes after it opens", "closes_before_opens")
        hours.append(
            OpeningHours(
                cabin_id,
                span.weekday,
                _clock_time(span.opens),
                time(23, 59) if span.closes == "24:00" else _clock_time(span.closes),
            )
        )
    conflicts = await request.app[DESK].set_opening_hours(
        cabin_id, hours, by=who.agent.username, client_address=who.address
    )
    if conflicts:
        return _refused(
            409,
            "the opening hours were kept: booked patients would fall outside them",
            "conflict",
            [conflict.explanation for conflict in conflicts],
        )
    return web.Response(status=204)


async def add_closure(request: web.Request) -> web.StreamResponse:
    who = await _coordinator(request)
    if isinstance(who, web.Response):
        return who
    body = await _body(request, ClosureBody)
    if isinstance(body, web.Response):
        return body
    if any(cabin_id not in who.cabins for cabin_id in body.cabin_ids):
        return json_error(403, "not one of your cabins", reason="not_your_cabin")
    if body.last_day < body.first_day or (body.last_day - body.first_day).days > 366:
        return _refused(400, "the last day comes after the first, within a year", "bad_days")
    return await _close(request, who, [
        (cabin_id, body.first_day, body.last_day, body.reason.strip())
        for cabin_id in dict.fromkeys(body.cabin_ids)
    ])


async def close_holidays(request: web.Request) -> web.StreamResponse:
    """Close every cabin of the coordinator on the French public holidays of a year."""
    who = await _coordinator(request)
    if isinstance(who, web.Response):
        return who
    body = await _body(request, HolidaysBody)
    if isinstance(body, web.Response):
        return body
    holidays = french_public_holidays(body.year)
    return await _close(request, who, [
        (cabin_id, day, day, name)
        for cabin_id in sorted(who.cabins)
        for day, name in sorted(holidays.items())
    ])


async def _close(
    request: web.Request, who: Coordinator, closures: list[tuple[str, date, date, str]]
) -> web.StreamResponse:
    desk = request.app[DESK]
    explanations: list[str] = []
    added = 0
    for cabin_id, first_day, last_day, reason in closures:
        conflicts = await desk.add_closure(
            cabin_id,
            first_day,
            last_day,
            reason,
            by=who.agent.username,
            client_address=who.address,
        )
        if conflicts:
            explanations.extend(conflict.explanation for conflict in conflicts)
        else:
            added += 1
    if explanations:
        return _refused(
            409,
            f"{added} closure(s) added; the others were refused: booked patients on those days",
            "conflict",
            explanations,
        )
    return _json({"added": added}, 201)


async def remove_closure(request: web.Request) -> web.StreamResponse:
    who = await _coordinator(request)
    if isinstance(who, web.Response):
        return who
    closure_id = request.match_info["closure_id"]
    if not await request.app[DESK].remove_closure(
        closure_id, cabins=frozenset(who.cabins), by=who.agent.username, client_address=who.address
    ):
        return json_error(404, "no such closure in your cabins", reason="not_found")
    return web.Response(status=204)


async def failed_notifications(request: web.Request) -> web.StreamResponse:
    who = await _coordinator(request)
    if isinstance(who, web.Response):
        return who
    storage = request.app[SERVICES].storage
    views: list[FailedView] = []
    for notification in await storage.notifications(
        states=frozenset({NotificationState.FAILED}), limit=200
    ):
        appointment = await storage.appointment(notification.appointment_id)
        if appointment is None or appointment.cabin_id not in who.cabins:
            continue
        views.append(
            FailedView(
                notification_id=notification.notification_id,
                appointment_id=notification.appointment_id,
                channel=notification.channel.value,
                kind=notification.kind.value,
                error=notification.last_error,
                attempts=notification.attempts,
                appointment=_appointment_view(who, appointment),
            )
        )
    return _json(views)


# --- the page's files -----------------------------------------------------------------------


async def page_index(_request: web.Request) -> web.StreamResponse:
    path = _console_file(COORDINATOR_DIR, "index.html")
    if path is None:
        return web.Response(status=404, text="the coordinator's page is not installed")
    return _file_response(path)


async def page_file(request: web.Request) -> web.StreamResponse:
    path = _console_file(COORDINATOR_DIR, request.match_info["path"])
    if path is None:
        return web.Response(status=404, text="not found")
    return _file_response(path)


def add_routes(app: web.Application, desk: BookingDesk) -> None:
    """The page and its API; before `hub.http_api.add_routes` (its ``/api/*`` catch-all)."""
    app[DESK] = desk
    app.router.add_get("/coordination", page_index)
    app.router.add_get("/coordination/", page_index)
    app.router.add_get("/coordination/{path:.+}", page_file)
    api = "/api/coordination"
    app.router.add_get(f"{api}/cabins", cabins)
    app.router.add_get(f"{api}/agenda", agenda)
    app.router.add_post(f"{api}/appointments", book)
    app.router.add_post(f"{api}/appointments/{{appointment_id}}/move", move)
    app.router.add_post(f"{api}/appointments/{{appointment_id}}/cancel", cancel)
    app.router.add_post(f"{api}/patients/search", search_patient)
    app.router.add_get(f"{api}/rota", rota)
    app.router.add_post(f"{api}/shifts", add_shifts)
    app.router.add_post(f"{api}/shifts/{{shift_id}}/remove", remove_shift)
    app.router.add_post(f"{api}/cabins/{{cabin_id}}/opening-hours", set_hours)
    app.router.add_post(f"{api}/closures", add_closure)
    app.router.add_post(f"{api}/closures/holidays", close_holidays)
    app.router.add_post(f"{api}/closures/{{closure_id}}/remove", remove_closure)
    app.router.add_get(f"{api}/notifications/failed", failed_notifications)

