"""The switchboard: what the hub does with each message from a cabin, a doctor's console or an
agent's alert page.

It holds the live state (the waiting room, the calls, who is connected) and routes by
identity: a consultation leads to its cabin id and to its doctor's username, and from there to
whatever connections they have now. A cabin or a console that reconnects is brought up to date
(its place in the queue, its call, the offer it missed, the prescriptions and the advice it has
not acknowledged) and the call goes on. A prescription, and the doctor's latest advice for the
patient, go to their cabin again and again until the cabin's `Ack`.

Every method runs on the event loop; the state changes between two awaits are atomic, which is
what makes a take safe when two doctors click at once. Log lines name consultations, cabins and
doctors by id, never a patient.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import msgspec

import wire
from hub.accounts import doctor_info
from hub.alerts import AlertDesk
from hub.audit import AuditLog
from hub.calls import Call, CallRegistry
from hub.cancellation import cancel_and_wait
from hub.clock import Clock
from hub.errors import (
    InvalidRecord,
    RecordContradicted,
    RecordLimited,
    RecordOfAnotherCabin,
    StorageError,
)
from hub.history import patient_history
from hub.log_safe import log_safe
from hub.message_ids import new_msg_id
from hub.patients import match_key
from hub.peers import CloseCode, Peer, PeerKind
from hub.prescriptions import PrescriptionSigner, issue_prescription, prescription_from_record
from hub.records import RecordDesk, RecordLimits, check_against_hub, read_upload_with_digest
from hub.storage import (
    ActorKind,
    AdviceRecord,
    ConsultationRecord,
    ConsultationRecordUpload,
    ConsultationStatus,
    ReadingRecord,
    Storage,
)
from hub.turn import IceServers
from hub.version import hub_version
from hub.waiting_room import WaitingPatient, WaitingRoom

log = logging.getLogger(__name__)

_CLOSED = (ConsultationStatus.ENDED, ConsultationStatus.LEFT)
REDELIVERY_WINDOW = timedelta(days=7)
"""A prescription (or advice) its cabin has not acknowledged is sent again this long after it was
issued (last changed)."""
_REDELIVERED_PER_CABIN = 100
_REDELIVERED_PER_ROUND = 1000
_ERROR_TEXT = 200
ROOM_BROADCAST_INTERVAL_S = 0.25
"""The waiting room goes to the consoles at most this often (changes in between wait)."""
JOIN_REFUSALS_LOGGED_EVERY_S = 10.0


class Switchboard:
    def __init__(
        self,
        *,
        storage: Storage,
        clock: Clock,
        ice: IceServers,
        signer: PrescriptionSigner,
        audit: AuditLog,
        offline_grace_s: float,
        refresh_s: float,
        prescription_retry_s: float,
        public_url: str,
        alert_escalation_s: float = 60.0,
        emergency_number: str = "15",
        record_limits: RecordLimits | None = None,
        alerts_per_minute: int = 12,
        alert_update_s: float = 5.0,
        alert_resync_s: float = 15.0,
    ) -> None:
        self.room = WaitingRoom()
        self.calls = CallRegistry()
        self._storage = storage
        self._clock = clock
        self._ice = ice
        self._signer = signer
        self._audit = audit
        self._offline_grace_s = offline_grace_s
        self._refresh_s = refresh_s
        self._prescription_retry_s = prescription_retry_s
        self._public_url = public_url
        self._cabins: dict[str, Peer] = {}
        self._consoles: dict[str, set[Peer]] = {}
        self._agents: dict[Peer, AgentScope] = {}
        """The connected agent pages, and the cabins each one's agent looks after."""
        self._away: dict[tuple[PeerKind, str], asyncio.TimerHandle] = {}
        self._sent_positions: dict[str, int] = {}
        self._room_sent_at = -ROOM_BROADCAST_INTERVAL_S
        self._room_pending: asyncio.TimerHandle | None = None
        self._join_refusals: dict[str, tuple[float, int]] = {}
        """Per cabin: when a refused join was last logged, and how many since."""
        self._last_sent: dict[str, float] = {}
        """Undelivered prescriptions and advice by `msg_id`: when (loop time) each was last
        sent to its cabin."""
        self._tasks: set[asyncio.Task[None]] = set()
        self._refresher: asyncio.Task[None] | None = None
        self._redeliverer: asyncio.Task[None] | None = None
        self.records = RecordDesk(record_limits or RecordLimits(), clock)
        """The records' own worker pool (not the default one, where passwords are hashed),
        its bounds, and the cabins' quotas."""
        self.alerts = AlertDesk(
            storage=storage,
            clock=clock,
            audit=audit,
            routes=self,
            escalation_s=alert_escalation_s,
            emergency_number=emergency_number,
            alerts_per_minute=alerts_per_minute,
            update_s=alert_update_s,
            resync_s=alert_resync_s,
        )

    # --- lifetime ---------------------------------------------------------------------------

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._refresher = loop.create_task(self._refresh(), name="hub-waiting-room-refresh")
        self._redeliverer = loop.create_task(
            self._redeliver_periodically(), name="hub-prescription-redelivery"
        )
        self.alerts.start()

    async def stop(self) -> None:
        if self._room_pending is not None:
            self._room_pending.cancel()
        for handle in self._away.values():
            handle.cancel()
        self._away.clear()
        self.alerts.stop()
        tasks = [t for t in (self._refresher, self._redeliverer, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            await cancel_and_wait(task)
        self.records.close()
        peers = [
            *self._cabins.values(),
            *(p for s in self._consoles.values() for p in s),
            *self._agents,
        ]
        await asyncio.gather(*(peer.close(CloseCode.GOING_AWAY, "hub stopping") for peer in peers))

    async def _refresh(self) -> None:
        while True:
            await asyncio.sleep(self._refresh_s)
            self._broadcast_room()

    def is_cabin_online(self, cabin_id: str) -> bool:
        return cabin_id in self._cabins

    def waiting_entries(self) -> list[wire.WaitingEntry]:
        """The waiting room as the consoles see it."""
        return self.room.entries(cabin_online=self.is_cabin_online)

    def spawn(self, work: Coroutine[Any, Any, None], name: str) -> None:
        self._spawn(work, name)

    def _spawn(self, work: Coroutine[Any, Any, None], name: str) -> None:
        """Run `work` as a task the switchboard owns (cancelled when it stops)."""
        task = asyncio.get_running_loop().create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def has_console(self, doctor: str) -> bool:
        return bool(self._consoles.get(doctor))

    # --- connections ------------------------------------------------------------------------

    def _welcome(self) -> wire.Welcome:
        return wire.Welcome(
            msg_id=new_msg_id(),
            protocol_version=wire.PROTOCOL_VERSION,
            hub_version=hub_version(),
            server_time=self._clock.now(),
        )

    def cabin_connected(self, peer: Peer, *, live: list[str] | None = None) -> None:
        """A cabin's connection, its hello accepted. `live`: the consultations the cabin says it
        has now (None: it does not say); those the hub holds for it and that are not there are
        over: the cabin restarted while its patient waited (its leave was lost with it), and
        its waiting entry would otherwise stay, refusing every next patient's join."""
        cabin_id = peer.identity
        if live is not None:
            self._end_forgotten(cabin_id, set(live))
        previous = self._cabins.get(cabin_id)
        if previous is not None and previous is not peer:
            log.info("hub.cabin_replaced cabin=%s", cabin_id)
            previous.close_soon(CloseCode.REPLACED, "replaced by a newer connection")
        self._cabins[cabin_id] = peer
        self._cancel_away(PeerKind.CABIN, cabin_id)
        log.info("hub.cabin_connected cabin=%s", cabin_id)
        peer.send(self._welcome())
        positions = self.room.positions()
        for patient in self.room.of_cabin(cabin_id):
            place = positions.get(patient.consultation_id)
            if place is not None:
                self._send_position(peer, patient.consultation_id, place)
        for call in self.calls.of_cabin(cabin_id):
            peer.send(self._fresh(call.cabin_accept, cabin_id))
        if previous is None and self.room.of_cabin(cabin_id):
            self._broadcast_room()  # back online
        self._spawn(self._redeliver(cabin_id), f"hub-undelivered-to-{cabin_id}")

    def _end_forgotten(self, cabin_id: str, live: set[str]) -> None:
        forgotten = False
        for patient in self.room.of_cabin(cabin_id):
            if patient.consultation_id in live:
                continue
            self.room.remove(patient.consultation_id)
            forgotten = True
            log.warning(
                "hub.queue_left consultation=%s reason=cabin_restarted", patient.consultation_id
            )
            self._spawn(
                self._close_forgotten(patient.consultation_id),
                f"hub-forgotten-{patient.consultation_id}",
            )
        for call in self.calls.of_cabin(cabin_id):
            if call.consultation_id in live:
                continue
            log.warning(
                "hub.call_forgotten consultation=%s reason=cabin_restarted", call.consultation_id
            )
            self._spawn(
                self._end_call(
                    call, wire.CallEndReason.CONNECTION_LOST, actor=(ActorKind.CABIN, cabin_id)
                ),
                f"hub-forgotten-call-{call.consultation_id}",
            )
        if forgotten:
            self._room_changed()

    async def _close_forgotten(self, consultation_id: str) -> None:
        try:
            await self._storage.close_consultation(
                consultation_id, status=ConsultationStatus.LEFT, at=self._clock.now()
            )
        except StorageError as exc:
            log.error(
                "hub.storage_failed task=forgotten consultation=%s error=%s",
                consultation_id,
                log_safe(exc),
            )

    def cabin_disconnected(self, peer: Peer) -> None:
        cabin_id = peer.identity
        if self._cabins.get(cabin_id) is not peer:
            return
        del self._cabins[cabin_id]
        log.info("hub.cabin_disconnected cabin=%s", cabin_id)
        if self.room.of_cabin(cabin_id):
            self._broadcast_room()  # offline: the consoles say so, and do not offer to take
        if self.room.of_cabin(cabin_id) or self.calls.of_cabin(cabin_id):
            self._schedule_away(PeerKind.CABIN, cabin_id)

    def console_connected(self, peer: Peer) -> None:
        doctor = peer.identity
        self._consoles.setdefault(doctor, set()).add(peer)
        self._cancel_away(PeerKind.CONSOLE, doctor)
        log.info("hub.console_connected doctor=%s", doctor)
        peer.send(self._welcome())
        peer.send(wire.WaitingRoom(msg_id=new_msg_id(), entries=self.waiting_entries()))
        call = self.calls.of_doctor(doctor)
        if call is not None:
            peer.send(self._fresh(call.console_accept, doctor))
            if call.pending_offer is not None:
                peer.send(call.pending_offer)
                log.info(
                    "hub.pending_offer_sent consultation=%s doctor=%s",
                    call.consultation_id,
                    doctor,
                )
            self._spawn(
                self._prescriptions_to_console(peer, call.consultation_id),
                f"hub-prescriptions-to-{doctor}",
            )
            self._spawn(
                self._notes_to_console(peer, call.consultation_id), f"hub-notes-to-{doctor}"
            )
        self.alerts.console_connected(peer, None if call is None else call.cabin_id)

    def console_disconnected(self, peer: Peer) -> None:
        doctor = peer.identity
        peers = self._consoles.get(doctor)
        if peers is None or peer not in peers:
            return
        peers.discard(peer)
        log.info("hub.console_disconnected doctor=%s", doctor)
        if not peers:
            del self._consoles[doctor]
            if self.calls.of_doctor(doctor) is not None:
                self._schedule_away(PeerKind.CONSOLE, doctor)

    def agent_connected(self, peer: Peer, scope: AgentScope) -> None:
        self._agents[peer] = scope
        log.info("hub.agent_connected agent=%s", peer.identity)
        peer.send(self._welcome())
        self.alerts.agent_connected(peer)

    def agent_disconnected(self, peer: Peer) -> None:
        if self._agents.pop(peer, None) is not None:
            log.info("hub.agent_disconnected agent=%s", peer.identity)

    def close_session(self, session_sha256: str) -> None:
        """Close the consoles and agent pages opened with a session that has just ended."""
        for peer in [*(p for s in self._consoles.values() for p in s), *self._agents]:
            if peer.session_sha256 == session_sha256:
                peer.close_soon(CloseCode.SESSION_ENDED, "signed out")

    def session_hashes(self) -> set[str]:
        """The sessions of the connected consoles and agent pages."""
        peers = [*(p for s in self._consoles.values() for p in s), *self._agents]
        return {peer.session_sha256 for peer in peers if peer.session_sha256 is not None}

    def has_session(self, session_sha256: str) -> bool:
        """Whether a console or an agent page opened with this session is connected (its
        session is in use, however long since its last HTTP request)."""
        peers = [*(p for s in self._consoles.values() for p in s), *self._agents]
        return any(peer.session_sha256 == session_sha256 for peer in peers)

    def _schedule_away(self, kind: PeerKind, who: str) -> None:
        self._cancel_away(kind, who)
        loop = asyncio.get_running_loop()
        self._away[(kind, who)] = loop.call_later(
            self._offline_grace_s, self._spawn_gone, kind, who
        )

    def _cancel_away(self, kind: PeerKind, who: str) -> None:
        handle = self._away.pop((kind, who), None)
        if handle is not None:
            handle.cancel()

    def _spawn_gone(self, kind: PeerKind, who: str) -> None:
        self._away.pop((kind, who), None)
        self._spawn(self._gone(kind, who), f"hub-{kind.value}-gone")

    async def _gone(self, kind: PeerKind, who: str) -> None:
        try:
            if kind is PeerKind.CABIN:
                await self._cabin_gone(who)
            else:
                await self._doctor_gone(who)
        except StorageError as exc:
            log.error(
                "hub.storage_failed peer=%s:%s error=%s", kind.value, log_safe(who), log_safe(exc)
            )

    async def _cabin_gone(self, cabin_id: str) -> None:
        """The grace is over: the cabin's patient loses their place, its call ends."""
        if cabin_id in self._cabins:
            return
        log.info("hub.cabin_gone cabin=%s", cabin_id)
        for call in self.calls.of_cabin(cabin_id):
            await self._end_call(
                call, wire.CallEndReason.CONNECTION_LOST, actor=(ActorKind.CABIN, cabin_id)
            )
        for patient in self.room.of_cabin(cabin_id):
            self.room.remove(patient.consultation_id)
            await self._storage.close_consultation(
                patient.consultation_id, status=ConsultationStatus.LEFT, at=self._clock.now()
            )
        self._room_changed()

    async def _doctor_gone(self, doctor: str) -> None:
        """The doctor's consoles have been away for the whole grace: their call ends."""
        if self._consoles.get(doctor):
            return
        call = self.calls.of_doctor(doctor)
        if call is not None:
            log.info("hub.doctor_gone doctor=%s consultation=%s", doctor, call.consultation_id)
            await self._end_call(
                call, wire.CallEndReason.DOCTOR_LEFT, actor=(ActorKind.DOCTOR, doctor)
            )

    # --- sending ----------------------------------------------------------------------------

    def _fresh(self, accept: wire.CallAccepted, who: str) -> wire.CallAccepted:
        """A `CallAccepted` sent again: a new id, and TURN credentials valid from now."""
        return msgspec.structs.replace(
            accept,
            msg_id=new_msg_id(),
            ice_servers=self._ice.for_peer(who, self._clock.now()),
        )

    # what the alert desk sends through (hub.alerts.AlertRoutes)

    def to_cabin(self, cabin_id: str, message: wire.Message) -> bool:
        return self._to_cabin(cabin_id, message)

    def to_agents(self, cabin_id: str, message: wire.Message) -> int:
        peers = [peer for peer, scope in self._agents.items() if scope.covers(cabin_id)]
        if peers:
            text = wire.encode(message).decode("utf-8")
            for peer in peers:
                peer.send_encoded(text)
        return len(peers)

    def agent_looks_after(self, peer: Peer, cabin_id: str) -> bool:
        scope = self._agents.get(peer)
        return scope is not None and scope.covers(cabin_id)

    def doctors_in_call_with(self, cabin_id: str) -> list[str]:
        return [call.doctor for call in self.calls.of_cabin(cabin_id)]

    def to_doctors(self, doctors: set[str], message: wire.Message) -> None:
        for doctor in doctors:
            self._to_doctor(doctor, message)

    def to_all_consoles(self, message: wire.Message) -> set[str]:
        text = wire.encode(message).decode("utf-8")
        for peers in self._consoles.values():
            for peer in peers:
                peer.send_encoded(text)
        return {doctor for doctor, peers in self._consoles.items() if peers}

    def _to_cabin(self, cabin_id: str, message: wire.Message) -> bool:
        peer = self._cabins.get(cabin_id)
        if peer is None:
            return False
        peer.send(message)
        return True

    def _to_doctor(self, doctor: str, message: wire.Message, *, but: Peer | None = None) -> int:
        peers = [p for p in self._consoles.get(doctor, ()) if p is not but]
        if peers:
            text = wire.encode(message).decode("utf-8")
            for peer in peers:
                peer.send_encoded(text)
        return len(peers)

    def _broadcast_room(self) -> None:
        """Send the waiting room to every console: at once if it was last sent at least
        `ROOM_BROADCAST_INTERVAL_S` ago, else once when that time has passed (the latest
        room then), so that a cabin that joins, leaves or measures in a loop never floods a
        console."""
        if not self._consoles or self._room_pending is not None:
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
        if not self._consoles:
            return
        message = wire.WaitingRoom(msg_id=new_msg_id(), entries=self.waiting_entries())
        text = wire.encode(message).decode("utf-8")
        for peers in self._consoles.values():
            for peer in peers:
                peer.send_encoded(text)

    def _send_position(self, peer: Peer, consultation_id: str, place: int) -> None:
        peer.send(
            wire.QueuePosition(msg_id=new_msg_id(), consultation_id=consultation_id, position=place)
        )
        self._sent_positions[consultation_id] = place

    def _room_changed(self) -> None:
        """Tell every console, and each cabin whose patient's place has changed."""
        self._broadcast_room()
        positions = self.room.positions()
        for consultation_id in list(self._sent_positions):
            if consultation_id not in positions:
                del self._sent_positions[consultation_id]
        for consultation_id, place in positions.items():
            if self._sent_positions.get(consultation_id) == place:
                continue
            patient = self.room.get(consultation_id)
            peer = None if patient is None else self._cabins.get(patient.cabin_id)
            if peer is not None:
                self._send_position(peer, consultation_id, place)

    @staticmethod
    def _refuse(peer: Peer, code: wire.ErrorCode, in_reply_to: str | None, text: str = "") -> None:
        peer.send(
            wire.ErrorMessage(msg_id=new_msg_id(), code=code, text=text, in_reply_to=in_reply_to)
        )

    @staticmethod
    def _ack(peer: Peer, message: wire.Message) -> None:
        peer.send(wire.Ack(msg_id=new_msg_id(), ack_of=message.msg_id))

    # --- calls ------------------------------------------------------------------------------

    async def _end_call(
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
        peers are told, so that whoever gets the `CallEnd` finds the consultation ended."""
        self.calls.end(call.consultation_id)
        self.room.remove(call.consultation_id)
        end = message or wire.CallEnd(
            msg_id=new_msg_id(), consultation_id=call.consultation_id, reason=reason
        )
        try:
            await self._storage.close_consultation(
                call.consultation_id, status=status, at=self._clock.now()
            )
        finally:
            if origin is None or origin.kind is not PeerKind.CABIN:
                self._to_cabin(call.cabin_id, end)
            self._to_doctor(call.doctor, end, but=origin)
            self._room_changed()
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

    # --- from a cabin -----------------------------------------------------------------------

    async def on_cabin_message(self, peer: Peer, message: wire.Message) -> None:
        match message:
            case wire.QueueJoin():
                await self._queue_join(peer, message)
            case wire.QueueLeave():
                await self._queue_leave(peer, message)
            case wire.ReadingMessage():
                await self._reading(peer, message)
            case wire.SdpOffer() | wire.IceCandidate() | wire.CallEnd():
                await self._signaling_from_cabin(peer, message)
            case wire.AlertMessage():
                await self._alert(peer, message)
            case wire.AlertAck():
                await self.alerts.acknowledged(peer, message)
            case wire.RecordUpload():
                await self._record(peer, message)
            case wire.PrintStatus():
                log.info(
                    "hub.print_status cabin=%s job=%s state=%s problem=%s",
                    peer.identity,
                    message.job_id,
                    message.state.value,
                    message.problem.value if message.problem else "-",
                )
                self._ack(peer, message)
            case wire.Ack():
                await self._cabin_ack(peer, message)
            case wire.ErrorMessage():
                log.info(
                    "hub.peer_refused peer=%s code=%s in_reply_to=%s",
                    peer.label,
                    message.code.value,
                    message.in_reply_to or "-",
                )
            case wire.CabinHello():
                self._refuse(
                    peer, wire.ErrorCode.CONFLICT, message.msg_id, "this cabin has said hello"
                )
            case _:
                self._refuse(
                    peer,
                    wire.ErrorCode.UNKNOWN_MESSAGE,
                    message.msg_id,
                    "a cabin does not send this message",
                )

    async def _own_consultation(
        self, peer: Peer, message: wire.Message, consultation_id: str
    ) -> ConsultationRecord | None:
        """The consultation if it is this cabin's; else refuse the message and None."""
        record = await self._storage.consultation(consultation_id)
        if record is None:
            self._refuse(peer, wire.ErrorCode.NOT_FOUND, message.msg_id, "no such consultation")
            return None
        if record.cabin_id != peer.identity:
            log.warning(
                "hub.cabin_not_owner cabin=%s consultation=%s", peer.identity, consultation_id
            )
            self._refuse(
                peer, wire.ErrorCode.UNAUTHORIZED, message.msg_id, "not this cabin's consultation"
            )
            return None
        return record

    async def _queue_join(self, peer: Peer, join: wire.QueueJoin) -> None:
        cabin_id, consultation_id = peer.identity, join.consultation_id
        now = self._clock.now()
        if self._join_again(peer, join) or self._second_patient(peer, join):
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
            self._refuse(
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
            )
        )
        log.info("hub.queue_joined consultation=%s cabin=%s", consultation_id, cabin_id)
        self._ack(peer, join)
        self._room_changed()

    def _join_again(self, peer: Peer, join: wire.QueueJoin) -> bool:
        """A join of a consultation already live (the cabin said it again after reconnecting):
        acknowledge it and tell the place again; True if it was one."""
        live, call = self.room.get(join.consultation_id), self.calls.get(join.consultation_id)
        owner = live.cabin_id if live is not None else call.cabin_id if call is not None else None
        if owner is None:
            return False
        if owner != peer.identity:
            self._refuse(peer, wire.ErrorCode.CONFLICT, join.msg_id, "consultation id taken")
            return True
        self._ack(peer, join)
        place = self.room.positions().get(join.consultation_id)
        if place is not None:
            self._send_position(peer, join.consultation_id, place)
        return True

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
        self._refuse(
            peer,
            wire.ErrorCode.CONFLICT,
            join.msg_id,
            f"this cabin already has a patient in the waiting room ({others[0]}):"
            " send queue_leave for it first",
        )
        return True

    async def _queue_leave(self, peer: Peer, leave: wire.QueueLeave) -> None:
        record = await self._own_consultation(peer, leave, leave.consultation_id)
        if record is None:
            return
        call = self.calls.get(leave.consultation_id)
        if call is not None:
            await self._end_call(
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
            self._room_changed()
            await self._storage.close_consultation(
                leave.consultation_id, status=ConsultationStatus.LEFT, at=self._clock.now()
            )
        self._ack(peer, leave)

    async def _reading(self, peer: Peer, reading: wire.ReadingMessage) -> None:
        record = await self._own_consultation(peer, reading, reading.consultation_id)
        if record is None:
            return
        stored = await self._storage.add_reading(
            ReadingRecord(
                reading.consultation_id, reading.msg_id, reading.reading, self._clock.now()
            )
        )
        if stored:
            log.info(
                "hub.reading_stored consultation=%s kind=%s",
                reading.consultation_id,
                reading.reading.kind.value,
            )
            call = self.calls.get(reading.consultation_id)
            if call is not None:
                self._to_doctor(call.doctor, reading)
            if self.room.add_vital(reading.consultation_id, reading.reading):
                self._broadcast_room()
        self._ack(peer, reading)

    async def _signaling_from_cabin(
        self, peer: Peer, message: wire.SdpOffer | wire.IceCandidate | wire.CallEnd
    ) -> None:
        call = self.calls.get(message.consultation_id)
        if call is None or call.cabin_id != peer.identity:
            self._refuse(peer, wire.ErrorCode.UNAUTHORIZED, message.msg_id, "no such call here")
            return
        match message:
            case wire.SdpOffer():
                call.pending_offer = message
                sent = self._to_doctor(call.doctor, message)
                log.info(
                    "hub.offer_relayed consultation=%s consoles=%d", call.consultation_id, sent
                )
            case wire.IceCandidate():
                self._to_doctor(call.doctor, message)
            case wire.CallEnd():
                await self._end_call(
                    call,
                    message.reason,
                    actor=(ActorKind.CABIN, peer.identity),
                    message=message,
                    origin=peer,
                )

    async def _alert(self, peer: Peer, alert: wire.AlertMessage) -> None:
        if alert.cabin_id != peer.identity:
            self._refuse(peer, wire.ErrorCode.UNAUTHORIZED, alert.msg_id, "not this cabin")
            return
        await self.alerts.raised(peer, alert)

    async def _record(self, peer: Peer, upload: wire.RecordUpload) -> None:
        """A consultation's record: within the cabin's quota (else `rate_limited`), read on
        the records' pool (refused if it cannot be), checked against what the hub knows of
        the consultation (`hub.records`), stored once (per cabin) and indexed by patient."""
        try:
            self.records.quota.admit(peer.identity, len(upload.bundle))
            content, digest = await self.records.run(
                lambda: read_upload_with_digest(upload, peer.identity)
            )
            known = await self._storage.consultation(upload.consultation_id)
            check_against_hub(
                content,
                known,
                cabin_id=peer.identity,
                now=self._clock.now(),
                margin=timedelta(seconds=self.records.limits.session_margin_s),
            )
        except RecordLimited as exc:
            log.warning(
                "hub.record_limited cabin=%s consultation=%s record=%s retry_after_s=%.0f",
                peer.identity,
                upload.consultation_id,
                upload.record_id,
                exc.retry_after_s,
            )
            self._refuse(peer, wire.ErrorCode.RATE_LIMITED, upload.msg_id, str(exc)[:_ERROR_TEXT])
            return
        except RecordContradicted as exc:
            log.warning(
                "hub.record_contradicts_hub cabin=%s consultation=%s record=%s error=%s",
                peer.identity,
                upload.consultation_id,
                upload.record_id,
                log_safe(exc),
            )
            code = (
                wire.ErrorCode.UNAUTHORIZED
                if isinstance(exc, RecordOfAnotherCabin)
                else wire.ErrorCode.CONFLICT
            )
            self._refuse(peer, code, upload.msg_id, str(exc)[:_ERROR_TEXT])
            return
        except InvalidRecord as exc:
            log.warning(
                "hub.record_refused cabin=%s consultation=%s record=%s error=%s",
                peer.identity,
                upload.consultation_id,
                upload.record_id,
                log_safe(exc),
            )
            self._refuse(peer, wire.ErrorCode.MALFORMED, upload.msg_id, str(exc)[:_ERROR_TEXT])
            return
        key, started_at = match_key(content.patient), content.started_at
        if known is not None:  # the hub's patient and start, whatever the record says
            if key != known.match_key:
                log.warning(
                    "hub.record_patient_mismatch cabin=%s consultation=%s record=%s",
                    peer.identity,
                    upload.consultation_id,
                    upload.record_id,
                )
            key, started_at = known.match_key, known.joined_at
            await self._check_record_doctor(peer, upload, content.doctor_id, content.doctor, known)
        stored = await self._storage.add_record(
            ConsultationRecordUpload(
                record_id=upload.record_id,
                consultation_id=upload.consultation_id,
                cabin_id=peer.identity,
                created_at=upload.created_at,
                received_at=self._clock.now(),
                bundle=bytes(upload.bundle),
                match_key=key,
                started_at=started_at,
                digest=digest,
            )
        )
        log.info(
            "hub.record_received consultation=%s record=%s duplicate=%s seen_live=%s",
            upload.consultation_id,
            upload.record_id,
            not stored,
            known is not None,
        )
        peer.send(
            wire.RecordAck(msg_id=new_msg_id(), record_id=upload.record_id, duplicate=not stored)
        )

    async def _check_record_doctor(
        self,
        peer: Peer,
        upload: wire.RecordUpload,
        doctor_id: str | None,
        doctor: wire.DoctorInfo | None,
        known: ConsultationRecord,
    ) -> None:
        """Log a record whose doctor is not the one who took the consultation on the hub (the
        history shows the hub's; the record is kept as received)."""
        registration = None
        if known.doctor is not None:
            account = await self._storage.doctor(known.doctor)
            registration = None if account is None else account.registration_number
        claimed_registration = None if doctor is None else doctor.registration_number
        if (doctor_id is not None and doctor_id != known.doctor) or (
            doctor is not None and (known.doctor is None or claimed_registration != registration)
        ):
            log.warning(
                "hub.record_doctor_mismatch cabin=%s consultation=%s record=%s hub_doctor=%s",
                peer.identity,
                upload.consultation_id,
                upload.record_id,
                known.doctor,
            )

    async def patient_history(self, current: ConsultationRecord) -> wire.PatientHistory:
        """`current`'s patient's earlier consultations (`hub.history`), built with the records'
        pool and bounds."""
        return await patient_history(
            self._storage, current, public_keys=self._signer.public_keys, desk=self.records
        )

    # --- prescriptions and advice on their way to the cabin ---------------------------------

    def _send_pending(
        self, cabin_id: str, message: wire.PrescriptionMessage | wire.PatientAdvice
    ) -> bool:
        """Send it to its cabin if connected (False if not); it goes again until acknowledged."""
        if not self._to_cabin(cabin_id, message):
            return False
        self._last_sent[message.msg_id] = asyncio.get_running_loop().time()
        return True

    async def _redeliver(self, cabin_id: str | None = None) -> None:
        """Send again what a cabin has not acknowledged: everything of `cabin_id` (it has just
        connected), or, for every connected cabin, what was not sent in the last half period."""
        since = self._clock.now() - REDELIVERY_WINDOW
        limit = _REDELIVERED_PER_ROUND if cabin_id is None else _REDELIVERED_PER_CABIN
        try:
            prescriptions = await self._storage.undelivered_prescriptions(
                since=since, cabin_id=cabin_id, limit=limit
            )
            advice = await self._storage.undelivered_advice(
                since=since, cabin_id=cabin_id, limit=limit
            )
        except StorageError as exc:
            log.error("hub.storage_failed task=redelivery error=%s", log_safe(exc))
            return
        pending: list[tuple[str, wire.PrescriptionMessage | wire.PatientAdvice]] = [
            (p.cabin_id, prescription_from_record(p.prescription)) for p in prescriptions
        ]
        pending += [(a.cabin_id, _advice_message(a)) for a in advice]
        now = asyncio.get_running_loop().time()
        if cabin_id is None:  # forget those delivered (or too old) meanwhile
            ids = {message.msg_id for _, message in pending}
            self._last_sent = {k: v for k, v in self._last_sent.items() if k in ids}
        for cabin, message in pending:
            last = self._last_sent.get(message.msg_id)
            recent = last is not None and now - last < self._prescription_retry_s / 2
            if cabin_id is None and recent:
                continue
            if not self._send_pending(cabin, message):
                continue
            if isinstance(message, wire.PrescriptionMessage):
                log.info(
                    "hub.prescription_resent consultation=%s prescription=%s cabin=%s",
                    message.consultation_id,
                    message.prescription_id,
                    cabin,
                )
            else:
                log.info(
                    "hub.advice_resent consultation=%s cabin=%s", message.consultation_id, cabin
                )

    async def _redeliver_periodically(self) -> None:
        while True:
            await asyncio.sleep(self._prescription_retry_s)
            if self._cabins:
                await self._redeliver()

    async def _cabin_ack(self, peer: Peer, ack: wire.Ack) -> None:
        """A cabin's Ack: of a prescription, it is now delivered (its doctor is told); of the
        latest advice of one of its consultations, that advice is delivered."""
        record = await self._storage.mark_prescription_delivered(
            ack.ack_of, cabin_id=peer.identity, at=self._clock.now()
        )
        if record is None or record.delivered_at is None:
            # not a prescription of this cabin's not yet delivered: advice, maybe
            await self._advice_ack(peer, ack)
            return
        self._last_sent.pop(record.msg_id, None)
        log.info(
            "hub.prescription_delivered consultation=%s prescription=%s cabin=%s",
            record.consultation_id,
            record.prescription_id,
            peer.identity,
        )
        self._to_doctor(
            record.doctor,
            wire.PrescriptionDelivered(
                msg_id=new_msg_id(),
                prescription_id=record.prescription_id,
                consultation_id=record.consultation_id,
                delivered_at=record.delivered_at,
            ),
        )
        await self._audit.record(
            "prescription.delivered",
            actor_kind=ActorKind.CABIN,
            actor_id=peer.identity,
            consultation_id=record.consultation_id,
        )

    async def _advice_ack(self, peer: Peer, ack: wire.Ack) -> None:
        advice = await self._storage.mark_advice_delivered(
            ack.ack_of, cabin_id=peer.identity, at=self._clock.now()
        )
        if advice is None:
            return  # an older advice since replaced, already delivered, or another cabin's
        self._last_sent.pop(advice.msg_id, None)
        log.info(
            "hub.advice_delivered consultation=%s cabin=%s", advice.consultation_id, peer.identity
        )
        await self._audit.record(
            "advice.delivered",
            actor_kind=ActorKind.CABIN,
            actor_id=peer.identity,
            consultation_id=advice.consultation_id,
        )

    async def _prescriptions_to_console(self, peer: Peer, consultation_id: str) -> None:
        """A console back during a call: the call's prescriptions, and which have arrived."""
        try:
            records = await self._storage.prescriptions(consultation_id)
        except StorageError as exc:
            log.error("hub.storage_failed task=prescriptions_to_console error=%s", log_safe(exc))
            return
        for record in records:
            peer.send(prescription_from_record(record))
            if record.delivered_at is not None:
                peer.send(
                    wire.PrescriptionDelivered(
                        msg_id=new_msg_id(),
                        prescription_id=record.prescription_id,
                        consultation_id=record.consultation_id,
                        delivered_at=record.delivered_at,
                    )
                )

    async def _notes_to_console(self, peer: Peer, consultation_id: str) -> None:
        """A console back during a call (a reload): the notes and advice stored, to fill its
        fields again."""
        try:
            record = await self._storage.consultation(consultation_id)
        except StorageError as exc:
            log.error("hub.storage_failed task=notes_to_console error=%s", exc)
            return
        if record is not None:
            peer.send(
                wire.ConsultationNotes(
                    msg_id=new_msg_id(),
                    consultation_id=consultation_id,
                    text=record.notes,
                    advice=record.advice,
                )
            )

    # --- from a doctor's console ------------------------------------------------------------

    async def on_console_message(self, peer: Peer, message: wire.Message) -> None:
        match message:
            case wire.TakeConsultation():
                await self._take(peer, message)
            case wire.SdpAnswer() | wire.IceCandidate() | wire.CallEnd():
                await self._signaling_from_console(peer, message)
            case wire.PrescriptionDraft():
                await self._prescription(peer, message)
            case wire.ConsultationNotes():
                await self._notes(peer, message)
            case wire.AlertAck():
                await self.alerts.acknowledged(peer, message)
            case wire.Ack():
                pass
            case wire.SdpOffer():
                self._refuse(
                    peer, wire.ErrorCode.UNAUTHORIZED, message.msg_id, "the cabin makes the offer"
                )
            case _:
                self._refuse(
                    peer,
                    wire.ErrorCode.UNKNOWN_MESSAGE,
                    message.msg_id,
                    "a console does not send this message",
                )

    async def _take(self, peer: Peer, take: wire.TakeConsultation) -> None:
        doctor_name, consultation_id = peer.identity, take.consultation_id
        doctor = await self._storage.doctor(doctor_name)
        if doctor is None:
            self._refuse(peer, wire.ErrorCode.UNAUTHORIZED, take.msg_id, "unknown doctor")
            return
        # From here to the mark, no await: the check and the mark are one step.
        patient = self.room.get(consultation_id)
        if patient is None:
            self._refuse(peer, wire.ErrorCode.NOT_FOUND, take.msg_id, "no longer waiting")
            return
        if patient.taken_by is not None:
            self._refuse(peer, wire.ErrorCode.CONFLICT, take.msg_id, "already taken")
            log.info("hub.take_conflict consultation=%s doctor=%s", consultation_id, doctor_name)
            return
        if patient.cabin_id not in self._cabins:
            self._refuse(peer, wire.ErrorCode.UNAVAILABLE, take.msg_id, "the cabin is offline")
            return
        if self.calls.of_doctor(doctor_name) is not None:
            self._refuse(peer, wire.ErrorCode.CONFLICT, take.msg_id, "end your current call first")
            return
        # cannot be refused: checked just above
        self.room.take(consultation_id, doctor_name, doctor.display_name)
        taken_at = self._clock.now()
        try:
            won = await self._storage.mark_taken(consultation_id, doctor=doctor_name, at=taken_at)
        except BaseException:
            self.room.release(consultation_id)
            raise
        if not won:
            self.room.release(consultation_id)
            self._refuse(peer, wire.ErrorCode.CONFLICT, take.msg_id, "already taken")
            return
        if self.room.get(consultation_id) is not patient:  # the patient left meanwhile
            await self._storage.close_consultation(
                consultation_id, status=ConsultationStatus.LEFT, at=self._clock.now()
            )
            self._refuse(peer, wire.ErrorCode.NOT_FOUND, take.msg_id, "no longer waiting")
            return
        cabin_accept = wire.CallAccepted(
            msg_id=new_msg_id(),
            consultation_id=consultation_id,
            doctor=doctor_info(doctor, with_photo=True),
            ice_servers=self._ice.for_peer(patient.cabin_id, taken_at),
            ice_transport_policy=self._ice.policy,
        )
        console_accept = wire.CallAccepted(
            msg_id=new_msg_id(),
            consultation_id=consultation_id,
            doctor=doctor_info(doctor, with_photo=False),
            ice_servers=self._ice.for_peer(doctor_name, taken_at),
            ice_transport_policy=self._ice.policy,
            patient=patient.patient,
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
        self._to_cabin(patient.cabin_id, cabin_accept)
        self._to_doctor(doctor_name, console_accept)
        self._room_changed()
        await self._audit.record(
            "consultation.take",
            actor_kind=ActorKind.DOCTOR,
            actor_id=doctor_name,
            consultation_id=consultation_id,
            client_address=peer.client_address,
        )

    def _held_call(self, peer: Peer, message: wire.Message, consultation_id: str) -> Call | None:
        call = self.calls.get(consultation_id)
        if call is None or call.doctor != peer.identity:
            self._refuse(
                peer, wire.ErrorCode.UNAUTHORIZED, message.msg_id, "you do not hold this call"
            )
            return None
        return call

    async def _signaling_from_console(
        self, peer: Peer, message: wire.SdpAnswer | wire.IceCandidate | wire.CallEnd
    ) -> None:
        call = self._held_call(peer, message, message.consultation_id)
        if call is None:
            return
        match message:
            case wire.SdpAnswer():
                call.pending_offer = None
                self._to_cabin(call.cabin_id, message)
                log.info("hub.answer_relayed consultation=%s", call.consultation_id)
            case wire.IceCandidate():
                self._to_cabin(call.cabin_id, message)
            case wire.CallEnd():
                await self._end_call(
                    call,
                    message.reason,
                    actor=(ActorKind.DOCTOR, peer.identity),
                    message=message,
                    origin=peer,
                )

    async def _prescription(self, peer: Peer, draft: wire.PrescriptionDraft) -> None:
        call = self._held_call(peer, draft, draft.consultation_id)
        if call is None:
            return
        doctor = await self._storage.doctor(peer.identity)
        if doctor is None:
            self._refuse(peer, wire.ErrorCode.UNAUTHORIZED, draft.msg_id, "unknown doctor")
            return
        consultation = await self._storage.consultation(draft.consultation_id)
        prescription = await issue_prescription(
            self._storage,
            self._signer,
            self._clock,
            draft=draft,
            doctor=doctor,
            public_url=self._public_url,
            patient=None if consultation is None else consultation.patient,
        )
        if not self._send_pending(call.cabin_id, prescription):
            log.warning(
                "hub.prescription_not_delivered consultation=%s prescription=%s",
                draft.consultation_id,
                prescription.prescription_id,
            )
        self._to_doctor(peer.identity, prescription)
        self._ack(peer, draft)
        await self._audit.record(
            "prescription.issue",
            actor_kind=ActorKind.DOCTOR,
            actor_id=peer.identity,
            consultation_id=draft.consultation_id,
            client_address=peer.client_address,
        )

    async def _notes(self, peer: Peer, notes: wire.ConsultationNotes) -> None:
        """The fields given replace the stored ones; a field left out stays as it is."""
        record = await self._storage.consultation(notes.consultation_id)
        if record is None or record.doctor != peer.identity:
            self._refuse(peer, wire.ErrorCode.UNAUTHORIZED, notes.msg_id, "not your consultation")
            return
        if notes.text is not None:
            await self._storage.set_notes(notes.consultation_id, notes.text)
        advice = None
        if notes.advice is not None:
            advice = await self._storage.set_advice(
                notes.consultation_id, notes.advice, msg_id=new_msg_id(), at=self._clock.now()
            )
        self._ack(peer, notes)
        await self._audit.record(
            "notes.write",
            actor_kind=ActorKind.DOCTOR,
            actor_id=peer.identity,
            consultation_id=notes.consultation_id,
            client_address=peer.client_address,
        )
        if advice is None:
            return  # the advice has not changed: what the cabin has (or will get) stands
        sent = self._send_pending(advice.cabin_id, _advice_message(advice))
        log.info(
            "hub.advice_changed consultation=%s cabin=%s sent=%s",
            advice.consultation_id,
            advice.cabin_id,
            sent,
        )

    # --- from an agent's alert page ---------------------------------------------------------

    async def on_agent_message(self, peer: Peer, message: wire.Message) -> None:
        match message:
            case wire.AlertAck():
                await self.alerts.acknowledged(peer, message)
            case wire.Ack():
                pass
            case _:
                self._refuse(
                    peer,
                    wire.ErrorCode.UNKNOWN_MESSAGE,
                    message.msg_id,
                    "an agent's page does not send this message",
                )


@dataclass(frozen=True, slots=True)
class AgentScope:
    """The cabins an agent looks after: `cabins`, or every one."""

    cabins: frozenset[str]
    all_cabins: bool

    def covers(self, cabin_id: str) -> bool:
        return self.all_cabins or cabin_id in self.cabins


def _advice_message(advice: AdviceRecord) -> wire.PatientAdvice:
    """The advice as sent to the cabin, always under the id its Ack must name."""
    return wire.PatientAdvice(
        msg_id=advice.msg_id, consultation_id=advice.consultation_id, text=advice.text
    )
