"""The patient screen on the real core: every state in both languages, sizes, and the wipe."""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from datetime import date
from pathlib import Path

import pytest
from PySide6.QtWidgets import QApplication, QLabel, QLineEdit, QPushButton, QWidget

from demo.root import start_core
from kiosk.app import KioskCore
from kiosk.config import load_config
from kiosk.patient import PatientIdentity, Sex
from kiosk.session_states import EndReason, Overlay, SessionState
from kiosk.store import DatabaseKey, Store
from tests.kiosk.test_session import JOURNEY, FakeClock
from tests.ui.conftest import Runner, keys_shown, type_on_keys, until
from ui.i18n import ts_file
from ui.kiosk_window import KioskWindow, LanguageSwitcher
from ui.scripted_demo import _press

KEY = DatabaseKey.generate()
PATIENT = PatientIdentity("Kerhervé", "Soizic", date(1936, 2, 29))
S = SessionState


class Cabin:
    """The core and its window, built as ``ui.session_runner`` builds them."""

    def __init__(self, core: KioskCore, window: KioskWindow, languages: LanguageSwitcher):
        self.core = core
        self.window = window
        self.languages = languages

    async def close(self) -> None:
        self.window.close()
        await self.window.intents.drain()
        await self.core.aclose()
        self.languages.set("en")  # the QApplication outlives the test: leave no translator

    async def step(self, state: SessionState) -> None:
        """One move along the journey, through the real consultation where data is needed."""
        c = self.core.consultation
        if state is S.WELCOME:
            await c.start(self.languages.language)
        elif state is S.IDENTIFY:
            await c.choose_identify()
        elif state is S.CONSENT:
            await c.identify(PATIENT)
        elif state is S.VITALS:
            await c.consent(True)
        elif state is S.CLEANING:
            self.core.session.end(EndReason.COMPLETED)
        else:
            self.core.session.advance(state)
        await asyncio.sleep(0)

    def page(self) -> QWidget:
        page = self.window.page
        assert page is not None
        return page

    def texts(self) -> list[str]:
        return [w.text() for w in self.window.findChildren(QLabel) if w.isVisible()] + [
            w.text() for w in self.window.findChildren(QPushButton) if w.isVisible()
        ]


async def make(tmp_path: Path, app: QApplication, language: str) -> Cabin:
    core = await start_core(
        load_config(None),
        tmp_path,
        env={"CABIN_DB_KEY": KEY.hex()},
        clock=FakeClock(),
        instruments={},
    )
    languages = LanguageSwitcher(app)
    languages.set(language)
    window = KioskWindow(core, languages)
    window.resize(1080, 1920)
    window.show()
    return Cabin(core, window, languages)


def test_every_french_string_is_translated() -> None:
    tree = ET.parse(ts_file("fr"))
    unfinished = [
        m.findtext("source")
        for m in tree.iter("message")
        if (t := m.find("translation")) is not None
        and (t.get("type") == "unfinished" or not "".join(t.itertext()).strip())
    ]
    assert unfinished == []


@pytest.mark.parametrize("size", [(1080, 1920), (1920, 1080)], ids=["portrait", "landscape"])
@pytest.mark.parametrize("language", ["fr", "en"])
def test_every_screen_in_both_languages(
    tmp_path: Path,
    qapp: QApplication,
    run: Runner,
    screens_dir: Path,
    language: str,
    size: tuple[int, int],
) -> None:
    orientation = "portrait" if size[0] < size[1] else "landscape"
    english = {"Start", "Continue", "Stop", "Done", "Leave", "I am fine", "Good", "I agree"}

    def check(cabin: Cabin, name: str) -> None:
        texts = cabin.texts()
        assert len(texts) >= 3, name
        if language == "fr":
            assert not english & set(texts), (name, texts)
        shot = screens_dir / f"{orientation}-{language}-{name}.png"
        assert cabin.window.grab().save(str(shot))

    async def scenario() -> None:
        # One run of the loop for the whole scenario: between two runs qasync processes Qt's
        # events with no asyncio loop running, and the core's tasks fail there.
        cabin = await make(tmp_path, qapp, language)
        cabin.window.resize(*size)
        try:
            check(cabin, "idle")
            for state in JOURNEY[1:]:
                await cabin.step(state)
                assert cabin.core.session.state is state
                check(cabin, state.value)
            cabin.core.session.enter_assistant()
            check(cabin, "assistant")
            cabin.core.session.leave_assistant()
            cabin.core.session.raise_distress("alert-1")
            check(cabin, "distress")
        finally:
            await cabin.close()

    run(scenario())


def test_sizes_for_poor_sight_and_large_fingers(
    tmp_path: Path, qapp: QApplication, run: Runner
) -> None:
    async def scenario() -> None:
        cabin = await make(tmp_path, qapp, "fr")
        try:
            for state in JOURNEY[:5]:
                if state is not S.IDLE:
                    await cabin.step(state)
                for label in cabin.page().findChildren(QLabel):
                    minimum = 48 if label.objectName() == "title" else 32
                    assert label.font().pixelSize() >= minimum, label.text()
                for button in cabin.page().findChildren(QPushButton):
                    assert button.height() >= 120, button.text()
                for field in cabin.page().findChildren(QLineEdit):
                    assert field.font().pixelSize() >= 32
        finally:
            await cabin.close()

    run(scenario())


def shown(cabin: Cabin, kind: type[QWidget], name: str) -> list[QWidget]:
    return [w for w in cabin.page().findChildren(kind, name) if w.isVisible()]


def visible(cabin: Cabin, kind: type[QWidget], name: str) -> QWidget:
    found = shown(cabin, kind, name)
    assert len(found) == 1, (name, found)
    return found[0]


async def appears(cabin: Cabin, kind: type[QWidget], name: str) -> QWidget:
    await until(lambda: len(shown(cabin, kind, name)) == 1, f"{name} on the screen")
    return visible(cabin, kind, name)


async def type_with_keys(cabin: Cabin, field: str, text: str) -> None:
    """Tap the field, then the on-screen keys, as a finger would."""
    line = await appears(cabin, QLineEdit, field)
    assert isinstance(line, QLineEdit)
    await type_on_keys(cabin.page(), line, text)


async def fill_identity(
    cabin: Cabin, family: str, given: str, birth: str, *, then_sex: bool = True
) -> None:
    _press(await appears(cabin, QPushButton, "walk_in"))
    await type_with_keys(cabin, "family_name", family)
    await type_with_keys(cabin, "given_names", given)
    await type_with_keys(cabin, "birth_date", birth.replace("/", ""))
    _press(visible(cabin, QPushButton, "primary"))
    await cabin.window.intents.drain()
    if then_sex:
        _press(await appears(cabin, QPushButton, "sex_unknown"))  # one may not answer


def test_the_patient_says_their_sex_for_the_prescription(
    tmp_path: Path, qapp: QApplication, run: Runner, screens_dir: Path
) -> None:
    async def scenario() -> None:
        cabin = await make(tmp_path, qapp, "fr")
        try:
            await cabin.step(S.WELCOME)
            await cabin.step(S.IDENTIFY)
            _press(await appears(cabin, QPushButton, "walk_in"))
            await type_with_keys(cabin, "family_name", "Riou")
            await type_with_keys(cabin, "given_names", "Annick")
            await type_with_keys(cabin, "birth_date", "03041944")
            _press(visible(cabin, QPushButton, "primary"))
            await appears(cabin, QPushButton, "sex_female")
            assert cabin.core.session.state is S.IDENTIFY  # one question more
            assert cabin.window.grab().save(str(screens_dir / "fr-identify-sex.png"))
            _press(visible(cabin, QPushButton, "back"))  # back: what was typed is kept
            family, birth = [
                await appears(cabin, QLineEdit, n) for n in ("family_name", "birth_date")
            ]
            assert isinstance(family, QLineEdit) and isinstance(birth, QLineEdit)
            assert (family.text(), birth.text()) == ("RIOU", "03/04/1944")
            _press(visible(cabin, QPushButton, "primary"))
            _press(await appears(cabin, QPushButton, "sex_female"))
            await cabin.window.intents.drain()
            assert cabin.core.session.state is S.CONSENT
            patient = cabin.core.session.context.patient
            assert patient is not None and patient.sex is Sex.FEMALE
        finally:
            await cabin.close()

    run(scenario())


def test_a_finger_through_identify_and_consent_then_nothing_survives(
    tmp_path: Path, qapp: QApplication, run: Runner
) -> None:
    async def scenario() -> None:
        cabin = await make(tmp_path, qapp, "fr")
        try:
            await cabin.step(S.WELCOME)
            await cabin.step(S.IDENTIFY)
            await fill_identity(cabin, PATIENT.family_name, PATIENT.given_names, "29/02/1936")
            await cabin.window.intents.drain()
            assert cabin.core.session.state is S.CONSENT
            _press(visible(cabin, QPushButton, "primary"))
            await cabin.window.intents.drain()
            assert cabin.core.session.state is S.VITALS
            assert await cabin.core.store.run(Store.count, "consultations") == 1
            _press(visible(cabin, QPushButton, "stop"))
            await cabin.window.intents.drain()
            assert cabin.core.session.state is S.CLEANING
            assert cabin.core.session.overlay is Overlay.NONE
            secrets = (PATIENT.family_name.upper(), PATIENT.given_names.upper(), "1936")

            def surviving() -> list[str]:
                every_text = [w.text() for w in cabin.window.findChildren(QLabel)] + [
                    w.text() for w in cabin.window.findChildren(QLineEdit)
                ]
                return [s for s in secrets if any(s in text.upper() for text in every_text)]

            # The old pages are deleted by the event loop (deleteLater), soon but not at once.
            await until(lambda: not surviving(), "the patient's data gone from every widget")
        finally:
            await cabin.close()

    run(scenario())


def test_a_wrong_birth_date_is_said_not_crashed(
    tmp_path: Path, qapp: QApplication, run: Runner
) -> None:
    async def scenario() -> None:
        cabin = await make(tmp_path, qapp, "en")
        try:
            await cabin.step(S.WELCOME)
            await cabin.step(S.IDENTIFY)
            await fill_identity(cabin, "Le Du", "Job", "31/02/1950", then_sex=False)
            await cabin.window.intents.drain()
            assert cabin.core.session.state is S.IDENTIFY
            assert "Please check your name and your date of birth." in cabin.texts()
        finally:
            await cabin.close()

    run(scenario())


def test_the_contrast_button_switches_the_whole_screen(
    tmp_path: Path, qapp: QApplication, run: Runner, screens_dir: Path
) -> None:
    async def scenario() -> None:
        cabin = await make(tmp_path, qapp, "fr")
        try:
            before = cabin.window.grab().toImage()
            [contrast] = [  # without a speaker the mute button is hidden: contrast is alone
                b for b in cabin.window.findChildren(QPushButton, "toolbar") if b.isVisible()
            ]
            _press(contrast)
            await until(lambda: cabin.window.theme.name == "high-contrast", "the contrast theme")
            after = cabin.window.grab()
            assert after.save(str(screens_dir / "portrait-fr-idle-high-contrast.png"))
            assert after.toImage() != before
            assert after.toImage().pixelColor(5, 5).name() == "#000000"
        finally:
            await cabin.close()

    run(scenario())


@pytest.mark.parametrize("size", [(1080, 1920), (1920, 1080)], ids=["portrait", "landscape"])
def test_every_key_is_a_120_px_target(
    tmp_path: Path, qapp: QApplication, run: Runner, screens_dir: Path, size: tuple[int, int]
) -> None:
    async def scenario() -> None:
        cabin = await make(tmp_path, qapp, "fr")
        cabin.window.resize(*size)
        try:
            await cabin.step(S.WELCOME)
            await cabin.step(S.IDENTIFY)
            _press(await appears(cabin, QPushButton, "walk_in"))
            for name, key, other in (("family_name", "A", "7"), ("birth_date", "7", "A")):
                _press(await appears(cabin, QLineEdit, name))  # the letters, then the digits

                def switched(key: str = key, other: str = other) -> bool:
                    keys = keys_shown(cabin.page())
                    return key in keys and other not in keys

                await until(switched, f"the keys for {name}")
                buttons = [b for b in cabin.window.findChildren(QPushButton) if b.isVisible()]
                assert len(buttons) > 10
                for button in buttons:
                    assert button.width() >= 120 and button.height() >= 120, (
                        button.text(),
                        button.size(),
                    )
                orientation = "portrait" if size[0] < size[1] else "landscape"
                shot = screens_dir / f"{orientation}-fr-identify-{name}.png"
                assert cabin.window.grab().save(str(shot))
        finally:
            await cabin.close()

    run(scenario())
