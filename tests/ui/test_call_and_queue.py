"""The screens that show what the hub, the call and the printer say: the place in the queue,
the doctor's video and their request for a measurement, the printing of the documents."""

from __future__ import annotations

import asyncio
from datetime import date
from importlib import resources
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtGui import QColor, QImage
from PySide6.QtWidgets import QApplication, QLabel, QPushButton

from demo.root import start_core
from devices.reading import ReadingKind
from kiosk.app import KioskCore
from kiosk.config import load_config
from kiosk.events import (
    CallLink,
    CallLinkChanged,
    DoctorAssigned,
    MeasurementRequested,
    PrescriptionReceived,
    PrintProgress,
    PrintState,
    QueueStatus,
)
from kiosk.patient import PatientIdentity
from kiosk.session_states import SessionState
from kiosk.store import DatabaseKey
from tests.kiosk.test_session import FakeClock
from tests.ui.conftest import Runner, until
from ui.call_page import CallPage
from ui.kiosk_window import KioskWindow, LanguageSwitcher
from ui.scripted_demo import _press

KEY = DatabaseKey.generate()
S = SessionState


def texts(window: KioskWindow) -> str:
    return "\n".join(w.text() for w in window.findChildren(QLabel) if w.isVisible())


async def to_waiting_room(core: KioskCore) -> None:
    c = core.consultation
    await c.start("fr")
    await c.choose_identify()
    await c.identify(PatientIdentity("Tanguy", "Rose", date(1939, 9, 9)))
    await c.consent(True)
    core.session.advance(S.WAITING_ROOM)
    await asyncio.sleep(0)


def test_queue_video_request_and_printing(
    tmp_path: Path, qapp: QApplication, run: Runner, screens_dir: Path
) -> None:
    async def scenario() -> None:
        core = await start_core(
            load_config(None), tmp_path, env={"CABIN_DB_KEY": KEY.hex()}, clock=FakeClock()
        )
        languages = LanguageSwitcher(qapp)
        languages.set("fr")
        window = KioskWindow(core, languages)
        window.resize(1080, 1920)
        window.show()
        try:
            await to_waiting_room(core)
            assert "numéro" not in texts(window)
            core.bus.publish(QueueStatus(position=3, estimated_wait_s=420))
            await asyncio.sleep(0)
            assert "Vous êtes le numéro 3" in texts(window)
            assert "environ 7 minutes" in texts(window)
            assert window.grab().save(str(screens_dir / "fr-waiting-room-queue.png"))

            core.session.advance(S.CALL)
            await asyncio.sleep(0)
            assert isinstance(window.page, CallPage)
            doctor = QImage(640, 480, QImage.Format.Format_RGB32)
            doctor.fill(QColor("#2e7d32"))
            me = QImage(320, 240, QImage.Format.Format_RGB32)
            me.fill(QColor("#6a1b9a"))
            for _ in range(3):
                window.show_remote_frame(doctor)
                window.show_local_frame(me)
            assert window.page.remote.frames == 3 and window.page.local.frames == 3
            shot = window.grab()
            assert shot.save(str(screens_dir / "fr-call-video.png"))
            remote = window.page.remote.geometry().center()
            position = window.page.mapTo(window, remote)
            assert shot.toImage().pixelColor(position).name() == "#2e7d32"

            core.bus.publish(MeasurementRequested(ReadingKind.TEMPERATURE))
            await asyncio.sleep(0)
            page = window.page
            assert isinstance(page, CallPage)
            assert "Température" in texts(window)
            start = [b for b in page.findChildren(QPushButton, "primary") if b.isVisible()]
            _press(start[0])
            await until(lambda: bool(core.session.context.readings), "the temperature")
            assert [r.kind for r in core.session.context.readings] == [ReadingKind.TEMPERATURE]
            assert window.grab().save(str(screens_dir / "fr-call-doctor-request.png"))

            core.session.advance(S.CLOSING)
            await asyncio.sleep(0)
            core.bus.publish(PrintProgress("prescription", PrintState.PRINTING, 0, 2))
            await asyncio.sleep(0)
            assert "Impression : page 1 sur 2" in texts(window)
            core.bus.publish(PrintProgress("prescription", PrintState.PAPER_OUT, 1, 2))
            await asyncio.sleep(0)
            assert "agent est prévenu" in texts(window)
            assert window.grab().save(str(screens_dir / "fr-closing-paper-out.png"))
            core.bus.publish(PrintProgress("prescription", PrintState.DONE, 2, 2))
            await asyncio.sleep(0)
            assert "prenez-les sous" in texts(window)
            assert "Température :" in texts(window)  # the summary of what was measured
        finally:
            window.close()
            await window.intents.drain()
            await core.aclose()
            languages.set("en")

    run(scenario())


@pytest.mark.parametrize("language", ["fr", "en"])
def test_the_doctor_is_named_before_the_call_and_a_cut_is_said_calmly(
    tmp_path: Path, qapp: QApplication, run: Runner, screens_dir: Path, language: str
) -> None:
    """Who the doctor is (photo, name, specialty) while the call connects; "reconnecting" when
    the link is down, gone when it is back; the doctor's frames as the call client gives them
    (RGB arrays); the prescription said at closing. In French and in English."""

    async def scenario() -> None:
        core = await start_core(
            load_config(None),
            tmp_path / language,
            env={"CABIN_DB_KEY": KEY.hex()},
            clock=FakeClock(),
        )
        languages = LanguageSwitcher(qapp)
        languages.set(language)
        window = KioskWindow(core, languages)
        window.resize(1080, 1920)
        window.show()
        try:
            await to_waiting_room(core)
            photo = (resources.files("hub") / "demo" / "doctor.png").read_bytes()
            core.bus.publish(DoctorAssigned("Dr Claire Martin", "Médecine générale", photo))
            core.session.advance(S.CALL)
            core.bus.publish(CallLinkChanged(CallLink.CONNECTING))
            await asyncio.sleep(0)
            page = window.call_page
            assert page is not None
            shown = texts(window)
            assert "Dr Claire Martin" in shown and "Médecine générale" in shown
            connecting = {"fr": "va vous recevoir", "en": "will see you"}[language]
            assert connecting in shown
            photo_label = page.findChild(QLabel, "doctor_photo")
            assert photo_label is not None and not photo_label.pixmap().isNull()
            assert window.grab().save(str(screens_dir / f"{language}-call-doctor-card.png"))

            core.bus.publish(CallLinkChanged(CallLink.CONNECTED))
            frame = np.zeros((480, 640, 3), dtype=np.uint8)
            frame[:, :, 1] = 125  # green, as Chromium's fake camera
            frame[200:280, 280:360] = (80, 255, 80)
            window._remote_array(frame)
            await asyncio.sleep(0)
            assert page.remote.frames == 1
            assert not page.link_state.isVisible()

            core.bus.publish(CallLinkChanged(CallLink.RECONNECTING))
            await asyncio.sleep(0)
            again = {"fr": "va reprendre tout seul", "en": "comes back by itself"}
            assert again[language] in texts(window)
            assert window.grab().save(str(screens_dir / f"{language}-call-reconnecting.png"))
            core.bus.publish(CallLinkChanged(CallLink.CONNECTED))
            await asyncio.sleep(0)
            assert not page.link_state.isVisible()

            consultation_id = core.session.context.consultation_id
            assert consultation_id is not None
            core.bus.publish(PrescriptionReceived(consultation_id, "RX-1", 2))
            core.session.advance(S.CLOSING)
            await asyncio.sleep(0)
            said = {"fr": "prescrit 2 médicaments", "en": "prescription of 2 medicine(s)"}
            assert said[language] in texts(window)
            core.session.advance(S.SURVEY)
            core.session.advance(S.CLEANING)
            await asyncio.sleep(0)
            assert "Dr Claire Martin" not in texts(window)
        finally:
            window.close()
            await window.intents.drain()
            await core.aclose()
            languages.set("en")

    run(scenario())
