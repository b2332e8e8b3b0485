"""Who the patient is: an appointment code on a keypad, or (walk-in) their name and date of
birth on the on-screen keyboard. One question at a time.

A code the cabin finds (with the hub, or in today's synced list when the hub is away) greets the
patient by name and asks only their date of birth, typed on the same big keypad as the code.
Not three dates to choose from: whoever holds a found or overheard code would then see the
patient's birth date among three (and guess it one time in three); an 80-year-old knows their
date of birth by heart, and the keypad is the one they have just used. A date that does not
match means this is not the patient: they go on as a walk-in, and the name is not shown again.
A wrong code says so, keeps the keypad and offers to go on without an appointment; after five
wrong codes in a row the keypad pauses a minute, with a countdown.

The page holds what is typed only while it lives; the window destroys it when the session
moves on or ends.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Callable, Coroutine
from dataclasses import replace
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

import shiboken6
from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import (
    QBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from kiosk.appointments import AppointmentDesk, CodeCheck, CodeOutcome
from kiosk.patient import BookedAppointment, PatientIdentity, Sex
from ui.keyboards import DigitKeypad, LetterKeyboard
from ui.theme import gap

Identified = Callable[[PatientIdentity, BookedAppointment | None], object]
RunIntent = Callable[[Coroutine[Any, Any, Any]], "asyncio.Task[Any]"]

CODE_PATTERN = re.compile(r"^\d{6}$")


class IdentifyPage(QWidget):
    def __init__(
        self,
        identified: Identified,
        back: Callable[[], object],
        problem: Callable[[str], None],
        *,
        appointments: AppointmentDesk | None = None,
        run: RunIntent | None = None,
        landscape: bool = False,
        scale: float = 1.0,
    ) -> None:
        super().__init__()
        self._landscape = landscape
        self._scale = scale  # the window's (KioskWindow.scale): sizes in pixels times it
        self._identified = identified
        self._back = back
        self._problem = problem
        self._appointments = appointments
        self._run = run
        self._countdown: QTimer | None = None
        self._layout = QVBoxLayout(self)
        self._layout.setSpacing(gap(28, scale))
        self._body: QWidget | None = None
        self._show_choice()

    # --- the three questions ------------------------------------------------------------
    def _show_choice(self) -> None:
        self._replace(
            self.tr("Do you have an appointment?"),
            self.tr("If you booked, you received a code of six digits."),
            [
                ("primary", self.tr("I have an appointment code"), self._show_code),
                ("walk_in", self.tr("I have no appointment"), self._show_identity),
                ("back", self.tr("Back"), self._back),
            ],
        )

    def _show_code(self, message: str = "") -> None:
        desk = self._appointments
        left = None if desk is None else desk.paused_for()
        if left is not None:
            self._show_paused(left)
            return
        field = self._field("appointment_code", self.tr("Code"))
        field.setMaxLength(6)
        keypad = DigitKeypad(self._scale)
        keypad.set_target(field)
        checking: list[bool] = []

        def confirm() -> None:
            if checking:
                return  # a second tap while the hub answers
            if not CODE_PATTERN.match(field.text()):
                self._problem(self.tr("The code has six digits. Please check it."))
                return
            if desk is None or self._run is None:
                self._show_identity()  # no desk (a test of the page alone): go on
                return
            checking.append(True)
            body = self._body
            button = body.findChild(QPushButton, "primary") if body is not None else None
            if button is not None:  # the hub answers in a few tenths of a second, at most 4 s
                button.setText(self.tr("Checking…"))
                button.setEnabled(False)
            self._run(self._check(field.text()))

        actions: list[tuple[str, str, Callable[[], object]]] = [
            ("primary", self.tr("Check my code"), confirm)
        ]
        if message:
            actions.append(("walk_in", self.tr("Continue without an appointment"), self._walk_in))
        actions.append(("back", self.tr("Back"), self._show_choice))
        self._replace(
            self.tr("Your appointment code"),
            message or self.tr("Type the six digits of your code."),
            actions,
            [field],
            [keypad],
            body_name="code_message" if message else "",
        )

    async def _check(self, code: str) -> None:
        assert self._appointments is not None
        result: CodeCheck = await self._appointments.check(code)
        if not shiboken6.isValid(self) or self._body is None:
            return  # the session moved on (or ended) while the code was checked
        match result.outcome:
            case CodeOutcome.FOUND:
                assert result.appointment is not None
                self._show_greeting(result.appointment)
            case CodeOutcome.PAUSED:
                self._show_paused(result.pause_s or 0.0)
            case CodeOutcome.USED:
                self._show_code(
                    self.tr(
                        "This code has already been used. You can continue without an"
                        " appointment: a doctor will see you."
                    )
                )
            case CodeOutcome.WRONG:
                self._show_code(
                    self.tr(
                        "This code does not open an appointment at this cabin now. Check the"
                        " six digits, and the town and day of your appointment."
                    )
                )

    def _show_paused(self, seconds: float) -> None:  # the desk's count, else `seconds`
        """Too many wrong codes: the keypad waits, and says how long."""
        field = self._field("appointment_code", self.tr("Code"))
        field.setEnabled(False)
        keypad = DigitKeypad(self._scale)
        keypad.setEnabled(False)
        desk = self._appointments

        def left() -> float | None:
            return None if desk is None else desk.paused_for()

        def text() -> str:
            seconds_left = max(1, math.ceil(left() or seconds))
            if seconds_left > 120:  # the hub's limit: up to an hour
                return self.tr(
                    "Too many wrong codes. The keypad is paused for %n minute(s).",
                    "",
                    math.ceil(seconds_left / 60),
                )
            return self.tr(
                "Too many wrong codes. The keypad is paused for %n second(s).", "", seconds_left
            )

        self._replace(
            self.tr("Please wait a moment"),
            text(),
            [
                ("walk_in", self.tr("Continue without an appointment"), self._walk_in),
                ("back", self.tr("Back"), self._show_choice),
            ],
            [field],
            [keypad],
            body_name="countdown",
        )
        body = self._body
        countdown = QTimer(body)
        countdown.setInterval(1000)
        label = body.findChild(QLabel, "countdown") if body is not None else None

        def tick() -> None:
            if left() is None:
                countdown.stop()
                self._show_code()
            elif label is not None:
                label.setText(text())

        countdown.timeout.connect(tick)
        countdown.start()
        self._countdown = countdown

    def _show_greeting(self, appointment: BookedAppointment) -> None:
        """The code opened an appointment: hello by name, and only the date of birth."""
        patient = appointment.patient
        local = appointment.starts_at.astimezone(ZoneInfo(appointment.timezone))
        birth = self._field("birth_date", self.tr("Date of birth (DD/MM/YYYY)"))
        birth.setInputMask("00/00/0000;_")
        keypad = DigitKeypad(self._scale)
        keypad.set_target(birth)
        birth.setFocus()
        QTimer.singleShot(0, lambda: birth.setCursorPosition(_date_cursor(birth.text())))
        if appointment.doctor_name:
            slot = (
                self.tr("Your appointment at %1 with %2.")
                .replace("%1", local.strftime("%H:%M"))
                .replace("%2", appointment.doctor_name)
            )
        else:
            slot = self.tr("Your appointment at %1.").replace("%1", local.strftime("%H:%M"))

        def confirm() -> None:
            try:
                day, month, year = (int(part) for part in birth.text().split("/"))
                typed = date(year, month, day)
            except ValueError:
                self._problem(self.tr("Please type your date of birth: day, month, year."))
                return
            if typed == patient.birth_date:
                self._identified(patient, appointment)
                return
            # Not this patient: nothing of the appointment is shown again.
            self._show_identity(
                message=self.tr(
                    "This date does not match the appointment. You can continue without an"
                    " appointment: a doctor will see you."
                )
            )

        self._replace(
            self.tr("Hello %1").replace("%1", f"{patient.given_names} {patient.family_name}"),
            slot + " " + self.tr("To be sure it is you, type your date of birth."),
            [
                ("primary", self.tr("Confirm"), confirm),
                ("not_me", self.tr("This is not me"), self._walk_in),
            ],
            [birth],
            [keypad],
        )

    def _walk_in(self) -> None:
        self._show_identity()

    def _show_identity(self, typed: PatientIdentity | None = None, message: str = "") -> None:
        family = self._field("family_name", self.tr("Family name"))
        given = self._field("given_names", self.tr("Given names"))
        birth = self._field("birth_date", self.tr("Date of birth (DD/MM/YYYY)"))
        birth.setInputMask("00/00/0000;_")
        if typed is not None:  # back from the next question: what was typed is still there
            family.setText(typed.family_name)
            given.setText(typed.given_names)
            birth.setText(typed.birth_date.strftime("%d%m%Y"))
        letters = LetterKeyboard(self._scale)
        digits = DigitKeypad(self._scale)
        digits.hide()

        def focus(field: QLineEdit) -> None:
            is_date = field is birth
            letters.setVisible(not is_date)
            digits.setVisible(is_date)
            (digits if is_date else letters).set_target(field)
            field.setFocus()
            if is_date:  # after Qt has put the cursor where the finger landed: the next blank
                QTimer.singleShot(0, lambda: birth.setCursorPosition(_date_cursor(birth.text())))

        for field in (family, given, birth):
            field.installEventFilter(_Tapped(field, focus, self))
        focus(family)

        def confirm() -> None:
            try:
                day, month, year = (int(part) for part in birth.text().split("/"))
                patient = PatientIdentity(
                    family.text().strip(), given.text().strip(), date(year, month, day)
                )
            except ValueError:
                self._problem(self.tr("Please check your name and your date of birth."))
                return
            self._show_sex(patient)

        self._replace(
            self.tr("Who are you?"),
            message or self.tr("Your name and date of birth let the doctor find your record."),
            [
                ("primary", self.tr("Continue"), confirm),
                ("back", self.tr("Back"), self._show_choice),
            ],
            [family, given, birth],
            [letters, digits],
        )

    def _show_sex(self, patient: PatientIdentity) -> None:
        """The prescription states the patient's sex: one question of its own, big buttons,
        and the patient may not answer."""

        def answer(sex: Sex) -> Callable[[], object]:
            return lambda: self._identified(replace(patient, sex=sex), None)

        self._replace(
            self.tr("You are:"),
            self.tr("Your prescription states it."),
            [
                ("sex_female", self.tr("A woman"), answer(Sex.FEMALE)),
                ("sex_male", self.tr("A man"), answer(Sex.MALE)),
                ("sex_other", self.tr("Other"), answer(Sex.OTHER)),
                ("sex_unknown", self.tr("I prefer not to say"), answer(Sex.UNKNOWN)),
                ("back", self.tr("Back"), lambda: self._show_identity(patient)),
            ],
        )

    # --- building blocks -------------------------------------------------------------------
    def _field(self, name: str, placeholder: str) -> QLineEdit:
        field = QLineEdit()
        field.setObjectName(name)
        field.setPlaceholderText(placeholder)
        field.setAccessibleName(placeholder)
        return field

    def _replace(
        self,
        title: str,
        body: str,
        actions: list[tuple[str, str, Callable[[], object]]],
        fields: list[QWidget] | None = None,
        keys: list[QWidget] | None = None,
        *,
        body_name: str = "",
    ) -> None:
        """One question: in portrait everything in a column; in landscape the keys stand
        beside the question, so nothing is squeezed."""
        if self._countdown is not None:
            self._countdown.stop()
            self._countdown = None
        if self._body is not None:
            self._layout.removeWidget(self._body)
            self._body.hide()
            self._body.deleteLater()
        self._body = QWidget()
        landscape = self._landscape
        direction = (
            QBoxLayout.Direction.LeftToRight if landscape else QBoxLayout.Direction.TopToBottom
        )
        outer = QBoxLayout(direction, self._body)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(gap(32, self._scale))
        question = QVBoxLayout()
        question.setSpacing(gap(16 if landscape else 24, self._scale))
        heading = QLabel(title)
        heading.setObjectName("title")
        heading.setWordWrap(True)
        text = QLabel(body)
        text.setWordWrap(True)
        if body_name:
            text.setObjectName(body_name)
        question.addWidget(heading)
        question.addWidget(text)
        for field in fields or []:
            question.addWidget(field)
        # In landscape the buttons stand side by side: the column has less height than width.
        buttons = QBoxLayout(
            QBoxLayout.Direction.LeftToRight if landscape else QBoxLayout.Direction.TopToBottom
        )
        buttons.setSpacing(gap(16, self._scale))
        for name, label, handler in actions:
            button = QPushButton(label)
            button.setObjectName(name)
            button.clicked.connect(lambda _=False, h=handler: h())
            buttons.addWidget(button)
        outer.addLayout(question, 1)
        if landscape:
            question.addStretch(1)
            question.addLayout(buttons)
            if keys:  # else the question has the width: its buttons need it, side by side
                keys_column = QVBoxLayout()
                for widget in keys:
                    keys_column.addWidget(widget)
                keys_column.addStretch(1)
                outer.addLayout(keys_column, 1)
        else:
            question.addStretch(1)  # the question stays together at the top
            for widget in keys or []:
                outer.addWidget(widget)
            outer.addStretch(1)
            outer.addLayout(buttons)
        self._layout.addWidget(self._body)
        self._body.show()

    def spoken_text(self) -> str:
        labels = self._body.findChildren(QLabel) if self._body is not None else []
        return " ".join(label.text() for label in labels[:2])


def _date_cursor(text: str) -> int:
    """Where the next digit goes in ``DD/MM/YYYY`` (the slashes are the mask's)."""
    typed = sum(character.isdigit() for character in text)
    return typed + (typed >= 2) + (typed >= 4)


class _Tapped(QObject):
    """A tap on a field makes it the keyboard's target."""

    def __init__(self, field: QLineEdit, focus: Callable[[QLineEdit], None], parent: QObject):
        super().__init__(parent)
        self._field = field
        self._focus = focus

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.MouseButtonPress:
            self._focus(self._field)
        return False
