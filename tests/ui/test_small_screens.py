"""The pages on screens smaller than the ones they are drawn for (1080x1920, 1920x1080): cage's
headless 1280x720 output, a cabin PC's 1366x768 or 1280x800 panel. The window shrinks every size
to its screen (KioskWindow.scale), and no button or text is cut off: on the real core, in French,
with screenshots to look at (test-out/screens/small-*.png)."""

from __future__ import annotations

import asyncio
import tempfile
from datetime import date
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, QRect
from PySide6.QtWidgets import QApplication, QLabel, QLineEdit, QPushButton, QWidget

from kiosk.events import DoctorAssigned
from kiosk.patient import PatientIdentity
from kiosk.session_states import SessionState
from simulators.ble.radio import VirtualRadio
from tests.kiosk.test_session import FakeClock
from tests.ui.conftest import Runner, keys_shown, until
from tests.ui.test_doctor_service_screens import NOW, PARIS, SEEN
from tests.ui.test_vitals_page import cuff_and_core
from ui.illustrations import InstrumentPicture
from ui.kiosk_window import KioskWindow, LanguageSwitcher, fit_scale
from ui.scripted_demo import _press
from ui.theme import CALM, HIGH_CONTRAST, scaled

S = SessionState
PATIENT = PatientIdentity("Kerhervé", "Soizic", date(1936, 2, 29))


def test_the_scale_of_a_screen() -> None:
    assert fit_scale(1080, 1920) == 1.0 and fit_scale(1920, 1080) == 1.0
    assert fit_scale(2560, 1440) == 1.0  # a larger screen: the reference sizes, not larger
    assert fit_scale(1280, 720) == 0.67
    assert fit_scale(1366, 768) == 0.71
    assert fit_scale(1280, 800) == 0.67  # the width is the limit
    assert fit_scale(720, 1280) == 0.67  # portrait against 1080x1920
    assert fit_scale(640, 480) == 0.55  # never smaller than readable
    assert fit_scale(0, 0) == 1.0  # not laid out yet


def test_the_style_sheet_scales_every_size() -> None:
    for theme in (CALM, HIGH_CONTRAST):
        assert theme.stylesheet(1.0) == theme.stylesheet()
        small = theme.stylesheet(0.67)
        assert "font-size: 36px" in theme.stylesheet() and "font-size: 24px" in small
        assert "min-height: 120px" in theme.stylesheet() and "min-height: 80px" in small
        assert "border: 2px solid" in small
        assert "border: 1px solid" in theme.stylesheet(0.1)  # a border stays drawn
        assert "padding: 0 16px" in theme.stylesheet() and "padding: 0 11px" in small
    assert scaled(1, 0.2) == 1 and scaled(0, 0.5) == 0 and scaled(120, 0.55) == 66


def clipped(window: KioskWindow) -> list[str]:
    """Every visible button, text, field or picture that does not lie whole inside the window,
    or whose text needs more room than it has."""
    inside = window.rect()
    problems = []
    for widget in window.findChildren(QWidget):
        if not widget.isVisible() or not isinstance(
            widget, QLabel | QPushButton | QLineEdit | InstrumentPicture
        ):
            continue
        name = f"{type(widget).__name__} {widget.objectName()!r}"
        text = widget.text() if isinstance(widget, QLabel | QPushButton | QLineEdit) else ""
        where = QRect(widget.mapTo(window, QPoint(0, 0)), widget.size())
        if not inside.contains(where):
            problems.append(f"{name} {text!r} at {where} outside {inside}")
        if isinstance(widget, QLabel) and text and widget.pixmap().isNull():
            needs = (
                widget.heightForWidth(widget.width())
                if widget.wordWrap()
                else widget.sizeHint().height()
            )
            if needs > widget.height():
                problems.append(f"{name} {text!r} needs {needs} px high, has {widget.height()}")
        if isinstance(widget, QPushButton):
            hint = widget.minimumSizeHint()
            wide = widget.fontMetrics().horizontalAdvance(widget.text())
            if hint.height() > widget.height() or wide > widget.width():
                problems.append(f"{name} {text!r} needs {hint.height()} px high, {wide} wide")
    return problems


@pytest.mark.parametrize("size", [(1280, 720), (1366, 768), (1280, 800)], ids=str)
def test_every_page_fits_a_small_screen(
    tmp_path: Path,
    qapp: QApplication,
    run: Runner,
    screens_dir: Path,
    size: tuple[int, int],
) -> None:
    width, height = size

    async def scenario() -> None:
        folder = Path(tempfile.mkdtemp(dir="/tmp", prefix="radio-"))
        clock = FakeClock()
        async with VirtualRadio(folder / "r.sock") as radio:
            cuff_sim, core = await cuff_and_core(tmp_path, radio, clock)
            languages = LanguageSwitcher(qapp)
            languages.set("fr")
            window = KioskWindow(core, languages)
            window.zone, window.now = PARIS, lambda: NOW
            window.resize(width, height)
            window.show()

            def texts() -> str:
                return "\n".join(w.text() for w in window.findChildren(QLabel) if w.isVisible())

            def button(name: str) -> QPushButton:
                found = [b for b in window.findChildren(QPushButton, name) if b.isVisible()]
                assert len(found) == 1, name
                return found[0]

            def check(page: str) -> None:
                layout = window.layout()
                assert layout is not None
                layout.activate()  # as the loop does before it paints: the page just built
                assert window.grab().save(str(screens_dir / f"small-{width}x{height}-{page}.png"))
                assert (window.width(), window.height()) == size, page  # not grown past it
                assert clipped(window) == [], page

            try:
                assert window.scale == fit_scale(width, height) < 1.0
                check("idle")
                _press(button("agent"))  # the agents' PIN, on its keypad
                await until(lambda: "Mode assistant" in texts(), "the PIN page")
                check("pin")
                _press(button("cancel"))
                await until(lambda: "Bienvenue dans la cabine" in texts(), "the welcome again")
                service = core.doctor_service
                assert service is not None
                service.last_seen = SEEN
                clock.advance(60)  # no hub here: the grace runs out
                service.poll()
                await until(lambda: "Aucun médecin disponible" in texts(), "the offline notice")
                check("idle-offline")

                c = core.consultation
                await c.start("fr")
                await c.choose_identify()
                check("identify-choice")
                _press(button("primary"))  # "I have an appointment code": its keypad
                await until(lambda: "0" in keys_shown(window), "the code's keypad")
                check("identify-code")
                _press(button("back"))
                await until(lambda: "0" not in keys_shown(window), "the choice again")
                _press(button("walk_in"))
                for field, key in (("family_name", "A"), ("birth_date", "7")):
                    lines = [w for w in window.findChildren(QLineEdit, field) if w.isVisible()]
                    assert len(lines) == 1, field
                    _press(lines[0])

                    def shown(key: str = key) -> bool:
                        return key in keys_shown(window)

                    await until(shown, f"the keys for {field}")
                    check(f"identify-{field}")

                await c.identify(PATIENT)
                await c.consent(True)
                assert core.session.state is S.VITALS
                await until(lambda: "Tension" in texts(), "the blood pressure's page")
                await until(  # drawn one turn of the loop after the page
                    lambda: any(p.isVisible() for p in window.findChildren(InstrumentPicture)),
                    "the cuff's picture",
                )
                check("vitals")

                core.session.advance(S.WAITING_ROOM)
                core.bus.publish(DoctorAssigned("Dr Claire Martin", "Médecine générale", None))
                core.session.advance(S.CALL)
                await asyncio.sleep(0)
                check("call")
                _press(button("end_call"))
                await until(lambda: "terminer l\u2019appel" in texts(), "the question")
                check("call-end-confirm")
            finally:
                window.close()
                await window.intents.drain()
                await core.aclose()
                await cuff_sim.close()
                languages.set("en")

    run(scenario())
