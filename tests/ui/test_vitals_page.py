"""The guided measurement on screen, with a real simulated cuff on the virtual radio: the live
pressure, a problem said as an instruction, Retry, and the result in words with its units."""

from __future__ import annotations

import asyncio
import tempfile
from datetime import date
from pathlib import Path

from PySide6.QtWidgets import QApplication, QLabel, QPushButton

from devices.drivers.ble_blood_pressure import BleBloodPressureMonitor
from devices.drivers.ble_instrument import BleBackend
from devices.instrument import Backoff
from devices.transports.virtual_ble import VirtualBleakClient, VirtualBleakScanner
from kiosk.app import start_core
from kiosk.config import load_config
from kiosk.patient import PatientIdentity
from kiosk.session_states import SessionState
from kiosk.store import DatabaseKey, Store
from simulators.ble.instruments import BleBloodPressureSimulator
from simulators.ble.radio import VirtualRadio
from simulators.faults import Fault
from tests.kiosk.test_session import FakeClock
from tests.ui.conftest import Runner
from ui.kiosk_window import KioskWindow, LanguageSwitcher
from ui.scripted_demo import _press

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
