"""Appointment codes typed at a cabin: the check, the arrival, the end, and today's list.

A cabin asks whether a code opens an appointment here now (`wire.AppointmentCheck`); the hub
answers with the patient to greet (`AppointmentFound`) or a reason (`AppointmentRefused`). The
code is used (the appointment ARRIVED) only when the patient confirmed their birth date and
joined the waiting room with the appointment's id (`arrived`), and the appointment is fulfilled
when that consultation ends (`fulfilled`).

What a code-typer learns is bounded: a code of another cabin is answered as unknown (no town,
no "wrong cabin": that would tell which codes exist), and every check a cabin makes counts
against its limit (`CHECKS_PER_HOUR`, across the replicas): a right code after the limit is
refused too, or the limit would itself be an oracle. The cabin's keypad pauses on its own side
after five wrong codes. The code is never logged, nor the patient: appointment and cabin ids.

Today's active appointments of a cabin go to it (`TodaysAppointments`) after its hello, after a
check-in, and at its midnight, codes hashed (PBKDF2, a salt each): six digits are a million
tries, so the hash only keeps them from being read at a glance; the list lives in the cabin's
SQLCipher store for the day.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import logging
import secrets
from collections.abc import Callable
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import wire
from hub.appointment_codes import DEFAULT_VALID_BEFORE_MIN, code_valid, valid_from, valid_until
from hub.audit import AuditLog
from hub.booking import Appointment, AppointmentStatus
from hub.clock import Clock
from hub.cluster import Cluster
from hub.errors import StorageError
from hub.log_safe import log_safe
from hub.message_ids import new_msg_id
from hub.peers import Peer, refuse
from hub.queue import Booking
from hub.rate_limit import FleetLimit
from hub.schedule import DEFAULT_TIMEZONE, CabinCalendar
from hub.storage import ActorKind, ConsultationRecord, Storage

log = logging.getLogger(__name__)

CHECKS_PER_HOUR = 30
"""Code checks a cabin may make in any hour (all its replicas together), by default
(`[booking] code_tries_per_cabin_per_hour`)."""
TODAYS_MAX = 500
SYNC_EVERY_S = 600.0
"""Each connected cabin's list is sent again this often (a booking made through another
replica, the cabin's new day after its midnight)."""
_HASHES_KEPT = 20_000


class CodeCheckDesk:
    def __init__(
        self,
        *,
        storage: Storage,
        clock: Clock,
        cluster: Cluster | None,
        send_to_cabin: Callable[[str, wire.Message], object],
        audit: AuditLog,
        checks_per_hour: int = CHECKS_PER_HOUR,
        valid_before_min: int = DEFAULT_VALID_BEFORE_MIN,
    ) -> None:
        self._storage = storage
        self._hashes: dict[tuple[str, str], tuple[bytes, bytes]] = {}
        """(appointment id, code) -> (salt, hash): a code is hashed once, not at each sync."""
        self._clock = clock
        self._send_to_cabin = send_to_cabin
        self._audit = audit
        self._valid_before_min = valid_before_min
        self._limit = FleetLimit(
            "appointment_code",
            limit=checks_per_hour,
            window_s=3600.0,
            clock=clock,
            cluster=cluster,
        )

    async def timezone(self, cabin_id: str) -> str:
        return _timezone(cabin_id, await self._storage.calendar(cabin_id))

    def validity(
        self, appointment: Appointment, calendar: CabinCalendar
    ) -> tuple[datetime, datetime]:
        """From when, and until when (excluded), the appointment's code opens the cabin
        (`hub.appointment_codes`: from `[booking] code_valid_before_min` before the slot to the
        end of the slot's local day)."""
        return (
            valid_from(appointment, before_min=self._valid_before_min),
            valid_until(appointment, calendar),
        )

    # --- a code ---------------------------------------------------------------------------

    async def check(self, peer: Peer, message: wire.AppointmentCheck) -> None:
        cabin_id = peer.identity
        wait = await self._limit.attempt(cabin_id)
        if wait is not None:
            log.warning("hub.code_check_limited cabin=%s retry_after_s=%.0f", cabin_id, wait)
            peer.send(self._refused(message, wire.AppointmentRefusal.TOO_MANY_TRIES, wait))
            return
        try:
            appointment = await self._storage.appointment_by_code(message.code)
            if appointment is None:  # a late patient, marked a no-show meanwhile
                appointment = await self._late(cabin_id, message.code)
            calendar = await self._storage.calendar(cabin_id)
        except StorageError as exc:
            log.error("hub.storage_failed task=code_check error=%s", log_safe(exc))
            refuse(peer, wire.ErrorCode.UNAVAILABLE, message.msg_id, "try again")
            return
        now = self._clock.now()
        if (
            appointment is None
            or not hmac.compare_digest(appointment.code.encode(), message.code.encode())
            or calendar is None
            or appointment.cabin_id != cabin_id
            or not self._opens(appointment, now, calendar)
        ):
            log.info("hub.code_check cabin=%s result=unknown", cabin_id)
            peer.send(self._refused(message, wire.AppointmentRefusal.UNKNOWN_OR_EXPIRED))
            return
        if appointment.status is AppointmentStatus.ARRIVED:
            log.info(
                "hub.code_check cabin=%s result=used appointment=%s",
                cabin_id,
                appointment.appointment_id,
            )
            peer.send(self._refused(message, wire.AppointmentRefusal.ALREADY_USED))
            return
        doctor_name = await self._doctor_name(appointment.doctor)
        log.info(
            "hub.code_check cabin=%s result=found appointment=%s",
            cabin_id,
            appointment.appointment_id,
        )
        peer.send(
            wire.AppointmentFound(
                msg_id=new_msg_id(),
                in_reply_to=message.msg_id,
                appointment_id=appointment.appointment_id,
                patient=appointment.patient,
                starts_at=appointment.starts_at,
                ends_at=appointment.ends_at,
                timezone=_timezone(cabin_id, calendar),
                doctor=appointment.doctor,
                doctor_name=doctor_name,
            )
        )

    def _opens(self, appointment: Appointment, now: datetime, calendar: CabinCalendar) -> bool:
        """Whether the code opens the cabin now: an active appointment in its code's hours, or
        a no-show whose patient comes late the same day (they can still be seen)."""
        if appointment.status is AppointmentStatus.NOSHOW:
            opens, closes = self.validity(appointment, calendar)
            return opens <= now < closes
        return code_valid(appointment, now, calendar, before_min=self._valid_before_min)

    async def _late(self, cabin_id: str, code: str) -> Appointment | None:
        """Today's no-show of this cabin with this code, if any (codes are unique only among
        active appointments, so this is searched among the cabin's day, not by the index)."""
        for appointment in await self._day_of(cabin_id):
            if appointment.status is AppointmentStatus.NOSHOW and hmac.compare_digest(
                appointment.code.encode(), code.encode()
            ):
                return appointment
        return None

    async def _day_of(self, cabin_id: str) -> list[Appointment]:
        """The cabin's appointments of its local day, any status."""
        zone = ZoneInfo(_timezone(cabin_id, await self._storage.calendar(cabin_id)))
        day = self._clock.now().astimezone(zone).date()
        return await self._storage.appointments(
            cabin_ids=[cabin_id],
            starts_from=datetime.combine(day, time(0), tzinfo=zone),
            starts_before=datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone),
        )

    def _refused(
        self,
        message: wire.AppointmentCheck,
        reason: wire.AppointmentRefusal,
        retry_after_s: float | None = None,
    ) -> wire.AppointmentRefused:
        return wire.AppointmentRefused(
            msg_id=new_msg_id(),
            in_reply_to=message.msg_id,
            reason=reason,
            retry_after_s=retry_after_s,
        )

    async def _doctor_name(self, username: str | None) -> str | None:
        if username is None:
            return None
        account = await self._storage.doctor(username)
        return None if account is None else account.display_name

    # --- the arrival and the end ----------------------------------------------------------

    async def arrived(
        self, cabin_id: str, appointment_id: str, consultation_id: str
    ) -> Appointment | None:
        """The patient joined the waiting room with the appointment: ARRIVED (the code is
        used); None if it is not this cabin's, or not BOOKED (or a late NOSHOW) any more."""
        appointment = await self._storage.appointment(appointment_id)
        if appointment is None or appointment.cabin_id != cabin_id:
            log.warning(
                "hub.appointment_refused cabin=%s appointment=%s reason=not_this_cabin",
                cabin_id,
                appointment_id,
            )
            return None
        if (
            appointment.status is AppointmentStatus.ARRIVED
            and appointment.consultation_id == consultation_id
        ):
            return appointment  # the same join again (the cabin reconnected)
        marked = await self._storage.mark_arrived(
            appointment_id, at=self._clock.now(), consultation_id=consultation_id
        )
        if marked is None:
            log.warning(
                "hub.appointment_refused cabin=%s appointment=%s reason=status_%s",
                cabin_id,
                appointment_id,
                appointment.status.value,
            )
            return None
        log.info(
            "hub.appointment_arrived appointment=%s consultation=%s",
            appointment_id,
            consultation_id,
        )
        await self._audit.record(
            "appointment.arrived",
            actor_kind=ActorKind.CABIN,
            actor_id=cabin_id,
            consultation_id=consultation_id,
            subject=f"appointment:{appointment_id}",
        )
        await self.push_todays(cabin_id)
        return marked

    async def booking_of(self, record: ConsultationRecord) -> Booking | None:
        """The appointment a live consultation checked in with (for a replica that reads the
        waiting room back from the database)."""
        appointment = await self._of_consultation(record.cabin_id, record.consultation_id)
        if appointment is None:
            return None
        return await self.booking(appointment)

    async def booking(self, appointment: Appointment) -> Booking:
        """How the waiting room orders and shows a patient of this appointment."""
        return Booking(
            appointment.appointment_id,
            appointment.starts_at,
            appointment.doctor,
            await self._doctor_name(appointment.doctor),
            await self.timezone(appointment.cabin_id),
        )

    async def _of_consultation(self, cabin_id: str, consultation_id: str) -> Appointment | None:
        now = self._clock.now()
        # a patient checks in from 30 min before their slot (and a late one after it)
        appointments = await self._storage.appointments(
            cabin_ids=[cabin_id],
            starts_from=now - timedelta(days=2),
            starts_before=now + timedelta(days=1),
        )
        for appointment in appointments:
            if appointment.consultation_id == consultation_id:
                return appointment
        return None

    async def call_ended(self, consultation_id: str, appointment_id: str | None) -> None:
        """A call ended normally: its appointment, if it had one, is FULFILLED."""
        if appointment_id is None:
            try:
                record = await self._storage.consultation(consultation_id)
                found = (
                    None
                    if record is None
                    else await self._of_consultation(record.cabin_id, consultation_id)
                )
            except StorageError as exc:
                log.error("hub.storage_failed task=appointment_lookup error=%s", log_safe(exc))
                return
            if found is None:
                return
            appointment_id = found.appointment_id
        await self.fulfilled(appointment_id)

    async def fulfilled(self, appointment_id: str) -> None:
        """The consultation of an arrived appointment ended: FULFILLED."""
        try:
            marked = await self._storage.mark_fulfilled(appointment_id, at=self._clock.now())
        except StorageError as exc:
            log.error("hub.storage_failed task=appointment_fulfilled error=%s", log_safe(exc))
            return
        if marked is not None:
            log.info("hub.appointment_fulfilled appointment=%s", appointment_id)
            await self._audit.record(
                "appointment.fulfilled",
                actor_kind=ActorKind.HUB,
                actor_id="hub",
                consultation_id=marked.consultation_id,
                subject=f"appointment:{appointment_id}",
            )

    # --- today's list for the cabin -------------------------------------------------------

    async def todays(self, cabin_id: str) -> wire.TodaysAppointments:
        """The appointments of the cabin's day whose code still opens it (booked, or a no-show
        who may come late), codes hashed."""
        calendar = await self._storage.calendar(cabin_id)
        zone_name = _timezone(cabin_id, calendar)
        zone = ZoneInfo(zone_name)
        if calendar is None:
            calendar = CabinCalendar(cabin_id=cabin_id, town="", timezone=zone_name)
        now = self._clock.now()
        day = now.astimezone(zone).date()
        starts = datetime.combine(day, time(0), tzinfo=zone)
        ends = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
        appointments = await self._storage.appointments(
            cabin_ids=[cabin_id], starts_from=starts, starts_before=ends
        )
        entries = []
        for appointment in appointments:
            if appointment.status not in (AppointmentStatus.BOOKED, AppointmentStatus.NOSHOW):
                continue  # an arrived one is used; cancelled or fulfilled ones open none
            opens, closes = self.validity(appointment, calendar)
            if closes <= now:
                continue
            salt, digest = await self._hashed(appointment)
            entries.append(
                wire.TodaysAppointment(
                    appointment_id=appointment.appointment_id,
                    code_salt=base64.b64encode(salt).decode("ascii"),
                    code_hash=base64.b64encode(digest).decode("ascii"),
                    code_iterations=wire.APPOINTMENT_CODE_ITERATIONS,
                    patient=appointment.patient,
                    starts_at=appointment.starts_at,
                    ends_at=appointment.ends_at,
                    valid_from=opens,
                    valid_until=closes,
                    doctor=appointment.doctor,
                    doctor_name=await self._doctor_name(appointment.doctor),
                )
            )
        return wire.TodaysAppointments(
            msg_id=new_msg_id(), day=day, timezone=zone_name, entries=entries[:TODAYS_MAX]
        )

    async def _hashed(self, appointment: Appointment) -> tuple[bytes, bytes]:
        key = (appointment.appointment_id, appointment.code)
        kept = self._hashes.get(key)
        if kept is not None:
            return kept
        salt = secrets.token_bytes(16)
        digest = await asyncio.to_thread(
            wire.appointment_code_hash, appointment.code, salt, wire.APPOINTMENT_CODE_ITERATIONS
        )
        if len(self._hashes) >= _HASHES_KEPT:
            self._hashes.clear()
        self._hashes[key] = (salt, digest)
        return salt, digest

    async def push_todays(self, cabin_id: str) -> None:
        """Send the cabin its list (here, or through the replica that holds it). Call it when
        a booking of the cabin's day changes."""
        try:
            if await self._storage.calendar(cabin_id) is None:
                return  # a cabin nobody books (no calendar): no list to keep
            message = await self.todays(cabin_id)
        except StorageError as exc:
            log.error("hub.storage_failed task=todays_appointments error=%s", log_safe(exc))
            return
        self._send_to_cabin(cabin_id, message)
        log.info(
            "hub.todays_appointments_sent cabin=%s day=%s count=%d",
            cabin_id,
            message.day.isoformat(),
            len(message.entries),
        )

    async def sync_periodically(self, cabins: Callable[[], list[str]]) -> None:
        """Send each cabin connected here its list every `SYNC_EVERY_S`, and just after its
        local midnight (its new day's list)."""
        while True:
            try:
                wait = await self._until_a_midnight(cabins())
            except StorageError as exc:
                log.error("hub.storage_failed task=todays_sync error=%s", log_safe(exc))
                wait = SYNC_EVERY_S
            await asyncio.sleep(wait)
            for cabin_id in cabins():
                await self.push_todays(cabin_id)

    async def _until_a_midnight(self, cabin_ids: list[str]) -> float:
        """Seconds until the first local midnight of these cabins (a second after it)."""
        soonest = SYNC_EVERY_S
        now = self._clock.now()
        for cabin_id in cabin_ids[:1000]:
            zone = ZoneInfo(await self.timezone(cabin_id))
            tomorrow = now.astimezone(zone).date() + timedelta(days=1)
            midnight = datetime.combine(tomorrow, time(0), tzinfo=zone)
            soonest = min(soonest, (midnight - now).total_seconds() + 1.0)
        return max(1.0, soonest)


def _timezone(cabin_id: str, calendar: CabinCalendar | None) -> str:
    zone = calendar.timezone if calendar is not None else DEFAULT_TIMEZONE
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        log.error("hub.calendar_bad_timezone cabin=%s", cabin_id)
        return DEFAULT_TIMEZONE
    return zone
