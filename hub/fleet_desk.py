"""The hub's side of the fleet (issue 18): the cabins' heartbeats, self-test reports and call
quality received and stored (`hub.fleet.FleetStore`), and the alerts the hub raises itself.

- A `wire.CabinStatus` is the cabin's heartbeat; the replica that holds a cabin's socket also
  counts the open socket as one, every `check_s` (`touch_cabins`): a cabin is online while it
  is connected to any replica, or for `offline_after` after it was last heard from.
- A `wire.SelfTestReport` is stored once per ``report_id`` and always acknowledged (the cabin
  sends it again until it gets the `wire.Ack`).
- A `wire.CallQuality` keeps the call's latest sample (the final one once it ends).

Every `check_s`, each replica looks for the cabins silent for longer than
``[fleet] offline_after_min``: each gets an alert `CABIN_OFFLINE`, whose id is made from the
cabin and its last heartbeat (`hub.fleet.offline_alert_id`), so that every replica that sees
the same outage makes the same alert and the database keeps it once (exactly once, and only
the replica that stored it tells the agents). A self-test report with a failed check raises
`SELFTEST_FAILED` (its id made from the report's). Both go to the agents who look after the
cabin (their alert page) and show on the operator's fleet page; neither goes to a doctor.

The hub resolves them itself: the offline alert when the cabin is heard from again, the
self-test alert when a later report has no failed check; they are then acknowledged by
``hub:back_online`` / ``hub:selftest_passed`` (role `AckRole.HUB`), which the agents' page
shows as "resolved: the cabin is back online" / "resolved: the self-test passed".

A cabin is *unavailable* for booking (`unavailable`) while it is offline for longer than the
threshold, or while its last self-test has a failed check that stops consultations
(`hub.fleet.BLOCKING_CHECKS`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

import msgspec

import wire
from hub.alerts import AlertDesk, bounded_time
from hub.clock import Clock
from hub.errors import StorageError
from hub.fleet import (
    CabinHealth,
    blocks_consultations,
    failed_results,
    is_offline,
    offline_alert_id,
    selftest_alert_id,
)
from hub.log_safe import log_safe
from hub.peers import Peer, acknowledge, refuse
from hub.rate_limit import SlidingWindowLimit
from hub.storage import AlertRecord, Storage

log = logging.getLogger(__name__)

HUB_RAISED = frozenset({wire.AlertKind.CABIN_OFFLINE, wire.AlertKind.SELFTEST_FAILED})
"""Kinds only the hub raises: a cabin sending one is refused (it could otherwise open an alert
the hub would then "resolve")."""
MESSAGES_PER_MINUTE = 60
"""A cabin's statuses, reports and quality samples the hub stores in a minute (it sends about 8:
a status, six samples in a call, a report now and then); beyond, they are dropped (a report is
refused, `rate_limited`: the cabin sends it again later)."""
BACK_ONLINE = "hub:back_online"
SELFTEST_PASSED = "hub:selftest_passed"
_UNAVAILABLE_CACHE_S = 10.0
_DETAIL_MAX = 120
"""As `wire.AlertMessage.detail` allows."""


CHECK_NAMES_FR = {
    wire.SelfTestCheck.INSTRUMENT: "appareil",
    wire.SelfTestCheck.CAMERA: "caméra",
    wire.SelfTestCheck.MICROPHONE: "microphone",
    wire.SelfTestCheck.SPEAKER: "haut-parleur",
    wire.SelfTestCheck.PRINTER: "imprimante",
    wire.SelfTestCheck.DISK: "disque",
    wire.SelfTestCheck.CLOCK: "horloge",
    wire.SelfTestCheck.HUB: "serveur central",
    wire.SelfTestCheck.TURN: "relais TURN",
    wire.SelfTestCheck.DATABASE: "base de données",
}
"""The alerts' details are read by French agents (the cabin's own details are French too)."""


def _detail_of(report: wire.SelfTestReport) -> str:
    parts = []
    for result in failed_results(report):
        name = CHECK_NAMES_FR.get(result.check, result.check.value)
        what = name + (f" {result.subject}" if result.subject else "")
        parts.append(f"{what}: {result.detail}" if result.detail else what)
    text = "; ".join(parts)
    return text if len(text) <= _DETAIL_MAX else text[: _DETAIL_MAX - 1] + "…"


class FleetDesk:
    def __init__(
        self,
        *,
        storage: Storage,
        clock: Clock,
        alerts: AlertDesk,
        connected_cabins: Callable[[], list[str]],
        offline_after: timedelta,
        check_s: float | None = None,
    ) -> None:
        self._storage = storage
        self._clock = clock
        self._alerts = alerts
        self._connected = connected_cabins
        self.offline_after = offline_after
        self.check_s = check_s or max(1.0, min(60.0, offline_after.total_seconds() / 3))
        self._unavailable: tuple[float, frozenset[str]] | None = None
        self._limit = SlidingWindowLimit(limit=MESSAGES_PER_MINUTE, window_s=60.0, clock=clock)
        self._dropped_logged_at: dict[str, float] = {}

    def _flooding(self, peer: Peer) -> bool:
        """Over `MESSAGES_PER_MINUTE`: logged once every 10 s per cabin."""
        if self._limit.attempt(peer.identity) is None:
            return False
        now = self._clock.monotonic()
        if now - self._dropped_logged_at.get(peer.identity, -1e9) >= 10.0:
            self._dropped_logged_at[peer.identity] = now
            log.warning("hub.fleet_rate_limited cabin=%s", peer.identity)
        return True

    # --- from a cabin -----------------------------------------------------------------------

    async def status(self, peer: Peer, status: wire.CabinStatus) -> None:
        cabin_id = peer.identity
        if self._flooding(peer):
            return
        await self._storage.put_cabin_status(cabin_id, status, at=self._clock.now())
        log.debug("hub.cabin_status cabin=%s version=%s", cabin_id, status.software_version)
        await self._back_online(cabin_id)

    async def selftest(self, peer: Peer, report: wire.SelfTestReport) -> None:
        cabin_id = peer.identity
        if self._flooding(peer):
            refuse(peer, wire.ErrorCode.RATE_LIMITED, report.msg_id, "too many messages")
            return
        new = await self._storage.add_selftest(cabin_id, report, at=self._clock.now())
        acknowledge(peer, report)  # stored (now or before): the cabin may stop sending it
        if not new:
            return
        failed = failed_results(report)
        log.info(
            "hub.selftest cabin=%s report=%s trigger=%s failed=%s",
            cabin_id,
            report.report_id,
            report.trigger.value,
            ",".join(sorted({r.check.value for r in failed})) or "-",
        )
        self._unavailable = None
        if failed:
            await self._raise_selftest(cabin_id, report)
        else:
            for record in self._open_of(cabin_id, wire.AlertKind.SELFTEST_FAILED):
                await self._alerts.resolve_from_hub(record.alert_id, because=SELFTEST_PASSED)

    async def call_quality(self, peer: Peer, quality: wire.CallQuality) -> None:
        if self._flooding(peer):
            return
        now = self._clock.now()
        sent_at = bounded_time(quality.sent_at, now)  # a cabin's clock, kept unless absurd
        if sent_at != quality.sent_at:
            quality = msgspec.structs.replace(quality, sent_at=sent_at)
        await self._storage.put_call_quality(peer.identity, quality, at=now)

    async def seen(self, cabin_id: str) -> None:
        """The cabin's socket opened: a heartbeat."""
        try:
            await self._storage.touch_cabins([cabin_id], at=self._clock.now())
            await self._back_online(cabin_id)
        except StorageError as exc:
            log.error("hub.storage_failed task=cabin_seen cabin=%s error=%s", cabin_id, exc)

    # --- alerts -----------------------------------------------------------------------------

    def _open_of(self, cabin_id: str, kind: wire.AlertKind) -> list[AlertRecord]:
        return [r for r in self._alerts.open_alerts() if r.cabin_id == cabin_id and r.kind is kind]

    async def _back_online(self, cabin_id: str) -> None:
        for record in self._open_of(cabin_id, wire.AlertKind.CABIN_OFFLINE):
            if await self._alerts.resolve_from_hub(record.alert_id, because=BACK_ONLINE):
                self._unavailable = None
                log.info("hub.cabin_back_online cabin=%s alert=%s", cabin_id, record.alert_id)

    async def _cabin_name(self, cabin_id: str) -> str:
        cabin = await self._storage.cabin(cabin_id)
        return cabin.name if cabin is not None else ""

    async def _raise_selftest(self, cabin_id: str, report: wire.SelfTestReport) -> None:
        if self._open_of(cabin_id, wire.AlertKind.SELFTEST_FAILED):
            return  # one open self-test alert per cabin: the page shows the latest report
        now = self._clock.now()
        blocking = blocks_consultations(report)
        await self._alerts.raise_from_hub(
            AlertRecord(
                alert_id=selftest_alert_id(cabin_id, report.report_id),
                cabin_id=cabin_id,
                cabin_name=await self._cabin_name(cabin_id),
                kind=wire.AlertKind.SELFTEST_FAILED,
                # nobody is in danger: never "urgent" on the agents' page
                severity=wire.AlertSeverity.WARNING if blocking else wire.AlertSeverity.INFO,
                confidence=1.0,
                detail=_detail_of(report),
                consultation_id=None,
                raised_at=now,
                received_at=now,
            )
        )

    async def _raise_offline(self, health: CabinHealth) -> None:
        assert health.last_seen_at is not None
        if self._open_of(health.cabin_id, wire.AlertKind.CABIN_OFFLINE):
            return
        now = self._clock.now()
        silent_min = int((now - health.last_seen_at).total_seconds() // 60)
        new = await self._alerts.raise_from_hub(
            AlertRecord(
                alert_id=offline_alert_id(health.cabin_id, health.last_seen_at),
                cabin_id=health.cabin_id,
                cabin_name=await self._cabin_name(health.cabin_id),
                kind=wire.AlertKind.CABIN_OFFLINE,
                severity=wire.AlertSeverity.WARNING,
                confidence=1.0,
                detail=f"aucun signe de vie depuis {silent_min} min (le dernier :"
                f" {health.last_seen_at:%Y-%m-%d %H:%M} UTC)",
                consultation_id=None,
                raised_at=now,
                received_at=now,
            )
        )
        if new:
            log.warning("hub.cabin_offline cabin=%s silent_min=%d", health.cabin_id, silent_min)

    # --- the periodic check -----------------------------------------------------------------

    async def check(self) -> None:
        """The cabins connected here are heard from; those silent too long get their alert."""
        now = self._clock.now()
        await self._storage.touch_cabins(self._connected(), at=now)
        for health in await self._storage.cabin_health():
            if is_offline(health, now=now, after=self.offline_after):
                await self._raise_offline(health)

    async def run_periodically(self) -> None:
        while True:
            await asyncio.sleep(self.check_s)
            try:
                await self.check()
            except StorageError as exc:
                log.error("hub.storage_failed task=fleet_check error=%s", log_safe(exc))

    # --- booking ----------------------------------------------------------------------------

    def unavailable_of(self, healths: list[CabinHealth], now: datetime) -> frozenset[str]:
        return frozenset(
            h.cabin_id
            for h in healths
            if is_offline(h, now=now, after=self.offline_after)
            or blocks_consultations(h.selftest.report if h.selftest else None)
        )

    async def unavailable(self) -> frozenset[str]:
        """The cabins that take no booking now: offline too long, or whose last self-test
        failed a check that stops consultations (cached `_UNAVAILABLE_CACHE_S`)."""
        mono = self._clock.monotonic()
        if self._unavailable is not None and mono - self._unavailable[0] < _UNAVAILABLE_CACHE_S:
            return self._unavailable[1]
        found = self.unavailable_of(await self._storage.cabin_health(), self._clock.now())
        self._unavailable = (mono, found)
        return found
