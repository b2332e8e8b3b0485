"""The switchboard: what the hub does with each message from a cabin, a doctor's console or an
agent's alert page. The facade the websockets and the HTTP API call; its parts are their own
modules, along the seams a fleet of replicas needs:

- `hub.routing`, the seam between replicas: the sockets this replica holds, and the delivery
  of a message to its recipient wherever it is connected;
- `hub.queue`: the waiting room and the calls, a cache of the database on each replica,
  re-read on a signal, on every cluster (re)connection and on a periodic check; joins,
  leaves, takes (atomic across replicas through the database's conditional `mark_taken`)
  and the end of a call;
- `hub.departures`: the grace timers, and who no live replica holds;
- `hub.signals`: what one replica tells the others (hints to re-read, never the truth);
- `hub.redelivery`: prescriptions and advice sent again until the cabin's `Ack`;
- `hub.record_intake`: the records' path, within fleet-wide quotas;
- `hub.alerts`: the alerts, their escalation done once across replicas.

It routes by identity: a consultation leads to its cabin id and to its doctor's username, and
from there to whatever connections they have now, on this replica or another. A cabin or a
console that reconnects (to this replica or another) is brought up to date (its place in the
queue, its call, the offer it missed, the prescriptions and the advice it has not
acknowledged) and the call goes on. A cabin or console away longer than the grace loses its
place or its call, unless it is connected to another replica; a replica that died leaves no
patient in the waiting room for ever: the periodic check of every replica ends, once, the
consultations of a cabin no live replica has held for longer than the grace.

Every method runs on the event loop; the state changes between two awaits are atomic on this
replica. Log lines name consultations, cabins and doctors by id, never a patient.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from datetime import timedelta
from typing import Any

import msgspec

import wire
from hub.alerts import AlertDesk
from hub.audit import AuditLog
from hub.calls import Call
from hub.cancellation import cancel_and_wait
from hub.clock import Clock
from hub.cluster import Cluster, ClusterDown, LocalCluster
from hub.code_check import CodeCheckDesk
from hub.departures import Departures
from hub.errors import StorageError
from hub.fleet_desk import HUB_RAISED, FleetDesk
from hub.history import patient_history
from hub.ice_renewal import IceRenewal
from hub.log_safe import log_safe
from hub.message_ids import new_msg_id
from hub.peers import CloseCode, Peer, PeerKind, acknowledge, refuse
from hub.prescriptions import PrescriptionSigner, issue_prescription
from hub.queue import Booking, QueueDesk
from hub.record_intake import RecordIntake
from hub.records import RecordDesk, RecordLimits
from hub.redelivery import REDELIVERY_WINDOW, Redelivery, advice_message
from hub.routing import AgentScope, Routing
from hub.signals import (
    AlertsChanged,
    BadSignal,
    CabinAway,
    CallsChanged,
    CloseSession,
    Deliver,
    PeerReplaced,
    RoomChanged,
    VitalsChanged,
    decode_signal,
)
from hub.storage import (
    ActorKind,
    ConsultationRecord,
    ConsultationStatus,
    ReadingRecord,
    Storage,
)
from hub.turn import IceServers
from hub.version import hub_version

__all__ = ["REDELIVERY_WINDOW", "AgentScope", "Switchboard"]

log = logging.getLogger(__name__)

MAX_LIVE_REREAD = 8
"""A cabin's hello names at most this many live consultations worth a look in the database."""
MIN_OFFER_TTL_S = 60.0
"""A pending offer is kept in the cluster at least this long (else the grace)."""


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
        cluster: Cluster | None = None,
        code_tries_per_hour: int = 30,
        code_valid_before_min: int = 30,
        offline_after_s: float = 300.0,
        fleet_check_s: float = 0.0,
    ) -> None:
        self._storage = storage
        self._clock = clock
        self._ice = ice
        self._signer = signer
        self._audit = audit
        self._refresh_s = refresh_s
        self._public_url = public_url
        self._cluster: Cluster = cluster or LocalCluster()
        self.routing = Routing(self._cluster)
        self.departures = Departures(
            cluster=self._cluster,
            routing=self.routing,
            grace_s=offline_grace_s,
            gone=self._gone,
            spawn=self._spawn,
        )
        self.queue = QueueDesk(
            storage=storage,
            clock=clock,
            ice=ice,
            audit=audit,
            cluster=self._cluster,
            routing=self.routing,
            departures=self.departures,
            spawn=self._spawn,
            offer_ttl_s=max(MIN_OFFER_TTL_S, offline_grace_s),
        )
        self.room = self.queue.room
        self.calls = self.queue.calls
        self.code_checks = CodeCheckDesk(
            storage=storage,
            clock=clock,
            # one hub's own count is all there is; replicas count together
            cluster=None if isinstance(self._cluster, LocalCluster) else self._cluster,
            send_to_cabin=self.routing.to_cabin,
            audit=audit,
            checks_per_hour=code_tries_per_hour,
            valid_before_min=code_valid_before_min,
        )
        """Appointment codes typed at the cabins, and the lists of today's appointments."""
        self.queue.view.booking_of = self.code_checks.booking_of
        self.queue.call_ended = self.code_checks.call_ended
        self.ice_renewal = IceRenewal(
            calls=self.calls, routing=self.routing, clock=clock, ice=ice, fresh=self._fresh
        )
        self.redelivery = Redelivery(
            storage=storage,
            clock=clock,
            audit=audit,
            routing=self.routing,
            retry_s=prescription_retry_s,
        )
        self._tasks: set[asyncio.Task[None]] = set()
        self._refresher: asyncio.Task[None] | None = None
        self._redeliverer: asyncio.Task[None] | None = None
        self.records = RecordDesk(record_limits or RecordLimits(), clock)
        """The records' own worker pool (not the default one, where passwords are hashed),
        its bounds, and the cabins' quotas."""
        self.intake = RecordIntake(
            storage=storage, clock=clock, desk=self.records, cluster=self._cluster
        )
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
            cluster=self._cluster,
        )
        self.fleet = FleetDesk(
            storage=storage,
            clock=clock,
            alerts=self.alerts,
            connected_cabins=lambda: sorted(self.routing.cabins),
            offline_after=timedelta(seconds=offline_after_s),
            check_s=fleet_check_s or None,
        )
        """The cabins' heartbeats, self-tests and call quality; offline and self-test alerts."""

    # --- lifetime ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the routing and the periodic work, then receive the other replicas' signals
        (`resync` re-reads the database on every cluster (re)connection)."""
        loop = asyncio.get_running_loop()
        self.routing.start()
        self._refresher = loop.create_task(self._refresh(), name="hub-waiting-room-refresh")
        self._redeliverer = loop.create_task(
            self.redelivery.run_periodically(), name="hub-prescription-redelivery"
        )
        self.alerts.start()
        self._spawn(self.ice_renewal.run(), "hub-ice-renewal")
        self._spawn(
            self.fleet.run_periodically(), "hub-fleet-check"
        )  # TURN credentials, before expiry
        self._spawn(
            self.code_checks.sync_periodically(lambda: sorted(self.routing.cabins)),
            "hub-todays-appointments",
        )
        await self._cluster.start(self._receive, self._resync)

    async def stop(self) -> None:
        await self._cluster.stop()
        await self._halt()
        peers = list(self.routing.peers())
        await asyncio.gather(*(peer.close(CloseCode.GOING_AWAY, "hub stopping") for peer in peers))

    async def _halt(self) -> None:
        self.queue.stop()
        self.departures.stop()
        self.alerts.stop()
        tasks = [t for t in (self._refresher, self._redeliverer, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            await cancel_and_wait(task)
        await self.routing.stop()
        self.records.close()

    async def _refresh(self) -> None:
        """The periodic check: the waiting room and calls re-read, the cabins that no live
        replica holds ended after the grace, the room sent again."""
        while True:
            await asyncio.sleep(self._refresh_s)
            await self._check_now()
            self.queue.broadcast_room()

    async def _check_now(self) -> None:
        try:
            await self._check()
        except (StorageError, ClusterDown) as exc:
            log.error("hub.periodic_check_failed error=%s", log_safe(exc))

    def _resync(self) -> None:
        """The cluster is (re)connected: signals may have been lost, re-read the truth (and
        who holds the cabins of the waiting room)."""
        log.info("hub.cluster_resync replica=%s", self._cluster.replica_id)
        self.routing.forget_holders()
        self._spawn(self._check_now(), "hub-resync")
        self._spawn(self._alerts_reread(), "hub-alerts-resync-now")

    async def _vitals(self, consultation_id: str) -> None:
        try:
            if await self.queue.view.vitals(consultation_id):
                self.queue.broadcast_room()
        except StorageError as exc:
            log.error("hub.storage_failed task=vitals_refresh error=%s", log_safe(exc))

    async def _alerts_reread(self) -> None:
        try:
            await self.alerts.refresh()
        except StorageError as exc:
            log.error("hub.storage_failed task=alert_refresh error=%s", log_safe(exc))

    def _receive(self, payload: bytes) -> None:
        """A signal from another replica."""
        try:
            signal = decode_signal(payload)
        except BadSignal as exc:
            log.warning("hub.signal_refused error=%s", log_safe(exc))
            return
        self.routing.saw(signal)
        match signal:
            case Deliver():
                if self.routing.deliver_here(signal) and signal.pending_msg_id is not None:
                    self.redelivery.sent(signal.pending_msg_id)
            case RoomChanged() | CallsChanged():
                self._spawn(self.queue.reread(signal.consultation_id), "hub-queue-refresh")
            case VitalsChanged():
                self._spawn(self._vitals(signal.consultation_id), "hub-vitals-refresh")
            case AlertsChanged():
                self._spawn(self._alerts_reread(), "hub-alerts-refresh")
            case CloseSession():
                self._close_session_here(signal.session_sha256)
            case CabinAway():
                self._spawn(self._cabin_away(signal.cabin_id), "hub-cabin-away")
            case PeerReplaced():
                if self.departures.back(PeerKind.CABIN, signal.cabin_id):
                    self.queue.broadcast_room()
                peer = self.routing.cabins.get(signal.cabin_id)
                if peer is not None and signal.replica != self._cluster.replica_id:
                    log.info(
                        "hub.cabin_replaced cabin=%s by_replica=%s", peer.identity, signal.replica
                    )
                    peer.close_soon(CloseCode.REPLACED, "replaced by a newer connection")

    async def _cabin_away(self, cabin_id: str) -> None:
        """Another replica's socket of the cabin has closed: offline here too, unless a
        replica holds it."""
        try:
            if await self.departures.held(PeerKind.CABIN, cabin_id):
                return
        except ClusterDown as exc:
            log.warning("hub.cluster_down task=cabin_away error=%s", log_safe(exc))
        if self.room.of_cabin(cabin_id) or self.calls.of_cabin(cabin_id):
            self.departures.unheld(PeerKind.CABIN, cabin_id)
            self.queue.broadcast_room()  # offline: the consoles say so

    async def _cabin_moved(self, cabin_id: str) -> None:
        """A cabin whose socket here has closed is online if another replica holds it."""
        try:
            held = await self.departures.held(PeerKind.CABIN, cabin_id)
        except ClusterDown as exc:
            log.warning("hub.cluster_down task=cabin_moved error=%s", log_safe(exc))
            return
        if held and self.departures.back(PeerKind.CABIN, cabin_id):
            self.queue.broadcast_room()  # online again, through another replica

    def is_cabin_online(self, cabin_id: str) -> bool:
        """Whether this replica holds the cabin's socket."""
        return self.routing.has_cabin(cabin_id)

    def waiting_entries(self) -> list[wire.WaitingEntry]:
        """The waiting room as the consoles see it."""
        return self.queue.waiting_entries()

    def spawn(self, work: Coroutine[Any, Any, None], name: str) -> None:
        self._spawn(work, name)

    def _spawn(self, work: Coroutine[Any, Any, None], name: str) -> None:
        """Run `work` as a task the switchboard owns (cancelled when it stops)."""
        task = asyncio.get_running_loop().create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def has_console(self, doctor: str) -> bool:
        return self.routing.has_console(doctor)

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
        previous = self.routing.add_cabin(peer)
        if previous is not None:
            log.info("hub.cabin_replaced cabin=%s", cabin_id)
            previous.close_soon(CloseCode.REPLACED, "replaced by a newer connection")
        was_offline = self.departures.back(PeerKind.CABIN, cabin_id)
        log.info("hub.cabin_connected cabin=%s", cabin_id)
        peer.send(self._welcome())
        known = self._bring_cabin_up_to_date(peer)
        if (previous is None or was_offline) and self.room.of_cabin(cabin_id):
            self.queue.broadcast_room()  # back online (the other replicas learn it from routing)
        if not known:  # maybe known to the database only (its replica died): look
            self._spawn(self._cabin_from_database(peer, live), f"hub-cabin-resume-{cabin_id}")
        self._spawn(self.redelivery.redeliver(cabin_id), f"hub-undelivered-to-{cabin_id}")
        self._spawn(self.code_checks.push_todays(cabin_id), f"hub-todays-appointments-{cabin_id}")
        self._spawn(self.fleet.seen(cabin_id), f"hub-fleet-seen-{cabin_id}")

    def _bring_cabin_up_to_date(self, peer: Peer) -> bool:
        """Its place in the queue and its call; whether the cache knows any."""
        cabin_id = peer.identity
        positions = self.room.positions()
        patients = self.room.of_cabin(cabin_id)
        for patient in patients:
            place = positions.get(patient.consultation_id)
            if place is not None:
                self.queue.send_position(peer, patient.consultation_id, place)
        calls = self.calls.of_cabin(cabin_id)
        for call in calls:
            peer.send(self._fresh(call.cabin_accept, cabin_id))
        return bool(patients or calls)

    async def _cabin_from_database(self, peer: Peer, live: list[str] | None) -> None:
        """Re-read what the cabin says it has now (`live`), or everything if it does not say."""
        if live is None:
            await self.queue.reread()
        for consultation_id in (live or [])[:MAX_LIVE_REREAD]:
            await self.queue.reread(consultation_id)
        if self.routing.cabins.get(peer.identity) is peer and self._bring_cabin_up_to_date(peer):
            self.queue.broadcast_room()

    def _end_forgotten(self, cabin_id: str, live: set[str]) -> None:
        forgotten = False
        for patient in self.room.of_cabin(cabin_id):
            if patient.consultation_id in live or self.calls.get(patient.consultation_id):
                continue  # still there; or in a call, which ends below
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
                self.queue.end_call(
                    call, wire.CallEndReason.CONNECTION_LOST, actor=(ActorKind.CABIN, cabin_id)
                ),
                f"hub-forgotten-call-{call.consultation_id}",
            )
        if forgotten:
            self.queue.room_changed(signal=False)  # `_close_forgotten` signals once closed

    async def _close_forgotten(self, consultation_id: str) -> None:
        try:
            with self.queue.view.changing(consultation_id):
                self.room.remove(consultation_id)  # a refresh may have put it back meanwhile
                await self._storage.close_consultation(
                    consultation_id, status=ConsultationStatus.LEFT, at=self._clock.now()
                )
        except StorageError as exc:
            log.error(
                "hub.storage_failed task=forgotten consultation=%s error=%s",
                consultation_id,
                log_safe(exc),
            )
        self.routing.signal(RoomChanged(consultation_id=consultation_id))

    def cabin_disconnected(self, peer: Peer) -> None:
        cabin_id = peer.identity
        if not self.routing.remove_cabin(peer):
            return
        log.info("hub.cabin_disconnected cabin=%s", cabin_id)
        self.routing.signal(CabinAway(cabin_id=cabin_id))
        if self.room.of_cabin(cabin_id) or self.calls.of_cabin(cabin_id):
            self.departures.away(PeerKind.CABIN, cabin_id)
        if self.room.of_cabin(cabin_id):
            self.queue.broadcast_room()  # offline: the consoles say so, and do not offer to take
        if self.room.of_cabin(cabin_id) or self.calls.of_cabin(cabin_id):
            # it may have moved to another replica (which closed this socket): look
            self._spawn(self._cabin_moved(cabin_id), f"hub-cabin-moved-{cabin_id}")

    def console_connected(self, peer: Peer) -> None:
        doctor = peer.identity
        self.routing.add_console(peer)
        self.departures.back(PeerKind.CONSOLE, doctor)
        log.info("hub.console_connected doctor=%s", doctor)
        peer.send(self._welcome())
        peer.send(wire.WaitingRoom(msg_id=new_msg_id(), entries=self.waiting_entries()))
        call = self.calls.of_doctor(doctor)
        if call is not None:
            self._resume_call(peer, call)
        else:  # maybe begun on another replica, its signal not yet here: look
            self._spawn(self._console_from_database(peer), f"hub-console-resume-{doctor}")
        self.alerts.console_connected(peer, None if call is None else call.cabin_id)

    def _resume_call(self, peer: Peer, call: Call) -> None:
        """A console back during its doctor's call: the call, the offer it missed, the
        prescriptions and the notes."""
        doctor = peer.identity
        peer.send(self._fresh(call.console_accept, doctor))
        if call.pending_offer is not None:
            peer.send(call.pending_offer)
            log.info(
                "hub.pending_offer_sent consultation=%s doctor=%s", call.consultation_id, doctor
            )
        else:
            self._spawn(self.queue.offer_from_cluster(peer, call), f"hub-offer-to-{doctor}")
        self._spawn(
            self.redelivery.prescriptions_to_console(peer, call.consultation_id),
            f"hub-prescriptions-to-{doctor}",
        )
        self._spawn(
            self.redelivery.notes_to_console(peer, call.consultation_id), f"hub-notes-to-{doctor}"
        )

    async def _console_from_database(self, peer: Peer) -> None:
        await self.queue.reread()
        call = self.calls.of_doctor(peer.identity)
        if call is not None and not peer.closed:
            self._resume_call(peer, call)

    def console_disconnected(self, peer: Peer) -> None:
        doctor = peer.identity
        last = self.routing.remove_console(peer)
        if last is None:
            return
        log.info("hub.console_disconnected doctor=%s", doctor)
        if last and self.calls.of_doctor(doctor) is not None:
            self.departures.away(PeerKind.CONSOLE, doctor)

    def agent_connected(self, peer: Peer, scope: AgentScope) -> None:
        self.routing.add_agent(peer, scope)
        log.info("hub.agent_connected agent=%s", peer.identity)
        peer.send(self._welcome())
        self.alerts.agent_connected(peer)

    def agent_disconnected(self, peer: Peer) -> None:
        if self.routing.remove_agent(peer):
            log.info("hub.agent_disconnected agent=%s", peer.identity)

    def close_session(self, session_sha256: str) -> None:
        """Close the consoles and agent pages opened with a session that has just ended, on
        this replica and the others."""
        self._close_session_here(session_sha256)
        self.routing.signal(CloseSession(session_sha256=session_sha256))

    def _close_session_here(self, session_sha256: str) -> None:
        for peer in self._people():
            if peer.session_sha256 == session_sha256:
                peer.close_soon(CloseCode.SESSION_ENDED, "signed out")

    def _people(self) -> list[Peer]:
        """The consoles and agent pages of this replica."""
        return [*(p for s in self.routing.consoles.values() for p in s), *self.routing.agents]

    def session_hashes(self) -> set[str]:
        """The sessions of the consoles and agent pages connected here."""
        return {p.session_sha256 for p in self._people() if p.session_sha256 is not None}

    def has_session(self, session_sha256: str) -> bool:
        """Whether a console or an agent page opened with this session is connected here (its
        session is in use, however long since its last HTTP request)."""
        return any(peer.session_sha256 == session_sha256 for peer in self._people())

    # --- who is gone ------------------------------------------------------------------------

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
        except ClusterDown as exc:  # who holds it is unknown: nothing ends, the check retries
            log.error(
                "hub.cluster_down task=gone peer=%s:%s error=%s",
                kind.value,
                log_safe(who),
                log_safe(exc),
            )

    async def _cabin_gone(self, cabin_id: str) -> None:
        """The grace is over: the cabin's patient loses their place, its call ends; unless
        the cabin is connected (here or to another replica), looked up again after the
        database is re-read. Each consultation is ended by one replica only (a conditional
        update)."""
        if await self.departures.held(PeerKind.CABIN, cabin_id):
            return
        await self.queue.reread()
        if await self.departures.held(PeerKind.CABIN, cabin_id):
            return
        log.info("hub.cabin_gone cabin=%s", cabin_id)
        for call in self.calls.of_cabin(cabin_id):
            await self.queue.end_call(
                call, wire.CallEndReason.CONNECTION_LOST, actor=(ActorKind.CABIN, cabin_id)
            )
        for patient in self.room.of_cabin(cabin_id):
            if self.queue.view.is_changing(patient.consultation_id):
                continue
            with self.queue.view.changing(patient.consultation_id):
                if self.room.remove(patient.consultation_id) is None:
                    continue
                await self._storage.close_live_consultation(
                    patient.consultation_id, status=ConsultationStatus.LEFT, at=self._clock.now()
                )
        self.queue.room_changed()

    async def _doctor_gone(self, doctor: str) -> None:
        """The doctor's consoles have been away for the whole grace: their call ends (unless
        one is connected to another replica)."""
        if await self.departures.held(PeerKind.CONSOLE, doctor):
            return
        call = self.calls.of_doctor(doctor)
        if call is not None:
            log.info("hub.doctor_gone doctor=%s consultation=%s", doctor, call.consultation_id)
            await self.queue.end_call(
                call, wire.CallEndReason.DOCTOR_LEFT, actor=(ActorKind.DOCTOR, doctor)
            )

    async def _check(self) -> None:
        """The periodic check: the cache re-read; then the cabins and doctors of live
        consultations that no live replica holds (their replica died, or they left while
        it did), ended once they have been so for longer than the grace. Never one whose
        cabin is connected somewhere: it is looked up again just before."""
        if await self.queue.view.refresh():
            self.queue.room_changed(signal=False)
        live = {(PeerKind.CABIN, patient.cabin_id) for patient in self.room.of_all()}
        live |= {(PeerKind.CONSOLE, call.doctor) for call in self.calls.all()}
        if await self.departures.check(live):
            self.queue.broadcast_room()
        await self._touch_sessions()

    async def _touch_sessions(self) -> None:
        """Mark the sessions of the consoles and agent pages connected here as used, in the
        database: another replica, asked an HTTP request with one of them, does not end it as
        idle (it cannot see this replica's sockets)."""
        now = self._clock.now()
        touch_before = now - timedelta(seconds=self._refresh_s)
        for session_sha256 in self.session_hashes():
            await self._storage.live_session(
                session_sha256, now=now, idle_since=None, touch_before=touch_before
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
        return self.routing.to_cabin(cabin_id, message)

    def to_agents(self, cabin_id: str, message: wire.Message) -> int:
        return self.routing.to_agents(cabin_id, message)

    def agent_looks_after(self, peer: Peer, cabin_id: str) -> bool:
        return self.routing.agent_looks_after(peer, cabin_id)

    def doctors_in_call_with(self, cabin_id: str) -> list[str]:
        return [call.doctor for call in self.calls.of_cabin(cabin_id)]

    def to_doctors(self, doctors: set[str], message: wire.Message) -> None:
        for doctor in doctors:
            self.routing.to_doctor(doctor, message)

    def to_all_consoles(self, message: wire.Message) -> set[str]:
        return self.routing.to_all_consoles(message)

    def alerts_changed(self) -> None:
        self.routing.signal(AlertsChanged())

    # --- from a cabin -----------------------------------------------------------------------

    async def on_cabin_message(self, peer: Peer, message: wire.Message) -> None:
        match message:
            case wire.QueueJoin():
                await self.queue.join(peer, message, await self._booking(peer, message))
            case wire.AppointmentCheck():
                await self.code_checks.check(peer, message)
            case wire.QueueLeave():
                await self.queue.leave(peer, message)
            case wire.ReadingMessage():
                await self._reading(peer, message)
            case wire.SdpOffer() | wire.IceCandidate() | wire.CallEnd():
                await self._signaling_from_cabin(peer, message)
            case wire.AlertMessage():
                await self._alert(peer, message)
            case wire.AlertAck():
                await self.alerts.acknowledged(peer, message)
            case wire.RecordUpload():
                await self.intake.record(peer, message)
            case wire.PrintStatus():
                log.info(
                    "hub.print_status cabin=%s job=%s state=%s problem=%s",
                    peer.identity,
                    message.job_id,
                    message.state.value,
                    message.problem.value if message.problem else "-",
                )
                acknowledge(peer, message)
            case wire.CabinStatus():
                await self.fleet.status(peer, message)
            case wire.SelfTestReport():
                await self.fleet.selftest(peer, message)
            case wire.CallQuality():
                await self.fleet.call_quality(peer, message)
            case wire.IceServersAsk():  # the cabin's self-test gathers a TURN relay candidate
                peer.send(
                    wire.IceServersGiven(
                        msg_id=new_msg_id(),
                        in_reply_to=message.msg_id,
                        ice_servers=self._ice.for_peer(peer.identity, self._clock.now()),
                        ice_transport_policy=self._ice.policy,
                    )
                )
            case wire.Ack():
                await self.redelivery.cabin_ack(peer, message)
            case wire.ErrorMessage():
                log.info(
                    "hub.peer_refused peer=%s code=%s in_reply_to=%s",
                    peer.label,
                    message.code.value,
                    message.in_reply_to or "-",
                )
            case wire.CabinHello():
                refuse(peer, wire.ErrorCode.CONFLICT, message.msg_id, "this cabin has said hello")
            case _:
                refuse(
                    peer,
                    wire.ErrorCode.UNKNOWN_MESSAGE,
                    message.msg_id,
                    "a cabin does not send this message",
                )

    async def _booking(self, peer: Peer, join: wire.QueueJoin) -> Booking | None:
        """The appointment a joining patient confirmed, marked ARRIVED (its code is used);
        None for a walk-in, or an appointment that is not this cabin's or not open (the
        patient then waits as a walk-in: they are not sent away)."""
        if join.appointment_id is None:
            return None
        try:
            appointment = await self.code_checks.arrived(
                peer.identity, join.appointment_id, join.consultation_id
            )
        except StorageError as exc:
            log.error("hub.storage_failed task=appointment_arrived error=%s", log_safe(exc))
            return None
        if appointment is None:
            return None
        return await self.code_checks.booking(appointment)

    async def _reading(self, peer: Peer, reading: wire.ReadingMessage) -> None:
        if not await self.queue.owns(peer, reading, reading.consultation_id):
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
            call = await self.queue.call_for(reading.consultation_id)
            if call is not None:
                self.routing.to_doctor(call.doctor, reading)
            if self.room.add_vital(reading.consultation_id, reading.reading):
                self.queue.broadcast_room()
                if call is None:  # a waiting patient's vitals: the others' rooms show them
                    self.routing.signal(VitalsChanged(consultation_id=reading.consultation_id))
        acknowledge(peer, reading)

    async def _signaling_from_cabin(
        self, peer: Peer, message: wire.SdpOffer | wire.IceCandidate | wire.CallEnd
    ) -> None:
        call = await self.queue.call_for(message.consultation_id)
        if call is None or call.cabin_id != peer.identity:
            refuse(peer, wire.ErrorCode.UNAUTHORIZED, message.msg_id, "no such call here")
            return
        match message:
            case wire.SdpOffer():
                call.pending_offer = message
                sent = self.routing.to_doctor(call.doctor, message)
                log.info(
                    "hub.offer_relayed consultation=%s consoles=%d", call.consultation_id, sent
                )
                await self.queue.keep_offer(message)
            case wire.IceCandidate():
                self.routing.to_doctor(call.doctor, message)
            case wire.CallEnd():
                await self.queue.end_call(
                    call,
                    message.reason,
                    actor=(ActorKind.CABIN, peer.identity),
                    message=message,
                    origin=peer,
                )

    async def _alert(self, peer: Peer, alert: wire.AlertMessage) -> None:
        if alert.cabin_id != peer.identity:
            refuse(peer, wire.ErrorCode.UNAUTHORIZED, alert.msg_id, "not this cabin")
            return
        if alert.kind in HUB_RAISED:
            refuse(peer, wire.ErrorCode.UNAUTHORIZED, alert.msg_id, "the hub raises this kind")
            return
        await self.alerts.raised(peer, alert)

    async def patient_history(self, current: ConsultationRecord) -> wire.PatientHistory:
        """`current`'s patient's earlier consultations (`hub.history`), built with the records'
        pool and bounds."""
        return await patient_history(
            self._storage, current, public_keys=self._signer.public_keys, desk=self.records
        )

    # --- prescriptions and advice on their way to the cabin ---------------------------------

    # --- from a doctor's console ------------------------------------------------------------

    async def on_console_message(self, peer: Peer, message: wire.Message) -> None:
        match message:
            case wire.TakeConsultation():
                await self.queue.take(peer, message)
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
                refuse(
                    peer, wire.ErrorCode.UNAUTHORIZED, message.msg_id, "the cabin makes the offer"
                )
            case _:
                refuse(
                    peer,
                    wire.ErrorCode.UNKNOWN_MESSAGE,
                    message.msg_id,
                    "a console does not send this message",
                )

    async def _held_call(
        self, peer: Peer, message: wire.Message, consultation_id: str
    ) -> Call | None:
        call = await self.queue.call_for(consultation_id)
        if call is None or call.doctor != peer.identity:
            refuse(peer, wire.ErrorCode.UNAUTHORIZED, message.msg_id, "you do not hold this call")
            return None
        return call

    async def _signaling_from_console(
        self, peer: Peer, message: wire.SdpAnswer | wire.IceCandidate | wire.CallEnd
    ) -> None:
        call = await self._held_call(peer, message, message.consultation_id)
        if call is None:
            return
        match message:
            case wire.SdpAnswer():
                call.pending_offer = None
                self.routing.to_cabin(call.cabin_id, message)
                log.info("hub.answer_relayed consultation=%s", call.consultation_id)
                await self.queue.forget_offer(call.consultation_id)
            case wire.IceCandidate():
                self.routing.to_cabin(call.cabin_id, message)
            case wire.CallEnd():
                await self.queue.end_call(
                    call,
                    message.reason,
                    actor=(ActorKind.DOCTOR, peer.identity),
                    message=message,
                    origin=peer,
                )

    async def _prescription(self, peer: Peer, draft: wire.PrescriptionDraft) -> None:
        call = await self._held_call(peer, draft, draft.consultation_id)
        if call is None:
            return
        doctor = await self._storage.doctor(peer.identity)
        if doctor is None:
            refuse(peer, wire.ErrorCode.UNAUTHORIZED, draft.msg_id, "unknown doctor")
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
        if not await self.redelivery.send(call.cabin_id, prescription):
            log.warning(
                "hub.prescription_not_delivered consultation=%s prescription=%s",
                draft.consultation_id,
                prescription.prescription_id,
            )
        self.routing.to_doctor(peer.identity, prescription)
        acknowledge(peer, draft)
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
            refuse(peer, wire.ErrorCode.UNAUTHORIZED, notes.msg_id, "not your consultation")
            return
        if notes.text is not None:
            await self._storage.set_notes(notes.consultation_id, notes.text)
        advice = None
        if notes.advice is not None:
            advice = await self._storage.set_advice(
                notes.consultation_id, notes.advice, msg_id=new_msg_id(), at=self._clock.now()
            )
        acknowledge(peer, notes)
        await self._audit.record(
            "notes.write",
            actor_kind=ActorKind.DOCTOR,
            actor_id=peer.identity,
            consultation_id=notes.consultation_id,
            client_address=peer.client_address,
        )
        if advice is None:
            return  # the advice has not changed: what the cabin has (or will get) stands
        sent = await self.redelivery.send(advice.cabin_id, advice_message(advice))
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
                refuse(
                    peer,
                    wire.ErrorCode.UNKNOWN_MESSAGE,
                    message.msg_id,
                    "an agent's page does not send this message",
                )
