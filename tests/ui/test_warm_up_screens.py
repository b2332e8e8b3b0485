"""The screen while the core warms up (the camera, the hub, the printer come up after the first
screen is painted): a patient starts, identifies and calls for help at once; a page that needs a
part still on its way says so, in French first, and carries on once it is up."""

from __future__ import annotations

import logging
from pathlib import Path

import msgspec
import pytest
from PySide6.QtWidgets import QApplication, QLabel, QPushButton

from demo.root import demo_wiring, open_core
from kiosk.app import KioskCore
from kiosk.config import load_config
from kiosk.events import CorePart, PartState, PrintProgress, PrintState
from kiosk.session_states import Overlay, SessionState
from kiosk.store import DatabaseKey
from tests.kiosk.test_session import FakeClock
from tests.kiosk.test_warm_up import PATIENT, Held
from tests.ui.conftest import Runner, until
from tests.ui.test_journey import Finger
from ui.kiosk_window import KioskWindow, LanguageSwitcher
from ui.scripted_demo import _press
from ui.session_runner import CabinRun, run_cabin

KEY = DatabaseKey.generate()
S = SessionState
CONNECTING = "Connexion aux médecins"
PRINTER_PREPARED = "imprimante, un instant"


class WarmingCabin:
    """The core opened, its window shown in French, its warm-up held back at ``gate``."""

    def __init__(self, core: KioskCore, window: KioskWindow, languages: LanguageSwitcher):
        self.core = core
        self.window = window
        self.languages = languages

    @classmethod
    async def open(
        cls, tmp_path: Path, app: QApplication, gate: Held, *, connect_hub: bool = True
    ) -> WarmingCabin:
        core = await open_core(
            load_config(None),
            tmp_path,
            env={"CABIN_DB_KEY": KEY.hex()},
            clock=FakeClock(),
            instruments={},
            connect_hub=connect_hub,
        )
        languages = LanguageSwitcher(app)
        languages.set("fr")
        window = KioskWindow(core, languages)
        window.resize(1080, 1920)
        window.show()
        core.start_warm_up({}, gate=gate)
        return cls(core, window, languages)

    def texts(self) -> str:
        return "\n".join(w.text() for w in self.window.findChildren(QLabel) if w.isVisible())

    async def close(self, gate: Held) -> None:
        gate.release()
        self.window.close()
        await self.window.intents.drain()
        await self.core.aclose()
        self.languages.set("en")  # the QApplication outlives the test: leave no translator


def test_a_patient_starts_identifies_and_calls_for_help_while_the_camera_opens(
    tmp_path: Path, qapp: QApplication, run: Runner, screens_dir: Path
) -> None:
    async def scenario() -> None:
        gate = Held(CorePart.MEDIA)
        cabin = await WarmingCabin.open(tmp_path, qapp, gate)
        core, session = cabin.core, cabin.core.session
        f = Finger(cabin.window, core, screens_dir)
        try:
            await gate.reached(CorePart.MEDIA)
            assert "Bienvenue" in cabin.texts()
            await f.tap("primary")  # Commencer
            await f.tap("primary")  # Continuer
            assert session.state is S.IDENTIFY
            await f.tap("walk_in")
            await f.type_into("family_name", PATIENT.family_name)
            await f.type_into("given_names", PATIENT.given_names)
            await f.type_into("birth_date", PATIENT.birth_date.strftime("%d%m%Y"))
            await f.tap("primary")
            await f.tap("sex_female")
            assert session.state is S.CONSENT
            await f.tap("primary")  # J'accepte
            assert session.state is S.VITALS
            assert core.part_state(CorePart.MEDIA) is PartState.WARMING
            # The panic button is on screen and raises the alert before any camera is watched.
            help_button = cabin.window.findChild(QPushButton, "help")
            assert help_button is not None and help_button.isVisible()
            _press(help_button)
            await cabin.window.intents.drain()
            assert session.overlay is Overlay.DISTRESS
            await until(lambda: "Restez calme" in cabin.texts(), "the calm overlay")
            f.shot("warming-up-help-called")
            assert core.part_state(CorePart.MEDIA) is PartState.WARMING
        finally:
            await cabin.close(gate)

    run(scenario())


def test_the_waiting_room_says_it_connects_until_the_call_parts_are_settled(
    tmp_path: Path, qapp: QApplication, run: Runner, screens_dir: Path
) -> None:
    async def scenario() -> None:
        gate = Held(CorePart.MEDIA, CorePart.HUB)
        cabin = await WarmingCabin.open(tmp_path, qapp, gate)
        core = cabin.core
        try:
            await gate.reached(CorePart.MEDIA)
            c = core.consultation
            await c.start("fr")
            await c.choose_identify()
            await c.identify(PATIENT)
            await c.consent(True)
            core.session.advance(S.WAITING_ROOM)
            await until(lambda: CONNECTING in cabin.texts(), "the waiting room connecting")
            assert "Un médecin va vous répondre" in cabin.texts()
            assert cabin.window.grab().save(str(screens_dir / "warming-up-waiting-room.png"))
            gate.release(CorePart.MEDIA)
            await core.ready_for(CorePart.MEDIA)
            assert CONNECTING in cabin.texts()  # the hub link is still on its way
            gate.release(CorePart.HUB)
            await core.ready_for(CorePart.HUB)  # no credential here: it will not come
            await until(lambda: CONNECTING not in cabin.texts(), "the waiting room settled")
            assert "carte Vitale" in cabin.texts()
        finally:
            await cabin.close(gate)

    run(scenario())


def test_printing_waits_for_the_printer_and_says_so(
    tmp_path: Path, qapp: QApplication, run: Runner, screens_dir: Path
) -> None:
    async def scenario() -> None:
        gate = Held(CorePart.PRINTER)
        cabin = await WarmingCabin.open(tmp_path, qapp, gate, connect_hub=False)
        core = cabin.core
        printed: list[PrintProgress] = []
        core.bus.subscribe(PrintProgress, printed.append)
        try:
            await gate.reached(CorePart.PRINTER)
            c = core.consultation
            await c.start("fr")
            await c.choose_identify()
            await c.identify(PATIENT)
            await c.consent(True)
            for state in (S.WAITING_ROOM, S.CALL, S.CLOSING):
                core.session.advance(state)
            await until(lambda: PRINTER_PREPARED in cabin.texts(), "the printer being prepared")
            assert printed == []  # nothing goes to the printer before it is prepared
            assert cabin.window.grab().save(str(screens_dir / "warming-up-printer.png"))
            gate.release()
            await until(
                lambda: any(p.state is PrintState.DONE for p in printed), "the summary printed"
            )
            await until(lambda: "Vos documents sont imprimés" in cabin.texts(), "printed")
            assert PRINTER_PREPARED not in cabin.texts()
        finally:
            await cabin.close(gate)

    run(scenario())


def test_the_cabin_paints_its_idle_page_then_warms_up_and_closes_during_it(
    tmp_path: Path,
    qapp: QApplication,
    run: Runner,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The composition root: the window is shown before the warm-up starts, and closing it
    while the warm-up runs (once the camera is up, before the hub and the printer) ends the
    run cleanly."""
    monkeypatch.setenv("CABIN_DB_KEY", KEY.hex())
    monkeypatch.delenv("CABIN_HUB_TOKEN", raising=False)
    config = msgspec.structs.replace(load_config(None), instruments=[])

    class CloseOnceTheCameraIsUp(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.getMessage().startswith("core.part_settled part=media"):
                for widget in qapp.topLevelWidgets():
                    if isinstance(widget, KioskWindow):
                        widget.close()

    closer = CloseOnceTheCameraIsUp()  # in English: no translator left to the next tests
    logging.getLogger("kiosk.app").addHandler(closer)
    caplog.set_level(logging.INFO)
    try:
        status = run(
            run_cabin(qapp, config, tmp_path, language="en", run=CabinRun(wiring=demo_wiring()))
        )
    finally:
        logging.getLogger("kiosk.app").removeHandler(closer)
    assert status == 0
    events = [r.getMessage().split()[0] for r in caplog.records]
    assert events.index("core.ready") < events.index("ui.window_shown")
    assert events.index("ui.window_shown") < events.index("core.part_settled")
    assert events.index("core.part_settled") < events.index("core.stopped")
