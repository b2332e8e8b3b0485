"""The queue and taking a patient: the waiting room and the calls as the database knows them,
cached on each replica (`QueueView`), and what the cabins and consoles do with them
(`QueueDesk`: joins, leaves, takes, the end of a call, the room and the places in the queue).

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
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import msgspec

import wire
from hub.accounts import doctor_info
from hub.audit import AuditLog
from hub.calls import Call, CallRegistry
from hub.clock import Clock
from hub.cluster import Cluster, ClusterDown
from hub.departures import Departures
from hub.errors import StorageError
from hub.log_safe import log_safe
from hub.message_ids import new_msg_id
from hub.patients import match_key
from hub.peers import Peer, PeerKind, acknowledge, refuse
from hub.routing import Routing
from hub.signals import CallsChanged, RoomChanged
from hub.storage import (
    ActorKind,
    ConsultationRecord,
    ConsultationStatus,
    DoctorRecord,
    ReadingRecord,
    Storage,
)
from hub.turn import IceServers
from hub.waiting_room import WaitingPatient, WaitingRoom

log = logging.getLogger(__name__)

ACTIVE_READ = 5000
"""At most this many live consultations are read back at once."""
_CLOSED = (ConsultationStatus.ENDED, ConsultationStatus.LEFT)
ROOM_BROADCAST_INTERVAL_S = 0.25
"""The waiting room goes to the consoles at most this often (changes in between wait)."""
JOIN_REFUSALS_LOGGED_EVERY_S = 10.0
BOOKED_DOCTOR_FIRST = timedelta(minutes=10)
"""A booked patient is offered to the doctor they booked with first: another doctor may take
them once this long has passed after their slot's start, or when that doctor is not connected."""
OFFER_KEY = "hub:offer:"
"""A call's pending `SdpOffer`, in the cluster, for a console coming back through another
replica (`OFFER_KEY` + consultation id), as long as `offer_ttl_s`."""


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


@dataclass(frozen=True, slots=True)
class Booking:
    """The appointment a waiting patient checked in with, as the room orders them."""

    appointment_id: str
    starts_at: datetime
    doctor: str | None
    doctor_name: str | None = None
    timezone: str | None = None
    """The cabin's time zone, in which the slot's time is shown."""


BookingOf = Callable[[ConsultationRecord], Awaitable[Booking | None]]
"""The appointment a consultation checked in with (read from the bookings), or None."""


async def _no_booking(_record: ConsultationRecord) -> Booking | None:
    return None


class QueueView:
    """Refreshes a replica's waiting room and calls from the database."""

    def __init__(
        self, *, storage: Storage, room: WaitingRoom, calls: CallRegistry, ice: IceServers
    ) -> None:
        self.booking_of: BookingOf = _no_booking
        """Set by the switchboard: a patient read back from the database keeps their slot."""
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

    async def refresh_one(self, consultation_id: str) -> bool:
        """Re-read one consultation (another replica changed it); whether the cache changed."""
        since = self._version
        record = await self._storage.consultation(consultation_id)
        if not self._untouched(consultation_id, since):
            return False
        if record is None or record.status in _CLOSED:
            removed = self._room.remove(consultation_id) is not None
            removed = self._calls.end(consultation_id) is not None or removed
            if removed:  # a refresh that read it live before now must not bring it back
                self._version += 1
                self._changed[consultation_id] = self._version
            return removed
        return await self._apply(record, since)

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
        booking = None
        if patient is None or record.status is ConsultationStatus.WAITING:
            readings = await self._storage.readings(consultation_id)
            vitals = [r.vital for r in readings]
        if patient is None:
            booking = await self.booking_of(record)
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
            if booking is not None:
                patient.appointment_id = booking.appointment_id
                patient.appointment_at = booking.starts_at
                patient.booked_doctor = booking.doctor
                patient.booked_doctor_name = booking.doctor_name
                patient.appointment_timezone = booking.timezone
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


class QueueDesk:
    """The waiting room and the calls of this replica, as the consoles and cabins see them:
    joins, leaves and takes, the end of a call, the room sent to the consoles here and each
    place in the queue to the cabins here (the other replicas send theirs, from their own
    cache, on a signal)."""

    def __init__(
        self,
        *,
        storage: Storage,
        clock: Clock,
        ice: IceServers,
        audit: AuditLog,
        cluster: Cluster,
        routing: Routing,
        departures: Departures,
        spawn: Callable[[Coroutine[Any, Any, None], str], None],
        offer_ttl_s: float,
    ) -> None:
        self.room = WaitingRoom()
        self.calls = CallRegistry()
        self.view = QueueView(storage=storage, room=self.room, calls=self.calls, ice=ice)
        self._storage = storage
        self._clock = clock
        self._ice = ice
        self._audit = audit
        self._cluster = cluster
        self.routing = routing
        self.departures = departures
        self._spawn = spawn
        self._offer_ttl_s = offer_ttl_s
        self._sent_positions: dict[str, int] = {}
        self._room_sent_at = -ROOM_BROADCAST_INTERVAL_S
        self._room_pending: asyncio.TimerHandle | None = None
        self._join_refusals: dict[str, tuple[float, int]] = {}
        """Per cabin: when a refused join was last logged, and how many since."""
        self.call_ended: Callable[[str, str | None], Coroutine[Any, Any, None]] | None = None
        """Set by the switchboard: told (consultation id, its appointment id if the room knew
        it) once a call ended normally, to mark its appointment fulfilled."""

    def stop(self) -> None:
        if self._room_pending is not None:
            self._room_pending.cancel()

    def waiting_entries(self) -> list[wire.WaitingEntry]:
        """The waiting room as the consoles see it (a cabin held by another replica is
        online; one this replica holds not and no other replica has been seen to hold
        since its last check is offline)."""
        return self.room.entries(cabin_online=self.departures.shown_online)

    async def reread(self, consultation_id: str | None = None) -> None:
        """Re-read the database: one consultation (another replica changed it), or all."""
        try:
            if consultation_id is not None:
                changed = await self.view.refresh_one(consultation_id)
            else:
                changed = await self.view.refresh()
        except StorageError as exc:
            log.error("hub.storage_failed task=queue_refresh error=%s", log_safe(exc))
            return
        if changed:
            self.room_changed(signal=False)

    def broadcast_room(self) -> None:
        """Send the waiting room to every console of this replica: at once if it was last sent
        at least `ROOM_BROADCAST_INTERVAL_S` ago, else once when that time has passed (the
        latest room then), so that a cabin that joins, leaves or measures in a loop never
        floods a console."""
        if not self.routing.consoles or self._room_pending is not None:
            return
        loop = asyncio.get_running_loop()
        wait = self._room_sent_at + ROOM_BROADCAST_INTERVAL_S - loop.time()
        if wait > 0:
            self._room_pending = loop.call_later(wait, self._send_room)
            return
        self._send_room()

    def _send_room(self) -> None:
        self._room_pending = None
        self._room_sent_at = asyncio.get_running_loop().time()
        if not self.routing.consoles:
            return
        self.routing.consoles_here(
            wire.WaitingRoom(msg_id=new_msg_id(), entries=self.waiting_entries())
        )

    def send_position(self, peer: Peer, consultation_id: str, place: int) -> None:
        peer.send(
            wire.QueuePosition(msg_id=new_msg_id(), consultation_id=consultation_id, position=place)
        )
        self._sent_positions[consultation_id] = place

    def room_changed(self, changed: str | None = None, *, signal: bool = True) -> None:
        """Tell every console, and each cabin of this replica whose patient's place has
        changed; and the other replicas (`signal`: the consultation `changed`, None: several),
        which do the same for theirs."""
        if signal:
            self.routing.signal(RoomChanged(consultation_id=changed))
        self.broadcast_room()
        positions = self.room.positions()
        for consultation_id in list(self._sent_positions):
            if consultation_id not in positions:
                del self._sent_positions[consultation_id]
        for consultation_id, place in positions.items():
            if self._sent_positions.get(consultation_id) == place:
                continue
            patient = self.room.get(consultation_id)
            peer = None if patient is None else self.routing.cabins.get(patient.cabin_id)
            if peer is not None:
                self.send_position(peer, consultation_id, place)

    async def end_call(
        self,
        call: Call,
        reason: wire.CallEndReason,
        *,
        actor: tuple[ActorKind, str],
        message: wire.CallEnd | None = None,
        origin: Peer | None = None,
        status: ConsultationStatus = ConsultationStatus.ENDED,
    ) -> None:
        """End the call everywhere and forget its signaling. The record is closed before the
        peers are told (wherever they are connected), so that whoever gets the `CallEnd`
        finds the consultation ended; it is closed by one conditional update, so that of two
        replicas that end it at once (a grace here, a hang-up there), one tells the peers,
        logs and audits it."""
        end = message or wire.CallEnd(
            msg_id=new_msg_id(), consultation_id=call.consultation_id, reason=reason
        )
        closed = False
        appointment_id: str | None = None
        try:
            with self.view.changing(call.consultation_id):
                self.calls.end(call.consultation_id)
                gone = self.room.remove(call.consultation_id)
                appointment_id = None if gone is None else gone.appointment_id
                closed = await self._storage.close_live_consultation(
                    call.consultation_id, status=status, at=self._clock.now()
                )
        except BaseException:
            self._call_over(call, end, origin)  # the peers are told all the same
            raise
        if not closed:  # ended meanwhile, through another replica, which told the peers
            self.room_changed(signal=False)
            return
        self._call_over(call, end, origin)
        if status is ConsultationStatus.ENDED and self.call_ended is not None:
            self._spawn(
                self.call_ended(call.consultation_id, appointment_id), "hub-appointment-fulfilled"
            )
        log.info(
            "hub.call_ended consultation=%s reason=%s by=%s",
            call.consultation_id,
            reason.value,
            actor[0].value,
        )
        await self._audit.record(
            "consultation.end",
            actor_kind=actor[0],
            actor_id=actor[1],
            consultation_id=call.consultation_id,
        )

    def _call_over(self, call: Call, end: wire.CallEnd, origin: Peer | None) -> None:
        """Tell the cabin (unless it said so) and the doctor's consoles, here and elsewhere,
        and the other replicas."""
        if origin is None or origin.kind is not PeerKind.CABIN:
            self.routing.to_cabin(call.cabin_id, end)
        self.routing.to_doctor(call.doctor, end, but=origin)
        self.routing.signal(CallsChanged(consultation_id=call.consultation_id))
        self.room_changed(signal=False)
        self._spawn(self.forget_offer(call.consultation_id), "hub-forget-offer")

    async def own_consultation(
        self, peer: Peer, message: wire.Message, consultation_id: str
    ) -> ConsultationRecord | None:
        """The consultation if it is this cabin's; else refuse the message and None."""
        record = await self._storage.consultation(consultation_id)
        if record is None:
            refuse(peer, wire.ErrorCode.NOT_FOUND, message.msg_id, "no such consultation")
            return None
        if record.cabin_id != peer.identity:
            log.warning(
                "hub.cabin_not_owner cabin=%s consultation=%s", peer.identity, consultation_id
            )
            refuse(
                peer, wire.ErrorCode.UNAUTHORIZED, message.msg_id, "not this cabin's consultation"
            )
            return None
        return record

    async def owns(self, peer: Peer, message: wire.Message, consultation_id: str) -> bool:
        """Whether the consultation is this cabin's (else the message is refused): from the
        calls and the room this replica holds when it is there (a consultation's cabin never
        changes, and they came from the database), else from the database. A call's readings,
        one a second, skip a database round trip each."""
        call = self.calls.get(consultation_id)
        patient = self.room.get(consultation_id)
        cabin_id = call.cabin_id if call is not None else patient.cabin_id if patient else None
        if cabin_id == peer.identity:
            return True
        return await self.own_consultation(peer, message, consultation_id) is not None

    async def join(self, peer: Peer, join: wire.QueueJoin, booking: Booking | None = None) -> None:
        """A join, stored then put in the room; a refresh meanwhile leaves it alone.
        `booking`: the appointment the patient checked in with (their slot time, their
        doctor)."""
        with self.view.changing(join.consultation_id):
            await self._join_steps(peer, join, booking)

    async def _join_steps(
        self, peer: Peer, join: wire.QueueJoin, booking: Booking | None = None
    ) -> None:
        cabin_id, consultation_id = peer.identity, join.consultation_id
        now = self._clock.now()
        if self._join_again(peer, join):
            return
        await self._settle_others(peer, join)
        if self._second_patient(peer, join):
            return
        record = await self._storage.open_consultation(
            ConsultationRecord(
                consultation_id=consultation_id,
                cabin_id=cabin_id,
                patient=join.patient,
                match_key=match_key(join.patient),
                reason=join.reason,
                age_years=join.age_years,
                sex=join.patient.sex,
                language=join.language,
                status=ConsultationStatus.WAITING,
                doctor=None,
                joined_at=now,
            )
        )
        if record.cabin_id != cabin_id or record.status in _CLOSED:
            refuse(
                peer,
                wire.ErrorCode.CONFLICT,
                join.msg_id,
                "this consultation id is already used",
            )
            return
        if record.status is ConsultationStatus.TAKEN:
            await self._storage.mark_waiting(consultation_id)
        for index, vital in enumerate(join.vitals):
            await self._storage.add_reading(
                ReadingRecord(consultation_id, f"{join.msg_id}#{index}", vital, now)
            )
        if self._join_again(peer, join):  # joined twice at once: the first one did it all
            return
        if self._second_patient(peer, join):  # another patient's join won the race
            await self._storage.close_consultation(
                consultation_id, status=ConsultationStatus.LEFT, at=self._clock.now()
            )
            return
        self.room.join(
            WaitingPatient(
                consultation_id=consultation_id,
                cabin_id=cabin_id,
                joined_at=record.joined_at,
                language=join.language,
                patient=join.patient,
                reason=join.reason,
                age_years=join.age_years,
                vitals=list(join.vitals),
                appointment_id=None if booking is None else booking.appointment_id,
                appointment_at=None if booking is None else booking.starts_at,
                booked_doctor=None if booking is None else booking.doctor,
                booked_doctor_name=None if booking is None else booking.doctor_name,
                appointment_timezone=None if booking is None else booking.timezone,
            )
        )
        log.info("hub.queue_joined consultation=%s cabin=%s", consultation_id, cabin_id)
        acknowledge(peer, join)
        self.room_changed(consultation_id)

    def _join_again(self, peer: Peer, join: wire.QueueJoin) -> bool:
        """A join of a consultation already live (the cabin said it again after reconnecting):
        acknowledge it and tell the place again; True if it was one."""
        live, call = self.room.get(join.consultation_id), self.calls.get(join.consultation_id)
        owner = live.cabin_id if live is not None else call.cabin_id if call is not None else None
        if owner is None:
            return False
        if owner != peer.identity:
            refuse(peer, wire.ErrorCode.CONFLICT, join.msg_id, "consultation id taken")
            return True
        acknowledge(peer, join)
        place = self.room.positions().get(join.consultation_id)
        if place is not None:
            self.send_position(peer, join.consultation_id, place)
        return True

    async def _settle_others(self, peer: Peer, join: wire.QueueJoin) -> None:
        """Re-read this cabin's other live consultations before a join is refused for them:
        one ended through another replica may still be here (its `CallEnd` reached the cabin
        at once, the signal to re-read it has not been handled yet), and the cabin, told the
        call is over, rightly joins with its next patient."""
        others = {p.consultation_id for p in self.room.of_cabin(peer.identity)}
        others |= {c.consultation_id for c in self.calls.of_cabin(peer.identity)}
        others.discard(join.consultation_id)
        changed = False
        for consultation_id in sorted(others):
            changed |= await self.view.refresh_one(consultation_id)
        if changed:
            self.room_changed(signal=False)

    def _second_patient(self, peer: Peer, join: wire.QueueJoin) -> bool:
        """A join while another patient of this cabin is in the waiting room (or in a call):
        a cabin has one patient at a time, so it is refused (and logged); True if it was."""
        waiting = [p.consultation_id for p in self.room.of_cabin(peer.identity)]
        waiting += [c.consultation_id for c in self.calls.of_cabin(peer.identity)]
        others = [c for c in waiting if c != join.consultation_id]
        if not others:
            return False
        now = self._clock.monotonic()
        logged_at, unlogged = self._join_refusals.get(peer.identity, (None, 0))
        if logged_at is None or now - logged_at >= JOIN_REFUSALS_LOGGED_EVERY_S:
            log.warning(
                "hub.queue_join_refused cabin=%s consultation=%s reason=one_patient_per_cabin"
                " waiting=%s refused=%d",
                peer.identity,
                join.consultation_id,
                others[0],
                unlogged + 1,
            )
            self._join_refusals[peer.identity] = (now, 0)
        else:
            self._join_refusals[peer.identity] = (logged_at, unlogged + 1)
        refuse(
            peer,
            wire.ErrorCode.CONFLICT,
            join.msg_id,
            f"this cabin already has a patient in the waiting room ({others[0]}):"
            " send queue_leave for it first",
        )
        return True

    async def leave(self, peer: Peer, leave: wire.QueueLeave) -> None:
        record = await self.own_consultation(peer, leave, leave.consultation_id)
        if record is None:
            return
        call = await self.call_for(leave.consultation_id)
        if call is not None:
            await self.end_call(
                call,
                wire.CallEndReason.PATIENT_LEFT,
                actor=(ActorKind.CABIN, peer.identity),
                origin=peer,
                status=ConsultationStatus.LEFT,
            )
        elif self.room.remove(leave.consultation_id) is not None:
            log.info(
                "hub.queue_left consultation=%s reason=%s",
                leave.consultation_id,
                leave.reason.value,
            )
            self.room_changed(signal=False)
            with self.view.changing(leave.consultation_id):
                await self._storage.close_consultation(
                    leave.consultation_id, status=ConsultationStatus.LEFT, at=self._clock.now()
                )
            # once closed: the others re-read it so
            self.routing.signal(RoomChanged(consultation_id=leave.consultation_id))
        acknowledge(peer, leave)

    async def take(self, peer: Peer, take: wire.TakeConsultation) -> None:
        doctor_name, consultation_id = peer.identity, take.consultation_id
        doctor = await self._storage.doctor(doctor_name)
        if doctor is None:
            refuse(peer, wire.ErrorCode.UNAUTHORIZED, take.msg_id, "unknown doctor")
            return
        if self.room.get(consultation_id) is None:  # maybe joined through another replica
            await self.reread(consultation_id)
        patient = self.room.get(consultation_id)
        cabin_online = patient is not None and await self.routing.cabin_anywhere(patient.cabin_id)
        if patient is not None and await self._kept_for_booked_doctor(patient, doctor_name):
            refuse(
                peer,
                wire.ErrorCode.CONFLICT,
                take.msg_id,
                "booked with another doctor, who is offered the patient first",
            )
            return
        # From here to the mark in the room, no await: on this replica, the check and the mark
        # are one step (a second doctor here is refused at once). Across replicas, the
        # database's `mark_taken` is a conditional update: exactly one doctor wins.
        patient = self.room.get(consultation_id)
        if patient is None:
            refuse(peer, wire.ErrorCode.NOT_FOUND, take.msg_id, "no longer waiting")
            return
        if patient.taken_by is not None:
            refuse(peer, wire.ErrorCode.CONFLICT, take.msg_id, "already taken")
            log.info("hub.take_conflict consultation=%s doctor=%s", consultation_id, doctor_name)
            return
        if not cabin_online:
            refuse(peer, wire.ErrorCode.UNAVAILABLE, take.msg_id, "the cabin is offline")
            return
        if self.calls.of_doctor(doctor_name) is not None:
            refuse(peer, wire.ErrorCode.CONFLICT, take.msg_id, "end your current call first")
            return
        # cannot be refused: checked just above
        self.room.take(consultation_id, doctor_name, doctor.display_name)
        with self.view.changing(consultation_id):
            await self._take_marked(peer, take, doctor, patient)

    async def _kept_for_booked_doctor(self, patient: WaitingPatient, doctor: str) -> bool:
        """Whether the patient waits for the doctor they booked with, not `doctor`: until
        `BOOKED_DOCTOR_FIRST` after their slot's start, while that doctor is connected."""
        booked, slot = patient.booked_doctor, patient.appointment_at
        if booked is None or slot is None or booked == doctor:
            return False
        if self._clock.now() >= slot + BOOKED_DOCTOR_FIRST:
            return False
        return await self.departures.held(PeerKind.CONSOLE, booked)

    async def _take_marked(
        self, peer: Peer, take: wire.TakeConsultation, doctor: DoctorRecord, patient: WaitingPatient
    ) -> None:
        """The take, marked in this replica's room: now in the database, where one wins."""
        doctor_name, consultation_id = peer.identity, take.consultation_id
        taken_at = self._clock.now()
        try:
            won = await self._storage.mark_taken(consultation_id, doctor=doctor_name, at=taken_at)
        except BaseException:
            self.room.release(consultation_id)
            raise
        if not won:
            self.room.release(consultation_id)
            refuse(peer, wire.ErrorCode.CONFLICT, take.msg_id, "already taken")
            log.info("hub.take_conflict consultation=%s doctor=%s", consultation_id, doctor_name)
            self._spawn(self.reread(), "hub-queue-refresh")  # taken through another replica
            return
        if self.room.get(consultation_id) is not patient:  # the patient left meanwhile
            await self._storage.close_consultation(
                consultation_id, status=ConsultationStatus.LEFT, at=self._clock.now()
            )
            refuse(peer, wire.ErrorCode.NOT_FOUND, take.msg_id, "no longer waiting")
            return
        cabin_accept, console_accept = call_accepts(
            doctor,
            consultation_id=consultation_id,
            cabin_id=patient.cabin_id,
            patient=patient.patient,
            ice=self._ice,
            at=taken_at,
        )
        self.calls.start(
            Call(
                consultation_id=consultation_id,
                cabin_id=patient.cabin_id,
                doctor=doctor_name,
                cabin_accept=cabin_accept,
                console_accept=console_accept,
            )
        )
        log.info(
            "hub.consultation_taken consultation=%s doctor=%s cabin=%s",
            consultation_id,
            doctor_name,
            patient.cabin_id,
        )
        self.routing.to_cabin(patient.cabin_id, cabin_accept)
        self.routing.to_doctor(doctor_name, console_accept)
        self.routing.signal(CallsChanged(consultation_id=consultation_id))
        self.room_changed(signal=False)
        await self._audit.record(
            "consultation.take",
            actor_kind=ActorKind.DOCTOR,
            actor_id=doctor_name,
            consultation_id=consultation_id,
            client_address=peer.client_address,
        )

    async def call_for(self, consultation_id: str) -> Call | None:
        """The call of a consultation: from the cache, or from the database (begun through
        another replica, its signal not yet here)."""
        call = self.calls.get(consultation_id)
        if call is not None:
            return call
        try:
            return await self.view.load(consultation_id)
        except StorageError as exc:
            log.error("hub.storage_failed task=call_load error=%s", log_safe(exc))
            return None

    async def keep_offer(self, offer: wire.SdpOffer) -> None:
        """The offer, in the cluster for a while: a console that comes back through another
        replica gets it."""
        try:
            await self._cluster.put(
                OFFER_KEY + offer.consultation_id,
                msgspec.json.encode(offer),
                ttl_s=self._offer_ttl_s,
            )
        except ClusterDown as exc:
            log.warning("hub.cluster_down task=keep_offer error=%s", log_safe(exc))

    async def forget_offer(self, consultation_id: str) -> None:
        try:
            await self._cluster.delete(OFFER_KEY + consultation_id)
        except ClusterDown as exc:
            log.warning("hub.cluster_down task=forget_offer error=%s", log_safe(exc))

    async def offer_from_cluster(self, peer: Peer, call: Call) -> None:
        """The offer the cabin made through another replica, if not yet answered."""
        try:
            stored = await self._cluster.get(OFFER_KEY + call.consultation_id)
        except ClusterDown as exc:
            log.warning("hub.cluster_down task=pending_offer error=%s", log_safe(exc))
            return
        if stored is None or self.calls.get(call.consultation_id) is None:
            return
        try:
            offer = msgspec.json.decode(stored, type=wire.SdpOffer)
        except msgspec.DecodeError as exc:
            log.warning("hub.pending_offer_unreadable error=%s", log_safe(exc))
            return
        peer.send(offer)
        log.info(
            "hub.pending_offer_sent consultation=%s doctor=%s", call.consultation_id, peer.identity
        )
