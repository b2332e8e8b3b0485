"""What the screen says when no doctor can be reached, the camera-and-microphone indicator, and
the patient's end of the call with its confirmation: on the real core, as a finger would, in
French and in English, with screenshots to look at (test-out/screens/)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import msgspec
import pytest
from PySide6.QtWidgets import QApplication, QLabel, QPushButton, QWidget

import wire
from demo.root import start_core
from kiosk.app import KioskCore
from kiosk.config import Config, load_config
from kiosk.events import DoctorAssigned
from kiosk.session_states import SessionState
from kiosk.store import DatabaseKey
from tests.kiosk.test_session import FakeClock
from tests.ui.conftest import Runner, until
from tests.ui.test_call_and_queue import to_waiting_room
from ui.kiosk_window import KioskWindow, LanguageSwitcher
from ui.media_indicator import MediaIndicator, last_seen_text
from ui.scripted_demo import _press

KEY = DatabaseKey.generate()
S = SessionState
PARIS = ZoneInfo("Europe/Paris")
NOW = datetime(2026, 12, 7, 17, 0, tzinfo=UTC)
SEEN = datetime(2026, 12, 7, 13, 5, tzinfo=UTC)  # 14 h 05 in Paris


class Screen:
    def __init__(self, core: KioskCore, window: KioskWindow, languages: LanguageSwitcher):
        self.core, self.window, self.languages = core, window, languages

    def texts(self) -> str:
        return "\n".join(w.text() for w in self.window.findChildren(QLabel) if w.isVisible())

    def button(self, name: str) -> QPushButton:
        found = [b for b in self.window.findChildren(QPushButton, name) if b.isVisible()]
        assert len(found) == 1, name
        return found[0]

    def indicator_shown(self) -> bool:
        indicator = self.window.findChild(MediaIndicator, "media_indicator")
        assert indicator is not None
        return indicator.isVisible()

    async def close(self) -> None:
        self.window.close()
        await self.window.intents.drain()
        await self.core.aclose()
        self.languages.set("en")


async def screen(
    app: QApplication, folder: Path, language: str, clock: FakeClock, config: Config | None = None
) -> Screen:
    core = await start_core(
        config or load_config(None),
        folder,
        env={"CABIN_DB_KEY": KEY.hex()},
        clock=clock,
        instruments={},
    )
    languages = LanguageSwitcher(app)
    languages.set(language)
    window = KioskWindow(core, languages)
    window.zone, window.now = PARIS, lambda: NOW
    window.resize(1080, 1920)
    window.show()
    return Screen(core, window, languages)


def shoot(widget: QWidget, path: Path) -> None:
    assert widget.grab().save(str(path))


@pytest.mark.parametrize("language", ["fr", "en"])
def test_the_idle_screen_online_then_without_the_hub(
    tmp_path: Path, qapp: QApplication, run: Runner, screens_dir: Path, language: str
) -> None:
    """Online: the welcome, the indicator and the honest line on what watches the cabin. Once
    the hub has been away for the grace: no doctor, what to do, and when it was last there."""
    words = {
        "fr": (
            "Bienvenue",
            "Aucun médecin disponible",
            "appelez le 15 ou le 112",
            "Dernière connexion : aujourd\u2019hui à 14 h 05",
            "aucune image ni aucun son ne la quitte",
            "Caméra et micro actifs",
        ),
        "en": (
            "Welcome",
            "No doctor available",
            "call 15 or 112",
            "Last connection: today at 14:05",
            "no image and no sound leaves it",
            "Camera and microphone on",
        ),
    }[language]
    welcome, unavailable, emergency, last, privacy, indicator = words

    async def scenario() -> None:
        clock = FakeClock()
        cabin = await screen(qapp, tmp_path, language, clock)
        try:
            service = cabin.core.doctor_service
            assert service is not None and service.reachable
            assert cabin.indicator_shown()  # distress detection watches: always on
            shown = cabin.texts()
            assert welcome in shown and privacy in shown and indicator in shown
            assert unavailable not in shown
            shoot(cabin.window, screens_dir / f"{language}-idle-online.png")

            clock.advance(59)  # no hub credential here: it never comes up
            service.poll()
            assert welcome in cabin.texts()
            service.last_seen = SEEN  # as kept in the store when the hub was last there
            clock.advance(1)
            service.poll()
            await until(lambda: unavailable in cabin.texts(), "the offline notice")
            shown = cabin.texts()
            assert emergency in shown and last in shown and privacy in shown
            assert cabin.button("primary").isEnabled()  # measuring needs no hub
            shoot(cabin.window, screens_dir / f"{language}-idle-offline.png")
        finally:
            await cabin.close()

    run(scenario())


def test_a_patient_who_starts_anyway_may_print_their_measurements(
    tmp_path: Path, qapp: QApplication, run: Runner, screens_dir: Path
) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        cabin = await screen(qapp, tmp_path, "fr", clock)
        try:
            assert cabin.core.doctor_service is not None
            clock.advance(60)
            cabin.core.doctor_service.poll()
            await to_waiting_room(cabin.core)
            shown = cabin.texts()
            assert "Aucun médecin ne peut être joint" in shown
            assert "appelez le 15 ou le 112" in shown
            shoot(cabin.window, screens_dir / "fr-waiting-room-no-doctor.png")
            _press(cabin.button("primary"))  # "Imprimer mes mesures"
            await until(lambda: cabin.core.session.state is S.CLOSING, "closing")
        finally:
            await cabin.close()

    run(scenario())


@pytest.mark.parametrize("language", ["fr", "en"])
def test_the_indicator_on_every_page_and_the_end_of_the_call(
    tmp_path: Path, qapp: QApplication, run: Runner, screens_dir: Path, language: str
) -> None:
    """The indicator on idle, vitals and call pages; "End the call" asks first: No keeps the
    call, Yes ends it and the session goes on to closing."""
    end, question, yes, no = {
        "fr": ("Terminer l\u2019appel", "Voulez-vous vraiment terminer l\u2019appel", "Oui", "Non"),
        "en": ("End the call", "Do you really want to end the call", "Yes", "No"),
    }[language]

    async def scenario() -> None:
        cabin = await screen(qapp, tmp_path, language, FakeClock())
        try:
            shoot(cabin.window, screens_dir / f"{language}-indicator-idle.png")
            c = cabin.core.consultation
            await c.start(language)
            await c.choose_identify()
            await to_waiting_room_from_identify(cabin.core)
            cabin.core.session.advance(S.WAITING_ROOM)
            assert cabin.indicator_shown()
            cabin.core.bus.publish(DoctorAssigned("Dr Claire Martin", "Médecine générale", None))
            cabin.core.session.advance(S.CALL)
            await asyncio.sleep(0)
            assert cabin.indicator_shown()
            button = cabin.button("end_call")
            assert button.text() == end and button.height() >= 120
            shoot(cabin.window, screens_dir / f"{language}-call-end-button.png")

            _press(button)
            await until(lambda: question in cabin.texts(), "the question")
            assert cabin.button("end_call_yes").text() == yes
            assert cabin.button("end_call_no").text() == no
            assert cabin.button("end_call_yes").height() >= 140
            shoot(cabin.window, screens_dir / f"{language}-call-end-confirm.png")
            _press(cabin.button("end_call_no"))  # a stray touch: the call goes on
            await until(lambda: question not in cabin.texts(), "the question gone")
            assert cabin.core.session.state is S.CALL

            _press(cabin.button("end_call"))
            _press(cabin.button("end_call_yes"))
            await until(lambda: cabin.core.session.state is S.CLOSING, "closing")
        finally:
            await cabin.close()

    run(scenario())


async def to_waiting_room_from_identify(core: KioskCore) -> None:
    from tests.ui.test_kiosk_window import PATIENT  # noqa: PLC0415

    await core.consultation.identify(PATIENT)
    await core.consultation.consent(True)


def test_the_indicator_on_the_vitals_page(
    tmp_path: Path, qapp: QApplication, run: Runner, screens_dir: Path
) -> None:
    async def scenario() -> None:
        cabin = await screen(qapp, tmp_path, "fr", FakeClock())
        try:
            c = cabin.core.consultation
            await c.start("fr")
            await c.choose_identify()
            await to_waiting_room_from_identify(cabin.core)
            assert cabin.core.session.state is S.VITALS
            assert cabin.indicator_shown() and "Caméra et micro actifs" in cabin.texts()
            shoot(cabin.window, screens_dir / "fr-indicator-vitals.png")
        finally:
            await cabin.close()

    run(scenario())


def test_without_distress_detection_the_idle_screen_has_no_indicator(
    tmp_path: Path, qapp: QApplication, run: Runner, screens_dir: Path
) -> None:
    """Camera and microphone closed between patients: no indicator, no line on watching; both
    on once the patient presses Start."""

    async def scenario() -> None:
        config = load_config(None)
        config = msgspec.structs.replace(
            config, distress=msgspec.structs.replace(config.distress, enabled=False)
        )
        cabin = await screen(qapp, tmp_path, "fr", FakeClock(), config)
        try:
            assert not cabin.indicator_shown()
            assert "surveille les chutes" not in cabin.texts()
            shoot(cabin.window, screens_dir / "fr-idle-distress-off.png")
            _press(cabin.button("primary"))
            await until(cabin.indicator_shown, "the indicator on with the session")
            shoot(cabin.window, screens_dir / "fr-welcome-distress-off.png")
        finally:
            await cabin.close()

    run(scenario())


def test_when_the_hub_was_last_seen_in_words(qapp: QApplication) -> None:
    del qapp
    assert last_seen_text(None, NOW, PARIS, "en") == ""
    assert last_seen_text(SEEN, NOW, PARIS, "en") == "Last connection: today at 14:05"
    yesterday = datetime(2026, 12, 6, 22, 30, tzinfo=UTC)  # 23 h 30 in Paris
    assert last_seen_text(yesterday, NOW, PARIS, "en") == "Last connection: yesterday at 23:30"
    # the cabin's time zone decides the day: 23:30 UTC on the 6th is the 7th in Paris
    late = datetime(2026, 12, 6, 23, 30, tzinfo=UTC)
    assert last_seen_text(late, NOW, PARIS, "en") == "Last connection: today at 0:30"
    older = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
    assert last_seen_text(older, NOW, PARIS, "en") == "Last connection: 28 November 2026 at 9:00"


def test_the_end_call_button_reaches_the_doctors_console(
    tmp_path: Path, qapp: QApplication, run: Runner, screens_dir: Path
) -> None:
    """A finger on "End the call", then "Yes", on a real call through a real hub: the doctor's
    console gets the cabin's `CallEnd` with "the patient ended the call", and the patient's
    session goes on to closing."""
    from tests.hub.hub_rig import TIMEOUT_S, new_id, running_hub  # noqa: PLC0415
    from tests.kiosk.test_teleconsultation import cabin_core  # noqa: PLC0415
    from tests.kiosk.test_teleconsultation import to_waiting_room as queued  # noqa: PLC0415

    async def scenario() -> None:
        async with running_hub(tmp_path) as rig:
            core = await cabin_core(tmp_path, rig.url, rig.tokens["cabin-1"])
            languages = LanguageSwitcher(qapp)
            languages.set("fr")
            window = KioskWindow(core, languages)
            window.resize(1080, 1920)
            window.show()
            cabin = Screen(core, window, languages)
            try:
                assert core.hub is not None
                await core.hub.wait_online(TIMEOUT_S)
                console = await (await rig.login("dr.a")).console()
                consultation_id = await queued(core)
                room = await console.expect(wire.WaitingRoom)
                while not room.entries:
                    room = await console.expect(wire.WaitingRoom)
                await console.send(
                    wire.TakeConsultation(msg_id=new_id(), consultation_id=consultation_id)
                )
                await until(lambda: window.call_page is not None, "the call page")
                _press(cabin.button("end_call"))
                _press(cabin.button("end_call_yes"))
                end = await console.expect(wire.CallEnd)
                assert end.consultation_id == consultation_id
                assert end.reason is wire.CallEndReason.PATIENT_ENDED
                await until(lambda: core.session.state is S.CLOSING, "closing")
                shoot(window, screens_dir / "fr-closing-after-patient-ended.png")
            finally:
                await cabin.close()

    run(scenario())
