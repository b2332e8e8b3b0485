"""Composition root of the cabin core (no widgets): builds every part from the configuration.

This is the one place that chooses implementations. The screen (``ui``) builds the core with
``start_core`` and drives it; so do the tests and the benchmarks, without Qt.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import wire
from devices.cancellation import cancel_and_wait
from devices.drivers.ble_instrument import BleBackend
from devices.errors import DeviceError
from devices.instrument import Instrument
from devices.reading import Quantity
from devices.registry import InstrumentSpec, build_instruments
from devices.transports.virtual_ble import VirtualBleakClient, VirtualBleakScanner
from kiosk.assistant import Assistant
from kiosk.bus import EventBus
from kiosk.config import Config, DistressSection
from kiosk.consultation import Consultation
from kiosk.distress.alerts import AlertDesk
from kiosk.distress.monitor import AnalysisSettings, DistressMonitor
from kiosk.distress.panic_button import SerialPanicButton
from kiosk.distress.vitals import DangerousVitals, Limits, VitalThresholds
from kiosk.errors import ConfigError, HubError, KeyUnavailableError
from kiosk.hub_link import HubLink, HubLinkState
from kiosk.measurements import Measurements
from kiosk.paperwork import Paperwork
from kiosk.record_sender import RecordSender
from kiosk.secret_source import read_secret
from kiosk.session import Clock, Session, SessionTimeouts, SystemClock
from kiosk.session_states import EndReason
from kiosk.store import AsyncStore, DatabaseKey, Store, create_key_file, load_key
from kiosk.teleconsultation import Teleconsultation
from printing.pdf_folder import PdfFolderPrinter
from printing.printer import Printer

if TYPE_CHECKING:
    from kiosk.call.media import CabinMedia
    from simulators.media import CabinScene
    from simulators.serial.panic_button import PanicButtonSimulator

log = logging.getLogger(__name__)

POLL_INTERVAL_S = 0.25
SOFTWARE_VERSION = "0.6.0"
SIMULATED = "simulated"


class Stoppable(Protocol):
    async def stop(self) -> None: ...


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
    simulators: Stoppable | None = None
    hub: HubLink | None = None
    paperwork: Paperwork | None = None
    teleconsultation: Teleconsultation | None = None
    records: RecordSender | None = None
    media: Stoppable | None = None  # the camera and microphone, shared by the call
    alerts: AlertDesk | None = None
    distress: DistressMonitor | None = None
    panic_button: SerialPanicButton | None = None
    panic_simulator: PanicButtonSimulator | None = None  # the demo's button board
    camera_scene: CabinScene | None = None  # the demo's drawn cabin, when the camera is synthetic
    _ticker: asyncio.Task[None] | None = None

    def start_ticker(self) -> None:
        """Apply the session's timeouts a few times a second."""
        if self._ticker is None:
            self._ticker = asyncio.get_running_loop().create_task(self._tick())

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(POLL_INTERVAL_S)
            self.session.poll()

    async def aclose(self) -> None:
        if self._ticker is not None:
            await cancel_and_wait(self._ticker)
        if self.panic_button is not None:
            await self.panic_button.aclose()
        if self.panic_simulator is not None:
            await self.panic_simulator.stop()
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
        if self.media is not None:
            await self.media.stop()
        await self.assistant.aclose()
        await self.measurements.close()
        if self.simulators is not None:
            await self.simulators.stop()
        await self.consultation.aclose()
        await self.store.close()
        log.info("core.stopped")


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
) -> KioskCore:
    """Build the core and open the store; the cabin is ready when this returns. The
    instruments are those of the configuration unless given (tests give their own, or none);
    their drivers connect in the background."""
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
            built = await instruments_from(config, data_dir, paired)
    except DeviceError as exc:
        await store.close()
        raise ConfigError(str(exc)) from exc
    instruments, simulators = built.instruments, built.simulators
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
    interrupted = await store.run(Store.interrupted_print_jobs)
    if interrupted:
        log.warning("core.print_jobs_interrupted count=%d", interrupted)
    cancel_leftovers = getattr(printer, "cancel_leftover_jobs", None)
    if cancel_leftovers is not None:
        # A job a crash left in CUPS would print by surprise once the printer is fixed, beside
        # the agent's reprint of the same document from the store.
        cancelled = await asyncio.to_thread(cancel_leftovers)
        if cancelled:
            log.warning("core.print_jobs_cancelled count=%d", cancelled)
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
        simulators,
        paperwork=paperwork,
        alerts=alerts,
    )
    if config.distress.enabled:
        core.distress = DistressMonitor(
            session,
            bus,
            alerts,
            vitals=DangerousVitals(vital_thresholds(config.distress)),
            settings=AnalysisSettings(fps=config.distress.analysis_fps),
        )
        await _start_panic_button(core)
    filed = await paperwork.file_missing_records()
    if filed:
        log.warning("core.records_recovered count=%d", filed)
    paperwork.start()
    if connect_hub:
        await _connect_hub(core, environment)
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
    """The physical panic button's board: a serial port, or the demo's simulated board."""
    monitor, path = core.distress, core.config.distress.panic_button
    if monitor is None or not path:
        return
    if path == SIMULATED:
        from simulators.serial.panic_button import PanicButtonSimulator  # noqa: PLC0415 - demo

        simulator = PanicButtonSimulator(core.data_dir / "simulators" / "panic-button")
        await simulator.start()
        core.panic_simulator = simulator
        path = str(simulator.link_path)

    async def pressed() -> None:
        await monitor.panic("button")

    core.panic_button = SerialPanicButton(path, pressed, core.bus)
    core.panic_button.start()


def _watch_media(core: KioskCore, media: CabinMedia) -> None:
    """Distress detection on the cabin's camera and microphone (the call's own captures)."""
    monitor, section = core.distress, core.config.distress
    if monitor is None:
        return
    if section.camera:
        from kiosk.distress import vision  # noqa: PLC0415 - OpenCV loads only where it watches

        analyser = vision.VisionAnalyser(
            vision.VisionThresholds(
                stillness_after_s=section.stillness_after_s,
                absence_after_s=section.absence_after_s,
            )
        )
        monitor.watch_camera(media.subscribe_camera(), analyser)
    if section.microphone:
        from kiosk.distress import sound  # noqa: PLC0415

        monitor.listen(media.subscribe_microphone(), sound.SoundAnalyser(sound.SoundThresholds()))


async def _connect_hub(core: KioskCore, env: MutableMapping[str, str]) -> None:
    """The cabin's camera and microphone (distress detection watches them from the start),
    then the hub link and the call, when the cabin has its credential; without it the cabin
    still measures and watches, and says in the log why no doctor can be reached."""
    config, data_dir = core.config, core.data_dir
    from kiosk import call_setup  # noqa: PLC0415 - aiortc loads only for a cabin that calls

    media = await asyncio.to_thread(call_setup.open_media, config, data_dir)
    core.media = _MediaStopper(media)
    core.camera_scene = call_setup.synthetic_scene(media)
    if core.camera_scene is not None:
        from simulators.live_cabin import LiveCabin, follow_sessions  # noqa: PLC0415 - demo

        if isinstance(core.camera_scene.script, LiveCabin):
            follow_sessions(core.camera_scene.script, core.bus)
    _watch_media(core, media)
    try:
        token = await asyncio.to_thread(lambda: hub_token(config, data_dir, env))
    except HubError as exc:
        log.error("core.no_hub reason=%s", exc)
        return
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
        await holder[0].handle_hub_message(message)

    def on_state(state: HubLinkState) -> None:
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
    teleconsultation = Teleconsultation(
        core.session,
        core.store,
        core.bus,
        hub,
        call_setup.call_factory(media, settings),
        local_preview=call_setup.local_preview(media),
    )
    holder.append(teleconsultation)
    core.hub, core.teleconsultation = hub, teleconsultation
    core.records = records
    if core.paperwork is not None:
        paperwork = core.paperwork

        async def send(message: wire.Message) -> None:
            await hub.send(message, reliable=True)

        paperwork.send = send
        paperwork.record_filed = records.wake
        teleconsultation.late_prescription = paperwork.keep_late_prescription
        paperwork.new_id = hub.new_id
        if alerts is not None:
            alerts.send, alerts.new_id = send, hub.new_id
    await hub.start()
    records.start()


class _MediaStopper:
    def __init__(self, media: CabinMedia) -> None:
        self._media = media

    async def stop(self) -> None:
        await self._media.close()


@dataclass(frozen=True)
class CabinInstruments:
    instruments: dict[str, Instrument]
    simulators: Stoppable | None
    ble_backend: BleBackend
    configured_addresses: dict[str, str]  # each BLE instrument's address before any pairing


async def instruments_from(
    config: Config, data_dir: Path, paired: Mapping[str, str] | None = None
) -> CabinInstruments:
    """The configuration's instruments. Those whose address is "simulated" are served by the
    simulators, started here: serial ones on ptys, BLE ones on a virtual radio that every BLE
    driver then reaches through bleak's virtual backend (the composition root is the one place
    that may choose that). A BLE instrument the agents paired in the assistant mode talks to the
    device they chose (``paired``)."""
    specs = [
        InstrumentSpec(i.id, i.kind, i.transport, i.address, i.model) for i in config.instruments
    ]
    simulated = [s for s in specs if s.address == SIMULATED]
    cabin = None
    backend = BleBackend()
    if simulated:
        from simulators.cabin import SimulatedCabin, SimulatedEntry  # noqa: PLC0415 - demo only

        cabin = SimulatedCabin(
            data_dir / "simulators",
            [SimulatedEntry(s.id, s.transport, s.resolved_model) for s in simulated],
        )
        await cabin.start()
        specs = [
            replace(s, address=cabin.address(s.id)) if s.address == SIMULATED else s for s in specs
        ]
        backend = BleBackend(
            VirtualBleakClient, VirtualBleakScanner, {"radio_path": str(cabin.radio_path)}
        )
    configured = {s.id: s.address for s in specs if s.transport == "ble"}
    chosen = {k: v for k, v in (paired or {}).items() if k in configured}
    specs = [replace(s, address=chosen[s.id]) if s.id in chosen else s for s in specs]
    try:
        instruments = build_instruments(specs, ble_backend=backend)
    except DeviceError:
        if cabin is not None:
            await cabin.stop()
        raise
    return CabinInstruments(instruments, cabin, backend, configured)
