"""The scripted demo: a whole consultation played on the real window, as a finger would.

It starts with the booking: the patient books on the hub's public page in headless Chromium at a
phone's size, the confirmation e-mail reaches the demo's local SMTP server, and the code read
from that e-mail opens her appointment on the cabin's keypad (``simulators.booking_web``); a
coordinator books a caller by phone who never comes, and ends as a no-show on the doctor's
agenda; the doctor hands over to the next week's, who reads it first. Then, at the cabin,
it taps the buttons of the screen on show, types into its fields, waits for the core's state,
and saves a PNG of every screen it passes. The doctor is played in headless Chromium, at the
real console of the demo hub (``python -m simulators.doctor``, a process of its own): they take
the patient, see and hear them, ask for a blood pressure, which the patient takes from the call
screen, write a prescription and hang up; their screenshots join the cabin's. Parts that are
not built yet are played by the script itself and say so in ``report.json``
(``"played_by_script"``). It exits 0 only if every step got through and the checks held: the
consultation is in the encrypted store, the doctor saw the cabin's video and the cabin the
doctor's, the prescription reached the cabin, and nothing of the patient is left on screen or
in memory once the session ended.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shutil
import sys
import time
from asyncio.subprocess import Process
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import msgspec
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication, QLabel, QLineEdit, QPushButton, QWidget

import wire
from demo.media import live_cabin
from demo.root import panic_board
from devices.cancellation import within
from kiosk.app import KioskCore
from kiosk.events import HelpComing, SessionStateChanged
from kiosk.patient import PatientIdentity, Sex
from kiosk.session_states import EndReason, Overlay, SessionState
from kiosk.store import Store
from kiosk.visit_reasons import VisitReason
from simulators.demo_hub import DemoMailbox
from simulators.live_cabin import LiveCabin
from simulators.mailbox import appointment_code
from ui.kiosk_window import KioskWindow, LanguageSwitcher

log = logging.getLogger(__name__)

STEP_TIMEOUT_S = 15.0
DOCTOR_TIMEOUT_S = 90.0  # the doctor's browser starts, logs in, and takes the patient
MEASURE_TIMEOUT_S = 90.0
DEMO_PATIENT = ("Martin-Lebreton", "Jeanne", "12/03/1941")
DEMO_EMAIL = "jeanne.martin-lebreton@demo.example"  # never resolves; the local mailbox takes it
CALLER = ("Vigier", "Marcel", "05/09/1948")  # booked by phone, never comes
CALLER_PHONE = "06 39 98 45 12"  # ARCEP's range for fiction
CALLER_E164 = "+33639984512"
BOOKING_TIMEOUT_S = 120.0  # a browser starts, books, screenshots in two languages
MAIL_TIMEOUT_S = 30.0
NOSHOW_SLACK_S = 45.0  # after the slot's start + noshow_after_min: the hub's timer, a reload
NOSHOW_WAIT_MAX_S = 240.0
DEMO_PIN = "2468"  # the demo cabin's agents' PIN (kiosk/default_config.toml)


def _press(widget: QWidget) -> None:
    """A finger's tap: press and release delivered at once, with no nested Qt event loop
    (QTest's helpers spin one, which qasync cannot step tasks inside)."""
    centre = QPointF(widget.rect().center())
    for kind in (QEvent.Type.MouseButtonPress, QEvent.Type.MouseButtonRelease):
        event = QMouseEvent(
            kind,
            centre,
            widget.mapToGlobal(centre),
            Qt.MouseButton.LeftButton,
            Qt.MouseButton.LeftButton
            if kind == QEvent.Type.MouseButtonPress
            else Qt.MouseButton.NoButton,
            Qt.KeyboardModifier.NoModifier,
        )
        QApplication.sendEvent(widget, event)


class DemoFailed(Exception):
    """A step of the scripted consultation did not get through."""


@dataclass
class Step:
    name: str
    state: str
    overlay: str
    screenshot: str
    played_by_script: str | None = None


@dataclass
class Report:
    steps: list[Step] = field(default_factory=list)
    checks: dict[str, bool] = field(default_factory=dict)
    ok: bool = False
    seconds: float = 0.0
    doctor: dict[str, Any] | None = None  # what the doctor's browser saw (doctor.json)
    agent: dict[str, Any] | None = None  # what the agent's browser saw (agent.json)
    operator: dict[str, Any] | None = None  # what the operator's fleet page showed (operator.json)
    numbers: dict[str, float] = field(default_factory=dict)  # measured along the way
    booking: dict[str, Any] = field(default_factory=dict)  # what each booking browser saw


class Script:
    def __init__(self, window: KioskWindow, core: KioskCore, out: Path) -> None:
        self.window = window
        self.core = core
        self.out = out
        self.report = Report()

    async def shot(self, name: str, played_by_script: str | None = None) -> None:
        await asyncio.sleep(0.05)  # let the page lay itself out (no nested Qt event loop)
        layout = self.window.layout()
        if layout is not None:
            layout.activate()
        number = len(self.report.steps) + 1
        filename = f"{number:02d}-{name}.png"
        if not self.window.grab().save(str(self.out / filename)):
            raise DemoFailed(f"could not write {filename}")
        session = self.core.session
        self.report.steps.append(
            Step(name, session.state.value, session.overlay.value, filename, played_by_script)
        )
        log.info("demo.step %s %s/%s", name, session.state.value, session.overlay.value)

    def _visible(self, kind: type[QWidget], name: str) -> QWidget:
        page = self.window.page
        found = page.findChild(kind, name) if page is not None else None
        if found is None or not found.isVisible():
            raise DemoFailed(f"no {name!r} on the {self.core.session.state.value} screen")
        return found

    def tap(self, name: str) -> None:
        _press(self._visible(QPushButton, name))

    def tap_key(self, key: str) -> None:
        page = self.window.page
        assert page is not None
        for button in page.findChildren(QPushButton, "key"):
            if button.isVisible() and button.property("key") == key:
                _press(button)
                return
        raise DemoFailed(f"no key {key!r} on the screen")

    async def type_into(self, name: str, text: str) -> None:
        """Tap the field, then each key of the on-screen keyboard, as a finger would."""
        _press(self._visible(QLineEdit, name))
        await asyncio.sleep(0.02)  # the field takes the keyboard (a queued call)
        page = self.window.page
        assert page is not None
        keys = {
            button.property("key"): button
            for button in page.findChildren(QPushButton, "key")
            if button.isVisible()
        }
        for char in text.upper():
            key = keys.get("␣" if char == " " else char)
            if key is None:
                raise DemoFailed(f"no key {char!r} on the keyboard")
            _press(key)

    async def until(
        self,
        state: SessionState,
        overlay: Overlay = Overlay.NONE,
        timeout_s: float = STEP_TIMEOUT_S,
    ) -> None:
        session = self.core.session
        deadline = time.monotonic() + timeout_s
        while (session.state, session.overlay) != (state, overlay):
            if time.monotonic() > deadline:
                raise DemoFailed(
                    f"expected {state.value}/{overlay.value}, still at"
                    f" {session.state.value}/{session.overlay.value}"
                )
            await asyncio.sleep(0.02)
        await self.window.intents.drain()

    async def until_button(self, name: str, timeout_s: float = STEP_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            page = self.window.page
            found = page.findChildren(QPushButton, name) if page is not None else []
            if any(button.isVisible() for button in found):
                return
            if time.monotonic() > deadline:
                raise DemoFailed(f"no {name!r} button appeared")
            await asyncio.sleep(0.05)

    def texts_on_screen(self) -> list[str]:
        return [w.text() for w in self.window.findChildren(QLabel) if w.isVisible()] + [
            w.text() for w in self.window.findChildren(QLineEdit) if w.isVisible()
        ]


async def _consultation(s: Script, languages: LanguageSwitcher, code: str | None = None) -> str:
    """The main journey, the patient identified by her appointment `code` (None: as a
    walk-in); returns the consultation id it recorded."""
    session = s.core.session
    await s.until(SessionState.IDLE)
    languages.set("en")
    await s.shot("idle-en")
    languages.set("fr")
    await s.shot("idle-fr")
    s.tap("primary")
    await s.until(SessionState.WELCOME)
    await s.shot("welcome")
    s.tap("primary")
    await s.until(SessionState.IDENTIFY)
    await s.shot("identify-choice")
    family, given, birth = DEMO_PATIENT
    if code is not None:
        await _appointment_code(s, languages, code)
    else:  # without an appointment (the soak bench's patients)
        await _walk_in(s)
    await s.shot("consent")
    s.tap("primary")
    await s.until(SessionState.VITALS)
    consultation_id = session.context.consultation_id
    if consultation_id is None:
        raise DemoFailed("consent did not open a consultation")
    await _measure_everything(s)
    s.tap("finish")
    await s.until_button("reason_cough_cold")
    await s.shot("reason")
    s.tap("reason_cough_cold")
    await s.until(SessionState.WAITING_ROOM)
    await _until_text(s, "queue", "1")  # the hub says the patient is next
    await s.shot("waiting-room")
    await _the_call(s, consultation_id)
    s.tap("primary")
    await s.until(SessionState.SURVEY)
    await s.shot("survey")
    s.tap("good")
    await s.until(SessionState.CLEANING)
    await s.shot("cleaning")
    s.report.checks["patient wiped from memory"] = session.context.is_empty
    s.report.checks["patient not on screen"] = not any(
        part.upper() in text.upper()
        for text in s.texts_on_screen()
        for part in (family, given, birth)
    )
    s.tap("primary")
    await s.until(SessionState.IDLE)
    await s.shot("idle-after")
    return consultation_id


async def _walk_in(s: Script) -> None:
    family, given, birth = DEMO_PATIENT
    s.tap("walk_in")
    await s.type_into("family_name", family)
    await s.type_into("given_names", given)
    await s.type_into("birth_date", birth.replace("/", ""))
    await s.shot("identify")
    s.tap("primary")
    await s.until_button("sex_female")
    await s.shot("identify-sex")
    s.tap("sex_female")
    await s.until(SessionState.CONSENT)


async def _until_field(s: Script, name: str) -> None:
    deadline = time.monotonic() + STEP_TIMEOUT_S
    while True:
        page = s.window.page
        found = page.findChildren(QLineEdit, name) if page is not None else []
        if any(field.isVisible() for field in found):
            return
        if time.monotonic() > deadline:
            raise DemoFailed(f"no {name!r} field appeared")
        await asyncio.sleep(0.05)


async def _code_to_greeting(s: Script, code: str, language: str) -> None:
    """From the choice, "I have an appointment code", the code on the keypad, "check": the
    greeting. A change of language starts the screen again at the choice, so each language
    goes the whole way (the hub's check has no side effect; the code is used on arrival)."""
    s.tap("primary")  # "J'ai un code de rendez-vous"
    await _until_field(s, "appointment_code")
    for digit in code:
        s.tap_key(digit)
    await s.shot(f"appointment-code-{language}")
    s.tap("primary")
    await _until_field(s, "birth_date")
    await s.shot(f"appointment-greeting-{language}")


async def _appointment_code(s: Script, languages: LanguageSwitcher, code: str) -> None:
    """The code from the e-mail on the real keypad, the greeting by name, the birth date
    alone: in English first, then in French to the end."""
    family, given, birth = DEMO_PATIENT
    languages.set("en")  # the screen is built again, in English, at the choice
    await _until_button_text(s, "primary", "i have an appointment code")
    await _code_to_greeting(s, code, "en")
    languages.set("fr")
    await _until_button_text(s, "primary", "un code de rendez-vous")
    started = time.monotonic()
    await _code_to_greeting(s, code, "fr")
    s.report.numbers["code_tap_to_greeting_s"] = round(time.monotonic() - started, 2)
    shown = " ".join(s.texts_on_screen()).upper()
    s.report.checks["the cabin greeted the booked patient by name"] = (
        family.upper() in shown and given.upper() in shown and birth not in shown
    )
    for digit in birth.replace("/", ""):
        s.tap_key(digit)
    await s.shot("appointment-birth-date")
    s.tap("primary")
    await s.until(SessionState.CONSENT)
    appointment = s.core.session.context.appointment
    s.report.checks["the code from the e-mail identified the patient at the cabin"] = (
        appointment is not None and not appointment.checked_offline
    )


async def _until_button_text(s: Script, name: str, text: str) -> None:
    """Until the `name` button on screen says `text` (a screen built again)."""
    deadline = time.monotonic() + STEP_TIMEOUT_S
    while True:
        page = s.window.page
        found = page.findChildren(QPushButton, name) if page is not None else []
        if any(b.isVisible() and text in b.text().lower() for b in found):
            return
        if time.monotonic() > deadline:
            raise DemoFailed(f"no {name!r} button saying {text!r}")
        await asyncio.sleep(0.05)


async def _the_call(s: Script, consultation_id: str) -> None:
    """The doctor (in Chromium) takes the patient; the patient does what the doctor asks."""
    session = s.core.session
    await s.until(SessionState.CALL, timeout_s=DOCTOR_TIMEOUT_S)
    await s.shot("call-doctor")  # who the doctor is, while the call connects
    page = s.window.call_page
    deadline = time.monotonic() + DOCTOR_TIMEOUT_S
    while page is None or page.remote.frames < 10:
        if time.monotonic() > deadline:
            raise DemoFailed("the doctor's video never reached the cabin")
        await asyncio.sleep(0.05)
        page = s.window.call_page
    await s.shot("call")
    s.report.checks["the cabin shows the doctor's video"] = True
    # The doctor asks for a blood pressure: the guided measurement appears under the video.
    taken = len(session.context.readings)
    await s.until_button("primary", timeout_s=DOCTOR_TIMEOUT_S)
    await s.shot("call-request")
    s.tap("primary")
    deadline = time.monotonic() + MEASURE_TIMEOUT_S
    while len(session.context.readings) == taken:
        if time.monotonic() > deadline:
            raise DemoFailed("no reading for the doctor's request")
        await asyncio.sleep(0.05)
    await s.shot("call-measured")
    s.tap("finish")  # back to the doctor
    await s.until(SessionState.CLOSING, timeout_s=DOCTOR_TIMEOUT_S)
    await s.shot("closing")
    if s.core.paperwork is not None:  # the prescription and the summary come out
        await s.core.paperwork.settled()
        await asyncio.sleep(0.05)
        await s.shot("closing-printed")
    prescriptions = await s.core.store.run(Store.prescriptions, consultation_id)
    s.report.checks["the prescription reached the cabin"] = len(prescriptions) == 1


async def _measure_everything(s: Script) -> None:
    """Each instrument in turn, through the simulators, as the patient would."""
    session = s.core.session
    instruments = list(s.core.measurements.instruments.values())
    await s.shot("vitals")
    for number, instrument in enumerate(instruments, start=1):
        taken = len(session.context.readings)
        s.tap("primary")
        deadline = time.monotonic() + MEASURE_TIMEOUT_S
        while len(session.context.readings) == taken:
            if time.monotonic() > deadline:
                raise DemoFailed(f"no reading from {instrument.device_id}")
            await asyncio.sleep(0.05)
        await s.shot(f"vitals-{number}-{instrument.kind.value}")
    s.report.checks["every instrument gave a reading"] = len(session.context.readings) == len(
        instruments
    )


async def _until_text(s: Script, label: str, text: str) -> None:
    deadline = time.monotonic() + STEP_TIMEOUT_S
    while True:
        page = s.window.page
        found = page.findChild(QLabel, label) if page is not None else None
        if found is not None and text in found.text():
            return
        if time.monotonic() > deadline:
            raise DemoFailed(f"{label!r} never said {text!r}")
        await asyncio.sleep(0.05)


async def _timeout_and_overlays(s: Script, agent: asyncio.subprocess.Process, out: Path) -> None:
    """A patient who walks away; distress detection; then the assistant mode."""
    session = s.core.session
    s.tap("primary")
    await s.until(SessionState.WELCOME)
    await s.until(SessionState.WELCOME, Overlay.STILL_THERE)
    await s.shot("still-there")
    await s.until(SessionState.IDLE)
    s.report.checks["timeout wiped the session"] = session.context.is_empty
    await s.shot("idle-again")
    await _distress(s, agent)
    s.tap("agent")
    await asyncio.sleep(0.05)
    for digit in "1357":  # a wrong PIN first
        s.tap_key(digit)
    await s.shot("assistant-pin")
    s.tap("primary")
    await _until_text(s, "pin_message", "4")  # tries left
    await s.shot("assistant-wrong-pin")
    for digit in DEMO_PIN:
        s.tap_key(digit)
    s.tap("primary")
    await s.until(SessionState.IDLE, Overlay.ASSISTANT)
    await s.shot("assistant-devices")
    s.tap("tab_paper")
    await asyncio.sleep(0.3)
    await s.shot("assistant-paper")
    await _selftest(s, out)
    s.tap("leave")
    await s.until(SessionState.IDLE)


async def _selftest(s: Script, out: Path) -> None:
    """The agent runs the self-test from the assistant mode and reads it (failures first);
    the report goes to ``selftest.json`` and to the hub (the fleet page shows it)."""
    upkeep = s.core.upkeep
    selftest = upkeep.selftest if upkeep is not None else None
    if selftest is None:
        raise DemoFailed("the cabin's self-test is not running")
    before = selftest.last
    s.tap("tab_selftest")
    await s.until_button("run_selftest")
    started = time.monotonic()
    s.tap("run_selftest")
    deadline = started + STEP_TIMEOUT_S
    while selftest.last is before or selftest.running:
        if time.monotonic() > deadline:
            raise DemoFailed("the self-test did not finish")
        await asyncio.sleep(0.05)
    await s.window.intents.drain()
    report = selftest.last
    assert report is not None
    s.report.numbers["selftest_s"] = round(
        (report.finished_at - report.started_at).total_seconds(), 2
    )
    await s.shot("assistant-selftest")
    await asyncio.to_thread(
        (out / "selftest.json").write_bytes, msgspec.json.format(wire.encode(report)) + b"\n"
    )
    by_check: dict[wire.SelfTestCheck, list[wire.SelfTestOutcome]] = {}
    for result in report.results:
        by_check.setdefault(result.check, []).append(result.outcome)
    passed = wire.SelfTestOutcome.PASSED
    s.report.checks["the agent ran the self-test from the assistant mode"] = (
        report.trigger is wire.SelfTestTrigger.AGENT
    )
    s.report.checks["the self-test heard every instrument answer"] = bool(
        by_check.get(wire.SelfTestCheck.INSTRUMENT)
    ) and all(o is passed for o in by_check[wire.SelfTestCheck.INSTRUMENT])
    s.report.checks["the self-test saw the camera's frames (not black, not frozen)"] = by_check.get(
        wire.SelfTestCheck.CAMERA
    ) == [passed]
    s.report.checks["the self-test says the speaker untested (no sound card), not passed"] = (
        by_check.get(wire.SelfTestCheck.SPEAKER) == [wire.SelfTestOutcome.SKIPPED]
    )
    s.report.checks["the self-test found the database sound"] = by_check.get(
        wire.SelfTestCheck.DATABASE
    ) == [passed]
    hub = s.core.hub
    acknowledged = False
    if hub is not None:
        waited = time.monotonic() + STEP_TIMEOUT_S
        while time.monotonic() < waited:
            if not await s.core.store.run(Store.unsent_selftest_reports):
                acknowledged = True
                break
            await asyncio.sleep(0.1)
    s.report.checks["the hub acknowledged the self-test's report"] = acknowledged


WALKING_OUT = PatientIdentity("ROUX", "Marcel", date(1939, 11, 2), Sex.MALE)


async def _distress(s: Script, agent: asyncio.subprocess.Process) -> None:
    """The camera sees a patient fall: the calm overlay, the agent's answer from their page in
    Chromium; the panic button, physical and on screen; a patient who walks out mid-session."""
    cabin = _live_cabin(s.core)
    s.tap("primary")  # a new patient: they come in and sit down
    await s.until(SessionState.WELCOME)
    await _until_seated(s, cabin)
    await _fall(s, cabin)
    await _panic_buttons(s)
    await _agent_report(s, agent)
    await _walks_out(s, cabin)


async def _fall(s: Script, cabin: LiveCabin) -> None:
    coming = asyncio.Event()
    subscription = s.core.bus.subscribe(HelpComing, lambda _event: coming.set())
    try:
        landing = cabin.fall()
        await s.until(SessionState.WELCOME, Overlay.DISTRESS)
        latency_s = cabin.now_s - landing
        s.report.numbers["fall_to_overlay_s"] = round(latency_s, 2)
        s.report.checks["a fall seen by the camera raised the overlay within 2 s"] = (
            latency_s <= 2.0
        )
        await s.shot("distress-fall", "the camera's scene: the patient falls")
        with contextlib.suppress(TimeoutError):
            await within(coming.wait(), STEP_TIMEOUT_S)
        s.report.checks["the agent answered the fall from their page"] = coming.is_set()
        await asyncio.sleep(0.2)
        await s.shot("distress-help-coming")
    finally:
        subscription.cancel()
    s.tap("primary")  # "I am fine": helped up
    cabin.get_up()
    await s.until(SessionState.WELCOME)


async def _panic_buttons(s: Script) -> None:
    board = panic_board(s.core)
    if board is not None:
        board.press()  # the cabin's physical button
        await s.until(SessionState.WELCOME, Overlay.DISTRESS)
        await s.shot("distress-panic-button", "the panic button's board: pressed")
        s.tap("primary")
        await s.until(SessionState.WELCOME)
    help_button = s.window.findChild(QPushButton, "help")  # red, on every screen
    if help_button is None or not help_button.isVisible():
        raise DemoFailed("no help button on the screen")
    _press(help_button)
    await s.until(SessionState.WELCOME, Overlay.DISTRESS)  # the same overlay as the board's
    s.report.checks["the help button on the screen called for help"] = True
    s.tap("primary")
    await s.until(SessionState.WELCOME)


async def _walks_out(s: Script, cabin: LiveCabin) -> None:
    """In the waiting room, tired of waiting, the patient walks out: the session ends, wiped."""
    core, session = s.core, s.core.session
    c = core.consultation
    await c.choose_identify()
    await c.identify(WALKING_OUT)
    await c.consent(True)
    session.set_reason(VisitReason.OTHER)
    session.advance(SessionState.WAITING_ROOM)
    await _until_seated(s, cabin)
    ended: list[EndReason | None] = []
    ends = core.bus.subscribe(SessionStateChanged, lambda e: ended.append(e.end_reason))
    try:
        cabin.leave()
        absence_s = core.config.distress.absence_after_s + STEP_TIMEOUT_S
        await s.until(SessionState.CLEANING, timeout_s=absence_s)
    finally:
        ends.cancel()
    s.report.checks["a patient who left mid-session was wiped"] = (
        EndReason.ABSENCE in ended and session.context.is_empty
    )
    s.tap("primary")  # the cleaning screen, as after any patient: the agent cleans
    await s.until(SessionState.IDLE)


def _live_cabin(core: KioskCore) -> LiveCabin:
    cabin = live_cabin(core)
    if cabin is None:
        raise DemoFailed("the demo's camera is not the live synthetic cabin")
    return cabin


async def _until_seated(s: Script, cabin: LiveCabin) -> None:
    """Until the patient the camera films has sat down; they touch the screen meanwhile."""
    deadline = time.monotonic() + STEP_TIMEOUT_S
    while not cabin.seated_for(2.0):
        if time.monotonic() > deadline:
            raise DemoFailed("the patient never sat down in the camera's scene")
        s.core.session.touch()
        await asyncio.sleep(0.2)


async def start_agent(core: KioskCore, out: Path) -> asyncio.subprocess.Process:
    """The town hall's agent, at the hub's alert page in headless Chromium (its own process)."""
    from simulators.demo_hub import DEMO_AGENT  # noqa: PLC0415 - demo only

    secret = core.data_dir / "agent.password"
    await asyncio.to_thread(_write_secret, secret, DEMO_AGENT.password)
    log_file = await asyncio.to_thread((core.data_dir / "agent.log").open, "wb")
    with log_file:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "simulators.agent",
            "--hub",
            core.config.hub.url,
            "--username",
            DEMO_AGENT.username,
            "--password-file",
            str(secret),
            "--out",
            str(out),
            stdout=log_file,
            stderr=asyncio.subprocess.STDOUT,
        )


async def _fleet_page(s: Script, out: Path) -> None:
    """The operator signs in to the hub's fleet page (headless Chromium, its own process) and
    finds the demo cabin online, with its last self-test when the demo ran one
    (``selftest.json``): ``fleet-page.png``, ``operator.json``."""
    from hub.demo import DEMO_CABIN_ID  # noqa: PLC0415 - demo only
    from simulators.demo_hub import DEMO_OPERATOR  # noqa: PLC0415 - demo only

    ran_selftest = await asyncio.to_thread((out / "selftest.json").exists)
    secret = await _secret_file(s.core, "operator", DEMO_OPERATOR.password)
    log_file = await asyncio.to_thread((s.core.data_dir / "operator.log").open, "wb")
    with log_file:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "simulators.operator", "--hub", s.core.config.hub.url,
            "--username", DEMO_OPERATOR.username, "--password-file", secret,
            "--cabin", DEMO_CABIN_ID, "--out", str(out),
            "--selftest-wait", "25" if ran_selftest else "0",
            stdout=log_file, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
    try:
        status = await within(process.wait(), STEP_TIMEOUT_S + 25)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise DemoFailed("the operator's browser did not finish") from None
    text = await asyncio.to_thread((out / "operator.json").read_text, encoding="utf-8")
    seen = json.loads(text)
    s.report.operator = seen
    s.report.checks["the operator's fleet page shows the demo cabin online"] = (
        status == 0 and seen["cabin_state"] == "online" and "fleet-page.png" in seen["screenshots"]
    )
    if ran_selftest:
        s.report.checks["the fleet page shows the demo cabin's last self-test"] = seen[
            "has_selftest"
        ]


def _write_secret(path: Path, secret: str) -> None:
    path.write_text(secret + "\n", encoding="utf-8")
    path.chmod(0o600)


async def _agent_report(s: Script, agent: asyncio.subprocess.Process) -> None:
    try:
        status = await within(agent.wait(), STEP_TIMEOUT_S)
    except TimeoutError:
        raise DemoFailed("the agent's browser did not finish") from None
    text = await asyncio.to_thread((s.out / "agent.json").read_text, encoding="utf-8")
    seen = json.loads(text)
    s.report.agent = seen
    s.report.checks["the agent's page rang for the fall and was answered"] = (
        status == 0 and seen["alarm"] == "ringing" and seen["answered"]
    )


async def start_doctor(core: KioskCore, out: Path) -> asyncio.subprocess.Process:
    """The doctor, in headless Chromium at the demo hub's console, in a process of its own."""
    from simulators.demo_hub import DEMO_DOCTOR  # noqa: PLC0415 - demo only

    secret = core.data_dir / "doctor.password"
    profile = core.data_dir / "chromium-profile"
    await asyncio.to_thread(_prepare_doctor, secret, profile, DEMO_DOCTOR.password)
    log_file = await asyncio.to_thread((core.data_dir / "doctor.log").open, "wb")
    with log_file:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "simulators.doctor",
            "--hub",
            core.config.hub.url,
            "--username",
            DEMO_DOCTOR.username,
            "--password-file",
            str(secret),
            "--out",
            str(out),
            "--profile",
            str(profile),
            stdout=log_file,
            stderr=asyncio.subprocess.STDOUT,
        )


def _prepare_doctor(secret: Path, profile: Path, password: str) -> None:
    secret.write_text(password + "\n", encoding="utf-8")
    secret.chmod(0o600)
    shutil.rmtree(profile, ignore_errors=True)  # a browser profile of its own, empty each time
    profile.mkdir(parents=True)


async def _doctor_report(s: Script, doctor: asyncio.subprocess.Process, out: Path) -> None:
    """Wait for the doctor's browser to finish, and keep what it saw."""
    try:
        status = await within(doctor.wait(), STEP_TIMEOUT_S)
    except TimeoutError:
        raise DemoFailed("the doctor's browser did not finish") from None
    text = await asyncio.to_thread((out / "doctor.json").read_text, encoding="utf-8")
    seen = json.loads(text)
    s.report.doctor = seen
    video = seen.get("video") or {}
    s.report.checks["the doctor's browser played the consultation"] = status == 0
    s.report.checks["the doctor saw the cabin's video (640x480, not blank)"] = (
        video.get("width") == 640 and video.get("variance", 0) > 20
    )
    s.report.checks["the doctor saw the blood pressure"] = "systolic_mmhg" in seen["vitals"]
    s.report.checks["the prescription was delivered"] = bool(seen["prescription_delivered"])
    s.report.checks["the booked doctor saw the patient booked with them"] = bool(
        seen.get("booked_with_me")
    )


async def start_web(core: KioskCore, out: Path, role: str, *args: str) -> Process:
    """One role of `simulators.booking_web` (the patient, the coordinator, the doctors' week)
    in headless Chromium, in a process of its own."""
    log_file = await asyncio.to_thread((core.data_dir / f"booking-{role}.log").open, "wb")
    with log_file:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "simulators.booking_web",
            role,
            "--hub",
            core.config.hub.url,
            "--out",
            str(out),
            *args,
            stdout=log_file,
            stderr=asyncio.subprocess.STDOUT,
        )


async def _web_report(s: Script, process: Process, role: str, timeout_s: float) -> dict[str, Any]:
    """Wait for a booking browser to finish; what it saw (``seen``, ``ok``, ``error``)."""
    try:
        await within(process.wait(), timeout_s)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise DemoFailed(f"the {role}'s browser did not finish in {timeout_s:g} s") from None
    path = s.out / f"booking-{role}.json"
    try:
        seen: dict[str, Any] = json.loads(await asyncio.to_thread(path.read_text, "utf-8"))
    except (OSError, ValueError):
        seen = {"ok": False, "error": f"no {path.name}", "seen": {}}
    s.report.booking[role] = seen
    if not seen.get("ok"):
        raise DemoFailed(f"the {role}'s browser failed: {seen.get('error') or seen.get('seen')}")
    return seen


async def _secret_file(core: KioskCore, name: str, password: str) -> str:
    path = core.data_dir / f"{name}.password"
    await asyncio.to_thread(_write_secret, path, password)
    return str(path)


async def _book_online(s: Script, mailbox: DemoMailbox | None) -> str:
    """The patient books on the public page at a phone's size, with her e-mail address; the
    confirmation reaches the demo's SMTP server; the code is read from that e-mail.

    She takes the day's second free slot: the first is left for the caller the coordinator
    books, who will not come (a slot that has begun can no longer be booked, so the no-show
    must be the earlier one). Her code opens the cabin from 30 min before her slot, which
    begins a quarter of an hour after the first (`hub.demo.seed_demo_bookings`)."""
    if mailbox is None:
        raise DemoFailed("the scripted demo has no mailbox")
    process = await start_web(
        s.core, s.out, "patient", "--patient", ";".join(DEMO_PATIENT),
        "--email", DEMO_EMAIL, "--slot", "1",
    )  # fmt: skip
    seen = (await _web_report(s, process, "patient", BOOKING_TIMEOUT_S))["seen"]
    s.report.checks["the patient booked on the public page at a phone's size"] = True
    try:
        message = await _confirmation(mailbox)
    except TimeoutError:
        raise DemoFailed("no confirmation e-mail reached the demo's SMTP server") from None
    eml = s.out / "booking-confirmation.eml"
    await asyncio.to_thread(eml.write_bytes, bytes(message))
    s.report.checks["the confirmation e-mail reached the local SMTP server"] = True
    try:
        code = appointment_code(message)
    except ValueError:
        raise DemoFailed("the confirmation e-mail carries no code") from None
    s.report.checks["the e-mail's code is the one the booking page showed"] = code == seen["code"]
    s.report.booking["patient"]["code_from_email"] = code
    return code


async def _confirmation(mailbox: DemoMailbox) -> EmailMessage:
    """The first message to the patient's address that carries a code."""
    deadline = time.monotonic() + MAIL_TIMEOUT_S
    while time.monotonic() < deadline:
        for _path, message in await asyncio.to_thread(mailbox.messages):
            if DEMO_EMAIL in str(message.get("To", "")):
                with contextlib.suppress(ValueError):
                    appointment_code(message)
                    return message
        await asyncio.sleep(0.2)
    raise TimeoutError


async def _texted(mailbox: DemoMailbox, phone: str) -> bool:
    """Whether an SMS with a code went to `phone` (the outbox is worked every second)."""
    deadline = time.monotonic() + MAIL_TIMEOUT_S
    while time.monotonic() < deadline:
        texts = await asyncio.to_thread(mailbox.texts)
        if any(t.get("to") == phone and "refused" not in t for t in texts):
            return True
        await asyncio.sleep(0.2)
    return False


async def start_coordinator(core: KioskCore, out: Path) -> Process:
    """A coordinator books a caller by phone: the day's first free slot."""
    from simulators.demo_hub import DEMO_COORDINATOR  # noqa: PLC0415 - demo only

    secret = await _secret_file(core, "coordinator", DEMO_COORDINATOR.password)
    return await start_web(
        core, out, "coordinator", "--patient", ";".join(CALLER), "--phone", CALLER_PHONE,
        "--username", DEMO_COORDINATOR.username, "--password-file", secret,
    )  # fmt: skip


async def _coordinator_report(s: Script, process: Process, mailbox: DemoMailbox | None) -> datetime:
    """The caller's booking, its confirmation by SMS; the start of their slot."""
    seen = (await _web_report(s, process, "coordinator", BOOKING_TIMEOUT_S))["seen"]
    s.report.checks["a coordinator booked a caller by phone"] = True
    if mailbox is not None:
        s.report.checks["the caller's confirmation went to the SMS provider"] = await _texted(
            mailbox, CALLER_E164
        )
    caller = datetime.fromisoformat(seen["starts_at"])
    patient = datetime.fromisoformat(s.report.booking["patient"]["seen"]["starts_at"])
    s.report.checks["the caller's slot is before the patient's"] = caller < patient
    return caller


async def start_week(
    core: KioskCore, out: Path, consultation_id: str, caller_slot: datetime
) -> tuple[Process, float]:
    """The doctor of the week sees the caller's no-show, writes the handover; the next
    week's doctor reads it. Its time limit."""
    from simulators.demo_hub import DEMO_DOCTOR, SECOND_DOCTOR  # noqa: PLC0415 - demo only

    mine = await _secret_file(core, "doctor-week", DEMO_DOCTOR.password)
    theirs = await _secret_file(core, "second-doctor", SECOND_DOCTOR.password)
    noshow_at = caller_slot + timedelta(minutes=1)  # the demo hub's noshow_after_min
    wait_s = (noshow_at - datetime.now(UTC)).total_seconds() + NOSHOW_SLACK_S
    wait_s = min(max(20.0, wait_s), NOSHOW_WAIT_MAX_S)  # a later slot: the check says so
    process = await start_web(
        core, out, "week", "--patient", ";".join(CALLER), "--consultation", consultation_id,
        "--username", DEMO_DOCTOR.username, "--password-file", mine,
        "--next-username", SECOND_DOCTOR.username, "--next-password-file", theirs,
        "--wait-s", f"{wait_s:.0f}",
    )  # fmt: skip
    return process, wait_s + BOOKING_TIMEOUT_S


async def _week_report(s: Script, process: Process, timeout_s: float) -> None:
    seen = (await _web_report(s, process, "week", timeout_s))["seen"]
    s.report.checks["the caller who did not come is a no-show on the doctor's agenda"] = (
        seen["absent_status"] == "noshow"
    )
    s.report.checks["the next week's doctor read the handover first"] = bool(
        seen["handover_first"] and seen["handover_read"]
    )


def _clear_screenshots(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for old in (
        *out.glob("*.png"),
        *out.glob("*.pdf"),
        *out.glob("booking-*.json"),
        *out.glob("*.eml"),
        out / "bundle.json",
        out / "agent.json",
        out / "operator.json",
        out / "selftest.json",
    ):
        old.unlink(missing_ok=True)


class _Sent:
    """The FHIR bundles the cabin sent, as the hub acknowledges them."""

    def __init__(self) -> None:
        self.bundles: list[bytes] = []
        self.arrived = asyncio.Event()

    def __call__(self, upload: wire.RecordUpload) -> None:
        self.bundles.append(bytes(upload.bundle))
        self.arrived.set()


def _keep_the_record(core: KioskCore) -> _Sent:
    sent = _Sent()
    if core.records is not None:
        core.records.on_acknowledged.append(sent)
    return sent


async def _documents(s: Script, consultation_id: str, sent: _Sent, out: Path) -> None:
    """What the consultation produced: the printed PDFs (the demo printer's folder) and the
    record the hub acknowledged, copied into the output folder for anyone to inspect."""
    core = s.core
    assert core.paperwork is not None
    await core.paperwork.settled()
    jobs = await core.store.run(Store.print_jobs, consultation_id)
    printed = {job.document: job for job in jobs if job.state == "printed"}
    s.report.checks["the prescription was printed"] = "prescription" in printed
    s.report.checks["the summary was printed"] = "summary" in printed
    folder = core.config.resolve(core.data_dir, core.config.printer.folder)
    for document, job in printed.items():
        await asyncio.to_thread(
            shutil.copyfile, folder / f"{job.title}.pdf", out / f"{document}.pdf"
        )
    with contextlib.suppress(TimeoutError):
        await within(sent.arrived.wait(), DOCTOR_TIMEOUT_S)
    s.report.checks["the record reached the hub"] = bool(sent.bundles)
    if sent.bundles:
        bundle = json.loads(sent.bundles[-1])
        kinds = {e["resource"]["resourceType"] for e in bundle.get("entry", [])}
        s.report.checks["the record is a FHIR bundle with the consultation"] = {
            "Patient",
            "Encounter",
            "Observation",
            "MedicationRequest",
            "DocumentReference",
        } <= kinds
        booked = [
            e["resource"]
            for e in bundle.get("entry", [])
            if e["resource"]["resourceType"] == "Appointment"
        ]
        s.report.checks["the record carries the Appointment"] = len(booked) == 1 and booked[0].get(
            "status"
        ) in ("arrived", "fulfilled")
        text = json.dumps(bundle, indent=2, ensure_ascii=False) + "\n"
        await asyncio.to_thread((out / "bundle.json").write_text, text, encoding="utf-8")
    pdftoppm = shutil.which("pdftoppm")
    for document in printed:
        if pdftoppm is not None:  # the first page, to look at beside the screenshots
            process = await asyncio.create_subprocess_exec(
                pdftoppm,
                "-r",
                "80",
                "-png",
                "-singlefile",
                str(out / f"{document}.pdf"),
                str(out / f"paper-{document}"),
            )
            await process.wait()


async def play_scripted(
    window: KioskWindow,
    core: KioskCore,
    languages: LanguageSwitcher,
    out: Path,
    spoken: list[int] | None = None,
    *,
    mailbox: DemoMailbox | None = None,
) -> int:
    await asyncio.to_thread(_clear_screenshots, out)
    script = Script(window, core, out)
    started = time.monotonic()
    doctor = await start_doctor(core, out)
    agent: Process | None = None
    coordinator: Process | None = None
    week: Process | None = None
    try:
        sent = _keep_the_record(core)
        code = await _book_online(script, mailbox)
        coordinator = await start_coordinator(core, out)
        consultation_id = await _consultation(script, languages, code)
        await _doctor_report(script, doctor, out)
        caller_slot = await _coordinator_report(script, coordinator, mailbox)
        week, week_timeout_s = await start_week(core, out, consultation_id, caller_slot)
        await core.consultation.settled()
        reason = await core.store.run(Store.consultation_ended, consultation_id)
        script.report.checks["consultation stored as completed"] = reason == "completed"
        await _documents(script, consultation_id, sent, out)
        agent = await start_agent(core, out)
        await _timeout_and_overlays(script, agent, out)
        await _week_report(script, week, week_timeout_s)
        await _fleet_page(script, out)
        integrity = await core.store.run(Store.integrity_ok)
        script.report.checks["store integrity"] = integrity
        if spoken is not None:  # every screen was read aloud (synthesised, sized, not played)
            script.report.checks["screens spoken aloud"] = (
                len(spoken) >= len(script.report.steps) // 2
            )
        script.report.ok = all(script.report.checks.values())
    except DemoFailed as exc:
        log.error("demo.failed %s", exc)
        script.report.checks[f"failed: {exc}"] = False
    finally:
        for process in (doctor, agent, coordinator, week):
            if process is not None and process.returncode is None:
                process.kill()
                await process.wait()
    script.report.seconds = round(time.monotonic() - started, 2)
    report = json.dumps(asdict(script.report), indent=2, ensure_ascii=False) + "\n"
    await asyncio.to_thread((out / "report.json").write_text, report, encoding="utf-8")
    for name, held in script.report.checks.items():
        log.info("demo.check %s %s", "ok" if held else "FAILED", name)
    log.info(
        "demo.%s screens=%d out=%s",
        "passed" if script.report.ok else "failed",
        len(script.report.steps),
        out,
    )
    return 0 if script.report.ok else 1
