"""The assistant mode's core (no widgets): what a nurse or a town-hall agent does behind the PIN.

The PIN is kept only as an argon2id hash in the configuration (``[assistant] pin_hash``; make one
with ``python -m kiosk.assistant set-pin``). It is checked on a worker thread (argon2 costs tens
of milliseconds); ``max_attempts`` wrong PINs in a row lock the mode for ``lockout_s`` on the
session's clock, and a right PIN during the lockout is refused too. The count and the lockout's
end (wall-clock UTC) are kept in the store (``cabin_state``), so pulling the plug resets
neither: after a restart the lockout goes on for what was left of it, never more than
``lockout_s`` from the moment it is read (a clock set back must not lock the agents out for
good), and a lockout that ended while the cabin was off resets the count. Every unlock, wrong PIN,
lockout and action is written to the audit log, never the PIN typed and never patient data:
subjects are device ids, alert ids, counts and file names.

Once open, the mode offers the devices' status and a test measurement that no consultation
keeps, the paper and cleaning logs, the alerts and their acknowledgement, an export of the logs
(no health data), and the safe restart.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import enum
import getpass
import logging
import math
import os
import re
import sys
import tempfile
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import argon2
import msgspec

from devices.drivers.ble_instrument import (
    BleBackend,
    BleInstrument,
    FoundDevice,
    scan_health_devices,
)
from devices.instrument import Availability, Failure, Final, MeasurementUpdate
from devices.reading import ReadingKind
from kiosk.bus import EventBus, Subscription
from kiosk.config import AssistantSection
from kiosk.errors import KioskError, StoreError
from kiosk.events import AlertCleared, HubStatusChanged, ReadingReceived, SessionStateChanged
from kiosk.measurements import Measurements, UnknownInstrument
from kiosk.paperwork import Paperwork
from kiosk.session import Clock, Session
from kiosk.session_states import PATIENT_STATES, EndReason, Overlay
from kiosk.store import AsyncStore, PrintJob, Store
from kiosk.store.store import (
    AlertRecord,
    AuditEntry,
    CleaningEntry,
    DeviceLogEntry,
    PaperEntry,
)
from printing.errors import PrintError
from printing.printer import Printer, PrinterStatus
from printing.test_page import render_test_page
from wire.messages import AlertKind, AlertSeverity

if TYPE_CHECKING:
    from kiosk.selftest.service import SelfTest

log = logging.getLogger(__name__)

ACTOR = "assistant"
PIN_PATTERN = re.compile(r"[0-9]{4,8}")
EXPORT_FORMAT = "cabin-log-export/1"
EXPORT_MODE = 0o640
MAX_NAME_CHARS = 120
MAX_NOTE_CHARS = 500
MAX_SHEETS = 10_000
LOCKOUT_STATE_KEY = "assistant.pin_lockout"
"""The ``cabin_state`` key of the PIN's wrong tries and lockout (``_PinLockout`` as JSON)."""

__all__ = [
    "AlertView",
    "Assistant",
    "AssistantError",
    "AssistantModeClosed",
    "CleaningEntry",
    "DeviceStatusView",
    "ExportError",
    "InvalidEntry",
    "PaperEntry",
    "UnknownAlert",
    "UnlockOutcome",
    "UnlockResult",
    "hash_pin",
    "main",
    "valid_pin",
    "verify_pin",
]


class AssistantError(KioskError):
    """An assistant action could not be done; the message says what to do."""


class AssistantModeClosed(AssistantError):
    """An action of the assistant mode was asked while the mode is not open (no PIN, or it
    timed out)."""


class InvalidEntry(AssistantError, ValueError):
    """What the agent typed cannot be recorded (an empty name, a negative sheet count...)."""


class UnknownAlert(AssistantError):
    """No alert has this id in the store."""


class ExportError(AssistantError):
    """The log export could not be written where it was asked."""


# --- the PIN --------------------------------------------------------------------------------------
def valid_pin(pin: str) -> bool:
    """A PIN is 4 to 8 digits."""
    return PIN_PATTERN.fullmatch(pin) is not None


def hash_pin(pin: str) -> str:
    """The argon2id hash of a PIN (a fresh salt each time), for ``[assistant] pin_hash``."""
    if not valid_pin(pin):
        raise InvalidEntry("a PIN is 4 to 8 digits")
    return argon2.PasswordHasher(type=argon2.Type.ID).hash(pin)


def verify_pin(pin_hash: str, pin: str) -> bool:
    """Whether ``pin`` matches the hash. Blocking (tens of ms): call it on a worker thread."""
    try:
        return argon2.PasswordHasher().verify(pin_hash, pin)
    except argon2.exceptions.VerificationError:  # includes a plain mismatch
        return False
    except argon2.exceptions.InvalidHashError:
        log.error("assistant.pin_hash_invalid")  # the configuration check should stop this
        return False


class UnlockOutcome(enum.Enum):
    OK = "ok"
    WRONG = "wrong"  # see attempts_left
    LOCKED = "locked"  # see locked_for_s
    NOT_PROVISIONED = "not_provisioned"  # no PIN was set for this cabin


@dataclass(frozen=True, slots=True)
class UnlockResult:
    outcome: UnlockOutcome
    attempts_left: int = 0  # WRONG: tries before the lockout
    locked_for_s: float = 0.0  # LOCKED: seconds until a PIN is checked again


# --- what the assistant screen shows --------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class DeviceStatusView:
    device_id: str
    kind: ReadingKind
    availability: Availability
    battery_percent: int | None
    last_reading_at: datetime | None  # a consultation's reading or a test measurement
    last_error: str | None


@dataclass(frozen=True, slots=True)
class AlertView:
    alert_id: str
    kind: AlertKind
    severity: AlertSeverity
    raised_at: datetime
    confidence: float
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    false_alarm: bool | None
    escalated_at: datetime | None

    @classmethod
    def of(cls, record: AlertRecord) -> AlertView:
        return cls(
            record.alert_id,
            AlertKind(record.kind),
            AlertSeverity(record.severity),
            record.raised_at,
            record.confidence,
            record.acknowledged_at,
            record.acknowledged_by,
            record.false_alarm,
            record.escalated_at,
        )


@dataclass(frozen=True, slots=True)
class _ExportDocument:
    """The exported file: the logs, and nothing of a patient or a consultation."""

    format: str
    cabin_id: str | None
    exported_at: datetime
    device_log: tuple[DeviceLogEntry, ...]
    paper_log: tuple[PaperEntry, ...]
    cleaning_log: tuple[CleaningEntry, ...]
    alerts: tuple[AlertRecord, ...]
    audit_log: tuple[AuditEntry, ...]


@dataclass(frozen=True, slots=True)
class WaitingDocument:
    """A document waiting for the printer, as the agent sees it: no patient data."""

    job_id: str
    document: str  # "prescription" | "summary"
    ref: str  # the prescription number
    created_at: datetime
    problem: str | None
    attempts: int

    @classmethod
    def of(cls, job: PrintJob) -> WaitingDocument:
        return cls(job.job_id, job.document, job.ref, job.created_at, job.problem, job.attempts)


class _PinLockout(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What must outlive a restart: wrong PINs in a row, and when a lockout ends (UTC)."""

    failures: int
    locked_until: Annotated[datetime, msgspec.Meta(tz=True)] | None = None


def _utcnow() -> datetime:
    return datetime.now(UTC)


# --- the mode -------------------------------------------------------------------------------------
class Assistant:
    def __init__(
        self,
        store: AsyncStore,
        session: Session,
        bus: EventBus,
        measurements: Measurements,
        config: AssistantSection,
        clock: Clock,
        *,
        cabin_id: str | None = None,
        ble_backend: BleBackend | None = None,
        configured_addresses: Mapping[str, str] | None = None,
        printer: Printer | None = None,
        paperwork: Paperwork | None = None,
        cabin_name: str = "",
        now: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._printer = printer
        self._now = now  # the wall clock, for the lockout that outlives a restart
        self._paperwork = paperwork
        self._cabin_name = cabin_name
        self._ble_backend = ble_backend or BleBackend()
        self._configured_addresses = dict(configured_addresses or {})
        self._store = store
        self._session = session
        self._bus = bus
        self._measurements = measurements
        self._config = config
        self._clock = clock
        self._cabin_id = cabin_id
        self._failures = 0
        self._locked_until: float | None = None  # on the session's (monotonic) clock
        self._lockout_loaded = False  # read from the store at the first PIN
        self._unlocking = asyncio.Lock()
        self._leaving = False  # the mode is being closed by one of our own actions
        self._last_reading_at: dict[str, datetime] = {}
        self._pending: set[asyncio.Task[None]] = set()
        self._hub: HubStatusChanged | None = None  # None: the cabin has no hub credential
        self._subscriptions: list[Subscription] = [
            bus.subscribe(ReadingReceived, self._on_reading),
            bus.subscribe(SessionStateChanged, self._on_state),
            bus.subscribe(HubStatusChanged, self._on_hub),
        ]
        self.selftest: SelfTest | None = None
        """The cabin's self-test, once the warm-up is over (``kiosk.selftest``)."""
        self.restart_requested = asyncio.Event()
        """Set by ``request_restart``: the process runner awaits it, closes the core, exits."""

    @property
    def is_open(self) -> bool:
        return self._session.overlay is Overlay.ASSISTANT

    # --- PIN --------------------------------------------------------------------------------------
    async def unlock(self, pin: str) -> UnlockResult:
        """Check the PIN and open the mode. ``IllegalTransition`` (from the session) when the
        mode is not reachable from where the cabin is (a patient's session without an alert)."""
        async with self._unlocking:  # one check at a time: no extra guesses in parallel
            if not self._lockout_loaded:
                await self._load_lockout()
            now = self._clock.monotonic()
            if self._locked_until is not None:
                if now < self._locked_until:
                    left = self._locked_until - now
                    await self._audit("unlock_refused_locked", f"{math.ceil(left)} s left")
                    return UnlockResult(UnlockOutcome.LOCKED, locked_for_s=left)
                self._locked_until = None
                self._failures = 0
                await self._save_lockout(None)
            pin_hash = self._config.pin_hash
            if not pin_hash:
                log.warning("assistant.not_provisioned")
                await self._audit("unlock_not_provisioned")
                return UnlockResult(UnlockOutcome.NOT_PROVISIONED)
            right = valid_pin(pin) and await asyncio.to_thread(verify_pin, pin_hash, pin)
            if right:
                if self._failures:
                    self._failures = 0
                    await self._save_lockout(None)
                self._session.enter_assistant()
                log.info("assistant.unlocked")
                await self._audit("unlock")
                return UnlockResult(UnlockOutcome.OK)
            self._failures += 1
            attempt = f"attempt {self._failures} of {self._config.max_attempts}"
            if self._failures < self._config.max_attempts:
                left_tries = self._config.max_attempts - self._failures
                log.warning("assistant.pin_wrong attempts_left=%d", left_tries)
                await self._save_lockout(None)
                await self._audit("unlock_failed", attempt)
                return UnlockResult(UnlockOutcome.WRONG, attempts_left=left_tries)
            lockout_s = self._config.lockout_s
            self._locked_until = self._clock.monotonic() + lockout_s
            await self._save_lockout(self._now() + timedelta(seconds=lockout_s))
            log.warning("assistant.locked_out for_s=%.0f", lockout_s)
            await self._audit("unlock_failed", attempt)
            await self._audit("lockout", f"{math.ceil(lockout_s)} s")
            return UnlockResult(UnlockOutcome.LOCKED, locked_for_s=lockout_s)

    async def _load_lockout(self) -> None:
        """The wrong tries and the lockout kept before a restart. The lockout goes on for what
        was left of it by the wall clock, but never more than ``lockout_s`` from now: a clock
        set back (a dead CMOS battery, a bad NTP answer) must not lock the agents out for good.
        An unreadable record is logged and forgotten (the store's own integrity is the
        self-test's to check)."""
        self._lockout_loaded = True
        try:
            raw = await self._store.run(Store.cabin_state_get, LOCKOUT_STATE_KEY)
        except StoreError:
            log.exception("assistant.lockout_unreadable")
            return
        if raw is None:
            return
        try:
            kept = msgspec.json.decode(raw, type=_PinLockout)
        except msgspec.DecodeError:  # a ValidationError too
            log.warning("assistant.lockout_record_invalid")
            return
        if kept.locked_until is None:
            self._failures = max(0, min(kept.failures, self._config.max_attempts - 1))
            if self._failures:
                log.info("assistant.pin_failures_restored count=%d", self._failures)
            return
        left_s = (kept.locked_until - self._now()).total_seconds()
        left_s = min(left_s, self._config.lockout_s)
        if left_s <= 0:  # it ended while the cabin was off: counted from zero again
            log.info("assistant.lockout_ended_while_off")
            await self._save_lockout(None)
            return
        self._failures = self._config.max_attempts
        self._locked_until = self._clock.monotonic() + left_s
        log.warning("assistant.lockout_restored left_s=%.0f", left_s)

    async def _save_lockout(self, locked_until: datetime | None) -> None:
        """Keep the count and the lockout's end; a store that cannot write (a full disk) is
        logged, and the lockout holds in memory all the same."""
        state = _PinLockout(self._failures, locked_until)
        try:
            await self._store.run(
                Store.cabin_state_set,
                LOCKOUT_STATE_KEY,
                msgspec.json.encode(state).decode(),
                self._now(),
            )
        except StoreError:
            log.exception("assistant.lockout_not_kept")

    def locked_for_s(self) -> float:
        """Seconds left of a lockout (0 when a PIN would be checked)."""
        if self._locked_until is None:
            return 0.0
        return max(0.0, self._locked_until - self._clock.monotonic())

    async def leave(self) -> None:
        """Close the mode (back to the alert, or to where the cabin was)."""
        self._leaving = True
        try:
            self._session.leave_assistant()
        finally:
            self._leaving = False
        log.info("assistant.left")
        await self._audit("leave")

    lock = leave

    # --- devices ----------------------------------------------------------------------------------
    def _on_hub(self, event: HubStatusChanged) -> None:
        self._hub = event

    def hub_link(self) -> str | None:
        """The link to the doctors' hub ("online", "connecting", "offline", "refused"), or
        None when the cabin has no credential for it."""
        return None if self._hub is None else self._hub.state

    def device_statuses(self) -> list[DeviceStatusView]:
        return [
            DeviceStatusView(
                device_id,
                instrument.kind,
                instrument.availability,
                instrument.battery_percent,
                self._last_reading_at.get(device_id),
                instrument.last_error,
            )
            for device_id, instrument in sorted(self._measurements.instruments.items())
        ]

    async def test_measurement(
        self, device_id: str, timeout_s: float = 120.0
    ) -> AsyncIterator[MeasurementUpdate]:
        """A measurement for the agent to check a device: straight from the instrument, kept
        in no consultation; only its outcome goes to the device log."""
        self._require_open()
        instrument = self._measurements.instruments.get(device_id)
        if instrument is None:
            raise UnknownInstrument(f"no instrument {device_id!r} in this cabin")
        await self._audit("test_measurement", device_id)
        outcome = "no result"
        async for update in instrument.measure(timeout_s):
            if isinstance(update, Final):
                self._last_reading_at[device_id] = update.reading.measured_at
                outcome = "ok"
            elif isinstance(update, Failure):
                outcome = f"failed: {update.problem.value}"
            else:
                self._session.touch()  # the agent is busy here: keep the mode open
            yield update
        await self._write(Store.log_device, device_id, "test_measurement", outcome)

    # --- paper ------------------------------------------------------------------------------------
    async def record_paper_refill(self, sheets: int, by_whom: str) -> None:
        self._require_open()
        if not 0 < sheets <= MAX_SHEETS:
            raise InvalidEntry(f"a refill is 1 to {MAX_SHEETS} sheets")
        who = _name(by_whom)
        await self._store.run(Store.record_paper_refill, who, sheets)
        await self._audit("paper_refill", f"{sheets} sheets")

    async def record_printed(self, pages: int) -> int | None:
        """The printer took ``pages`` sheets (called by the printing side, mode open or not);
        returns the sheets left, None when no refill was ever recorded."""
        if pages < 0:
            raise InvalidEntry("a print job cannot take fewer than 0 pages")
        return await self._store.run(Store.record_paper_printed, pages)

    async def sheets_left(self) -> int | None:
        return await self._store.run(Store.sheets_left)

    async def paper_history(self, limit: int = 50) -> list[PaperEntry]:
        return await self._store.run(Store.paper_history, limit)

    # --- cleaning ---------------------------------------------------------------------------------
    async def record_cleaning(self, by_whom: str, note: str | None = None) -> None:
        self._require_open()
        who = _name(by_whom)
        text = (note or "").strip()
        if len(text) > MAX_NOTE_CHARS:
            raise InvalidEntry(f"a note is at most {MAX_NOTE_CHARS} characters")
        await self._store.run(Store.log_cleaning, who, None, text or None)
        await self._audit("cleaning")

    async def cleaning_history(self, limit: int = 50) -> list[CleaningEntry]:
        return await self._store.run(Store.cleaning_history, limit)

    # --- alerts -----------------------------------------------------------------------------------
    async def open_alerts(self) -> list[AlertView]:
        return [AlertView.of(r) for r in await self._store.run(Store.alerts, True)]

    async def alert_history(self, limit: int = 50) -> list[AlertView]:
        return [AlertView.of(r) for r in await self._store.run(Store.alerts, False, limit)]

    async def acknowledge(self, alert_id: str, by_whom: str, false_alarm: bool) -> AlertView:
        """Someone came: the alert is acknowledged (the first acknowledgement stands), its
        distress overlay cleared, and the hub and the screens told (``AlertCleared``)."""
        self._require_open()
        who = _name(by_whom)
        result = await self._store.run(Store.acknowledge_open_alert, alert_id, who, false_alarm)
        if result is None:
            raise UnknownAlert(f"no alert {alert_id!r} in this cabin's records")
        record, acknowledged_now = result
        self._session.clear_distress(alert_id)
        if acknowledged_now:
            log.info("assistant.alert_acknowledged alert=%s", alert_id)
            self._bus.publish(AlertCleared(alert_id, who, false_alarm))
            await self._audit("alert_acknowledged", alert_id)
        return AlertView.of(record)

    # --- logs -------------------------------------------------------------------------------------
    async def export_logs(self, destination: Path) -> Path:
        """Write the cabin's logs (devices, paper, cleaning, alerts, audit) to a new JSON file
        in the folder ``destination``; no patient, consultation, reading or prescription."""
        self._require_open()
        logs = await self._store.run(Store.export_logs)
        document = _ExportDocument(
            EXPORT_FORMAT,
            self._cabin_id,
            logs.exported_at,
            logs.device_log,
            logs.paper_log,
            logs.cleaning_log,
            logs.alerts,
            logs.audit_log,
        )
        data = msgspec.json.format(msgspec.json.encode(document), indent=1)
        stem = f"cabin-logs-{self._cabin_id or 'cabin'}-{logs.exported_at:%Y%m%dT%H%M%SZ}"
        path = await asyncio.to_thread(_write_new_file, destination, stem, data)
        log.info("assistant.logs_exported file=%s bytes=%d", path.name, len(data))
        await self._audit("export_logs", path.name)
        return path

    # --- restart ----------------------------------------------------------------------------------
    async def request_restart(self) -> None:
        """The safe restart: a patient's session still open ends (reason "restart", its data
        wiped), the mode closes, then ``restart_requested`` is set for the process runner,
        which closes the core (that writes the session's end) and starts again."""
        self._require_open()
        await self._audit("restart_requested")
        self._leaving = True
        try:
            if self._session.state in PATIENT_STATES:
                self._session.end(EndReason.RESTART)
            if self._session.overlay is Overlay.ASSISTANT:
                self._session.leave_assistant()
        finally:
            self._leaving = False
        log.warning("assistant.restart_requested")
        self.restart_requested.set()

    # --- life -------------------------------------------------------------------------------------
    # --- printing ------------------------------------------------------------------------------
    async def test_print(self) -> str:
        """A test page (no patient data) through the cabin's printer, followed until it is
        printed; one sheet is counted. Returns the job's name."""
        self._require_open()
        if self._printer is None:
            raise AssistantError("this cabin has no printer configured")
        if self._paperwork is not None:  # the cabin has just started: its leftovers go first
            await self._paperwork.until_printer_ready()
        printed_at = datetime.now().astimezone()
        document = await asyncio.to_thread(
            render_test_page, self._cabin_id or "cabin", self._cabin_name, printed_at
        )
        name = f"test-page-{printed_at:%Y%m%d-%H%M%S}"
        try:
            await asyncio.to_thread(self._printer.print_document, name, document)
        except PrintError as exc:
            raise AssistantError(str(exc)) from exc
        await self._audit("test_print")
        await self.record_printed(1)
        return name

    @property
    def printer_prepared(self) -> bool:
        """False while the cabin, just started, prepares its printer (printing waits)."""
        return self._paperwork is None or self._paperwork.prepared.is_set()

    async def printer_status(self) -> PrinterStatus | None:
        """How the printer is now (asked again: the agent may have just fixed it)."""
        self._require_open()
        if self._paperwork is None:
            return None
        return await self._paperwork.check_printer()

    async def waiting_documents(self) -> list[WaitingDocument]:
        """Patients' documents the printer has not printed (paper, jam, offline, a crash)."""
        self._require_open()
        if self._paperwork is None:
            return []
        return [WaitingDocument.of(job) for job in await self._paperwork.waiting_jobs()]

    async def reprint_waiting(self) -> tuple[int, int]:
        """Print again every waiting document; (printed, still waiting). When all are out,
        the printer's alert is closed in the agent's name."""
        self._require_open()
        if self._paperwork is None:
            return 0, 0
        printed, left = await self._paperwork.reprint_waiting()
        await self._audit("reprint", f"{printed} printed, {left} waiting")
        if left == 0:
            for alert in await self._store.run(Store.alerts, True):
                if alert.kind == AlertKind.PRINTER.value:
                    await self.acknowledge(alert.alert_id, "agent", false_alarm=False)
        return printed, left

    # --- Bluetooth pairing ---------------------------------------------------------------------
    async def scan_ble(self, duration_s: float = 4.0) -> list[FoundDevice]:
        """The health devices advertising nearby, for the agent to choose from."""
        self._require_open()
        await self._audit("ble_scan")
        return await scan_health_devices(self._ble_backend, duration_s)

    async def pair_device(self, device_id: str, address: str) -> None:
        """From now on (and after a restart), ``device_id`` is the device at ``address``."""
        self._require_open()
        instrument = self._ble_instrument(device_id)
        await self._store.run(Store.set_device_address, device_id, address)
        await instrument.rebind(address)
        await self._audit("ble_pair", device_id)

    async def forget_device(self, device_id: str) -> None:
        """Drop the bond and go back to the configured device."""
        self._require_open()
        instrument = self._ble_instrument(device_id)
        await instrument.forget()
        await self._store.run(Store.forget_device_address, device_id)
        await instrument.rebind(self._configured_addresses.get(device_id, instrument.address))
        await self._audit("ble_forget", device_id)

    def bluetooth_devices(self) -> frozenset[str]:
        """The instruments that can be paired from here."""
        return frozenset(
            device_id
            for device_id, instrument in self._measurements.instruments.items()
            if isinstance(instrument, BleInstrument)
        )

    def _ble_instrument(self, device_id: str) -> BleInstrument:
        instrument = self._measurements.instruments.get(device_id)
        if not isinstance(instrument, BleInstrument):
            raise InvalidEntry(f"{device_id!r} is not a Bluetooth instrument of this cabin")
        return instrument

    async def settled(self) -> None:
        """Wait until the audit lines already due are written."""
        while self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)

    async def aclose(self) -> None:
        for subscription in self._subscriptions:
            subscription.cancel()
        await self.settled()

    # --- inside -----------------------------------------------------------------------------------
    def _require_open(self) -> None:
        if not self.is_open:
            raise AssistantModeClosed(
                "the assistant mode is not open: type the PIN first (it closes by itself"
                " after a while without a touch)"
            )
        self._session.touch()  # an action is the agent being there

    def _on_reading(self, event: ReadingReceived) -> None:
        self._last_reading_at[event.reading.device_id] = event.reading.measured_at

    def _on_state(self, event: SessionStateChanged) -> None:
        """The mode closed by itself (its timeout, an alert, a session end): audit it."""
        if (
            self._leaving
            or event.previous_overlay is not Overlay.ASSISTANT
            or event.overlay is Overlay.ASSISTANT
        ):
            return
        why = event.end_reason.value if event.end_reason else f"to {event.overlay.value}"
        log.info("assistant.closed why=%s", why)
        self._spawn(self._audit("closed", why))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _audit(self, action: str, subject: str | None = None) -> None:
        await self._write(Store.audit, ACTOR, action, subject)

    async def _write(self, operation: Callable[..., None], *args: object) -> None:
        """A log line. A full disk must not keep the agent out (they are the one who can fix
        it): the failure is logged and the action goes on."""
        try:
            await self._store.run(operation, *args)
        except StoreError:
            log.exception("assistant.log_failed")


def _name(by_whom: str) -> str:
    name = by_whom.strip()
    if not name:
        raise InvalidEntry("say who did it (a name or an initial)")
    if len(name) > MAX_NAME_CHARS:
        raise InvalidEntry(f"a name is at most {MAX_NAME_CHARS} characters")
    return name


def _write_new_file(folder: Path, stem: str, data: bytes) -> Path:
    """Write ``data`` to a new file in ``folder``, atomically (a temporary file in the same
    folder, synced, then renamed), mode 0640. Never replaces an existing file."""
    if not folder.is_dir():
        raise ExportError(f"{folder}: no such folder; is the USB key plugged in and mounted?")
    target = folder / f"{stem}.json"
    number = 2
    while target.exists():
        target = folder / f"{stem}-{number}.json"
        number += 1
    try:
        fd, temporary = tempfile.mkstemp(prefix=f".{stem}.", suffix=".part", dir=folder)
    except OSError as exc:
        raise ExportError(f"{folder}: cannot write there ({exc.strerror})") from exc
    try:
        try:
            os.fchmod(fd, EXPORT_MODE)
        except OSError as exc:  # a FAT USB key has no modes: the file keeps the mount's
            log.warning("assistant.export_mode_not_set errno=%s", exc.errno)
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, target)
    except OSError as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise ExportError(f"{folder}: the log export could not be written ({exc})") from exc
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    _sync_folder(folder)
    return target


def _sync_folder(folder: Path) -> None:
    """Make the rename durable (not every file system can sync a folder; the file is synced)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError as exc:
        log.info("assistant.export_folder_not_synced errno=%s", exc.errno)
    finally:
        os.close(fd)


# --- command line ---------------------------------------------------------------------------------
def _read_line() -> str:
    line = sys.stdin.readline()
    if not line:
        raise EOFError
    return line.rstrip("\r\n")


def _read_pin_twice(from_stdin: bool) -> tuple[str, str]:
    if from_stdin:
        return _read_line(), _read_line()
    return (getpass.getpass("New assistant PIN (4 to 8 digits): "), getpass.getpass("Again: "))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m kiosk.assistant", description="The cabin's assistant mode."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    set_pin = commands.add_parser(
        "set-pin",
        help="print the hash of a new PIN, for `pin_hash` in the [assistant] table",
        description="Read a new PIN twice (not echoed) and print its argon2id hash.",
    )
    set_pin.add_argument(
        "--stdin",
        action="store_true",
        help="read the PIN and its confirmation as two lines of standard input",
    )
    args = parser.parse_args(argv)
    try:
        pin, again = _read_pin_twice(args.stdin)
    except (EOFError, KeyboardInterrupt):
        print("no PIN was given; nothing changed", file=sys.stderr)
        return 1
    if pin != again:
        print("the two PINs differ; nothing changed", file=sys.stderr)
        return 1
    if not valid_pin(pin):
        print("a PIN is 4 to 8 digits; nothing changed", file=sys.stderr)
        return 1
    pin_hash = hash_pin(pin)
    print(pin_hash)
    print(
        f'put it in /etc/cabin/cabin.toml:\n[assistant]\npin_hash = "{pin_hash}"\n'
        "then restart the cabin",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
