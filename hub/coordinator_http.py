"""The coordinator's page (``/coordination``) and its API (``/api/coordination/...``).

For agents with the coordinator role only (``AgentRecord.coordinator``): anyone else signed in
gets 403, nobody signed in 401. A coordinator sees and changes the cabins they look after
(``cabins``, or every cabin with ``all_cabins``): their agendas side by side, a patient's
bookings and visits, booking, moving and cancelling for a caller, the rota, opening hours and
closures, and the messages that could not be delivered.

Every change goes through `hub.bookings.BookingDesk`, which checks and audits it; a patient
search is audited here. Bodies are msgspec Structs (unknown fields refused): a body that does
not decode is a 400, never a 500. State-changing requests carry the session's CSRF token and
the hub's Origin (`hub.web_security.state_change_guard`). Patient searches are POSTs, so that
no name or birth date lands in a URL or an access log; log lines carry ids only.

A refusal is ``{"error", "reason", "fr", "en", "conflicts": [{"fr", "en"}]}``: the page shows
the desk's words, in its language, and each conflict of the rota that explains it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Literal, TypeVar
from zoneinfo import ZoneInfo

import msgspec
from aiohttp import web

import wire
from hub.auth import client_address
from hub.booking import (
    ACTIVE,
    Appointment,
    AppointmentStatus,
    BookingChannel,
    NotificationKind,
    NotificationState,
)
from hub.bookings import BOOKING_DESK, AgendaDay, BookingRefused, RefusalReason
from hub.http_api import _console_file, _file_response
from hub.notifications import OUTBOX
from hub.patients import match_key, normalise_name
from hub.schedule import (
    DEFAULT_TIMEZONE,
    CabinCalendar,
    OpeningHours,
    RotaShift,
    ScheduleError,
    day_bounds,
    holds_slot,
    local_instant,
    zone,
)
from hub.services import SERVICES
from hub.storage import AccountRole, ActorKind, AgentRecord
from hub.web_security import json_error

log = logging.getLogger(__name__)
_T = TypeVar("_T")

COORDINATOR_DIR = Path(__file__).parent / "coordinator"
DESK = BOOKING_DESK
"""The hub's one `BookingDesk` (built by `hub.app`)."""
VISITS_SHOWN = 20
SEARCH_BACK = timedelta(days=180)
SEARCH_AHEAD = timedelta(days=400)
"""A search by family name and birth date alone looks at the appointments in this window."""
FAILED_SHOWN = 200
_RANGE = timedelta(days=3660)
"""How far back and ahead a shift or closure is looked for by its id."""

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Id = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Text = Annotated[str, msgspec.Meta(max_length=500)]
ClockTime = Annotated[str, msgspec.Meta(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]


# --- bodies ---------------------------------------------------------------------------------


class BookBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    cabin_id: Id
    starts_at: datetime
    family_name: Name
    given_names: Name
    birth_date: date
    phone: Annotated[str, msgspec.Meta(max_length=32)] = ""
    email: Annotated[str, msgspec.Meta(max_length=254)] = ""
    language: wire.Language = wire.Language.FR
    reason: Text = ""
    consent: bool = False
    """The caller agreed, on the phone, to the use of their data (required, as online)."""


class MoveBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    starts_at: datetime


class CancelBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    reason: Text


class SearchBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    family_name: Name
    birth_date: date
    given_names: Annotated[str, msgspec.Meta(max_length=200)] = ""
    """Optional: without them, the bookings of the coordinator's cabins around today with
    this family name and birth date (and no visits: those are found by the full name)."""


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
    reason: Text


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


class DoctorChoice(msgspec.Struct, frozen=True):
    username: str
    display_name: str


class CabinsView(msgspec.Struct, frozen=True):
    cabins: list[CabinView]
    doctors: list[DoctorChoice]


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
    """To read out to the caller and print on the slip: in the answer to a booking, a move and
    `GET .../appointments/<id>` (audited) only, and only while it may open the cabin; ""
    in agendas, searches and lists."""
    cancel_reason: str = ""
    cancelled_by: str = ""


SlotState = Literal["free", "booked", "walk_in", "past"]


class SlotView(msgspec.Struct, frozen=True):
    starts_at: datetime
    ends_at: datetime
    local_time: str
    state: SlotState
    doctors: list[str]
    appointment: AppointmentView | None = None


class CabinDay(msgspec.Struct, frozen=True):
    cabin_id: str
    slots: list[SlotView]
    cancelled: list[AppointmentView]
    closed: str | None = None
    """The closure's reason when the cabin is closed that day."""
    unavailable: bool = False
    """The cabin is temporarily unavailable now (offline, or a self-test failed a check that
    stops consultations: `hub.fleet_desk`): the public page takes no booking for today; the
    appointments already booked stay (the page tells the coordinator to call them)."""


class DayCount(msgspec.Struct, frozen=True):
    day: date
    booked: int
    free: int


class AgendaView(msgspec.Struct, frozen=True):
    day: date
    cabins: list[CabinDay]
    week: list[DayCount]
    """Monday to Sunday of `day`'s week, every cabin together."""


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


class Added(msgspec.Struct, frozen=True):
    added: int
    ids: list[str]


class FailedView(msgspec.Struct, frozen=True):
    notification_id: str
    appointment_id: str
    channel: str
    kind: str
    error: str
    attempts: int
    appointment: AppointmentView


class Words(msgspec.Struct, frozen=True):
    fr: str
    en: str


class Refusal(msgspec.Struct, frozen=True):
    """Why a change was refused, in words for the coordinator (each conflict explained)."""

    error: str
    reason: str
    fr: str
    en: str
    conflicts: list[Words] = []


# --- who may --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Coordinator:
    agent: AgentRecord
    cabins: dict[str, CabinCalendar]
    """The calendars of the cabins they look after, by id."""
    names: dict[str, str]
    """Every cabin's name, by id."""
    address: str

    @property
    def username(self) -> str:
        return self.agent.username

    def zone(self, cabin_id: str) -> ZoneInfo:
        calendar = self.cabins.get(cabin_id)
        return _zone(calendar.timezone if calendar else DEFAULT_TIMEZONE)


def _zone(name: str) -> ZoneInfo:
    try:
        return zone(name)
    except ScheduleError:
        return zone(DEFAULT_TIMEZONE)


async def _coordinator(request: web.Request) -> Coordinator | web.Response:
    services = request.app[SERVICES]
    session = await services.sessions.of_request(request)
    if session is None:
        return json_error(401, "not signed in")
    agent = None
    if session.role is AccountRole.AGENT:
        agent = await services.storage.agent(session.username)
    if agent is None or not agent.coordinator:
        log.warning("hub.coordination_refused %s=%s", session.role.value, session.username)
        return json_error(403, "only coordinators may use this page", reason="not_coordinator")
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


def _refused(refusal: BookingRefused) -> web.Response:
    status = 404 if refusal.reason is RefusalReason.NOT_FOUND else 409
    if refusal.reason in (
        RefusalReason.BAD_PHONE,
        RefusalReason.BAD_EMAIL,
        RefusalReason.BAD_TEXT,
        RefusalReason.BAD_HOURS,
        RefusalReason.REASON_REQUIRED,
        RefusalReason.NO_CONSENT,
        RefusalReason.UNKNOWN_DOCTOR,
    ):
        status = 400
    return _json(
        Refusal(
            error=refusal.en,
            reason=refusal.reason.value,
            fr=refusal.fr,
            en=refusal.en,
            conflicts=[Words(c.fr, c.en) for c in refusal.conflicts],
        ),
        status,
    )


def _wake_outbox(request: web.Request) -> None:
    """The patient's message (confirmation, change, cancellation) goes now, not at the next
    poll of the outbox."""
    outbox = request.app.get(OUTBOX)
    if outbox is not None:
        outbox.wake()


def _not_yours() -> web.Response:
    return json_error(403, "not one of your cabins", reason="not_your_cabin")


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
        return date.fromisoformat(given) if len(given) == 10 else None
    except ValueError:
        return None


def _today(request: web.Request) -> date:
    return request.app[SERVICES].clock.now().astimezone(_zone(DEFAULT_TIMEZONE)).date()


# --- views ----------------------------------------------------------------------------------


def _appointment_view(
    who: Coordinator, appointment: Appointment, *, with_code: bool = False
) -> AppointmentView:
    """`with_code`: the code too, while it is active (asked for one appointment, audited)."""
    calendar = who.cabins.get(appointment.cabin_id)
    tz = who.zone(appointment.cabin_id)
    local = appointment.starts_at.astimezone(tz)
    return AppointmentView(
        appointment_id=appointment.appointment_id,
        cabin_id=appointment.cabin_id,
        cabin_name=who.names.get(appointment.cabin_id, appointment.cabin_id),
        town=calendar.town if calendar else "",
        timezone=tz.key,
        starts_at=appointment.starts_at,
        ends_at=appointment.ends_at,
        local_date=local.date().isoformat(),
        local_time=f"{local:%H:%M}",
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
        code=appointment.code if with_code and appointment.status in ACTIVE else "",
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
            HoursView(span.weekday, f"{span.opens:%H:%M}", f"{span.closes:%H:%M}")
            for span in sorted(hours, key=lambda span: (span.weekday, span.opens))
        ],
    )


def _day_view(who: Coordinator, cabin_id: str, day: AgendaDay, now: datetime) -> CabinDay:
    """Every slot of the day, with the appointment holding it; an appointment that holds no
    slot any more (the hours changed since) is shown at its time all the same."""
    tz = who.zone(cabin_id)
    views: list[SlotView] = []
    shown: set[str] = set()
    for slot in day.slots:
        booked = day.appointment_at(slot)
        state: SlotState
        if booked is not None:
            state = "booked"
            shown.add(booked.appointment_id)
        elif slot.walk_in:
            state = "walk_in"
        elif slot.starts_at <= now:
            state = "past"
        else:
            state = "free"
        views.append(
            SlotView(
                starts_at=slot.starts_at,
                ends_at=slot.ends_at,
                local_time=f"{slot.starts_at.astimezone(tz):%H:%M}",
                state=state,
                doctors=list(slot.doctors),
                appointment=None if booked is None else _appointment_view(who, booked),
            )
        )
    for appointment in day.appointments:
        if holds_slot(appointment) and appointment.appointment_id not in shown:
            views.append(
                SlotView(
                    starts_at=appointment.starts_at,
                    ends_at=appointment.ends_at,
                    local_time=f"{appointment.starts_at.astimezone(tz):%H:%M}",
                    state="booked",
                    doctors=[appointment.doctor] if appointment.doctor else [],
                    appointment=_appointment_view(who, appointment),
                )
            )
    views.sort(key=lambda view: view.starts_at)
    return CabinDay(
        cabin_id=cabin_id,
        slots=views,
        cancelled=[_appointment_view(who, a) for a in day.appointments if not holds_slot(a)],
        closed=None if day.closure is None else day.closure.reason,
    )


def _shift_view(shift: RotaShift, tz: ZoneInfo, names: dict[str, str]) -> ShiftView:
    starts = shift.starts_at.astimezone(tz)
    ends = shift.ends_at.astimezone(tz)
    return ShiftView(
        shift_id=shift.shift_id,
        doctor=shift.doctor,
        doctor_name=names.get(shift.doctor, shift.doctor),
        cabin_id=shift.cabin_id,
        starts_at=shift.starts_at,
        ends_at=shift.ends_at,
        local_day=starts.date().isoformat(),
        local_starts=f"{starts:%H:%M}",
        local_ends=f"{ends:%H:%M}",
        created_by=shift.created_by,
    )


# --- handlers -------------------------------------------------------------------------------


async def cabins(request: web.Request) -> web.StreamResponse:
    """The coordinator's cabins (with their opening hours) and the doctors of the rota."""
    who = await _coordinator(request)
    if isinstance(who, web.Response):
        return who
    storage = request.app[SERVICES].storage
    views = [
        _cabin_view(who, calendar, await storage.opening_hours(cabin_id))
        for cabin_id, calendar in sorted(who.cabins.items())
    ]
    doctors = [DoctorChoice(d.username, d.display_name) for d in await storage.doctors()]
    return _json(CabinsView(views, sorted(doctors, key=lambda d: d.display_name)))


async def agenda(request: web.Request) -> web.StreamResponse:
    """``?day=YYYY-MM-DD``: that day's slots of every cabin side by side, and the counts of
    its week (Monday to Sunday)."""
    who = await _coordinator(request)
    if isinstance(who, web.Response):
        return who
    day = _day_query(request, "day", _today(request))
    if day is None:
        return json_error(400, "day: YYYY-MM-DD", reason="invalid")
    monday = day - timedelta(days=day.weekday())
    now = request.app[SERVICES].clock.now()
    cabin_ids = sorted(who.cabins)
    counts = {monday + timedelta(days=n): [0, 0] for n in range(7)}
    columns: list[CabinDay] = []
    down = await request.app[SERVICES].switchboard.fleet.unavailable()
    for cabin_agenda in await request.app[DESK].agenda(cabin_ids, monday, 7):
        cabin_id = cabin_agenda.calendar.cabin_id
        for agenda_day in cabin_agenda.days:
            view = _day_view(who, cabin_id, agenda_day, now)
            count = counts.setdefault(agenda_day.day, [0, 0])
            count[0] += sum(1 for slot in view.slots if slot.state == "booked")
            count[1] += sum(1 for slot in view.slots if slot.state == "free")
            if agenda_day.day == day:
                columns.append(msgspec.structs.replace(view, unavailable=cabin_id in down))
    week = [DayCount(d, booked, free) for d, (booked, free) in sorted(counts.items())]
    await request.app[SERVICES].audit.record(  # the patients booked that day, seen
        "coordination.agenda_read",
        actor_kind=ActorKind.AGENT,
        actor_id=who.username,
        client_address=who.address,
        subject=f"day:{day.isoformat()}",
    )
    return _json(AgendaView(day=day, cabins=columns, week=week))


async def book(request: web.Request) -> web.StreamResponse:
    """A caller booked on the phone: the appointment, with its code to read out."""
    who = await _coordinator(request)
    if isinstance(who, web.Response):
        return who
    body = await _body(request, BookBody)
    if isinstance(body, web.Response):
        return body
    if body.cabin_id not in who.cabins:
        return _not_yours()
    if body.starts_at.tzinfo is None:
        return json_error(400, "starts_at: an instant with its offset", reason="invalid")
    if not body.consent:  # asked on the phone: the page has the box to tick
        return _refused(BookingRefused(RefusalReason.NO_CONSENT))
    try:
        patient = wire.PatientSummary(
            family_name=" ".join(body.family_name.split()),
            given_names=" ".join(body.given_names.split()),
            birth_date=body.birth_date,
        )
        appointment = await request.app[DESK].book(
            body.cabin_id,
            body.starts_at,
            patient=patient,
            phone=body.phone,
            email=body.email,
            language=body.language,
            channel=BookingChannel.PHONE,
            booked_by=who.username,
            consent=body.consent,
            reason=body.reason,
            client_address=who.address,
        )
    except BookingRefused as refusal:
        return _refused(refusal)
    _wake_outbox(request)
    return _json(_appointment_view(who, appointment, with_code=True), 201)


async def _own_appointment(request: web.Request, who: Coordinator) -> Appointment | web.Response:
    appointment_id = request.match_info["appointment_id"]
    appointment = None
    if len(appointment_id) <= 64:
        appointment = await request.app[SERVICES].storage.appointment(appointment_id)
    if appointment is None or appointment.cabin_id not in who.cabins:
        return json_error(404, "no such appointment in your cabins", reason="not_found")
    return appointment


async def one_appointment(request: web.Request) -> web.StreamResponse:
    """One appointment with its code (to read out again, or print the slip); audited."""
    who = await _coordinator(request)
    if isinstance(who, web.Response):
        return who
    found = await _own_appointment(request, who)
    if isinstance(found, web.Response):
        return found
    await request.app[SERVICES].audit.record(
        "coordination.appointment_read",
        actor_kind=ActorKind.AGENT,
        actor_id=who.username,
        client_address=who.address,
        subject=f"appointment:{found.appointment_id}",
    )
    return _json(_appointment_view(who, found, with_code=True))


async def move(request: web.Request) -> web.StreamResponse:
    """To another free slot of the same cabin (the same code)."""
    who = await _coordinator(request)
    if isinstance(who, web.Response):
        return who
    appointment = await _own_appointment(request, who)
    if isinstance(appointment, web.Response):
        return appointment
    body = await _body(request, MoveBody)
    if isinstance(body, web.Response):
        return body
    if body.starts_at.tzinfo is None:
        return json_error(400, "starts_at: an instant with its offset", reason="invalid")
    try:
        moved = await request.app[DESK].move(
            appointment.appointment_id, body.starts_at, by=who.username
        )
    except BookingRefused as refusal:
        return _refused(refusal)
    _wake_outbox(request)
    return _json(_appointment_view(who, moved, with_code=True))


async def cancel(request: web.Request) -> web.StreamResponse:
    """Cancelled for the caller, who said why (required)."""
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
            appointment.appointment_id, by=who.username, reason=body.reason
        )
    except BookingRefused as refusal:
        return _refused(refusal)
    _wake_outbox(request)
    return _json(_appointment_view(who, cancelled))


async def search_patient(request: web.Request) -> web.StreamResponse:
    """A patient's bookings in the coordinator's cabins, and their visits there (when, where,
    which doctor: nothing of the consultation itself); audited."""
    who = await _coordinator(request)
    if isinstance(who, web.Response):
        return who
    body = await _body(request, SearchBody)
    if isinstance(body, web.Response):
        return body
    services = request.app[SERVICES]
    if body.given_names.strip():
        patient = wire.PatientSummary(
            family_name=body.family_name, given_names=body.given_names, birth_date=body.birth_date
        )
        found = await request.app[DESK].patient_bookings(patient)
        earlier = await services.storage.earlier_consultations(
            match_key(patient), before=services.clock.now(), exclude="", limit=VISITS_SHOWN
        )
    else:
        found = await _bookings_by_family_name(request, who, body.family_name, body.birth_date)
        earlier = []
    view = PatientView(
        appointments=[_appointment_view(who, a) for a in found if a.cabin_id in who.cabins],
        visits=[
            VisitView(
                cabin_id=record.cabin_id,
                cabin_name=who.names.get(record.cabin_id, record.cabin_id),
                at=record.joined_at,
                doctor=record.doctor,
                status=record.status.value,
            )
            for record in earlier
            if record.cabin_id in who.cabins
        ],
    )
    await services.audit.record(
        "coordination.patient_search",
        actor_kind=ActorKind.AGENT,
        actor_id=who.username,
        client_address=who.address,
    )
    return _json(view)


async def _bookings_by_family_name(
    request: web.Request, who: Coordinator, family_name: str, birth_date: date
) -> list[Appointment]:
    """The appointments of the coordinator's cabins, from `SEARCH_BACK` ago to `SEARCH_AHEAD`
    ahead, whose patient has this family name (as `hub.patients` compares names) and birth
    date, newest first."""
    if not who.cabins:
        return []
    now = request.app[SERVICES].clock.now()
    wanted = normalise_name(family_name)
    around = await request.app[SERVICES].storage.appointments(
        cabin_ids=sorted(who.cabins),
        starts_from=now - SEARCH_BACK,
        starts_before=now + SEARCH_AHEAD,
    )
    return sorted(
        (
            a
            for a in around
            if a.patient.birth_date == birth_date
            and normalise_name(a.patient.family_name) == wanted
        ),
        key=lambda a: a.starts_at,
        reverse=True,
    )


async def rota(request: web.Request) -> web.StreamResponse:
    """``?week=YYYY-MM-DD`` (any day of it): the shifts and closures of that week."""
    who = await _coordinator(request)
    if isinstance(who, web.Response):
        return who
    day = _day_query(request, "week", _today(request))
    if day is None:
        return json_error(400, "week: YYYY-MM-DD", reason="invalid")
    storage = request.app[SERVICES].storage
    monday = day - timedelta(days=day.weekday())
    sunday = monday + timedelta(days=6)
    names = {doctor.username: doctor.display_name for doctor in await storage.doctors()}
    shifts: list[ShiftView] = []
    closures: list[ClosureView] = []
    for cabin_id in sorted(who.cabins):
        tz = who.zone(cabin_id)
        found = await storage.shifts(
            starts_before=day_bounds(sunday, tz)[1],
            ends_after=day_bounds(monday, tz)[0],
            cabin_id=cabin_id,
        )
        shifts.extend(_shift_view(shift, tz, names) for shift in found)
        closures.extend(
            ClosureView(c.closure_id, c.cabin_id, c.first_day, c.last_day, c.reason)
            for c in await storage.closures(cabin_id, first_day=monday, last_day=sunday)
        )
    shifts.sort(key=lambda s: (s.starts_at, s.cabin_id, s.doctor_name))
    return _json(RotaView(monday, shifts, closures))


async def add_shifts(request: web.Request) -> web.StreamResponse:
    """A doctor on the rota of some cabins on some days, the same hours each day: one shift
    per cabin and day, all or none (a conflict refuses them all, each conflict explained)."""
    who = await _coordinator(request)
    if isinstance(who, web.Response):
        return who
    body = await _body(request, ShiftBody)
    if isinstance(body, web.Response):
        return body
    if any(cabin_id not in who.cabins for cabin_id in body.cabin_ids):
        return _not_yours()
    desk = request.app[DESK]
    starts, ends = time.fromisoformat(body.starts), time.fromisoformat(body.ends)
    added: list[RotaShift] = []
    refusals: list[BookingRefused] = []
    for cabin_id in dict.fromkeys(body.cabin_ids):
        tz = who.zone(cabin_id)
        for day in sorted(set(body.days)):
            try:
                added.append(
                    await desk.add_shift(
                        cabin_id,
                        body.doctor,
                        local_instant(day, starts, tz),
                        local_instant(day, ends, tz),
                        by=who.username,
                    )
                )
            except BookingRefused as refusal:
                if refusal.reason is not RefusalReason.ROTA_CONFLICT:
                    await _take_back(request, who, added)
                    return _refused(refusal)
                refusals.append(refusal)
    if refusals:
        await _take_back(request, who, added)
        return _refused(
            BookingRefused(
                RefusalReason.ROTA_CONFLICT,
                fr="Le planning n'a pas été modifié : cette garde entre en conflit avec lui.",
                en="The rota was not changed: this shift conflicts with it.",
                conflicts=[c for refusal in refusals for c in refusal.conflicts],
            )
        )
    return _json(Added(len(added), [shift.shift_id for shift in added]), 201)


async def _take_back(request: web.Request, who: Coordinator, shifts: list[RotaShift]) -> None:
    """The shifts of a refused request that were added before the refusal, removed again
    (each audited, as their adding was)."""
    desk = request.app[DESK]
    for shift in shifts:
        try:
            await desk.remove_shift(shift.shift_id, by=who.username)
        except BookingRefused:  # it has started (a shift of today): the storage's own undo
            await request.app[SERVICES].storage.remove_shift(shift.shift_id)
            await request.app[SERVICES].audit.record(
                "shift.removed",
                actor_kind=ActorKind.AGENT,
                actor_id=who.username,
                subject=f"shift:{shift.shift_id}",
            )


async def remove_shift(request: web.Request) -> web.StreamResponse:
    who = await _coordinator(request)
    if isinstance(who, web.Response):
        return who
    shift_id = request.match_info["shift_id"]
    now = request.app[SERVICES].clock.now()
    found = await request.app[SERVICES].storage.shifts(  # only a shift to come is removed
        starts_before=now + _RANGE, ends_after=now
    )
    shift = next((s for s in found if s.shift_id == shift_id), None)
    if shift is None or shift.cabin_id not in who.cabins:
        return json_error(404, "no such shift in your cabins", reason="not_found")
    try:
        await request.app[DESK].remove_shift(shift_id, by=who.username)
    except BookingRefused as refusal:
        return _refused(refusal)
    return web.Response(status=204)


async def set_hours(request: web.Request) -> web.StreamResponse:
    """Replace a cabin's weekly opening hours (refused if booked patients fall outside)."""
    who = await _coordinator(request)
    if isinstance(who, web.Response):
        return who
    cabin_id = request.match_info["cabin_id"]
    if cabin_id not in who.cabins:
        return _not_yours()
    body = await _body(request, HoursBody)
    if isinstance(body, web.Response):
        return body
    hours = [
        OpeningHours(
            cabin_id, span.weekday, time.fromisoformat(span.opens), time.fromisoformat(span.closes)
        )
        for span in body.hours
    ]
    try:
        await request.app[DESK].set_opening_hours(cabin_id, hours, by=who.username)
    except BookingRefused as refusal:
        return _refused(refusal)
    return web.Response(status=204)


async def add_closure(request: web.Request) -> web.StreamResponse:
    """Close some cabins from a day to a day; each cabin with bookings then is refused."""
    who = await _coordinator(request)
    if isinstance(who, web.Response):
        return who
    body = await _body(request, ClosureBody)
    if isinstance(body, web.Response):
        return body
    if any(cabin_id not in who.cabins for cabin_id in body.cabin_ids):
        return _not_yours()
    if (body.last_day - body.first_day).days > 366:
        return json_error(400, "a closure lasts a year at most", reason="invalid")
    desk = request.app[DESK]
    ids: list[str] = []
    refusals: list[tuple[str, BookingRefused]] = []
    for cabin_id in dict.fromkeys(body.cabin_ids):
        try:
            closure = await desk.add_closure(
                cabin_id, body.first_day, body.last_day, body.reason, by=who.username
            )
        except BookingRefused as refusal:
            refusals.append((cabin_id, refusal))
        else:
            ids.append(closure.closure_id)
    if refusals:
        name = who.names.get
        reason = refusals[0][1].reason
        return _json(
            Refusal(
                error=f"{len(ids)} closure(s) added; the others are refused",
                reason=reason.value,
                fr=f"{len(ids)} fermeture(s) ajoutée(s) ; les autres sont refusées :",
                en=f"{len(ids)} closure(s) added; the others are refused:",
                conflicts=[
                    Words(
                        f"{name(cabin_id, cabin_id)} : {refusal.fr}",
                        f"{name(cabin_id, cabin_id)}: {refusal.en}",
                    )
                    for cabin_id, refusal in refusals
                ],
            ),
            409 if reason is RefusalReason.HAS_APPOINTMENTS else 400,
        )
    return _json(Added(len(ids), ids), 201)


async def close_holidays(request: web.Request) -> web.StreamResponse:
    """Close every cabin of the coordinator on the French public holidays of a year (a day
    already closed stays as it is; one with bookings is refused, and said)."""
    who = await _coordinator(request)
    if isinstance(who, web.Response):
        return who
    body = await _body(request, HolidaysBody)
    if isinstance(body, web.Response):
        return body
    done = await request.app[DESK].close_on_public_holidays(
        body.year, by=who.username, cabin_ids=sorted(who.cabins), actor_kind=ActorKind.AGENT
    )
    ids = [closure.closure_id for closure in done.added]
    if done.refused:
        return _json(
            Refusal(
                error=f"{len(ids)} closure(s) added; days with bookings are refused",
                reason=RefusalReason.HAS_APPOINTMENTS.value,
                fr=f"{len(ids)} fermeture(s) ajoutée(s) ; des jours avec des rendez-vous sont"
                " refusés :",
                en=f"{len(ids)} closure(s) added; days with appointments are refused:",
                conflicts=[
                    Words(
                        f"{who.names.get(cabin_id, cabin_id)}, {day:%d/%m/%Y} : {text}",
                        f"{who.names.get(cabin_id, cabin_id)}, {day:%d/%m/%Y}: {text}",
                    )
                    for cabin_id, day, text in done.refused
                ],
            ),
            409,
        )
    return _json(Added(len(ids), ids), 201)


async def remove_closure(request: web.Request) -> web.StreamResponse:
    who = await _coordinator(request)
    if isinstance(who, web.Response):
        return who
    closure_id = request.match_info["closure_id"]
    storage = request.app[SERVICES].storage
    today = _today(request)
    for cabin_id in sorted(who.cabins):
        found = await storage.closures(cabin_id, first_day=today - _RANGE, last_day=today + _RANGE)
        if any(closure.closure_id == closure_id for closure in found):
            await request.app[DESK].remove_closure(closure_id, cabin_id=cabin_id, by=who.username)
            return web.Response(status=204)
    return json_error(404, "no such closure in your cabins", reason="not_found")


async def failed_notifications(request: web.Request) -> web.StreamResponse:
    """The confirmations and reminders given up on, of the coordinator's cabins, that still
    matter: call them."""
    who = await _coordinator(request)
    if isinstance(who, web.Response):
        return who
    storage = request.app[SERVICES].storage
    now = request.app[SERVICES].clock.now()
    views: list[FailedView] = []
    for notification in await storage.notifications(
        states=frozenset({NotificationState.FAILED}), limit=FAILED_SHOWN
    ):
        appointment = await storage.appointment(notification.appointment_id)
        if appointment is None or appointment.cabin_id not in who.cabins:
            continue
        if not _still_matters(notification.kind, appointment, now):
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


def _still_matters(kind: NotificationKind, appointment: Appointment, now: datetime) -> bool:
    """A message not delivered is worth a call until the slot: about an appointment still
    booked, or the news that it was cancelled (a reminder of a cancelled one is not)."""
    if appointment.starts_at <= now:
        return False
    if kind is NotificationKind.CANCELLATION:
        return appointment.status is AppointmentStatus.CANCELLED
    return appointment.status is AppointmentStatus.BOOKED


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


def add_routes(app: web.Application) -> None:
    """The page and its API (before `hub.http_api.add_routes` and its ``/api/*`` catch-all);
    the handlers use the hub's `BookingDesk`, ``app[BOOKING_DESK]``."""
    app.router.add_get("/coordination", page_index)
    app.router.add_get("/coordination/", page_index)
    app.router.add_get("/coordination/{path:.+}", page_file)
    api = "/api/coordination"
    app.router.add_get(f"{api}/cabins", cabins)
    app.router.add_get(f"{api}/agenda", agenda)
    app.router.add_post(f"{api}/appointments", book)
    app.router.add_get(f"{api}/appointments/{{appointment_id}}", one_appointment)
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
