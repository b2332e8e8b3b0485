"""The cabins' alerts: stored, sent to the agents who look after the cabin (and to the doctor
in a call with it), acknowledged once, and escalated to every doctor's console when nobody
acknowledges them in time.

An alert is stored when it first arrives (a cabin sends it again until the hub's `Ack`: the
same `alert_id` changes nothing). The first `AlertAck`, from an agent's page, a doctor's
console or the cabin itself (the patient's "I am fine", or an agent in the cabin's assistant
mode), stands: later ones are answered with an `Ack` and change nothing. A distress alert
nobody has acknowledged `alert_escalation_s` after the hub got it is escalated
(`AlertEscalated`, with the emergency number) to every console and agent page; the timers
are loop timers (like the waiting room's keep), restarted from the database when the hub
starts: an alert older than the delay escalates at once. Log lines name alerts, cabins,
kinds and people's usernames, never a patient.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

import wire
from hub.audit import AuditLog
from hub.clock import Clock
from hub.errors import StorageError
from hub.log_safe import log_safe
from hub.message_ids import new_msg_id
from hub.peers import Peer, PeerKind
from hub.storage import AckRole, ActorKind, AlertRecord, Storage

log = logging.getLogger(__name__)

AGENTS_ONLY = frozenset({wire.AlertKind.PRINTER, wire.AlertKind.DEVICE})
"""Kinds for the agents only: never shown in a doctor's console, never escalated."""
RELOAD_WINDOW = timedelta(days=7)
"""Open alerts received this long before the hub starts are reloaded (and escalated)."""
_RELOADED = 1000
PATIENT = "patient"
"""`acknowledged_by` of a cabin's ack when the patient touched "I am fine"."""


def escalates(kind: wire.AlertKind, severity: wire.AlertSeverity) -> bool:
    """Whether an alert left unacknowledged goes to the doctors on duty: a distress alert
    (anything but a printer or a device) whose severity the cabin says is critical. The cabin
    decides the severity (a fall with stillness is critical, an empty cabin during a
    consultation is a warning); a warning or an info alert stays with the agents."""
    return kind not in AGENTS_ONLY and severity is wire.AlertSeverity.CRITICAL


class AlertRoutes(Protocol):
    """Where the desk's messages go: the switchboard knows who is connected."""

    def to_cabin(self, cabin_id: str, message: wire.Message) -> bool: ...

    def to_agents(self, cabin_id: str, message: wire.Message) -> int:
        """To every agent page of the agents who look after `cabin_id`."""
        ...

    def doctors_in_call_with(self, cabin_id: str) -> list[str]: ...

    def to_doctors(self, doctors: set[str], message: wire.Message) -> None: ...

    def to_all_consoles(self, message: wire.Message) -> set[str]:
        """To every connected console; the doctors it reached."""
        ...

    def agent_looks_after(self, peer: Peer, cabin_id: str) -> bool: ...

    def spawn(self, work: Coroutine[Any, Any, None], name: str) -> None:
        """Run `work` as a task the switchboard owns."""
        ...


@dataclass
class _OpenAlert:
    record: AlertRecord
    shown_to: set[str] = field(default_factory=set)
    """The doctors whose consoles were sent it."""
    timer: asyncio.TimerHandle | None = None
    escalation: wire.AlertEscalated | None = None


def alert_message(record: AlertRecord) -> wire.AlertMessage:
    """The alert as agents and doctors get it (with where the cabin is)."""
    return wire.AlertMessage(
        msg_id=new_msg_id(),
        alert_id=record.alert_id,
        cabin_id=record.cabin_id,
        kind=record.kind,
        severity=record.severity,
        raised_at=record.raised_at,
        confidence=record.confidence,
        consultation_id=record.consultation_id,
        detail=record.detail,
        cabin_name=record.cabin_name or record.cabin_id,
    )


def ack_message(record: AlertRecord) -> wire.AlertAck:
    """Who handled the alert, as everyone who was shown it gets it."""
    assert record.acknowledged_by is not None and record.acknowledged_at is not None
    return wire.AlertAck(
        msg_id=new_msg_id(),
        alert_id=record.alert_id,
        acknowledged_by=record.acknowledged_by,
        acknowledged_at=record.acknowledged_at,
        false_alarm=bool(record.false_alarm),
    )


class AlertDesk:
    def __init__(
        self,
        *,
        storage: Storage,
        clock: Clock,
        audit: AuditLog,
        routes: AlertRoutes,
        escalation_s: float,
        emergency_number: str,
    ) -> None:
        self._storage = storage
        self._clock = clock
        self._audit = audit
        self._routes = routes
        self._escalation_s = escalation_s
        self._emergency_number = emergency_number
        self._open: dict[str, _OpenAlert] = {}

    # --- lifetime ---------------------------------------------------------------------------

    async def reload(self) -> None:
        """The open alerts of the database, their escalation timers started again."""
        records = await self._storage.open_alerts(
            since=self._clock.now() - RELOAD_WINDOW, limit=_RELOADED
        )
        for record in records:
            entry = _OpenAlert(record)
            self._open[record.alert_id] = entry
            if record.escalated_at is not None:
                entry.escalation = self._escalation(record)
            else:
                self._schedule(entry)
        if records:
            log.info("hub.alerts_reloaded count=%d", len(records))

    def stop(self) -> None:
        for entry in self._open.values():
            if entry.timer is not None:
                entry.timer.cancel()
                entry.timer = None

    def open_alerts(self) -> list[AlertRecord]:
        return [entry.record for entry in self._open.values()]

    # --- who connects -----------------------------------------------------------------------

    def agent_connected(self, peer: Peer) -> None:
        """Every open alert of the agent's cabins, and the escalation of those escalated."""
        for entry in self._open.values():
            if not self._routes.agent_looks_after(peer, entry.record.cabin_id):
                continue
            peer.send(alert_message(entry.record))
            if entry.escalation is not None:
                peer.send(entry.escalation)

    def console_connected(self, peer: Peer, call_cabin: str | None) -> None:
        """The escalated alerts, and the open ones of the cabin the doctor is in a call with."""
        for entry in self._open.values():
            record = entry.record
            if entry.escalation is not None:
                peer.send(entry.escalation)
                entry.shown_to.add(peer.identity)
            elif record.cabin_id == call_cabin and record.kind not in AGENTS_ONLY:
                peer.send(alert_message(record))
                entry.shown_to.add(peer.identity)

    # --- an alert arrives -------------------------------------------------------------------

    async def raised(self, peer: Peer, alert: wire.AlertMessage) -> None:
        """A cabin's alert (its `cabin_id` is the connection's): stored once, sent on."""
        cabin = await self._storage.cabin(peer.identity)
        record, new = await self._storage.add_alert(
            AlertRecord(
                alert_id=alert.alert_id,
                cabin_id=peer.identity,
                cabin_name=cabin.name if cabin is not None else "",
                kind=alert.kind,
                severity=alert.severity,
                confidence=alert.confidence,
                detail=alert.detail,
                consultation_id=alert.consultation_id,
                raised_at=alert.raised_at,
                received_at=self._clock.now(),
            )
        )
        if record.cabin_id != peer.identity:
            log.warning("hub.alert_refused cabin=%s alert=%s", peer.identity, alert.alert_id)
            peer.send(
                wire.ErrorMessage(
                    msg_id=new_msg_id(),
                    code=wire.ErrorCode.CONFLICT,
                    text="this alert id is another cabin's",
                    in_reply_to=alert.msg_id,
                )
            )
            return
        if not new:
            if not record.is_open:  # handled while the cabin could not hear it: tell it
                peer.send(ack_message(record))
            peer.send(wire.Ack(msg_id=new_msg_id(), ack_of=alert.msg_id))
            return
        log.warning(
            "hub.alert cabin=%s alert=%s kind=%s severity=%s consultation=%s",
            record.cabin_id,
            record.alert_id,
            record.kind.value,
            record.severity.value,
            record.consultation_id or "-",
        )
        entry = _OpenAlert(record)
        self._open[record.alert_id] = entry
        message = alert_message(record)
        agents = self._routes.to_agents(record.cabin_id, message)
        if record.kind not in AGENTS_ONLY:
            doctors = set(self._routes.doctors_in_call_with(record.cabin_id))
            self._routes.to_doctors(doctors, message)
            entry.shown_to |= doctors
        self._schedule(entry)
        peer.send(wire.Ack(msg_id=new_msg_id(), ack_of=alert.msg_id))
        log.info(
            "hub.alert_sent alert=%s agent_pages=%d doctors=%d",
            record.alert_id,
            agents,
            len(entry.shown_to),
        )
        await self._audit.record(
            "alert.raised",
            actor_kind=ActorKind.CABIN,
            actor_id=record.cabin_id,
            consultation_id=record.consultation_id,
            alert_id=record.alert_id,
        )

    # --- escalation -------------------------------------------------------------------------

    def _schedule(self, entry: _OpenAlert) -> None:
        record = entry.record
        if not escalates(record.kind, record.severity):
            return
        waited = (self._clock.now() - record.received_at).total_seconds()
        delay = max(0.0, self._escalation_s - waited)
        entry.timer = asyncio.get_running_loop().call_later(
            delay, self._spawn_escalation, record.alert_id
        )

    def _spawn_escalation(self, alert_id: str) -> None:
        entry = self._open.get(alert_id)
        if entry is not None:
            entry.timer = None
        self._routes.spawn(self._escalate(alert_id), f"hub-alert-escalation-{alert_id}")

    def _escalation(self, record: AlertRecord) -> wire.AlertEscalated:
        assert record.escalated_at is not None
        return wire.AlertEscalated(
            msg_id=new_msg_id(),
            alert_id=record.alert_id,
            cabin_id=record.cabin_id,
            kind=record.kind,
            severity=record.severity,
            raised_at=record.raised_at,
            escalated_at=record.escalated_at,
            emergency_number=self._emergency_number,
            cabin_name=record.cabin_name or record.cabin_id,
            consultation_id=record.consultation_id,
        )

    async def _escalate(self, alert_id: str) -> None:
        try:
            record = await self._storage.mark_alert_escalated(alert_id, at=self._clock.now())
        except StorageError as exc:
            log.error(
                "hub.storage_failed task=alert_escalation alert=%s error=%s",
                alert_id,
                log_safe(exc),
            )
            return
        entry = self._open.get(alert_id)
        if record is None or entry is None:
            return  # acknowledged meanwhile
        entry.record = record
        entry.escalation = self._escalation(record)
        doctors = self._routes.to_all_consoles(entry.escalation)
        entry.shown_to |= doctors
        agents = self._routes.to_agents(record.cabin_id, entry.escalation)
        log.warning(
            "hub.alert_escalated alert=%s cabin=%s kind=%s consoles_of=%d agent_pages=%d",
            alert_id,
            record.cabin_id,
            record.kind.value,
            len(doctors),
            agents,
        )
        await self._audit.record(
            "alert.escalated",
            actor_kind=ActorKind.HUB,
            actor_id="hub",
            consultation_id=record.consultation_id,
            alert_id=alert_id,
        )

    # --- acknowledgement --------------------------------------------------------------------

    async def acknowledged(self, peer: Peer, ack: wire.AlertAck) -> None:
        """An `AlertAck` from an agent page, a console or the cabin."""
        record = await self._storage.alert(ack.alert_id)
        refusal = self._refusal(peer, record)
        if refusal is not None:
            code, text = refusal
            peer.send(
                wire.ErrorMessage(msg_id=new_msg_id(), code=code, text=text, in_reply_to=ack.msg_id)
            )
            return
        by, role, at, actor = self._who(peer, ack)
        result = await self._storage.acknowledge_alert(
            ack.alert_id, by=by, role=role, at=at, false_alarm=ack.false_alarm
        )
        if result is None:  # cannot be: it was read just above
            return
        stored, first = result
        if first:
            self._handled(peer, stored)
        peer.send(wire.Ack(msg_id=new_msg_id(), ack_of=ack.msg_id))
        if not first:
            return
        await self._audit.record(
            "alert.false_alarm" if stored.false_alarm else "alert.acknowledged",
            actor_kind=actor,
            actor_id=by if role is not AckRole.CABIN_AGENT else peer.identity,
            consultation_id=stored.consultation_id,
            client_address=None if peer.kind is PeerKind.CABIN else peer.client_address,
            alert_id=stored.alert_id,
        )

    def _refusal(self, peer: Peer, record: AlertRecord | None) -> tuple[wire.ErrorCode, str] | None:
        if record is None:
            return wire.ErrorCode.NOT_FOUND, "no such alert"
        allowed = True
        match peer.kind:
            case PeerKind.CABIN:
                allowed = record.cabin_id == peer.identity
            case PeerKind.AGENT:
                allowed = self._routes.agent_looks_after(peer, record.cabin_id)
            case PeerKind.CONSOLE:
                entry = self._open.get(record.alert_id)
                allowed = (
                    not record.is_open
                    or record.escalated_at is not None
                    or (entry is not None and peer.identity in entry.shown_to)
                    or peer.identity in self._routes.doctors_in_call_with(record.cabin_id)
                )
        if not allowed:
            log.warning("hub.alert_ack_refused peer=%s alert=%s", peer.label, record.alert_id)
            return wire.ErrorCode.UNAUTHORIZED, "not an alert of yours"
        return None

    def _who(self, peer: Peer, ack: wire.AlertAck) -> tuple[str, AckRole, datetime, ActorKind]:
        """Who acknowledged, as stored: the hub's account for people signed in to it; for
        the cabin, the name it gives and its own time (the patient may have touched "I am
        fine" while it was offline)."""
        match peer.kind:
            case PeerKind.AGENT:
                return peer.identity, AckRole.AGENT, self._clock.now(), ActorKind.AGENT
            case PeerKind.CONSOLE:
                return peer.identity, AckRole.DOCTOR, self._clock.now(), ActorKind.DOCTOR
            case _:
                role = AckRole.PATIENT if ack.acknowledged_by == PATIENT else AckRole.CABIN_AGENT
                return ack.acknowledged_by, role, ack.acknowledged_at, ActorKind.CABIN

    def _handled(self, peer: Peer, record: AlertRecord) -> None:
        """The first ack: the timer stops, and everyone who was shown the alert is told."""
        entry = self._open.pop(record.alert_id, None)
        if entry is not None and entry.timer is not None:
            entry.timer.cancel()
        log.info(
            "hub.alert_acknowledged alert=%s by=%s:%s false_alarm=%s",
            record.alert_id,
            record.acknowledged_role.value if record.acknowledged_role else "-",
            record.acknowledged_by if record.acknowledged_role is not AckRole.CABIN_AGENT else "-",
            record.false_alarm,
        )
        message = ack_message(record)
        if peer.kind is not PeerKind.CABIN:
            self._routes.to_cabin(record.cabin_id, message)
        self._routes.to_agents(record.cabin_id, message)
        if record.escalated_at is not None:
            self._routes.to_all_consoles(message)
        elif entry is not None:
            self._routes.to_doctors(entry.shown_to, message)
