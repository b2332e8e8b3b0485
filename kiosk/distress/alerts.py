"""The cabin's alerts: raised, stored, shown, sent to the hub, closed by whoever handles them.

An alert is written to the SQLCipher store first (so that it survives a crash and the assistant
mode lists it), then published on the bus (``AlertRaised``), shown as the calm distress overlay
when a person in the cabin is concerned, and sent to the hub (``wire.AlertMessage``, resent by
the hub link until acknowledged), which tells the agents and, if nobody answers, the doctors on
duty. Nothing of the patient travels: the kind, the severity, the detector's confidence and a
short technical detail.

Three ways to close an alert, the first acknowledgement standing (the store keeps who and when):
- the patient touches "I am fine" (``patient_is_fine``): every distress alert on screen is closed
  as a false alarm by ``patient``, and the hub is told (``wire.AlertAck``);
- an agent or a doctor answers from their page (``hub_acknowledged``): "I am coming" keeps the
  overlay on screen but says help is on the way (``HelpComing``); "false alarm" closes it;
- an agent handles it in the assistant mode: the assistant publishes ``AlertCleared``, and the
  hub is told here.
"""

from __future__ import annotations

import asyncio
import logging
import unicodedata
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import wire
from kiosk.bus import EventBus
from kiosk.errors import StoreError
from kiosk.events import AlertCleared, AlertRaised, HelpComing
from kiosk.session import Session
from kiosk.store import AsyncStore, Store

log = logging.getLogger(__name__)

PATIENT = "patient"
"""Who acknowledged, when the patient touched "I am fine"."""

Send = Callable[[wire.Message], Awaitable[None]]

DISTRESS_KINDS: frozenset[wire.AlertKind] = frozenset(
    {
        wire.AlertKind.FALL,
        wire.AlertKind.STILLNESS,
        wire.AlertKind.CALL_FOR_HELP,
        wire.AlertKind.DANGEROUS_VITALS,
        wire.AlertKind.PANIC_BUTTON,
    }
)
"""Kinds about a person in the cabin: the overlay shows, "I am fine" closes them."""


def _utc_now() -> datetime:
    return datetime.now(UTC)


class AlertDesk:
    def __init__(
        self,
        session: Session,
        store: AsyncStore,
        bus: EventBus,
        *,
        cabin_id: str,
        now: Callable[[], datetime] = _utc_now,
    ) -> None:
        self._session = session
        self._store = store
        self._bus = bus
        self._cabin_id = cabin_id
        self._now = now
        self.send: Send | None = None  # to the hub, once the cabin has a link
        self.new_id: Callable[[str], str] = lambda prefix: (
            f"{cabin_id}.{prefix}{uuid.uuid4().hex[:12]}"
        )
        self._closed_by_hub: set[str] = set()
        self._open_kinds: dict[str, wire.AlertKind] = {}  # alert id -> kind, raised here
        self._tasks: set[asyncio.Task[None]] = set()
        bus.subscribe(AlertCleared, self._on_cleared)

    # --- raising ----------------------------------------------------------------------------
    def open_kind(self, kind: wire.AlertKind) -> str | None:
        """The id of an open alert of this kind raised by this process, if there is one."""
        for alert_id, open_kind in self._open_kinds.items():
            if open_kind is kind:
                return alert_id
        return None

    async def raise_alert(
        self,
        kind: wire.AlertKind,
        severity: wire.AlertSeverity,
        *,
        confidence: float = 1.0,
        detail: str = "",
        overlay: bool = True,
        prefix: str = "alert",
        consultation_id: str | None = None,
    ) -> str:
        """Store, show (``overlay``: the calm distress overlay), publish and send an alert;
        returns its id. The store comes first: an alert that cannot be written is still shown
        and sent (a person may need help), and the failure is logged. The alert belongs to
        the session's consultation unless another one is named."""
        alert_id = f"{prefix}-{uuid.uuid4().hex[:16]}"
        raised_at = self._now()
        consultation_id = consultation_id or self._session.context.consultation_id
        confidence = min(1.0, max(0.0, confidence))
        try:
            await self._store.run(
                Store.add_alert,
                alert_id,
                kind.value,
                severity.value,
                raised_at,
                confidence,
                consultation_id,
            )
        except StoreError as exc:
            log.error("alert.store_failed alert=%s kind=%s error=%s", alert_id, kind.value, exc)
        self._open_kinds[alert_id] = kind
        log.warning(
            "alert.raised alert=%s kind=%s severity=%s confidence=%.2f detail=%s",
            alert_id,
            kind.value,
            severity.value,
            confidence,
            detail or "-",
        )
        if overlay:
            self._session.raise_distress(alert_id)
        self._bus.publish(
            AlertRaised(alert_id, kind, severity, raised_at, confidence, consultation_id)
        )
        if self.send is not None:
            await self.send(
                wire.AlertMessage(
                    msg_id=self.new_id("alert"),
                    alert_id=alert_id,
                    cabin_id=self._cabin_id,
                    kind=kind,
                    severity=severity,
                    raised_at=raised_at,
                    confidence=round(confidence, 3),
                    consultation_id=consultation_id,
                    detail=detail[:120],
                )
            )
        return alert_id

    # --- closing ----------------------------------------------------------------------------
    async def patient_is_fine(self) -> list[str]:
        """ "I am fine": every alert on screen is closed, as a false alarm, by the patient."""
        closed = sorted(self._session.active_alerts)
        self._session.clear_distress()
        for alert_id in closed:
            await self._close(alert_id, PATIENT, false_alarm=True)
        return closed

    async def hub_acknowledged(self, ack: wire.AlertAck) -> None:
        """An agent or a doctor answered from their page (relayed by the hub)."""
        self._closed_by_hub.add(ack.alert_id)
        try:
            result = await self._store.run(
                Store.acknowledge_open_alert, ack.alert_id, ack.acknowledged_by, ack.false_alarm
            )
        except StoreError as exc:
            log.error("alert.ack_store_failed alert=%s error=%s", ack.alert_id, exc)
            result = None
        self._open_kinds.pop(ack.alert_id, None)
        log.info(
            "alert.acknowledged_remotely alert=%s false_alarm=%s known=%s",
            ack.alert_id,
            ack.false_alarm,
            result is not None,
        )
        if ack.false_alarm:
            self._session.clear_distress(ack.alert_id)
            self._bus.publish(AlertCleared(ack.alert_id, ack.acknowledged_by, True))
        elif ack.alert_id in self._session.active_alerts:
            self._bus.publish(HelpComing(ack.alert_id, ack.acknowledged_by))

    async def _close(self, alert_id: str, by_whom: str, *, false_alarm: bool) -> None:
        self._open_kinds.pop(alert_id, None)
        try:
            result = await self._store.run(
                Store.acknowledge_open_alert, alert_id, by_whom, false_alarm
            )
        except StoreError as exc:
            log.error("alert.ack_store_failed alert=%s error=%s", alert_id, exc)
            result = None
        acknowledged_now = result is not None and result[1]
        log.info("alert.closed alert=%s by=%s now=%s", alert_id, by_whom, acknowledged_now)
        if result is not None and not acknowledged_now:
            return  # someone answered first: the hub has that answer already
        self._bus.publish(AlertCleared(alert_id, by_whom, false_alarm))
        await self._tell_hub(alert_id, by_whom, false_alarm)

    def _on_cleared(self, event: AlertCleared) -> None:
        """The assistant mode closed an alert: the hub must know (not for those it closed)."""
        self._open_kinds.pop(event.alert_id, None)
        if event.alert_id in self._closed_by_hub or event.by_whom == PATIENT:
            return
        if self.send is None:
            return
        task = asyncio.get_running_loop().create_task(
            self._tell_hub(event.alert_id, event.by_whom, event.false_alarm)
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def aclose(self) -> None:
        """Let the acknowledgements under way reach the hub link's outbox."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _tell_hub(self, alert_id: str, by_whom: str, false_alarm: bool) -> None:
        if self.send is None or alert_id in self._closed_by_hub:
            return
        await self.send(
            wire.AlertAck(
                msg_id=self.new_id("ack"),
                alert_id=alert_id,
                acknowledged_by=_as_id(by_whom),
                acknowledged_at=self._now(),
                false_alarm=false_alarm,
            )
        )


def _as_id(name: str) -> str:
    """A person's typed name as a wire identifier (letters, digits, ``._:-``)."""
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    kept = "".join(c if c.isalnum() or c in "._:-" else "-" for c in plain)
    kept = kept.strip("-._:")[:64]
    return kept or "agent"
