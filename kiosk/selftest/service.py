"""The self-test's runs: at start, every night, and when an agent asks; stored, and sent.

``SelfTest.run`` runs every check (each bounded by the configured timeout and timed), stores the
report (kiosk store, ``selftest_reports``), logs one line (``selftest.done``) and wakes the
sender. The sender sends each report the hub has not acknowledged as ``wire.SelfTestReport``
(reliable, with an id of its own so that a resend is one report at the hub) and marks it sent
only on the hub's ``Ack``: a report made while the hub was away leaves when the link is back,
even after a restart. Never while a patient is in the cabin: the nightly run waits until the
cabin is idle, and an agent's request during a session is refused with the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from datetime import time as dtime
from pathlib import Path
from typing import Any, Final
from zoneinfo import ZoneInfo

import msgspec

import wire
from devices.cancellation import cancel_and_wait, within
from devices.instrument import Instrument
from kiosk.config import SelfTestSection
from kiosk.errors import StoreError
from kiosk.hub_link import HubLink, HubLinkState
from kiosk.selftest import SelfTestRefused, checks
from kiosk.session import Session
from kiosk.session_states import PATIENT_STATES, Overlay, SessionState
from kiosk.store import AsyncStore, Store
from kiosk.store.store import SelfTestRecord
from printing.printer import PrinterStatus

log = logging.getLogger(__name__)

Check = wire.SelfTestCheck
Outcome = wire.SelfTestOutcome

IDLE_POLL_S: Final = 30.0
"""How often a due run looks whether the cabin is free of patients."""
LINK_POLL_S: Final = 1.0
RESEND_S: Final = 60.0
ACK_WAIT_S: Final = 30.0
_RESULTS = msgspec.json.Decoder(list[wire.SelfTestResult])
_ORDER: Final = {
    wire.SelfTestOutcome.FAILED: 0,
    wire.SelfTestOutcome.WARNING: 1,
    wire.SelfTestOutcome.SKIPPED: 2,
    wire.SelfTestOutcome.PASSED: 3,
}


async def _no_servers() -> Sequence[wire.IceServer] | None:
    return None


@dataclass
class SelfTestParts:
    """What the self-test looks at; the composition root fills it (``kiosk.selftest.attach``)."""

    store: AsyncStore
    session: Session
    instruments: Mapping[str, Instrument]
    data_dir: Path
    settings: SelfTestSection
    media: Any = None  # kiosk.call.media.CabinMedia, when the warm-up opened it
    media_missing: str = "the camera and microphone are not open (see the log)"
    printer_status: Callable[[], Awaitable[PrinterStatus]] | None = None
    printer_name: str = ""
    sheets_left: Callable[[], Awaitable[int | None]] | None = None
    hub: HubLink | None = None
    ice_servers: Callable[[], Awaitable[Sequence[wire.IceServer] | None]] = _no_servers
    loopback_only: bool = False
    disk_usage: checks.DiskUsageOf = checks.disk_usage
    clock_check: Callable[[], Coroutine[Any, Any, wire.SelfTestResult]] = checks.clock
    media_held: Callable[[], contextlib.AbstractAsyncContextManager[Any]] = contextlib.nullcontext
    """Opens the camera and microphone for the checks when they are closed between patients
    (``MediaPower.held``, distress detection off)."""


def by_severity(results: Sequence[wire.SelfTestResult]) -> list[wire.SelfTestResult]:
    """Failures first, then warnings, skipped, passed (the order the agent reads them in)."""
    return sorted(results, key=lambda r: _ORDER[r.outcome])


def count(report: wire.SelfTestReport, outcome: wire.SelfTestOutcome) -> int:
    return sum(1 for r in report.results if r.outcome is outcome)


def next_nightly(now: datetime, at: str, zone: tzinfo) -> datetime:
    """The next ``at`` ("HH:MM") local time in ``zone`` strictly after ``now``."""
    hour, minute = (int(part) for part in at.split(":"))
    day = now.astimezone(zone).date()
    for offset in range(3):
        due = datetime.combine(day + timedelta(days=offset), dtime(hour, minute), tzinfo=zone)
        if due > now:
            return due
    raise AssertionError("a local time comes back within two days")


class SelfTest:
    def __init__(
        self,
        parts: SelfTestParts,
        *,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        idle_poll_s: float = IDLE_POLL_S,
    ) -> None:
        self.parts = parts
        self._now = now
        self._idle_poll_s = idle_poll_s
        self._running = asyncio.Lock()
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self.last: wire.SelfTestReport | None = None
        self.listeners: list[Callable[[wire.SelfTestReport], None]] = []
        """Told of each new report (the assistant panel refreshes)."""

    # --- running -------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._running.locked()

    def patient_present(self) -> bool:
        return self.parts.session.state in PATIENT_STATES

    async def request(self) -> wire.SelfTestReport:
        """An agent's request (the assistant mode): refused while a patient is in a session."""
        if self.patient_present():
            log.warning("selftest.refused reason=patient_in_session")
            raise SelfTestRefused(
                "a patient is in a consultation: the self-test runs once the cabin is free"
            )
        return await self.run(wire.SelfTestTrigger.AGENT)

    async def run(self, trigger: wire.SelfTestTrigger) -> wire.SelfTestReport:
        """Every check, one report: stored, logged, and handed to the sender."""
        async with self._running:
            started_at, started = self._now(), time.monotonic()
            async with self.parts.media_held():
                results = await self._check_all()
            report = wire.SelfTestReport(
                msg_id=report_msg_id(uuid_hex := uuid.uuid4().hex),
                report_id=uuid_hex,
                trigger=trigger,
                started_at=started_at,
                finished_at=self._now(),
                results=results,
            )
            seconds = time.monotonic() - started
            log.info(
                "selftest.done trigger=%s failed=%d warnings=%d skipped=%d seconds=%.1f%s",
                trigger.value,
                count(report, wire.SelfTestOutcome.FAILED),
                count(report, wire.SelfTestOutcome.WARNING),
                count(report, wire.SelfTestOutcome.SKIPPED),
                seconds,
                "".join(
                    f" {r.check.value}{'/' + r.subject if r.subject else ''}={r.outcome.value}"
                    for r in by_severity(results)
                    if r.outcome is not wire.SelfTestOutcome.PASSED
                ),
            )
            try:
                await self.parts.store.run(Store.add_selftest_report, record_of(report))
            except StoreError as exc:  # a full disk: the report still goes to the hub now
                log.error("selftest.not_stored error=%s", exc)
                if self.parts.hub is not None:
                    await self.parts.hub.send(report, reliable=True)
            self.last = report
            self._wake.set()
            for listener in tuple(self.listeners):
                listener(report)
            return report

    async def _check_all(self) -> list[wire.SelfTestResult]:
        parts, timeout_s = self.parts, self.parts.settings.check_timeout_s
        media = parts.media

        async def camera() -> wire.SelfTestResult:
            if media is None:
                return checks.result(
                    checks.Check.CAMERA, checks.Outcome.FAILED, parts.media_missing
                )
            return await checks.camera(media, timeout_s)

        async def sound() -> list[wire.SelfTestResult]:
            if media is None:
                return [
                    checks.result(
                        checks.Check.MICROPHONE, checks.Outcome.FAILED, parts.media_missing
                    ),
                    checks.result(checks.Check.SPEAKER, checks.Outcome.FAILED, parts.media_missing),
                ]
            # The microphone first: the speaker's tone must not be what it hears.
            heard = await _timed(
                checks.Check.MICROPHONE, checks.microphone(media, timeout_s), timeout_s
            )
            played = await _timed(checks.Check.SPEAKER, checks.speaker(media, timeout_s), timeout_s)
            return [heard, played]

        async def turn() -> wire.SelfTestResult:
            servers = await parts.ice_servers()
            return await checks.turn(servers, timeout_s, loopback_only=parts.loopback_only)

        async def printer() -> wire.SelfTestResult:
            if parts.printer_status is None:
                return checks.result(
                    checks.Check.PRINTER, checks.Outcome.SKIPPED, "no printer configured"
                )
            sheets = await parts.sheets_left() if parts.sheets_left is not None else None
            return await checks.printer(parts.printer_status, parts.printer_name, sheets)

        singles: list[tuple[wire.SelfTestCheck, str, Coroutine[Any, Any, wire.SelfTestResult]]]
        singles = [
            (checks.Check.INSTRUMENT, device.device_id, checks.instrument(device, timeout_s))
            for device in checks.configured_instruments(parts.instruments)
        ]
        singles += [
            (checks.Check.CAMERA, "", camera()),
            (checks.Check.PRINTER, parts.printer_name, printer()),
            (
                checks.Check.DISK,
                "",
                checks.disk(
                    parts.data_dir,
                    parts.settings.disk_warning_mb,
                    parts.settings.disk_failed_mb,
                    parts.disk_usage,
                ),
            ),
            (checks.Check.CLOCK, "", parts.clock_check()),
            (checks.Check.HUB, "", checks.hub(parts.hub, timeout_s)),
            (checks.Check.TURN, "", turn()),
            (checks.Check.DATABASE, "", checks.database(parts.store)),
        ]
        grouped = await asyncio.gather(
            sound(),
            *(_timed(check, work, timeout_s, subject) for check, subject, work in singles),
        )
        sounds, rest = grouped[0], grouped[1:]
        assert isinstance(sounds, list)
        results = [r for r in rest if isinstance(r, wire.SelfTestResult)]
        order = list(wire.SelfTestCheck)
        return sorted([*results, *sounds], key=lambda r: (order.index(r.check), r.subject))

    # --- the schedule --------------------------------------------------------------------------
    def start(self, *, at_start: bool = True) -> None:
        """The run at start (once the cabin is idle), the nightly runs, and the sender."""
        if at_start:
            self._spawn(self._at_start(), "selftest.start")
        self._spawn(self._nightly(), "selftest.nightly")
        self._spawn(self._send_loop(), "selftest.sender")

    async def stop(self) -> None:
        for task in tuple(self._tasks):
            await cancel_and_wait(task)
        self._tasks.clear()

    def _spawn(self, work: Coroutine[Any, Any, None], name: str) -> None:
        task = asyncio.get_running_loop().create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def until_idle(self) -> None:
        """Until no patient is in the cabin and no overlay (alert, agent) is on."""
        session = self.parts.session
        idle = SessionState.IDLE
        while session.state is not idle or session.overlay is not Overlay.NONE:  # noqa: ASYNC110
            await asyncio.sleep(self._idle_poll_s)  # a look every 30 s is enough

    async def _at_start(self) -> None:
        await self.until_idle()
        await self.run(wire.SelfTestTrigger.START)

    async def _nightly(self) -> None:
        zone = self.zone()
        while True:
            due = next_nightly(self._now(), self.parts.settings.nightly_at, zone)
            log.info("selftest.next_nightly at=%s", due.isoformat())
            while (left := (due - self._now()).total_seconds()) > 0:  # noqa: ASYNC110
                await asyncio.sleep(min(left, 600.0))  # a clock set meanwhile is seen
            await self.until_idle()
            await self.run(wire.SelfTestTrigger.NIGHTLY)

    def zone(self) -> tzinfo:
        name = self.parts.settings.timezone
        if name:
            return ZoneInfo(name)
        local = datetime.now().astimezone().tzinfo
        return local if local is not None else UTC

    # --- sending -------------------------------------------------------------------------------
    async def _send_loop(self) -> None:
        hub = self.parts.hub
        if hub is None:
            return
        was_online = False
        last_try = -RESEND_S
        while True:
            with contextlib.suppress(TimeoutError):
                await within(self._wake.wait(), LINK_POLL_S)
            woken = self._wake.is_set()
            self._wake.clear()
            online = hub.state is HubLinkState.ONLINE
            came_back = online and not was_online
            was_online = online
            due = time.monotonic() - last_try >= RESEND_S
            if online and (woken or came_back or due):
                last_try = time.monotonic()
                await self.send_unsent(hub)

    async def send_unsent(self, hub: HubLink) -> int:
        """Send each report the hub has not acknowledged; returns how many it acknowledged."""
        try:
            unsent = await self.parts.store.run(Store.unsent_selftest_reports)
        except StoreError as exc:
            log.error("selftest.unsent_unreadable error=%s", exc)
            return 0
        acknowledged = 0
        for record in unsent:
            report = report_of(record)
            waiter = hub.acknowledgement(report.msg_id)
            await hub.send(report, reliable=True)
            try:
                accepted = await within(asyncio.shield(waiter), ACK_WAIT_S)
            except TimeoutError:
                log.warning("selftest.not_acknowledged report=%s", record.report_id)
                return acknowledged
            if not accepted:
                log.warning("selftest.refused_by_hub report=%s", record.report_id)
                continue
            await self.parts.store.run(Store.selftest_report_sent, record.report_id)
            acknowledged += 1
            log.info("selftest.sent report=%s", record.report_id)
        return acknowledged

    async def last_report(self) -> wire.SelfTestReport | None:
        if self.last is not None:
            return self.last
        record = await self.parts.store.run(Store.last_selftest_report)
        return None if record is None else report_of(record)


async def _timed(
    check: wire.SelfTestCheck,
    work: Coroutine[Any, Any, wire.SelfTestResult],
    timeout_s: float,
    subject: str = "",
) -> wire.SelfTestResult:
    """The check's result with its duration; a check that overruns or breaks is failed, with
    what happened (never a crash of the self-test)."""
    started = time.monotonic()
    try:
        found = await within(work, timeout_s + 2.0)
    except TimeoutError:
        found = checks.result(
            check, wire.SelfTestOutcome.FAILED, f"no answer within {timeout_s:.0f} s", subject
        )
    except Exception as exc:  # any check's own failure is that check's result
        log.exception("selftest.check_failed check=%s subject=%s", check.value, subject)
        found = checks.result(
            check, wire.SelfTestOutcome.FAILED, f"{type(exc).__name__}: {exc}", subject
        )
    duration_ms = int((time.monotonic() - started) * 1000)
    return msgspec.structs.replace(found, duration_ms=min(duration_ms, 600_000))


def report_msg_id(report_id: str) -> str:
    return f"selftest.{report_id}"


def record_of(report: wire.SelfTestReport) -> SelfTestRecord:
    return SelfTestRecord(
        report_id=report.report_id,
        trigger=report.trigger.value,
        started_at=report.started_at,
        finished_at=report.finished_at,
        results_json=msgspec.json.encode(report.results).decode(),
        failed=count(report, wire.SelfTestOutcome.FAILED),
    )


def report_of(record: SelfTestRecord) -> wire.SelfTestReport:
    return wire.SelfTestReport(
        msg_id=report_msg_id(record.report_id),
        report_id=record.report_id,
        trigger=wire.SelfTestTrigger(record.trigger),
        started_at=record.started_at,
        finished_at=record.finished_at,
        results=_RESULTS.decode(record.results_json),
    )
