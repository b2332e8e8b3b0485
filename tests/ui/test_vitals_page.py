"""The guided measurement on screen, with a real simulated cuff on the virtual radio: the live
pressure, a problem said as an instruction, Retry, and the result in words with its units."""

from __future__ import annotations

import asyncio
import logging
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
import shiboken6
from PySide6.QtCore import QCoreApplication, QEvent
from PySide6.QtWidgets import QApplication, QLabel, QPushButton

from demo.root import start_core
from devices.drivers.ble_blood_pressure import BleBloodPressureMonitor
from devices.drivers.ble_instrument import BleBackend
from devices.instrument import Backoff
from devices.protocols import gatt
from devices.transports.virtual_ble import VirtualBleakClient, VirtualBleakScanner
from kiosk.app import KioskCore
from kiosk.config import load_config
from kiosk.patient import PatientIdentity
from kiosk.session_states import Overlay, SessionState
from kiosk.store import DatabaseKey, Store
from simulators.ble.instruments import BleBloodPressureSimulator
from simulators.ble.radio import VirtualRadio
from simulators.faults import Fault
from tests.kiosk.test_session import FakeClock
from tests.ui.conftest import UNTIL_S, Runner
from ui.kiosk_window import KioskWindow, LanguageSwitcher
from ui.scripted_demo import _press
from ui.vitals_page import VitalsPage

KEY = DatabaseKey.generate()


def label(window: KioskWindow, name: str) -> str:
    page = window.page
    assert page is not None
    found = page.findChild(QLabel, name)
    assert found is not None
    return found.text()


def button(window: KioskWindow, name: str) -> QPushButton:
    page = window.page
    assert page is not None
    found = page.findChild(QPushButton, name)
    assert found is not None and found.isVisible()
    return found


def test_a_loose_cuff_then_a_good_measurement(
    tmp_path: Path, qapp: QApplication, run: Runner, screens_dir: Path
) -> None:
    async def scenario() -> None:
        folder = Path(tempfile.mkdtemp(dir="/tmp", prefix="radio-"))
        async with VirtualRadio(folder / "r.sock") as radio:
            cuff_sim = BleBloodPressureSimulator(
                "02:00:00:00:00:01",
                time_scale=0.2,
                auto_press_s=0.3,
                faults=frozenset({Fault.CUFF_ERROR}),
            )
            radio.add(cuff_sim.peripheral)
            backend = BleBackend(
                VirtualBleakClient, VirtualBleakScanner, {"radio_path": str(radio.socket_path)}
            )
            cuff = BleBloodPressureMonitor(
                "bp-1",
                cuff_sim.peripheral.name,
                backend=backend,
                pair=True,
                backoff=Backoff(0.05, 0.2),
            )
            core = await start_core(
                load_config(None),
                tmp_path,
                env={"CABIN_DB_KEY": KEY.hex()},
                clock=FakeClock(),
                instruments={"bp-1": cuff},
            )
            languages = LanguageSwitcher(qapp)
            languages.set("fr")
            window = KioskWindow(core, languages)
            window.resize(1080, 1920)
            window.show()
            try:
                c = core.consultation
                await c.start("fr")
                await c.choose_identify()
                await c.identify(PatientIdentity("Guillou", "Marie", date(1944, 6, 6)))
                await c.consent(True)
                await asyncio.sleep(0)
                assert "Tension" in label(window, "title")
                _press(button(window, "primary"))
                saw_pressure = False
                for _ in range(500):
                    await asyncio.sleep(0.01)
                    status = label(window, "status")
                    saw_pressure |= "Pression dans le brassard" in status
                    if "trop lâche" in status:
                        break
                assert saw_pressure
                assert "Le brassard est trop lâche" in label(window, "status")
                assert button(window, "primary").text() == "Réessayer"
                assert window.grab().save(str(screens_dir / "fr-vitals-cuff-loose.png"))
                cuff_sim.faults.clear()  # the patient tightened the cuff
                # The cuff drops its link after an error and comes back: a Retry pressed in
                # that moment says so ("Réessayer" again), and the patient presses it again,
                # as a person would. Wait for what the screen shows, not a fixed time.
                presses = 0
                for _ in range(3000):
                    if presses == 0 or (
                        button(window, "primary").isEnabled()
                        and button(window, "primary").text() == "Réessayer"
                        and presses < 5
                    ):
                        _press(button(window, "primary"))
                        presses += 1
                    await asyncio.sleep(0.01)
                    if core.session.context.readings and label(window, "summary"):
                        break
                assert core.session.context.readings, f"no reading after {presses} retries"
                summary = label(window, "summary")
                assert "Tension :" in summary and "mmHg" in summary and "pouls" in summary
                assert window.grab().save(str(screens_dir / "fr-vitals-done.png"))
                consultation_id = core.session.context.consultation_id
                assert consultation_id is not None
                assert len(await core.store.run(Store.readings, consultation_id)) == 1
                assert core.session.state is SessionState.VITALS
            finally:
                window.close()
                await window.intents.drain()
                await core.aclose()
                await cuff_sim.close()
                languages.set("en")

    run(scenario())


async def cuff_and_core(
    tmp_path: Path, radio: VirtualRadio, clock: FakeClock
) -> tuple[BleBloodPressureSimulator, KioskCore]:
    """A simulated cuff that waits for its own button (a patient's press), and the core."""
    cuff_sim = BleBloodPressureSimulator("02:00:00:00:00:02", time_scale=0.2, auto_press_s=None)
    radio.add(cuff_sim.peripheral)
    backend = BleBackend(
        VirtualBleakClient, VirtualBleakScanner, {"radio_path": str(radio.socket_path)}
    )
    cuff = BleBloodPressureMonitor(
        "bp-1", cuff_sim.peripheral.name, backend=backend, pair=True, backoff=Backoff(0.05, 0.2)
    )
    core = await start_core(
        load_config(None),
        tmp_path,
        env={"CABIN_DB_KEY": KEY.hex()},
        clock=clock,
        instruments={"bp-1": cuff},
    )
    return cuff_sim, core


async def until(condition: Callable[[], bool], what: str, timeout_s: float = UNTIL_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


async def to_vitals(core: KioskCore, patient: PatientIdentity) -> None:
    c = core.consultation
    await c.start("fr")
    await c.choose_identify()
    await c.identify(patient)
    await c.consent(True)


def destroy_deleted_pages() -> None:
    """Run the deletions the window asked for (``deleteLater``) now."""
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)


def test_a_reading_taken_while_still_there_is_asked_is_kept_and_no_dead_page_is_touched(
    tmp_path: Path, qapp: QApplication, run: Runner, caplog: pytest.LogCaptureFixture
) -> None:
    """The patient pressed Start, then nothing for a while: "are you still there?" replaces the
    page, which is destroyed. The cuff's result comes after: it is the core's, kept; the dead
    page is never written to ("QLabel already deleted")."""
    caplog.set_level(logging.INFO, logger="ui")

    async def scenario() -> None:
        clock = FakeClock()
        folder = Path(tempfile.mkdtemp(dir="/tmp", prefix="radio-"))
        async with VirtualRadio(folder / "r.sock") as radio:
            cuff_sim, core = await cuff_and_core(tmp_path, radio, clock)
            languages = LanguageSwitcher(qapp)
            window = KioskWindow(core, languages)
            window.resize(1080, 1920)
            window.show()
            try:
                await to_vitals(core, PatientIdentity("Guillou", "Marie", date(1944, 6, 6)))
                page = window.page
                assert isinstance(page, VitalsPage)
                _press(button(window, "primary"))  # Start: the cuff waits for its button
                await until(lambda: core.measurements.instruments["bp-1"].measuring, "Start")
                clock.advance(core.config.session.inactivity_timeout_s + 1)
                core.session.poll()
                assert core.session.overlay is Overlay.STILL_THERE
                destroy_deleted_pages()
                assert not shiboken6.isValid(page)
                cuff_sim.press_button()  # the patient is there, and presses the cuff's button
                await until(lambda: bool(core.session.context.readings), "the reading")
                consultation_id = core.session.context.consultation_id
                assert consultation_id is not None
                assert len(await core.store.run(Store.readings, consultation_id)) == 1
                await window.intents.drain()
            finally:
                window.close()
                await window.intents.drain()
                await core.aclose()
                await cuff_sim.close()

    run(scenario())
    failures = [r for r in caplog.records if r.name.startswith("ui") and r.levelno >= logging.ERROR]
    assert failures == [], [r.getMessage() for r in failures]  # ui.intent_failed: a dead widget


def test_a_measurement_left_behind_by_a_patient_who_walked_away_never_reaches_the_next(
    tmp_path: Path, qapp: QApplication, run: Runner
) -> None:
    """Start pressed, then the patient left: their session ends, and so does the measurement.
    The cuff's late result (someone presses its button) is nobody's, not the next patient's."""

    async def scenario() -> None:
        clock = FakeClock()
        folder = Path(tempfile.mkdtemp(dir="/tmp", prefix="radio-"))
        async with VirtualRadio(folder / "r.sock") as radio:
            cuff_sim, core = await cuff_and_core(tmp_path, radio, clock)
            window = KioskWindow(core, LanguageSwitcher(qapp))
            window.resize(1080, 1920)
            window.show()
            try:
                await to_vitals(core, PatientIdentity("Guillou", "Marie", date(1944, 6, 6)))
                _press(button(window, "primary"))
                await until(lambda: core.measurements.instruments["bp-1"].measuring, "Start")
                timeouts = core.config.session
                clock.advance(timeouts.inactivity_timeout_s + 1)
                core.session.poll()
                clock.advance(timeouts.still_there_countdown_s + 1)
                core.session.poll()  # nobody answered: the session ends
                assert core.session.state is SessionState.CLEANING
                await core.consultation.cleaning_done("test")
                await to_vitals(core, PatientIdentity("Roux", "Marcel", date(1939, 11, 2)))
                cuff_sim.press_button()
                measuring = cuff_sim._measuring  # the cuff's own measurement, as it sends it
                assert measuring is not None
                await until(measuring.done, "the cuff to send its result")
                await window.intents.drain()
                assert core.session.context.readings == []
                consultation_id = core.session.context.consultation_id
                assert consultation_id is not None
                assert await core.store.run(Store.readings, consultation_id) == []
            finally:
                window.close()
                await window.intents.drain()
                await core.aclose()
                await cuff_sim.close()

    run(scenario())


def test_a_cuff_lost_before_it_began_says_it_reconnects_then_measures_by_itself(
    tmp_path: Path, qapp: QApplication, run: Runner, screens_dir: Path
) -> None:
    """Start pressed, and the cuff's link drops before it inflated: the screen says the device
    is reconnecting, and once it is back the measurement starts again by itself; the patient
    presses nothing more on the screen, and one reading is kept."""

    async def scenario() -> None:
        folder = Path(tempfile.mkdtemp(dir="/tmp", prefix="radio-"))
        async with VirtualRadio(folder / "r.sock") as radio:
            cuff_sim, core = await cuff_and_core(tmp_path, radio, FakeClock())
            languages = LanguageSwitcher(qapp)
            languages.set("fr")
            window = KioskWindow(core, languages)
            window.resize(1080, 1920)
            window.show()
            address = cuff_sim.peripheral.address

            def subscribed() -> bool:
                return cuff_sim.peripheral.is_subscribed(gatt.BLOOD_PRESSURE_MEASUREMENT)

            try:
                await to_vitals(core, PatientIdentity("Guillou", "Marie", date(1944, 6, 6)))
                _press(button(window, "primary"))  # Start: the cuff waits for its button
                await until(subscribed, "the measurement to begin")
                radio.set_link_loss(address)  # out of range before its button was pressed
                await until(lambda: "se reconnecte" in label(window, "status"), "reconnecting")
                assert not button(window, "primary").isEnabled()  # nothing to press
                assert window.grab().save(str(screens_dir / "fr-vitals-reconnecting.png"))
                radio.set_link_loss(address, lost=False)
                await until(subscribed, "the measurement to start again")
                assert label(window, "status") == "Mesure en cours…"
                cuff_sim.press_button()  # the patient presses the cuff's button, once
                await until(lambda: bool(label(window, "summary")), "the result")
                assert "Tension :" in label(window, "summary")
                assert cuff_sim.measurements == 1
                consultation_id = core.session.context.consultation_id
                assert consultation_id is not None
                assert len(await core.store.run(Store.readings, consultation_id)) == 1
            finally:
                window.close()
                await window.intents.drain()
                await core.aclose()
                await cuff_sim.close()
                languages.set("en")

    run(scenario())
