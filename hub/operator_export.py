"""The operator's export endpoint: ``GET /api/operator/export/bookings`` gives every appointment
(any status), the rota, the cabins and their coming slots as one FHIR R4 ``collection`` Bundle
(the resources of `hub.fhir_booking`), so that a town's bookings outlive any vendor.

- It takes ``Authorization: Bearer <token>``, an operator token made by
  ``python -m hub new-operator-token NAME`` (printed once; the hub keeps its SHA-256 only) and
  ended by ``python -m hub revoke-operator-token NAME``. No token, or a wrong or revoked one:
  401, and nothing read.
- Tries are limited per client address (before the token is looked at: a guesser meets the
  limit too), counted by every replica together in a fleet.
- Every export is audited (``bookings.exported``, actor OPERATOR, the token's name, the
  client's address); the answer is never cached (``Cache-Control: no-store``).
- The Bundle is streamed: appointments are read a page at a time
  (`BookingStore.appointments_page`, one patient's together, so that each Patient is written
  once with all their contacts), never all at once; what is held meanwhile is the cabins, the
  rota, the slots of the horizon and one patient's appointments.

The CLI's ``export-bookings FILE`` writes the same resources (`hub.fhir_booking`).
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

import msgspec
from aiohttp import web

from hub.auth import client_address
from hub.booking import Appointment, AppointmentStatus
from hub.fhir_booking import (
    EXPORT_SYSTEM,
    DoctorName,
    Json,
    appointment_resource,
    cabin_schedule,
    doctor_schedule,
    full_url,
    instant,
    location,
    patient,
    practitioner,
    shift_slot,
    slot,
)
from hub.log_safe import log_safe
from hub.patients import match_key
from hub.rate_limit import FleetLimit
from hub.schedule import (
    CabinCalendar,
    HeldIndex,
    RotaShift,
    Slot,
    day_bounds,
    day_slots,
    local_day,
    zone,
)
from hub.services import SERVICES, HubServices
from hub.storage import ActorKind, Storage
from hub.web_security import json_error

log = logging.getLogger(__name__)

PATH: Final = "/api/operator/export/bookings"
EXPORTS_PER_HOUR: Final = 12
"""Tries per client address and hour (an export is a rare act; a guesser gets no further)."""
PAGE_SIZE: Final = 500
"""Appointments read at a time."""
TOKEN_BYTES: Final = 32
_FAR: Final = timedelta(days=3660)
_LONGEST_APPOINTMENT: Final = timedelta(hours=4)
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_Out = Callable[[str, Json], bytes]
"""How the stream writes one entry (`export_chunks`'s ``out``)."""


def new_operator_token() -> tuple[str, str]:
    """A random token (shown once to the operator) and its SHA-256 (what the hub keeps)."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    return token, token_sha256(token)


def token_sha256(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _entry(url: str, resource: Json) -> bytes:
    return msgspec.json.encode({"fullUrl": url, "resource": resource}, order="sorted")


@dataclass(slots=True)
class _Written:
    """What the stream has written so far that later entries refer to."""

    locations: dict[str, str]
    practitioners: dict[str, str]
    patients: set[str]
    slot_urls: dict[tuple[str, datetime], str]
    appointments: int = 0


async def export_chunks(
    storage: Storage, *, now: datetime, days_ahead: int | None = None, page_size: int = PAGE_SIZE
) -> AsyncIterator[bytes]:
    """The export Bundle as chunks of JSON (keys sorted, as `build_export_bundle` writes)."""
    calendars = sorted(await storage.calendars(), key=lambda c: c.cabin_id)
    shifts = await storage.shifts(starts_before=now + _FAR, ends_after=_EPOCH)
    names = {
        d.username: DoctorName(d.username, d.display_name, d.registration_number)
        for d in await storage.doctors()
    }
    slots, horizon = await _slots(storage, calendars, shifts, now, days_ahead)
    written = _Written({}, {}, set(), {})
    yield b'{"entry":['
    separator = b""

    def out(url: str, resource: Json) -> bytes:
        nonlocal separator
        chunk = separator + _entry(url, resource)
        separator = b","
        return chunk

    towns = {c.cabin_id: f"Cabine de {c.town}" for c in calendars}
    for calendar in calendars:
        url = full_url("location", calendar.cabin_id)
        written.locations[calendar.cabin_id] = url
        yield out(url, location(calendar))
    schedules: dict[str, str] = {}
    for calendar in calendars:
        url = full_url("schedule/cabin", calendar.cabin_id)
        schedules[calendar.cabin_id] = url
        yield out(url, cabin_schedule(calendar, written.locations[calendar.cabin_id], horizon))
    for username in sorted({s.doctor for s in shifts}):
        for chunk in _doctor(username, names, shifts, written, horizon, out):
            yield chunk
        schedule_url = full_url("schedule/doctor", username)
        for shift in (s for s in shifts if s.doctor == username):
            yield out(
                full_url("shift", shift.shift_id),
                shift_slot(shift, schedule_url, towns.get(shift.cabin_id, shift.cabin_id)),
            )
    held = HeldIndex(
        await storage.held_spans(
            cabin_ids=None,
            starts_from=now - timedelta(days=1) - _LONGEST_APPOINTMENT,  # before today's start
            starts_before=horizon[1],
        )
    )
    for cabin_slot in slots:
        key = (cabin_slot.cabin_id, cabin_slot.starts_at)
        url = full_url("slot", f"{cabin_slot.cabin_id}/{instant(cabin_slot.starts_at)}")
        written.slot_urls[key] = url
        busy = held.holds(cabin_slot.cabin_id, cabin_slot.starts_at, cabin_slot.ends_at)
        yield out(url, slot(cabin_slot, schedules[cabin_slot.cabin_id], busy=busy))
    del slots
    group: list[Appointment] = []
    after = ""
    while True:
        page = await storage.appointments_page(after=after, limit=page_size)
        for a in page.appointments:
            if group and match_key(group[0].patient) != match_key(a.patient):
                for chunk in _patient_group(group, names, shifts, written, horizon, out):
                    yield chunk
                group = []
            group.append(a)
        if not page.next_after:
            break
        after = page.next_after
    if group:
        for chunk in _patient_group(group, names, shifts, written, horizon, out):
            yield chunk
    tail: Json = {
        "identifier": {"system": EXPORT_SYSTEM, "value": instant(now)},
        "resourceType": "Bundle",
        "timestamp": instant(now),
        "type": "collection",
    }
    yield b"]," + msgspec.json.encode(tail, order="sorted")[1:]
    log.info(
        "booking.export_streamed appointments=%d cabins=%d shifts=%d",
        written.appointments,
        len(calendars),
        len(shifts),
    )


async def _slots(
    storage: Storage,
    calendars: Sequence[CabinCalendar],
    shifts: Sequence[RotaShift],
    now: datetime,
    days_ahead: int | None,
) -> tuple[list[Slot], tuple[datetime, datetime]]:
    """Each cabin's slots from today for its `bookable_days` (or `days_ahead`)."""
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
    return slots, (now, horizon_end)


def _doctor(
    username: str,
    names: dict[str, DoctorName],
    shifts: Sequence[RotaShift],
    written: _Written,
    horizon: tuple[datetime, datetime],
    out: _Out,
) -> list[bytes]:
    """The doctor's Practitioner and Schedule, the first time they are met."""
    if username in written.practitioners:
        return []
    name = names.get(username, DoctorName(username))
    url = full_url("practitioner", username)
    written.practitioners[username] = url
    covered = [
        written.locations[s.cabin_id]
        for s in shifts
        if s.doctor == username and s.cabin_id in written.locations
    ]
    return [
        out(url, practitioner(name)),
        out(full_url("schedule/doctor", username), doctor_schedule(name, url, covered, horizon)),
    ]


def _patient_group(
    group: list[Appointment],
    names: dict[str, DoctorName],
    shifts: Sequence[RotaShift],
    written: _Written,
    horizon: tuple[datetime, datetime],
    out: _Out,
) -> list[bytes]:
    """One patient's Patient (once in the export) and Appointments."""
    chunks: list[bytes] = []
    person = match_key(group[0].patient)
    patient_url = full_url("patient", person)
    if person not in written.patients:
        written.patients.add(person)
        latest = max(group, key=lambda a: a.booked_at)
        chunks.append(
            out(
                patient_url,
                patient(
                    latest,
                    phones=(a.phone for a in group if a.phone),
                    emails=(a.email for a in group if a.email),
                ),
            )
        )
    for a in group:
        location_url = written.locations.get(a.cabin_id)
        if location_url is None:  # a cabin no longer on the calendars: keep the appointment
            location_url = full_url("location", a.cabin_id)
            written.locations[a.cabin_id] = location_url
            chunks.append(out(location_url, location(CabinCalendar(a.cabin_id, a.cabin_id))))
        if a.doctor:
            chunks += _doctor(a.doctor, names, shifts, written, horizon, out)
        slot_key = (a.cabin_id, a.starts_at)
        holds = a.status is not AppointmentStatus.CANCELLED
        chunks.append(
            out(
                full_url("appointment", a.appointment_id),
                appointment_resource(
                    a,
                    patient_url=patient_url,
                    location_url=location_url,
                    practitioner_url=written.practitioners.get(a.doctor) if a.doctor else None,
                    slot_url=written.slot_urls.get(slot_key) if holds else None,
                ),
            )
        )
        written.appointments += 1
    return chunks


# --- the endpoint ---------------------------------------------------------------------------


def _bearer(request: web.Request) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or len(token) > 256:
        return None
    return token


def _unauthorized() -> web.Response:
    response = json_error(401, "an operator token is needed", reason="unauthorized")
    response.headers["WWW-Authenticate"] = 'Bearer realm="operator"'
    return response


class OperatorExport:
    """The endpoint's handler, with its limit."""

    def __init__(self, services: HubServices) -> None:
        self._services = services
        shared = services.cluster if services.config.cluster.backend == "redis" else None
        self._limit = FleetLimit(
            "operator_export",
            limit=EXPORTS_PER_HOUR,
            window_s=3600.0,
            clock=services.clock,
            cluster=shared,
        )

    async def export(self, request: web.Request) -> web.StreamResponse:
        services = self._services
        address = client_address(request)
        wait = await self._limit.attempt(address)
        if wait is not None:
            seconds = max(1, int(wait))
            limited = json_error(429, "too many requests; try again later", reason="rate_limited")
            limited.headers["Retry-After"] = str(seconds)
            return limited
        token = _bearer(request)
        name = (
            None
            if token is None
            else await services.storage.operator_token_name(token_sha256(token))
        )
        if name is None:
            log.warning("booking.export_refused client=%s", log_safe(address))
            return _unauthorized()
        now = services.clock.now()
        await services.audit.record(
            "bookings.exported",
            actor_kind=ActorKind.OPERATOR,
            actor_id=name,
            client_address=address,
            subject="bookings",
        )
        log.info("booking.export_started operator=%s client=%s", log_safe(name), log_safe(address))
        response = web.StreamResponse(
            headers={
                "Content-Type": "application/fhir+json",
                "Cache-Control": "no-store",
                "Content-Disposition": (
                    f'attachment; filename="bookings-{now.strftime("%Y%m%dT%H%M%SZ")}.json"'
                ),
            }
        )
        await response.prepare(request)
        async for chunk in export_chunks(services.storage, now=now):
            await response.write(chunk)
        await response.write_eof()
        return response


def add_routes(app: web.Application) -> None:
    """``GET /api/operator/export/bookings``; the hub's services must be in `app`, and this
    comes before `hub.http_api`'s ``/api/{rest}`` catch-all."""
    app.router.add_get(PATH, OperatorExport(app[SERVICES]).export)
