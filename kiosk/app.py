"""Composition root of the cabin core (no widgets): builds every part from the configuration.

This is the one place that chooses implementations. The screen (``ui``) builds the core and
drives it; so do the tests and the benchmarks, without Qt.

The core starts in two stages, so that the idle screen is painted before the heavy parts load:
- ``open_core``: what a patient touches first, and nothing heavy (the store, the session, the
  instruments, the alert desk, the panic button and the distress monitor's thresholds, the
  assistant mode, the paperwork, holding its printing). The screen is built on it and shown.
- ``KioskCore.start_warm_up``: then, in the background (an owned task), the rest: the camera
  and microphone (the call's, watched for distress), the hub link and the call, the printer.
  aiortc, PyAV, numpy, OpenCV, aiohttp and reportlab load there, on a worker thread, never on
  the Qt thread. ``ready_for`` waits for a part (the waiting room for the call's, printing for
  the printer); each part says on the bus when it is up (``PartStatus``), or that it will not be
  (logged as before: no hub credential is ``core.no_hub``, and the cabin still measures).
``start_core`` does both and returns a core fully started (tests, benchmarks, tools).

What the configuration names but only the caller can supply comes in through a `Wiring`: a real
cabin's is empty (its instruments, camera, microphone and panic button are this machine's
devices, its hub is the configured one). The demo's composition root (``demo.root``) fills it
with its simulators; this module never imports them, and refuses a demo value ("simulated",
"synthetic") that nothing supplied.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import time
from collections.abc import Awaitable, Callable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeVar

import msgspec

import wire
from devices.cancellation import cancel_and_wait
from devices.drivers.ble_instrument import BleBackend
from devices.errors import DeviceError
from devices.instrument import Instrument
from devices.reading import Quantity
from devices.registry import InstrumentSpec, build_instruments
from kiosk.appointments import AppointmentDesk
from kiosk.assistant import Assistant
from kiosk.bus import EventBus
from kiosk.config import Config, DistressSection
from kiosk.consultation import Consultation
from kiosk.demo_settings import SIMULATED
from kiosk.distress.alerts import AlertDesk
from kiosk.distress.monitor import AnalysisSettings, DistressMonitor
from kiosk.distress.panic_button import SerialPanicButton
from kiosk.distress.vitals import DangerousVitals, Limits, VitalThresholds
from kiosk.doctor_service import DoctorService
from kiosk.errors import ConfigError, HubError, KeyUnavailableError
from kiosk.events import CorePart, PartState, PartStatus
from kiosk.measurements import Measurements
from kiosk.paperwork import Paperwork
from kiosk.secret_source import read_secret
from kiosk.selftest import Upkeep, attach_upkeep
from kiosk.session import Clock, Session, SessionTimeouts, SystemClock
from kiosk.session_states import EndReason
from kiosk.store import AsyncStore, DatabaseKey, Store, create_key_file, load_key
from printing.pdf_folder import PdfFolderPrinter
from printing.printer import Printer

if TYPE_CHECKING:
    # The warm-up's parts: imported on a worker thread when the core warms up (``_load``).
    from kiosk.call.media import CabinMedia
    from kiosk.call.media_power import MediaPower
    from kiosk.call_setup import MediaSource
    from kiosk.distress.detection import FrameAnalyser, SoundAnalyser
    from kiosk.hub_link import HubLink, HubLinkState
    from kiosk.record_sender import RecordSender
    from kiosk.teleconsultation import CallFactory, Teleconsultation

log = logging.getLogger(__name__)

POLL_INTERVAL_S = 0.25
PURGE_EVERY_TICKS = 4 * 60 * 5
"""The synced appointments of a day gone are forgotten within five minutes of the cabin's
midnight, even when the hub is away."""
SOFTWARE_VERSION = "0.6.0"

T = TypeVar("T")

WARM_UP_ORDER = (CorePart.MEDIA, CorePart.HUB, CorePart.PRINTER)
"""The camera first (distress detection watches it at idle), then the hub, then the printer
(a patient needs it last, at closing)."""

# What each part loads on the worker thread before it is built on the event loop.
_MEDIA_MODULES = ("kiosk.call_setup",)  # aiortc, PyAV, numpy
_HUB_MODULES = ("kiosk.hub_link", "kiosk.record_sender", "kiosk.teleconsultation")  # aiohttp
_PRINTER_MODULES = ("printing.prescription", "printing.summary", "printing.test_page")

HubAddress = Callable[[], Awaitable[str]]
"""Where the hub is, when only known once the cabin runs (the demo starts its hub then)."""
WarmUpGate = Callable[[CorePart], Awaitable[None]]
"""Awaited before each part is brought up (a test holds a part back with it)."""


class Stoppable(Protocol):
    async def stop(self) -> None: ...


@dataclass(frozen=True, slots=True)
class SuppliedInstruments:
    """The configured instruments as the cabin opens them: each spec with the address it
    reaches, the BLE backend every BLE driver uses, and what serves them (stopped with the
    core), if anything does besides the devices themselves."""

    specs: tuple[InstrumentSpec, ...]
    ble_backend: BleBackend
    service: Stoppable | None = None


InstrumentSupplier = Callable[[Sequence[InstrumentSpec], Path], Awaitable[SuppliedInstruments]]
"""Given the configured instruments and the data folder, serves those it knows (the demo's:
the "simulated" ones) and says how to reach them."""


@dataclass(frozen=True, slots=True)
class PanicPort:
    """The serial port of the panic button's board, and what serves it (stopped with the
    core) when it is not a device of this machine."""

    path: str
    board: Stoppable | None = None


PanicPortSupplier = Callable[[str, Path], Awaitable[PanicPort]]
"""Given the configured ``distress.panic_button`` and the data folder, the port to open."""

MediaHook = Callable[["KioskCore", "CabinMedia"], None]
"""Called once the camera and microphone are open, on the event loop (the demo makes the patient
of its drawn cabin follow the sessions there)."""


@dataclass(frozen=True, slots=True)
class Wiring:
    """What the configuration names and only the composition root's caller can supply. A real
    cabin's is empty: its instruments, camera, microphone and panic button are this machine's
    devices, its hub the configured one. The demo's root (``demo.root``) fills it with its
    simulators, its drawn camera and its own hub."""

    instruments: InstrumentSupplier | None = None
    media: MediaSource | None = None  # cameras and microphones that are no device of this machine
    panic_port: PanicPortSupplier | None = None
    hub_address: HubAddress | None = None  # where the hub is, once the cabin runs
    on_media: MediaHook | None = None


PRODUCT = Wiring()
"""A real cabin's wiring: nothing beside the configuration."""


class _HubOutbox:
    """What parts send to the hub before its link is up (an alert the panic button raised
    during the warm-up, a print status): kept in order and sent once the link is there, so
    that the agent hears of it; dropped, and said, when the cabin has no hub."""

    def __init__(self) -> None:
        self._hub: HubLink | None = None
        self._pending: list[wire.Message] | None = []

    async def send(self, message: wire.Message) -> None:
        if self._hub is not None:
            await self._hub.send(message, reliable=True)
        elif self._pending is not None:
            self._pending.append(message)

    async def open(self, hub: HubLink) -> None:
        while self._pending:  # what is added while these go out goes after them
            await hub.send(self._pending.pop(0), reliable=True)
        self._hub, self._pending = hub, None

    def no_hub(self) -> None:
        if self._pending:
            log.warning("core.hub_messages_dropped count=%d", len(self._pending))
        self._pending = None


@dataclass
class KioskCore:
    config: Config
    data_dir: Path
    bus: EventBus
    session: Session
    store: AsyncStore
    consultation: Consultation
    measurements: Measurements
    assistant: Assistant
    appointments: AppointmentDesk
    instrument_service: Stoppable | None = None  # what serves the instruments (the demo's)
    hub: HubLink | None = None
    paperwork: Paperwork | None = None
    teleconsultation: Teleconsultation | None = None
    records: RecordSender | None = None
    media: Stoppable | None = None  # the camera and microphone, shared by the call
    alerts: AlertDesk | None = None
    distress: DistressMonitor | None = None
    panic_button: SerialPanicButton | None = None
    panic_board: Stoppable | None = None  # what serves the button's port (the demo's board)
    wiring: Wiring = PRODUCT
    connect_hub: bool = True  # the camera, microphone and hub too (a test may want neither)
    doctor_service: DoctorService | None = None  # can patients reach a doctor (i18-screen)
    media_power: MediaPower | None = None  # camera and microphone per session (i18-screen)
    failures: dict[CorePart, Exception] = field(default_factory=dict)  # the warm-up's, by part
    _ticker: asyncio.Task[None] | None = None
    _warm_up: asyncio.Task[None] | None = None
    _parts: dict[CorePart, PartState] = field(default_factory=dict)
    _settled: dict[CorePart, asyncio.Event] = field(
        default_factory=lambda: {part: asyncio.Event() for part in CorePart}
    )
    _outbox: _HubOutbox = field(default_factory=_HubOutbox)
    upkeep: Upkeep | None = None  # self-test, heartbeat, call quality (kiosk.selftest)

    @property
    def cabin_media(self) -> CabinMedia | None:
        """The camera and microphone, once the warm-up has opened them."""
        return self.media.media if isinstance(self.media, _MediaStopper) else None

    def start_ticker(self) -> None:
        """Apply the session's timeouts a few times a second."""
        if self._ticker is None:
            self._ticker = asyncio.get_running_loop().create_task(self._tick())

    async def _tick(self) -> None:
        ticks = 0
        while True:
            await asyncio.sleep(POLL_INTERVAL_S)
            self.session.poll()
            ticks += 1
            if ticks % PURGE_EVERY_TICKS == 0:  # yesterday's appointments, hub or not
                await self.appointments.purge()

    # --- the warm-up ----------------------------------------------------------------------
    def part_state(self, part: CorePart) -> PartState:
        """Warming until the warm-up brought it up (or found it will not come)."""
        return self._parts.get(part, PartState.WARMING)

    async def ready_for(self, *parts: CorePart) -> bool:
        """Wait until these parts are up, or known not to come; True if they all are up."""
        for part in parts:
            await self._settled[part].wait()
        return all(self._parts[part] is PartState.READY for part in parts)

    def start_warm_up(
        self,
        env: MutableMapping[str, str] | None = None,
        *,
        hub_address: HubAddress | None = None,
        gate: WarmUpGate | None = None,
    ) -> None:
        """Bring up the parts that the first screen does not need, in the background (once).
        ``env`` holds the hub credential's variable; ``hub_address`` says where the hub is when
        the configuration cannot (the wiring's, unless given); ``gate`` is awaited before each
        part."""
        if self._warm_up is None:
            address = hub_address or self.wiring.hub_address
            work = self._warm(os.environ if env is None else env, address, gate)
            self._warm_up = asyncio.get_running_loop().create_task(work, name="core.warm_up")

    async def warmed_up(self) -> None:
        """Wait until the warm-up is over (every part up or unavailable); waiting here never
        cancels it."""
        if self._warm_up is not None:
            await asyncio.wait({self._warm_up})

    async def _warm(
        self, env: MutableMapping[str, str], hub_address: HubAddress | None, gate: WarmUpGate | None
    ) -> None:
        started = time.monotonic()
        if self.connect_hub:
            self.upkeep = attach_upkeep(self, SOFTWARE_VERSION)
        steps: dict[CorePart, Callable[[], Awaitable[bool]]] = {
            CorePart.MEDIA: self._bring_up_media,
            CorePart.HUB: lambda: self._bring_up_hub(env, hub_address),
            CorePart.PRINTER: self._bring_up_printer,
        }
        for part in WARM_UP_ORDER:
            state = PartState.UNAVAILABLE
            try:
                if gate is not None:
                    await gate(part)
                if await steps[part]():
                    state = PartState.READY
            except Exception as exc:  # any part's failure: logged, and the cabin goes on
                # Nothing a patient started needs it yet: the cabin measures and alerts without
                # it, as it does without a hub; the log says why, with where.
                self.failures[part] = exc
                log.error("core.part_failed part=%s error=%r", part.value, exc, exc_info=exc)
            self._settle(part, state)
        log.info(
            "core.warmed_up seconds=%.3f %s",
            time.monotonic() - started,
            " ".join(f"{p.value}={self.part_state(p).value}" for p in WARM_UP_ORDER),
        )

    def _settle(self, part: CorePart, state: PartState) -> None:
        log.info("core.part_settled part=%s state=%s", part.value, state.value)
        self._parts[part] = state
        self._settled[part].set()
        if part is CorePart.PRINTER and self.paperwork is not None:
            self.paperwork.prepared.set()  # up, or failed: a print then says what went wrong
        self.bus.publish(PartStatus(part, state))

    async def _bring_up_media(self) -> bool:
        """The cabin's camera and microphone; distress detection watches them from then on."""
        if not self.connect_hub:
            return False
        await _load(_MEDIA_MODULES)
        from kiosk import call_setup  # noqa: PLC0415 - loaded above, off the Qt thread

        config, data_dir, source = self.config, self.data_dir, self.wiring.media

        def close(media: CabinMedia) -> Awaitable[None]:
            return media.close()

        def open_media() -> CabinMedia:
            return call_setup.open_media(config, data_dir, source)

        media = await _opened_in_thread(open_media, close)
        self.media = _MediaStopper(media)
        if self.wiring.on_media is not None:
            self.wiring.on_media(self, media)
        # OpenCV for the camera's analysis: on the thread too.
        analysers = await asyncio.to_thread(_distress_analysers, config.distress)
        _watch_media(self, media, *analysers)
        from kiosk.call.media_power import power_media  # noqa: PLC0415 - i18-screen

        self.media_power = await power_media(
            media, open_media, self.session, self.bus, config.distress
        )
        return True

    async def _bring_up_hub(
        self, env: MutableMapping[str, str], hub_address: HubAddress | None
    ) -> bool:
        """The hub link, the record sender and, with the camera and microphone, the call; none
        without the cabin's credential (it still measures and watches, and says why)."""
        if not self.connect_hub:
            self._outbox.no_hub()
            return False
        if hub_address is not None:
            url = await hub_address()
            hub = msgspec.structs.replace(self.config.hub, url=url)
            self.config = msgspec.structs.replace(self.config, hub=hub)
        config, data_dir = self.config, self.data_dir
        try:
            token = await asyncio.to_thread(lambda: hub_token(config, data_dir, env))
        except HubError as exc:
            log.error("core.no_hub reason=%s", exc)
            self._outbox.no_hub()
            return False
        await _load(_HUB_MODULES)
        await _connect_hub(self, token)
        return True

    async def _bring_up_printer(self) -> bool:
        """The documents' renderer, a crash's leftovers, the records it kept from being filed,
        then the printer's watch; printing waits for this (``Paperwork.prepared``)."""
        paperwork = self.paperwork
        if paperwork is None:
            return False
        await _load(_PRINTER_MODULES)
        interrupted = await self.store.run(Store.interrupted_print_jobs)
        if interrupted:
            log.warning("core.print_jobs_interrupted count=%d", interrupted)
        cancel_leftovers = getattr(paperwork.printer, "cancel_leftover_jobs", None)
        if cancel_leftovers is not None:
            # A job a crash left in CUPS would print by surprise once the printer is fixed,
            # beside the agent's reprint of the same document from the store.
            cancelled = await asyncio.to_thread(cancel_leftovers)
            if cancelled:
                log.warning("core.print_jobs_cancelled count=%d", cancelled)
        filed = await paperwork.file_missing_records()
        if filed:
            log.warning("core.records_recovered count=%d", filed)
        paperwork.start()
        return True

    # --- the end -----------------------------------------------------------------------------
    async def aclose(self) -> None:
        """Stop everything, the warm-up first (what it had opened is closed below with the
        rest), and close the store last."""
        if self._warm_up is not None:
            await cancel_and_wait(self._warm_up)
        if self.upkeep is not None:
            await self.upkeep.stop()
        if self._ticker is not None:
            await cancel_and_wait(self._ticker)
        if self.panic_button is not None:
            await self.panic_button.aclose()
        if self.panic_board is not None:
            await self.panic_board.stop()
        if self.distress is not None:
            await self.distress.aclose()
        if self.alerts is not None:
            await self.alerts.aclose()
        if self.teleconsultation is not None:
            await self.teleconsultation.aclose()
        if self.records is not None:
            await self.records.aclose()
        if self.paperwork is not None:
            await self.paperwork.aclose()
        if self.hub is not None:
            await self.hub.close()
        if self.media_power is not None:
            await self.media_power.aclose()
        if self.media is not None:
            await self.media.stop()
        await self.assistant.aclose()
        await self.measurements.close()
        if self.instrument_service is not None:
            await self.instrument_service.stop()
        await self.consultation.aclose()
        if self.doctor_service is not None:
            await self.doctor_service.aclose()
        await self.store.close()
        log.info("core.stopped")


async def _load(modules: tuple[str, ...]) -> None:
    """Import a part's packages on a worker thread: seconds of imports never stall the Qt
    thread (a cancelled warm-up leaves the thread to finish them: nothing to close)."""

    def load() -> None:
        for name in modules:
            importlib.import_module(name)

    await asyncio.to_thread(load)


async def _opened_in_thread(open_: Callable[[], T], close: Callable[[T], Awaitable[None]]) -> T:
    """``open_()`` on a worker thread. Cancelled meanwhile (the core closing during its
    warm-up), it waits for the thread, which cannot be stopped, and closes what it opened."""
    opening = asyncio.get_running_loop().run_in_executor(None, open_)
    try:
        return await asyncio.shield(opening)
    except asyncio.CancelledError:
        try:
            opened = await opening
        except Exception as exc:  # noqa: BLE001 - it failed: nothing was opened, go on closing
            log.info("core.open_failed_while_closing error=%r", exc)
        else:
            await close(opened)
        raise


def make_printer(config: Config, data_dir: Path) -> Printer:
    """The cabin's printer: CUPS (a real cabin) or a folder of PDF files (the demo)."""
    if config.printer.kind == "cups":
        from printing.cups import CupsPrinter  # noqa: PLC0415 - libcups only where CUPS prints

        return CupsPrinter(config.printer.queue, server=config.printer.server or None)
    return PdfFolderPrinter(config.resolve(data_dir, config.printer.folder))


def hub_token(config: Config, data_dir: Path, env: MutableMapping[str, str]) -> str:
    """The cabin's credential for the hub (``python -m hub provision-cabin`` made it)."""
    text, _source = read_secret(
        env=env,
        env_name=config.hub.credential_env,
        credential=config.hub.credential,
        file=config.resolve(data_dir, config.hub.credential_file),
        what="hub credential",
        error=HubError,
    )
    return text.strip()


def database_key(
    config: Config, data_dir: Path, env: MutableMapping[str, str], *, create: bool
) -> DatabaseKey:
    """The database key; with ``create`` (the demo), a first run makes one, but never when a
    database already exists: a new key would not open it."""
    key_file = config.resolve(data_dir, config.store.key_file)
    try:
        return load_key(
            env=env,
            env_name=config.store.key_env,
            credential=config.store.credential,
            key_file=key_file,
        )
    except KeyUnavailableError:
        database = config.resolve(data_dir, config.store.path)
        if not create or key_file.exists() or database.exists():
            raise
        return create_key_file(key_file)


async def start_core(
    config: Config,
    data_dir: Path,
    *,
    env: MutableMapping[str, str] | None = None,
    clock: Clock | None = None,
    create_key: bool = False,
    instruments: Mapping[str, Instrument] | None = None,
    connect_hub: bool = True,
    wiring: Wiring = PRODUCT,
) -> KioskCore:
    """Build the core and warm it up: every part is up (or known unavailable, as without a hub
    credential) when this returns. A part that failed fails the start, the core closed."""
    core = await open_core(
        config,
        data_dir,
        env=env,
        clock=clock,
        create_key=create_key,
        instruments=instruments,
        connect_hub=connect_hub,
        wiring=wiring,
    )
    core.start_warm_up(env)
    try:
        await core.warmed_up()
    except asyncio.CancelledError:
        await core.aclose()
        raise
    if core.failures:
        await core.aclose()
        raise next(iter(core.failures.values()))
    return core


async def open_core(
    config: Config,
    data_dir: Path,
    *,
    env: MutableMapping[str, str] | None = None,
    clock: Clock | None = None,
    create_key: bool = False,
    instruments: Mapping[str, Instrument] | None = None,
    connect_hub: bool = True,
    wiring: Wiring = PRODUCT,
) -> KioskCore:
    """Build what a patient touches first and open the store: the idle screen, Start, the
    identification, the consent, the vitals, the panic button and the assistant mode work when
    this returns; ``core.start_warm_up()`` brings up the rest. The instruments are those of the
    configuration unless given (tests give their own, or none); their drivers connect in the
    background. ``connect_hub``: the camera, microphone and hub too, once warmed up.
    ``wiring``: what only the caller can supply (`Wiring`); a real cabin's is empty."""
    await asyncio.to_thread(data_dir.mkdir, parents=True, exist_ok=True)
    environment = os.environ if env is None else env
    # A closure, not arguments: an executor that logs what it runs must never see the key.
    key = await asyncio.to_thread(
        lambda: database_key(config, data_dir, environment, create=create_key)
    )
    store = await AsyncStore.open(
        config.resolve(data_dir, config.store.path),
        key,
        max_size_bytes=config.store.max_size_mb * 1024 * 1024,
    )
    closed = await store.run(Store.close_unfinished_consultations, EndReason.RESTART.value)
    await store.run(Store.purge_past_appointments)  # the synced list of an earlier day
    if closed:
        log.warning("core.recovered_unfinished_consultations count=%d", closed)
    bus = EventBus()
    timeouts = SessionTimeouts(
        inactivity_s=config.session.inactivity_timeout_s,
        still_there_countdown_s=config.session.still_there_countdown_s,
        assistant_s=config.session.assistant_timeout_s,
    )
    clock = clock or SystemClock()
    session = Session(bus, clock, timeouts)
    consultation = Consultation(session, store, bus)
    built = CabinInstruments(dict(instruments or {}), None, BleBackend(), {})
    try:
        if instruments is None:
            paired = await store.run(Store.device_addresses)
            built = await instruments_from(config, data_dir, paired, wiring.instruments)
    except (DeviceError, ConfigError) as exc:
        await store.close()
        raise ConfigError(str(exc)) from exc
    instruments = built.instruments
    measurements = Measurements(instruments, consultation, store, bus)
    await measurements.start()
    printer = make_printer(config, data_dir)
    alerts = AlertDesk(session, store, bus, cabin_id=config.cabin.id)
    paperwork = Paperwork(
        session,
        store,
        bus,
        printer,
        alerts=alerts,
        cabin_id=config.cabin.id,
        cabin_name=config.cabin.name,
        page_size=config.printer.page_size,
        job_timeout_s=config.printer.job_timeout_s,
    )
    consultation.after_end.append(paperwork.file_record)
    assistant = Assistant(
        store,
        session,
        bus,
        measurements,
        config.assistant,
        clock,
        cabin_id=config.cabin.id,
        ble_backend=built.ble_backend,
        configured_addresses=built.configured_addresses,
        printer=printer,
        paperwork=paperwork,
        cabin_name=config.cabin.name,
    )
    core = KioskCore(
        config,
        data_dir,
        bus,
        session,
        store,
        consultation,
        measurements,
        assistant,
        AppointmentDesk(store, clock),
        built.service,
        paperwork=paperwork,
        alerts=alerts,
        wiring=wiring,
        connect_hub=connect_hub,
    )
    core.doctor_service = await DoctorService.open(
        bus, store, clock, grace_s=config.hub.offline_notice_after_s
    )
    core.doctor_service.start()
    # Printing waits for the printer's warm-up; what goes to the hub waits for its link.
    paperwork.prepared.clear()
    paperwork.send = alerts.send = core._outbox.send
    if config.distress.enabled:
        # Its thresholds and the panic button from now on; the camera and microphone once the
        # warm-up has opened them.
        core.distress = DistressMonitor(
            session,
            bus,
            alerts,
            vitals=DangerousVitals(vital_thresholds(config.distress)),
            settings=AnalysisSettings(fps=config.distress.analysis_fps),
        )
        try:
            await _start_panic_button(core)
        except BaseException:
            await core.aclose()
            raise
    log.info("core.ready cabin=%s instruments=%d", config.cabin.id, len(instruments))
    return core


def vital_thresholds(section: DistressSection) -> VitalThresholds:
    """The configured red bands; the extremes (no confirmation) stay the built-in ones."""
    default = VitalThresholds()
    red = {
        Quantity.SPO2_PERCENT: Limits(low=section.spo2_red_percent),
        Quantity.SYSTOLIC_MMHG: Limits(
            low=section.systolic_red_low_mmhg, high=section.systolic_red_high_mmhg
        ),
        Quantity.PULSE_BPM: Limits(low=section.pulse_red_low_bpm, high=section.pulse_red_high_bpm),
        Quantity.TEMPERATURE_C: Limits(low=section.temperature_red_low_c),
    }
    return replace(default, red=red, confirm_within_s=section.confirm_within_s)


async def _start_panic_button(core: KioskCore) -> None:
    """The physical panic button's board: a serial port (or what the wiring supplies)."""
    monitor, configured = core.distress, core.config.distress.panic_button
    if monitor is None or not configured:
        return
    supplier = core.wiring.panic_port
    port = PanicPort(configured) if supplier is None else await supplier(configured, core.data_dir)
    core.panic_board = port.board
    path = port.path
    if path == SIMULATED:
        raise ConfigError(
            'distress.panic_button = "simulated": only the demo simulates the panic button\'s'
            " board (python -m demo); a real cabin names its serial port"
            ' (/dev/serial/by-id/...), or "" when it has none'
        )

    async def pressed() -> None:
        await monitor.panic("button")

    core.panic_button = SerialPanicButton(path, pressed, core.bus)
    core.panic_button.start()


def _distress_analysers(
    section: DistressSection,
) -> tuple[FrameAnalyser | None, SoundAnalyser | None]:
    """The camera's and the microphone's analysers, as configured (on a worker thread: OpenCV
    and the pose model load here). The camera's is the classical analysis with the pose model
    (`pose.CombinedVision`); without a pose model (mediapipe missing or broken), the classical
    analysis alone, and the cabin still starts."""
    vision_analyser: FrameAnalyser | None = None
    sound_analyser: SoundAnalyser | None = None
    if section.enabled and section.camera:
        from kiosk.distress import pose, vision  # noqa: PLC0415 - OpenCV loads where it watches

        classical = vision.VisionAnalyser(
            vision.VisionThresholds(
                stillness_after_s=section.stillness_after_s,
                absence_after_s=section.absence_after_s,
            )
        )
        try:
            vision_analyser = pose.CombinedVision(
                classical,
                pose.PoseAnalyser(),
                pose.CombinedSettings(absence_after_s=section.absence_after_s),
            )
        except pose.PoseModelError as exc:
            log.error("distress.pose_model_unavailable error=%s (classical analysis only)", exc)
            vision_analyser = classical
    if section.enabled and section.microphone:
        from kiosk.distress import sound  # noqa: PLC0415

        sound_analyser = sound.SoundAnalyser(sound.SoundThresholds())
    return vision_analyser, sound_analyser


def _watch_media(
    core: KioskCore,
    media: CabinMedia,
    vision_analyser: FrameAnalyser | None,
    sound_analyser: SoundAnalyser | None,
) -> None:
    """Distress detection on the cabin's camera and microphone (the call's own captures); the
    doctor's voice that the cabin's speaker plays is taken out of the microphone first."""
    monitor = core.distress
    if monitor is None:
        return
    if vision_analyser is not None:
        monitor.watch_camera(media.subscribe_camera(), vision_analyser)
    if sound_analyser is not None:
        monitor.listen(media.subscribe_microphone(), sound_analyser, far_end=media.played_sound)


async def _connect_hub(core: KioskCore, token: str) -> None:
    """The hub link, the record sender and the call (the camera and microphone are open: the
    warm-up brought them up first), wired to the parts that talk to the hub."""
    from kiosk import call_setup  # noqa: PLC0415 - loaded by the warm-up, off the Qt thread
    from kiosk.hub_link import HubLink  # noqa: PLC0415
    from kiosk.record_sender import RecordSender  # noqa: PLC0415
    from kiosk.teleconsultation import Teleconsultation  # noqa: PLC0415

    config = core.config
    settings = call_setup.call_settings(config)
    holder: list[Teleconsultation] = []

    senders: list[RecordSender] = []

    alerts = core.alerts

    async def handle(message: wire.Message) -> None:
        if senders and senders[0].handle(message):
            return
        if isinstance(message, wire.AlertAck) and alerts is not None:
            await alerts.hub_acknowledged(message)
            return
        if isinstance(message, wire.TodaysAppointments):
            await core.appointments.synced(message)
            return
        if holder:
            await holder[0].handle_hub_message(message)

    def on_state(state: HubLinkState) -> None:
        if core.doctor_service is not None:
            core.doctor_service.link_state_changed(state.value)
        if holder:
            holder[0].hub_state_changed(state)
        if senders:
            senders[0].hub_state_changed(state)

    hub = HubLink(
        config.hub.url,
        config.cabin.id,
        token,
        software_version=SOFTWARE_VERSION,
        handler=handle,
        on_state=on_state,
    )
    records = RecordSender(core.store, hub)
    senders.append(records)
    core.hub, core.records = hub, records
    media = core.media
    if isinstance(media, _MediaStopper):
        teleconsultation = Teleconsultation(
            core.session,
            core.store,
            core.bus,
            hub,
            _metered(core, call_setup.call_factory(media.media, settings)),
            local_preview=call_setup.local_preview(media.media),
        )
        holder.append(teleconsultation)
        core.teleconsultation = teleconsultation
    if core.paperwork is not None:
        paperwork = core.paperwork
        paperwork.record_filed = records.wake
        paperwork.new_id = hub.new_id
        if core.teleconsultation is not None:
            core.teleconsultation.late_prescription = paperwork.keep_late_prescription
    if alerts is not None:
        alerts.new_id = hub.new_id
    core.appointments.hub = hub
    await hub.start()
    records.start()
    await core._outbox.open(hub)  # an alert raised before the link was up goes out now
    if core.teleconsultation is not None:
        core.teleconsultation.catch_up()  # a patient already in the waiting room is queued


def _metered(core: KioskCore, factory: CallFactory) -> CallFactory:
    return core.upkeep.metered(factory) if core.upkeep is not None else factory


class _MediaStopper:
    def __init__(self, media: CabinMedia) -> None:
        self.media = media

    async def stop(self) -> None:
        await self.media.close()


@dataclass(frozen=True)
class CabinInstruments:
    instruments: dict[str, Instrument]
    service: Stoppable | None  # what serves them (the demo's simulators), stopped with the core
    ble_backend: BleBackend
    configured_addresses: dict[str, str]  # each BLE instrument's address before any pairing


async def instruments_from(
    config: Config,
    data_dir: Path,
    paired: Mapping[str, str] | None = None,
    supplier: InstrumentSupplier | None = None,
) -> CabinInstruments:
    """The configuration's instruments, on this machine's serial ports and BlueZ, or as the
    ``supplier`` serves them (the demo's simulators, on ptys and a virtual radio). A BLE
    instrument the agents paired in the assistant mode talks to the device they chose
    (``paired``). An address still "simulated" (nothing served it) is refused."""
    specs = [
        InstrumentSpec(i.id, i.kind, i.transport, i.address, i.model) for i in config.instruments
    ]
    supplied = (
        SuppliedInstruments(tuple(specs), BleBackend())
        if supplier is None
        else await supplier(specs, data_dir)
    )
    service = supplied.service
    try:
        specs = list(supplied.specs)
        for index, spec in enumerate(specs):
            if spec.address == SIMULATED:
                raise ConfigError(
                    f'instruments[{index}].address = "simulated" ({spec.id}): only the demo'
                    " simulates instruments (python -m demo); a real cabin names the device"
                    " (a serial port, a BLE address or name)"
                )
        configured = {s.id: s.address for s in specs if s.transport == "ble"}
        chosen = {k: v for k, v in (paired or {}).items() if k in configured}
        specs = [replace(s, address=chosen[s.id]) if s.id in chosen else s for s in specs]
        instruments = build_instruments(specs, ble_backend=supplied.ble_backend)
    except (DeviceError, ConfigError):
        if service is not None:
            await service.stop()
        raise
    return CabinInstruments(instruments, service, supplied.ble_backend, configured)
