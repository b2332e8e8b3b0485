"""The appointment code at the cabin, by taps on the real screen: the keypad, a wrong code, the
greeting by name and the birth date, a wrong birth date, the keypad's pause, in French and
English. The code is checked against today's list as the hub syncs it (the hub away); the hub's
own answers are tested in tests/hub/test_code_check.py and measured in bench/bench_ui.py."""

from __future__ import annotations

import base64
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from PySide6.QtWidgets import QApplication, QLabel, QLineEdit, QPushButton, QWidget

import wire
from demo.root import start_core
from hub.booking import Appointment, AppointmentStatus, BookingChannel
from hub.schedule import CabinCalendar
from kiosk.app import KioskCore
from kiosk.appointments import PAUSE_S
from kiosk.config import load_config
from kiosk.session_states import SessionState
from kiosk.store import DatabaseKey, Store
from tests.hub.hub_rig import TIMEOUT_S, running_hub
from tests.kiosk.test_session import FakeClock
from tests.kiosk.test_teleconsultation import cabin_core
from tests.ui.conftest import Runner, until
from ui.kiosk_window import KioskWindow, LanguageSwitcher
from ui.scripted_demo import _press

KEY = DatabaseKey.generate()
CODE = "482913"
JEANNE = wire.PatientSummary(
    family_name="Martin", given_names="Jeanne", birth_date=date(1944, 5, 2)
)


def todays_list(now: datetime) -> wire.TodaysAppointments:
    salt = b"sixteen-byte-slt"
    starts = now.replace(minute=0, second=0, microsecond=0) + timedelta(minutes=15)
    return wire.TodaysAppointments(
        msg_id="sync-1",
        day=now.astimezone(ZoneInfo("Europe/Paris")).date(),  # the cabin's day, not UTC's
        timezone="Europe/Paris",
        entries=[
            wire.TodaysAppointment(
                appointment_id="ap-1",
                code_salt=base64.b64encode(salt).decode(),
                code_hash=base64.b64encode(wire.appointment_code_hash(CODE, salt, 1000)).decode(),
                code_iterations=1000,
                patient=JEANNE,
                starts_at=starts,
                ends_at=starts + timedelta(minutes=15),
                valid_from=now - timedelta(minutes=5),
                valid_until=now + timedelta(hours=6),
                doctor="dr.a",
                doctor_name="Dr Claire Aubrac",
            )
        ],
    )


class Finger:
    def __init__(self, window: KioskWindow, core: KioskCore, shots: Path, language: str) -> None:
        self.window, self.core, self.shots, self.language = window, core, shots, language

    def shown(self, name: str, kind: type[QWidget] = QPushButton) -> list[QWidget]:
        page = self.window.page
        return [] if page is None else [w for w in page.findChildren(kind, name) if w.isVisible()]

    async def tap(self, name: str) -> None:
        await until(lambda: bool(self.shown(name)), f"{name!r}")
        _press(self.shown(name)[0])
        await self.window.intents.drain()

    async def digits(self, text: str) -> None:
        page = self.window.page
        assert page is not None
        keys = {
            k.property("key"): k for k in page.findChildren(QPushButton, "key") if k.isVisible()
        }
        for char in text:
            _press(keys[char])

    def label(self, name: str) -> str:
        found = self.shown(name, QLabel)
        assert found, name
        label = found[0]
        assert isinstance(label, QLabel)
        return label.text()

    def every_text(self) -> str:
        return " ".join(
            [w.text() for w in self.window.findChildren(QLabel) if w.isVisible()]
            + [w.text() for w in self.window.findChildren(QLineEdit) if w.isVisible()]
        )

    def shot(self, name: str) -> None:
        path = self.shots / f"appointment-{name}-{self.language}.png"
        assert self.window.grab().save(str(path))


@pytest.mark.parametrize("language", ["fr", "en"])
def test_a_code_greets_the_patient_by_name_and_asks_only_the_birth_date(
    tmp_path: Path, qapp: QApplication, run: Runner, screens_dir: Path, language: str
) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        core = await start_core(
            load_config(None), tmp_path, env={"CABIN_DB_KEY": KEY.hex()}, clock=clock
        )
        await core.appointments.synced(todays_list(datetime.now(UTC)))
        languages = LanguageSwitcher(qapp)
        languages.set(language)
        window = KioskWindow(core, languages)
        window.resize(1080, 1920)
        window.show()
        f = Finger(window, core, screens_dir, language)
        try:
            await f.tap("primary")
            await f.tap("primary")
            await f.tap("primary")  # I have an appointment code
            await until(lambda: bool(f.shown("appointment_code", QLineEdit)), "the keypad")
            await f.digits("4829")
            f.shot("keypad")
            await f.digits("14")  # a typo
            await f.tap("primary")
            await until(lambda: bool(f.shown("code_message", QLabel)), "the wrong code's text")
            wrong = f.label("code_message")
            assert ("cabine" if language == "fr" else "cabin") in wrong
            assert f.shown("walk_in") and f.shown("appointment_code", QLineEdit)
            f.shot("wrong-code")

            line = f.shown("appointment_code", QLineEdit)[0]
            assert isinstance(line, QLineEdit)
            assert line.text() == ""  # the keypad is there again, empty
            await f.digits(CODE)
            await f.tap("primary")
            await until(lambda: bool(f.shown("birth_date", QLineEdit)), "the greeting")
            hello = f.every_text()
            assert "Jeanne Martin" in hello
            assert ("Bonjour" if language == "fr" else "Hello") in hello
            assert "Dr Claire Aubrac" in hello
            assert "1944" not in hello  # the birth date is asked, never shown
            f.shot("greeting")
            await f.digits("02051944")
            await f.tap("primary")
            assert core.session.state is SessionState.CONSENT
            context = core.session.context
            assert context.appointment is not None
            assert context.appointment.appointment_id == "ap-1"
            assert context.appointment.checked_offline
            assert context.patient is not None and context.patient.family_name == "Martin"
            await f.tap("primary")  # consent
            consultation_id = context.consultation_id
            assert consultation_id is not None
            record = await core.store.run(Store.consultation_file, consultation_id)
            assert record is not None and record.appointment is not None
            assert record.appointment.appointment_id == "ap-1"
            # used offline: the synced list says so, a second patient cannot use it again
            synced = await core.store.run(Store.todays_appointments)
            assert synced[0].used_at is not None
            await f.tap("stop") if f.shown("stop") else None
        finally:
            window.close()
            languages.set("en")  # no French translator left installed for the next test
            await core.aclose()

    run(scenario())


@pytest.mark.parametrize("language", ["fr", "en"])
def test_a_wrong_birth_date_goes_on_without_the_appointment_and_five_wrong_codes_pause(
    tmp_path: Path, qapp: QApplication, run: Runner, screens_dir: Path, language: str
) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        core = await start_core(
            load_config(None), tmp_path, env={"CABIN_DB_KEY": KEY.hex()}, clock=clock
        )
        await core.appointments.synced(todays_list(datetime.now(UTC)))
        languages = LanguageSwitcher(qapp)
        languages.set(language)
        window = KioskWindow(core, languages)
        window.resize(1080, 1920)
        window.show()
        f = Finger(window, core, screens_dir, language)
        try:
            await f.tap("primary")
            await f.tap("primary")
            await f.tap("primary")
            await f.digits(CODE)
            await f.tap("primary")
            await until(lambda: bool(f.shown("birth_date", QLineEdit)), "the greeting")
            await f.digits("01011950")  # not her date of birth
            await f.tap("primary")
            await until(lambda: bool(f.shown("family_name", QLineEdit)), "the walk-in form")
            assert "Martin" not in f.every_text() and "Jeanne" not in f.every_text()
            assert core.session.context.appointment is None
            f.shot("birth-date-wrong")
            await f.tap("back")
            # five wrong codes in a row: the keypad pauses a minute, with a countdown
            await f.tap("primary")
            for attempt in range(5):
                await until(lambda: bool(f.shown("appointment_code", QLineEdit)), "the keypad")
                await f.digits(f"00000{attempt}")
                await f.tap("primary")
            await until(lambda: bool(f.shown("countdown", QLabel)), "the pause")
            assert "60" in f.label("countdown")
            keys = [k for k in window.findChildren(QPushButton, "key") if k.isVisible()]
            assert keys and not any(k.isEnabled() for k in keys)
            assert f.shown("walk_in")  # the patient may still go on without an appointment
            clock.advance(20)
            await until(lambda: "40" in f.label("countdown"), "the countdown going down")
            f.shot("paused")
            clock.advance(PAUSE_S)
            await until(lambda: bool(f.shown("primary")), "the keypad back", 5)
            assert f.shown("appointment_code", QLineEdit)[0].isEnabled()
            await f.tap("walk_in") if f.shown("walk_in") else None
        finally:
            window.close()
            languages.set("en")  # no French translator left installed for the next test
            await core.aclose()

    run(scenario())


def test_with_the_hub_the_code_greets_and_the_hubs_limit_pauses_the_keypad(
    tmp_path: Path, qapp: QApplication, run: Runner, screens_dir: Path
) -> None:
    """The same screens against a real hub: its answer greets the patient; its per-cabin
    limit (here 3 checks an hour) pauses the keypad with the hub's wait."""

    async def scenario() -> None:
        async with running_hub(tmp_path, booking={"code_tries_per_cabin_per_hour": 3}) as rig:
            now = datetime.now(UTC).replace(microsecond=0)
            storage = rig.hub.storage
            await storage.put_calendar(CabinCalendar(cabin_id="cabin-1", town="Murat"))
            starts = now + timedelta(minutes=10)
            await storage.add_appointment(
                Appointment(
                    appointment_id="ap-hub",
                    cabin_id="cabin-1",
                    doctor="dr.a",
                    starts_at=starts,
                    ends_at=starts + timedelta(minutes=15),
                    status=AppointmentStatus.BOOKED,
                    patient=JEANNE,
                    code=CODE,
                    channel=BookingChannel.ONLINE,
                    booked_at=now - timedelta(days=1),
                    consent_at=now - timedelta(days=1),
                )
            )
            core = await cabin_core(tmp_path, rig.url, rig.tokens["cabin-1"])
            languages = LanguageSwitcher(qapp)
            languages.set("fr")
            window = KioskWindow(core, languages)
            window.resize(1080, 1920)
            window.show()
            f = Finger(window, core, screens_dir, "fr")
            try:
                assert core.hub is not None
                await core.hub.wait_online(TIMEOUT_S)
                await f.tap("primary")
                await f.tap("primary")
                await f.tap("primary")
                await f.digits(CODE)
                await f.tap("primary")
                await until(lambda: bool(f.shown("birth_date", QLineEdit)), "the greeting")
                assert "Bonjour Jeanne Martin" in f.every_text()
                assert "Dr A" in f.every_text()
                await f.tap("not_me")
                await f.tap("back")
                await f.tap("primary")
                await until(lambda: bool(f.shown("appointment_code", QLineEdit)), "the keypad")
                await f.digits("000000")
                await f.tap("primary")
                await until(lambda: bool(f.shown("code_message", QLabel)), "a wrong code")
                for wrong in ("000001", "000002"):  # the 3rd check this hour, then the 4th
                    await until(lambda: bool(f.shown("code_message", QLabel)), "the keypad")
                    await f.digits(wrong)
                    await f.tap("primary")
                await until(lambda: bool(f.shown("countdown", QLabel)), "the pause")
                wait = core.appointments.paused_for()
                assert wait is not None and wait > PAUSE_S  # the hub's wait, up to the hour
                assert "minute" in f.label("countdown")
                f.shot("paused-by-hub")
            finally:
                window.close()
                languages.set("en")
                await core.aclose()

    run(scenario())
