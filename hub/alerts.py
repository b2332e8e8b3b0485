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

A cabin cannot flood anyone (issue 15): an alert of the kind and severity of one of its open
alerts is merged into it (its `repeat_count` grows; the pages get the new count at most every
`update_s`), so a cabin has at most one open alert per kind and severity; it may open at most
`alerts_per_minute` new alerts, and have that many repeats stored one by one, in any minute
(beyond, `rate_limited`: a repeat is still counted), on this replica and fleet-wide (the
cluster's counters, per minute of the hub's clock: a cabin hopping between replicas cannot
multiply its allowance). A page that connects gets its backlog as
one bounded `AlertSummary`. A cabin's `consultation_id` must be its own (another cabin's is
removed), and its `raised_at` is kept unless absurd: more than `CLOCK_SKEW` ahead of the
hub it becomes the hub's time of arrival, older than `RELOAD_WINDOW` it becomes that bound
(`cabin_raised_at` keeps the cabin's; logged). The operator may dismiss a cabin's alerts
(``python -m hub clear-alerts``): the running hub finds out within `resync_s` and tells
the pages.

With several replicas, each keeps the open alerts of the database (`refresh`: on another
replica's signal that they changed, on every cluster (re)connection, and every `resync_s`)
and runs their escalation timers; `Storage.mark_alert_escalated` is a conditional update, so
an alert escalates exactly once, even if the replica that got it died, and the replica that
wins sends the escalation (to the consoles and agent pages of every replica, through
routing). The pages are told of an alert handled outside this replica once across the fleet
(a claim in the cluster).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

import wire
from hub.audit import AuditLog
from hub.clock import Clock
from hub.cluster import Cluster, ClusterDown, LocalCluster
from hub.errors import StorageError
from hub.log_safe import log_safe
from hub.message_ids import new_msg_id
from hub.peers import Peer, PeerKind
from hub.rate_limit import SlidingWindowLimit
from hub.storage import AckRole, ActorKind, AlertRecord, Storage

log = logging.getLogger(__name__)

AGENTS_ONLY = frozenset(
    {
        wire.AlertKind.PRINTER,
        wire.AlertKind.DEVICE,
        wire.AlertKind.CABIN_OFFLINE,
        wire.AlertKind.SELFTEST_FAILED,
    }
)
"""Kinds for the agents (and the operator's fleet page) only: never shown in a doctor's
console, never escalated."""
RELOAD_WINDOW = timedelta(days=7)
"""Open alerts received this long before the hub starts are reloaded (and escalated)."""
_RELOADED = 1000
CLOCK_SKEW = timedelta(minutes=5)
"""How far ahead of the hub's clock a cabin's `raised_at` may be."""
KEPT_REPEATS = 32
"""Repeats of an alert stored one by one (their ids known: the cabin is told when it is
handled); later ones are only counted."""
SUMMARY_CABINS = 200
SUMMARY_LATEST = 16
_RATE_WINDOW_S = 60.0
_FLEET_COUNT_KEPT_S = 3600.0
"""How long a fleet-wide count of a minute is kept (the cluster's window: only its expiry)."""
_HANDLED_CLAIM_KEY = "hub:alert-handled:"
_HANDLED_CLAIM_TTL_S = 86_400.0
_REFUSALS_LOGGED_EVERY_S = 10.0
PATIENT = "patient"
"""`acknowledged_by` of a cabin's ack when the patient touched "I am fine"."""


def bounded_time(claimed: datetime, now: datetime) -> datetime:
    """A time a cabin gives (its own clock: it may have been offline), kept unless absurd:
    more than `CLOCK_SKEW` ahead of the hub's it becomes `now` (it cannot be later than it
    arrived), older than `RELOAD_WINDOW` it becomes that bound."""
    if claimed > now + CLOCK_SKEW:
        return now
    return max(claimed, now - RELOAD_WINDOW)


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

    def alerts_changed(self) -> None:
        """Tell the other replicas that the open alerts have changed in the database."""
        ...


@dataclass
class _OpenAlert:
    record: AlertRecord
    shown_to: set[str] = field(default_factory=set)
    """The doctors whose consoles were sent it."""
    timer: asyncio.TimerHandle | None = None
    escalation: wire.AlertEscalated | None = None
    kept_repeats: int = 0
    """Repeats stored one by one since the hub started (at most `KEPT_REPEATS`)."""
    uncounted: int = 0
    """Repeats refused by the rate limit, not yet added to the stored count."""
    uncounted_latest: AlertRecord | None = None
    counting: int = 0
    """Repeats on their way to the database (in neither `uncounted` nor `record`)."""
    update: asyncio.TimerHandle | None = None
    """The pages are told the new count when this fires."""

    @property
    def merge_key(self) -> tuple[str, wire.AlertKind, wire.AlertSeverity]:
        return self.record.cabin_id, self.record.kind, self.record.severity

    @property
    def repeat_count(self) -> int:
        """The stored count, and the repeats not yet added to it."""
        return self.record.repeat_count + self.counting + self.uncounted

    def take_uncounted(self) -> tuple[int, AlertRecord | None]:
        """The repeats not yet counted, now on their way to the database (`counting`)."""
        taken, latest = self.uncounted, self.uncounted_latest
        self.uncounted, self.uncounted_latest = 0, None
        self.counting += taken
        return taken, latest

    def not_counted(self, taken: int, latest: AlertRecord | None) -> None:
        """The database could not count `taken` repeats: they wait for the next time."""
        self.uncounted += taken
        if latest is not None and (
            self.uncounted_latest is None or latest.raised_at > self.uncounted_latest.raised_at
        ):
            self.uncounted_latest = latest

    def counted(self, taken: int, stored: AlertRecord | None) -> None:
        """`taken` repeats have reached the database (`stored`: the alert as stored then,
        None if they could not be counted)."""
        self.counting -= taken
        if stored is not None and stored.repeat_count >= self.record.repeat_count:
            if stored.escalated_at is None and self.record.escalated_at is not None:
                # escalated while these were counted: the escalation is the later news
                stored = dataclasses.replace(stored, escalated_at=self.record.escalated_at)
            self.record = stored

    @property
    def last_active(self) -> datetime:
        latest = self.record.last_raised_at or self.record.raised_at
        if self.uncounted_latest is not None:
            return max(latest, self.uncounted_latest.raised_at)
        return latest


def alert_message(record: AlertRecord) -> wire.AlertMessage:
    """The alert as agents and doctors get it (with where the cabin is, and its repeats)."""
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
        repeat_count=record.repeat_count,
        last_raised_at=record.last_raised_at,
    )


def _counted_message(entry: _OpenAlert) -> wire.AlertMessage:
    """The alert with every repeat known to this hub, stored or on its way."""
    return alert_message(
        dataclasses.replace(
            entry.record,
            repeat_count=entry.repeat_count,
            last_raised_at=entry.last_active if entry.repeat_count > 1 else None,
        )
    )


def ack_message(record: AlertRecord, alert_id: str | None = None) -> wire.AlertAck:
    """Who handled the alert, as everyone who was shown it gets it (`alert_id`: one of the
    repeats merged into it, for the cabin)."""
    assert record.acknowledged_by is not None and record.acknowledged_at is not None
    return wire.AlertAck(
        msg_id=new_msg_id(),
        alert_id=alert_id or record.alert_id,
        acknowledged_by=record.acknowledged_by,
        acknowledged_at=record.acknowledged_at,
        false_alarm=bool(record.false_alarm),
    )


def summary_message(entries: list[_OpenAlert], emergency_number: str) -> wire.AlertSummary:
    """The open alerts `entries`, by cabin, bounded: the escalated cabins first, then the
    most recently active; in each, the escalated alerts first, then the most recent."""
    by_cabin: dict[str, list[_OpenAlert]] = {}
    for entry in entries:
        by_cabin.setdefault(entry.record.cabin_id, []).append(entry)
    cabins: list[tuple[bool, datetime, wire.CabinAlerts]] = []
    for cabin_id, group in by_cabin.items():
        group.sort(key=lambda e: (e.escalation is None, -e.last_active.timestamp()))
        escalated = sum(1 for e in group if e.escalation is not None)
        cabins.append(
            (
                escalated > 0,
                max(e.last_active for e in group),
                wire.CabinAlerts(
                    cabin_id=cabin_id,
                    cabin_name=group[0].record.cabin_name or cabin_id,
                    open_count=len(group),
                    raised_count=sum(e.repeat_count for e in group),
                    escalated_count=escalated,
                    latest=[_open_alert(e) for e in group[:SUMMARY_LATEST]],
                ),
            )
        )
    cabins.sort(key=lambda c: (not c[0], -c[1].timestamp()))
    return wire.AlertSummary(
        msg_id=new_msg_id(),
        cabins=[c[2] for c in cabins[:SUMMARY_CABINS]],
        more_cabins=max(0, len(cabins) - SUMMARY_CABINS),
        emergency_number=emergency_number,
    )


def _open_alert(entry: _OpenAlert) -> wire.OpenAlert:
    record = entry.record
    return wire.OpenAlert(
        alert_id=record.alert_id,
        kind=record.kind,
        severity=record.severity,
        raised_at=record.raised_at,
        repeat_count=entry.repeat_count,
        last_raised_at=entry.last_active if entry.repeat_count > 1 else None,
        confidence=record.confidence,
        consultation_id=record.consultation_id,
        detail=record.detail,
        escalated_at=record.escalated_at,
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
        alerts_per_minute: int = 12,
        update_s: float = 5.0,
        resync_s: float = 15.0,
        cluster: Cluster | None = None,
    ) -> None:
        self._storage = storage
        self._cluster: Cluster = cluster or LocalCluster()
        self._alerts_per_minute = alerts_per_minute
        self._clock = clock
        self._audit = audit
        self._routes = routes
        self._escalation_s = escalation_s
        self._emergency_number = emergency_number
        self._update_s = update_s
        self._resync_s = resync_s
        self._open: dict[str, _OpenAlert] = {}
        self._heads: dict[tuple[str, wire.AlertKind, wire.AlertSeverity], _OpenAlert] = {}
        """The open alert each repeat of a cabin's kind and severity is merged into."""
        self._new_alerts = SlidingWindowLimit(
            limit=alerts_per_minute, window_s=_RATE_WINDOW_S, clock=clock
        )
        self._kept_repeats = SlidingWindowLimit(
            limit=alerts_per_minute, window_s=_RATE_WINDOW_S, clock=clock
        )
        self._refusals: dict[str, tuple[float, int]] = {}
        """Per cabin: when a refusal was last logged, and how many since."""

    # --- lifetime ---------------------------------------------------------------------------

    async def reload(self) -> None:
        """The open alerts of the database, their escalation timers started again."""
        added = await self._load()
        if added:
            log.info("hub.alerts_reloaded count=%d", added)

    async def _load(self) -> int:
        """Add the open alerts of the database this desk does not know (raised through
        another replica), and learn which known ones another replica escalated; how many were
        added."""
        records = await self._storage.open_alerts(
            since=self._clock.now() - RELOAD_WINDOW, limit=_RELOADED
        )
        added = 0
        for record in records:
            entry = self._open.get(record.alert_id)
            if entry is None:
                entry = _OpenAlert(record)
                self._add(entry)
                added += 1
                if record.escalated_at is not None:
                    entry.escalation = self._escalation(record)
                else:
                    self._schedule(entry)
            elif record.escalated_at is not None and entry.escalation is None:
                if entry.timer is not None:
                    entry.timer.cancel()
                    entry.timer = None
                if record.repeat_count >= entry.record.repeat_count:
                    entry.record = record
                entry.escalation = self._escalation(record)
            elif record.repeat_count > entry.record.repeat_count:
                entry.record = record
        return added

    async def refresh(self) -> None:
        """Another replica says the open alerts have changed (or the cluster reconnected):
        re-read them, new, escalated and handled."""
        await self._load()
        await self.resync()

    def start(self) -> None:
        """Re-read, every `resync_s`, which open alerts the database still holds open."""
        self._routes.spawn(self._resync_periodically(), "hub-alerts-resync")

    def stop(self) -> None:
        for entry in self._open.values():
            for handle in (entry.timer, entry.update):
                if handle is not None:
                    handle.cancel()
            entry.timer = entry.update = None

    def open_alerts(self) -> list[AlertRecord]:
        return [entry.record for entry in self._open.values()]

    def _add(self, entry: _OpenAlert) -> None:
        self._open[entry.record.alert_id] = entry
        self._heads.setdefault(entry.merge_key, entry)

    def _forget(self, alert_id: str) -> _OpenAlert | None:
        entry = self._open.pop(alert_id, None)
        if entry is None:
            return None
        if self._heads.get(entry.merge_key) is entry:
            del self._heads[entry.merge_key]
        for handle in (entry.timer, entry.update):
            if handle is not None:
                handle.cancel()
        entry.timer = entry.update = None
        return entry

    # --- who connects -----------------------------------------------------------------------

    def agent_connected(self, peer: Peer) -> None:
        """The open alerts of the agent's cabins, as one bounded summary."""
        entries = [
            entry
            for entry in self._open.values()
            if self._routes.agent_looks_after(peer, entry.record.cabin_id)
        ]
        peer.send(summary_message(entries, self._emergency_number))

    def console_connected(self, peer: Peer, call_cabin: str | None) -> None:
        """The escalated alerts, and the open ones of the cabin the doctor is in a call with,
        as one bounded summary (none if there are none)."""
        entries = [
            entry
            for entry in self._open.values()
            if entry.escalation is not None
            or (entry.record.cabin_id == call_cabin and entry.record.kind not in AGENTS_ONLY)
        ]
        if not entries:
            return
        summary = summary_message(entries, self._emergency_number)
        shown = {a.alert_id for cabin in summary.cabins for a in cabin.latest}
        for entry in entries:
            if entry.record.alert_id in shown:
                entry.shown_to.add(peer.identity)
        peer.send(summary)

    # --- an alert arrives -------------------------------------------------------------------

    async def raised(self, peer: Peer, alert: wire.AlertMessage) -> None:
        """A cabin's alert (its `cabin_id` is the connection's): stored once, merged into the
        open one of its kind and severity if there is one, sent on."""
        known = await self._storage.alert(alert.alert_id)
        if known is not None:
            await self._known(peer, alert, known)
            return
        record = await self._checked(peer, alert)
        head = self._heads.get((record.cabin_id, record.kind, record.severity))
        if head is not None and await self._repeat(peer, alert, record, head):
            return
        if self._new_alerts.attempt(record.cabin_id) is not None or not (
            await self._fleet_allows("new", record.cabin_id)
        ):
            self._rate_limited(peer, alert, "too many new alerts from this cabin")
            return
        record, new = await self._storage.add_alert(record)
        if not new:  # the same alert twice at once: the first one did it all
            await self._known(peer, alert, record)
            return
        self._routes.alerts_changed()
        log.warning(
            "hub.alert cabin=%s alert=%s kind=%s severity=%s consultation=%s",
            record.cabin_id,
            record.alert_id,
            record.kind.value,
            record.severity.value,
            record.consultation_id or "-",
        )
        entry = _OpenAlert(record)
        self._add(entry)
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

    async def _known(self, peer: Peer, alert: wire.AlertMessage, known: AlertRecord) -> None:
        """An alert id the hub has stored: another cabin's is refused; the cabin's own is
        acknowledged again (and, if it was handled meanwhile, who handled it)."""
        if known.cabin_id != peer.identity:
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
        if not known.is_open:  # handled while the cabin could not hear it: tell it
            peer.send(ack_message(known))
        peer.send(wire.Ack(msg_id=new_msg_id(), ack_of=alert.msg_id))

    async def _checked(self, peer: Peer, alert: wire.AlertMessage) -> AlertRecord:
        """The alert as the hub stores it: the cabin's consultation only (another cabin's is
        removed), its `raised_at` within bounds (else brought to the bound, the cabin's kept
        in `cabin_raised_at`)."""
        now = self._clock.now()
        consultation_id = alert.consultation_id
        if consultation_id is not None:
            consultation = await self._storage.consultation(consultation_id)
            if consultation is not None and consultation.cabin_id != peer.identity:
                log.warning(
                    "hub.alert_consultation_removed cabin=%s alert=%s consultation=%s",
                    peer.identity,
                    alert.alert_id,
                    consultation_id,
                )
                consultation_id = None
        raised_at = bounded_time(alert.raised_at, now)
        if raised_at != alert.raised_at:
            log.warning(
                "hub.alert_time_bounded cabin=%s alert=%s off_by_s=%d",
                peer.identity,
                alert.alert_id,
                (alert.raised_at - now).total_seconds(),
            )
        cabin = await self._storage.cabin(peer.identity)
        return AlertRecord(
            alert_id=alert.alert_id,
            cabin_id=peer.identity,
            cabin_name=cabin.name if cabin is not None else "",
            kind=alert.kind,
            severity=alert.severity,
            confidence=alert.confidence,
            detail=alert.detail,
            consultation_id=consultation_id,
            raised_at=raised_at,
            received_at=now,
            cabin_raised_at=None if raised_at == alert.raised_at else alert.raised_at,
        )

    async def _repeat(
        self, peer: Peer, alert: wire.AlertMessage, record: AlertRecord, head: _OpenAlert
    ) -> bool:
        """Merge a repeat into its open `head`; False if the head was handled meanwhile (the
        repeat is then a new alert)."""
        if self._kept_repeats.attempt(record.cabin_id) is not None or not (
            await self._fleet_allows("repeats", record.cabin_id)
        ):
            head.uncounted += 1
            latest = head.uncounted_latest
            if latest is None or record.raised_at >= latest.raised_at:
                head.uncounted_latest = record
            self._schedule_update(head)
            self._rate_limited(peer, alert, f"counted as a repeat of {head.record.alert_id}")
            return True
        keep = head.kept_repeats < KEPT_REPEATS
        taken, latest = head.take_uncounted()
        head.counting += 1
        stored = None
        try:
            stored = await self._storage.add_repeat(
                record, head_id=head.record.alert_id, keep=keep, count=1 + taken
            )
        except StorageError:
            head.not_counted(taken, latest)
            raise
        finally:
            head.counted(1 + taken, stored)
        if stored is None:  # handled meanwhile, outside this hub (the operator cleared it)
            closed = await self._storage.alert(head.record.alert_id)
            if self._open.get(head.record.alert_id) is head:
                if closed is not None and not closed.is_open:
                    await self._handled_elsewhere(closed)
                else:
                    self._forget(head.record.alert_id)
            return False
        head.kept_repeats += keep
        if self._open.get(stored.alert_id) is head:
            self._schedule_update(head)
        peer.send(wire.Ack(msg_id=new_msg_id(), ack_of=alert.msg_id))
        log.info(
            "hub.alert_repeated cabin=%s alert=%s into=%s count=%d kept=%s",
            record.cabin_id,
            record.alert_id,
            stored.alert_id,
            stored.repeat_count,
            keep,
        )
        if keep:
            await self._audit.record(
                "alert.repeated",
                actor_kind=ActorKind.CABIN,
                actor_id=record.cabin_id,
                consultation_id=record.consultation_id,
                alert_id=record.alert_id,
            )
        return True

    def _rate_limited(self, peer: Peer, alert: wire.AlertMessage, text: str) -> None:
        peer.send(
            wire.ErrorMessage(
                msg_id=new_msg_id(),
                code=wire.ErrorCode.RATE_LIMITED,
                text=text,
                in_reply_to=alert.msg_id,
            )
        )
        now = self._clock.monotonic()
        logged_at, count = self._refusals.get(peer.identity, (None, 0))
        if logged_at is None or now - logged_at >= _REFUSALS_LOGGED_EVERY_S:
            log.warning("hub.alert_rate_limited cabin=%s refused=%d", peer.identity, count + 1)
            self._refusals[peer.identity] = (now, 0)
        else:
            self._refusals[peer.identity] = (logged_at, count + 1)

    def _schedule_update(self, entry: _OpenAlert) -> None:
        """The pages shown the alert get its new count at most every `update_s`."""
        if entry.update is None:
            entry.update = asyncio.get_running_loop().call_later(
                self._update_s, self._spawn_update, entry.record.alert_id
            )

    def _spawn_update(self, alert_id: str) -> None:
        entry = self._open.get(alert_id)
        if entry is not None:
            entry.update = None
            self._routes.spawn(self._send_update(entry), f"hub-alert-update-{alert_id}")

    async def _send_update(self, entry: _OpenAlert) -> None:
        taken, latest = entry.take_uncounted()
        if latest is not None:
            stored = None
            try:
                stored = await self._storage.add_repeat(
                    latest, head_id=entry.record.alert_id, keep=False, count=taken
                )
            except StorageError as exc:
                entry.not_counted(taken, latest)
                log.error(
                    "hub.storage_failed task=alert_update alert=%s error=%s",
                    entry.record.alert_id,
                    exc,
                )
                return
            finally:
                entry.counted(taken, stored)
            if stored is None or self._open.get(stored.alert_id) is not entry:
                return
        record = entry.record
        message = alert_message(record)
        self._routes.to_agents(record.cabin_id, message)
        self._routes.to_doctors(entry.shown_to, message)

    # --- alerts the hub raises itself (`hub.fleet_desk`) --------------------------------------

    async def raise_from_hub(self, record: AlertRecord) -> bool:
        """Store an alert the hub raised (a cabin offline, a failed self-test) and send it to
        the cabin's agents; whether it was new. Its id is the same on every replica that sees
        the same event (`hub.fleet.offline_alert_id`): the database keeps it once, and only
        the replica that stored it sends it."""
        record, new = await self._storage.add_alert(record)
        if not new:
            return False
        self._routes.alerts_changed()
        log.warning(
            "hub.alert cabin=%s alert=%s kind=%s severity=%s raised_by=hub",
            record.cabin_id,
            record.alert_id,
            record.kind.value,
            record.severity.value,
        )
        entry = _OpenAlert(record)
        self._add(entry)
        agents = self._routes.to_agents(record.cabin_id, alert_message(record))
        log.info("hub.alert_sent alert=%s agent_pages=%d doctors=0", record.alert_id, agents)
        await self._audit.record(
            "alert.raised", actor_kind=ActorKind.HUB, actor_id="hub", alert_id=record.alert_id
        )
        return True

    async def resolve_from_hub(self, alert_id: str, *, because: str) -> bool:
        """The hub resolves an alert it raised (`because`: ``hub:back_online``,
        ``hub:selftest_passed``, as `acknowledged_by`); the first acknowledgement stands, so
        of two replicas resolving it one does, and tells the pages. Whether this one did."""
        result = await self._storage.acknowledge_alert(
            alert_id, by=because, role=AckRole.HUB, at=self._clock.now(), false_alarm=False
        )
        if result is None or not result[1]:
            return False
        stored = result[0]
        await self._claim_handled(stored.alert_id)
        self._routes.alerts_changed()
        self._handled(stored, told_cabin={stored.alert_id}, merged=[])
        await self._audit.record(
            "alert.resolved", actor_kind=ActorKind.HUB, actor_id="hub", alert_id=stored.alert_id
        )
        return True

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
        if record is None:
            return  # acknowledged meanwhile, or escalated by another replica
        self._routes.alerts_changed()
        entry = self._open.get(alert_id)
        if entry is None:  # acknowledged meanwhile
            return
        if record.repeat_count >= entry.record.repeat_count:
            entry.record = record
        else:  # repeats counted while it was being marked: keep their count
            entry.record = dataclasses.replace(
                entry.record,
                escalated_at=record.escalated_at,
            )
        entry.escalation = self._escalation(entry.record)
        doctors = self._routes.to_all_consoles(entry.escalation)
        if entry.repeat_count > 1:
            # a console that opened before the escalation has not been told the repeats
            self._routes.to_all_consoles(_counted_message(entry))
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
        """An `AlertAck` from an agent page, a console or the cabin (of an alert, or of a
        repeat merged into one: the alert it was merged into is acknowledged)."""
        record = await self._storage.alert(ack.alert_id)
        if record is not None and record.merged_into is not None:
            record = await self._storage.alert(record.merged_into)
        refusal = self._refusal(peer, record)
        if refusal is not None or record is None:
            code, text = refusal or (wire.ErrorCode.NOT_FOUND, "no such alert")
            peer.send(
                wire.ErrorMessage(msg_id=new_msg_id(), code=code, text=text, in_reply_to=ack.msg_id)
            )
            return
        by, role, at, actor = self._who(peer, ack)
        result = await self._storage.acknowledge_alert(
            record.alert_id, by=by, role=role, at=at, false_alarm=ack.false_alarm
        )
        if result is None:  # cannot be: it was read just above
            return
        stored, first = result
        if first:
            await self._claim_handled(stored.alert_id)  # this replica tells everyone
            self._routes.alerts_changed()
            merged = await self._storage.merged_alert_ids(stored.alert_id, limit=KEPT_REPEATS * 4)
            told = {ack.alert_id} if peer.kind is PeerKind.CABIN else set()
            self._handled(stored, told_cabin=told, merged=merged)
        peer.send(wire.Ack(msg_id=new_msg_id(), ack_of=ack.msg_id))
        if not first:
            return
        await self._audit.record(
            "alert.false_alarm" if stored.false_alarm else "alert.acknowledged",
            actor_kind=actor,
            actor_id=peer.identity if peer.kind is PeerKind.CABIN else by,
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
                at = bounded_time(ack.acknowledged_at, self._clock.now())
                return ack.acknowledged_by, role, at, ActorKind.CABIN

    def _handled(self, record: AlertRecord, *, told_cabin: set[str], merged: list[str]) -> None:
        """The first ack: the timers stop, and everyone who was shown the alert is told; the
        cabin, of the alert and of each repeat merged into it (but those in `told_cabin`,
        which it acknowledged itself)."""
        entry = self._forget(record.alert_id)
        log.info(
            "hub.alert_acknowledged alert=%s by=%s:%s false_alarm=%s merged=%d",
            record.alert_id,
            record.acknowledged_role.value if record.acknowledged_role else "-",
            record.acknowledged_by if record.acknowledged_role is not AckRole.CABIN_AGENT else "-",
            record.false_alarm,
            len(merged),
        )
        message = ack_message(record)
        if record.alert_id not in told_cabin:
            self._routes.to_cabin(record.cabin_id, message)
        for alert_id in merged:
            if alert_id not in told_cabin:
                self._routes.to_cabin(record.cabin_id, ack_message(record, alert_id))
        self._routes.to_agents(record.cabin_id, message)
        if record.escalated_at is not None:
            self._routes.to_all_consoles(message)
        elif entry is not None:
            self._routes.to_doctors(entry.shown_to, message)

    # --- alerts dismissed outside the hub (the operator's command line) ----------------------

    async def _resync_periodically(self) -> None:
        while True:
            await asyncio.sleep(self._resync_s)
            try:
                await self.refresh()
            except StorageError as exc:
                log.error("hub.storage_failed task=alert_resync error=%s", exc)

    async def resync(self) -> None:
        """Tell the pages of the open alerts the database no longer holds open."""
        if not self._open:
            return
        still_open = {
            record.alert_id
            for record in await self._storage.open_alerts(
                since=self._clock.now() - RELOAD_WINDOW, limit=_RELOADED
            )
        }
        for alert_id in [a for a in self._open if a not in still_open]:
            record = await self._storage.alert(alert_id)
            if record is None or record.is_open or alert_id not in self._open:
                continue  # stored after the first read, or handled meanwhile
            await self._handled_elsewhere(record)

    async def _handled_elsewhere(self, record: AlertRecord) -> None:
        """An alert handled outside this replica's sight: the pages are told by the one
        replica that claims it first (the one where it was acknowledged has claimed it); the
        others forget it."""
        if not await self._claim_handled(record.alert_id):
            self._forget(record.alert_id)
            return
        merged = await self._storage.merged_alert_ids(record.alert_id, limit=KEPT_REPEATS * 4)
        if self._open.get(record.alert_id) is not None:
            self._handled(record, told_cabin=set(), merged=merged)

    async def _claim_handled(self, alert_id: str) -> bool:
        try:
            return await self._cluster.claim(
                _HANDLED_CLAIM_KEY + alert_id, ttl_s=_HANDLED_CLAIM_TTL_S
            )
        except ClusterDown as exc:
            log.warning("hub.cluster_down task=alert_claim error=%s", log_safe(exc))
            return True  # told twice rather than never

    async def _fleet_allows(self, what: str, cabin_id: str) -> bool:
        """Whether the cabin is within `alerts_per_minute` of `what` across the replicas this
        minute of the hub's clock (this replica's own limit has said yes)."""
        minute = int(self._clock.now().timestamp() // _RATE_WINDOW_S)
        try:
            count = await self._cluster.hit(
                f"hub:alerts-{what}:{cabin_id}:{minute}", window_s=_FLEET_COUNT_KEPT_S
            )
        except ClusterDown as exc:
            log.warning("hub.cluster_down task=alert_rate error=%s", log_safe(exc))
            return True
        return count <= self._alerts_per_minute
