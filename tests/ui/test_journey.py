"""A whole journey by taps on the real screen, with the demo cabin's simulated instruments:
identify on the keyboard, a cuff fault then Retry, a skipped thermometer, a real SpO2, the call,
the survey, cleaning; then a patient who walks away, and a distress alert handled from the
assistant mode after a wrong and a right PIN."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

from PySide6.QtWidgets import QApplication, QLabel, QLineEdit, QPushButton, QWidget

from demo.root import simulated_cabin, start_core
from kiosk.app import KioskCore
from kiosk.config import load_config
from kiosk.session_states import Overlay, SessionState
from kiosk.store import DatabaseKey, Store
from kiosk.visit_reasons import VisitReason
from simulators.ble.instruments import BleBloodPressureSimulator
from simulators.faults import Fault
from tests.kiosk.test_session import FakeClock
from tests.ui.conftest import UNTIL_S, Runner, type_on_keys, until
from ui.kiosk_window import KioskWindow, LanguageSwitcher
from ui.scripted_demo import _press

KEY = DatabaseKey.generate()
S = SessionState


class Finger:
    def __init__(self, window: KioskWindow, core: KioskCore, shots: Path) -> None:
        self.window = window
        self.core = core
        self.shots = shots

    def _shown(self, name: str, kind: type[QWidget] = QPushButton) -> bool:
        page = self.window.page
        return page is not None and any(w.isVisible() for w in page.findChildren(kind, name))

    def _visible(self, name: str, kind: type[QWidget] = QPushButton) -> QWidget:
        page = self.window.page
        assert page is not None
        found = [w for w in page.findChildren(kind, name) if w.isVisible()]
        assert found, f"no {name!r} on {self.core.session.state.value}"
        return found[0]

    async def tap(self, name: str) -> None:
        await until(lambda: self._shown(name), f"{name!r} on {self.core.session.state.value}")
        _press(self._visible(name))
        await self.window.intents.drain()

    async def keys(self, text: str) -> None:
        page = self.window.page
        assert page is not None
        keys = {
            k.property("key"): k for k in page.findChildren(QPushButton, "key") if k.isVisible()
        }
        for char in text.upper():
            _press(keys["␣" if char == " " else char])

    async def type_into(self, field: str, text: str) -> None:
        await until(lambda: self._shown(field, QLineEdit), f"the field {field}")
        line = self._visible(field, QLineEdit)
        assert isinstance(line, QLineEdit) and self.window.page is not None
        await type_on_keys(self.window.page, line, text)

    def text(self, name: str) -> str:
        return cast(QLabel, self._visible(name, QLabel)).text()

    async def until(
        self, condition: Callable[[], bool], what: str, timeout_s: float = UNTIL_S
    ) -> None:
        await until(condition, what, timeout_s)

    def shot(self, name: str) -> None:
        assert self.window.grab().save(str(self.shots / f"journey-{name}.png"))


def test_a_whole_journey_by_taps(
    tmp_path: Path, qapp: QApplication, run: Runner, screens_dir: Path
) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        core = await start_core(
            load_config(None), tmp_path, env={"CABIN_DB_KEY": KEY.hex()}, clock=clock
        )
        simulators = simulated_cabin(core)
        languages = LanguageSwitcher(qapp)
        languages.set("fr")
        window = KioskWindow(core, languages)
        window.resize(1080, 1920)
        window.show()
        f = Finger(window, core, screens_dir)
        session = core.session
        try:
            # --- identify, consent ----------------------------------------------------------
            await f.tap("primary")
            await f.tap("primary")
            assert session.state is S.IDENTIFY
            await f.tap("walk_in")
            await f.type_into("family_name", "Le Bihan")
            await f.type_into("given_names", "Yvon")
            await f.type_into("birth_date", "01021937")
            await f.tap("primary")
            await f.tap("sex_male")
            assert session.state is S.CONSENT
            await f.tap("primary")
            assert session.state is S.VITALS
            # --- the cuff says it is loose; tightened, Retry gives the reading -------------
            simulators.ble["bp-1"].faults.add(Fault.CUFF_ERROR)
            await f.tap("primary")
            await f.until(lambda: "trop lâche" in f.text("status"), "the cuff instruction")
            f.shot("cuff-loose")
            simulators.ble["bp-1"].faults.clear()
            await f.tap("primary")  # Réessayer
            await f.until(lambda: len(session.context.readings) == 1, "a blood pressure")
            # --- the thermometer is skipped, the oximeter measures -------------------------
            await f.until(lambda: "Température" in f.text("title"), "the thermometer's page")
            await f.tap("skip")
            assert "Oxygène" in f.text("title")
            await f.tap("primary")
            await f.until(lambda: len(session.context.readings) == 2, "an SpO2", 45)
            await f.until(lambda: f._shown("summary", QLabel), "the summary of the measurements")
            summary = f.text("summary")
            assert "mmHg" in summary and "Oxygène" in summary and "Température" not in summary
            f.shot("vitals-done")
            await f.tap("finish")
            assert session.state is S.VITALS  # first: why the patient comes
            f.shot("reason")
            await f.tap("reason_fever")
            assert session.state is S.WAITING_ROOM
            assert session.context.reason is VisitReason.FEVER
            # --- the doctor's part (tests/e2e plays it with the hub), then the last taps ----
            session.advance(S.CALL)
            session.advance(S.CLOSING)
            await asyncio.sleep(0)
            await f.tap("primary")
            await f.tap("good")
            assert session.state is S.CLEANING
            consultation_readings = await core.store.run(Store.count, "readings")
            assert consultation_readings == 2
            await f.tap("primary")
            assert session.state is S.IDLE
            secrets = ("BIHAN", "YVON", "1937", "mmHg", "%")

            def surviving() -> list[str]:
                every_text = [w.text() for w in window.findChildren(QLabel)] + [
                    w.text() for w in window.findChildren(QLineEdit)
                ]
                return [s for s in secrets if any(s in text.upper() for text in every_text)]

            # The old pages are deleted by the event loop (deleteLater), soon but not at once.
            await f.until(lambda: not surviving(), "the patient's data gone from every widget")
            f.shot("idle-after-wipe")
            # --- a patient who walks away: asked, then wiped --------------------------------
            await f.tap("primary")
            assert session.state is S.WELCOME
            clock.advance(core.config.session.inactivity_timeout_s + 1)
            session.poll()
            await asyncio.sleep(0)
            assert session.overlay is Overlay.STILL_THERE
            f.shot("still-there")
            clock.advance(core.config.session.still_there_countdown_s + 1)
            session.poll()
            assert (session.state, session.overlay) == (S.IDLE, Overlay.NONE)
            # --- a distress alert, handled by the agent after a wrong PIN --------------------
            await core.store.run(
                Store.add_alert, "alert-7", "panic_button", "critical", datetime.now(UTC), 1.0, None
            )
            session.raise_distress("alert-7")
            await asyncio.sleep(0)
            await f.tap("agent")
            await f.keys("0000")
            await f.tap("primary")
            await f.until(lambda: "4" in f.text("pin_message"), "the tries left")
            f.shot("wrong-pin")
            await f.keys("2468")
            await f.tap("primary")
            await f.until(lambda: session.overlay is Overlay.ASSISTANT, "the assistant mode")
            await f.tap("tab_alerts")
            await f.tap("false_alert-7")  # once the alert's buttons are shown
            await f.until(lambda: not f._shown("false_alert-7"), "the alert handled")
            f.shot("assistant-alert-handled")
            spare = BleBloodPressureSimulator("02:CA:B1:00:09:02", "SIM-SPARE-CUFF")
            assert simulators.radio is not None
            simulators.radio.add(spare.peripheral)  # a new cuff, switched on, not yet paired
            await f.tap("tab_devices")
            await f.tap("pair_bp-1")

            def choices() -> list[QPushButton]:
                page = window.page
                buttons = page.findChildren(QPushButton) if page is not None else []
                return [b for b in buttons if b.objectName().startswith("choose_")]

            await f.until(lambda: bool(choices()), "the devices found nearby", 15)
            assert [b.objectName() for b in choices()] == ["choose_02:CA:B1:00:09:02"]
            f.shot("assistant-pairing")
            await f.tap("leave")
            await f.until(lambda: session.overlay is Overlay.NONE, "the alert cleared")
            [alert] = await core.assistant.alert_history()
            assert alert.false_alarm is True and alert.acknowledged_by == "agent"
        finally:
            window.close()
            await window.intents.drain()
            await core.aclose()
            languages.set("en")

    run(scenario())
