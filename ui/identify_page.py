"""Who the patient is: an appointment code on a keypad, or (walk-in, and to confirm a code)
their name and date of birth on the on-screen keyboard. One question at a time.

The page holds what is typed only while it lives; the window destroys it when the session
moves on or ends.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from datetime import date

from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import (
    QBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from kiosk.patient import PatientIdentity, Sex
from ui.keyboards import DigitKeypad, LetterKeyboard

CODE_PATTERN = re.compile(r"^\d{6}$")


class IdentifyPage(QWidget):
    def __init__(
        self,
        identified: Callable[[PatientIdentity], object],
        back: Callable[[], object],
        problem: Callable[[str], None],
        *,
        landscape: bool = False,
    ) -> None:
        super().__init__()
        self._landscape = landscape
        self._identified = identified
        self._back = back
        self._problem = problem
        self._code: str | None = None
        self._layout = QVBoxLayout(self)
        self._layout.setSpacing(28)
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

    def _show_code(self) -> None:
        field = self._field("appointment_code", self.tr("Code"))
        field.setMaxLength(6)
        keypad = DigitKeypad()
        keypad.set_target(field)

        def confirm() -> None:
            if not CODE_PATTERN.match(field.text()):
                self._problem(self.tr("The code has six digits. Please check it."))
                return
            self._code = field.text()
            self._show_identity()

        self._replace(
            self.tr("Your appointment code"),
            self.tr("Type the six digits of your code."),
            [
                ("primary", self.tr("Continue"), confirm),
                ("back", self.tr("Back"), self._show_choice),
            ],
            [field],
            [keypad],
        )

    def _show_identity(self, typed: PatientIdentity | None = None) -> None:
        family = self._field("family_name", self.tr("Family name"))
        given = self._field("given_names", self.tr("Given names"))
        birth = self._field("birth_date", self.tr("Date of birth (DD/MM/YYYY)"))
        birth.setInputMask("00/00/0000;_")
        if typed is not None:  # back from the next question: what was typed is still there
            family.setText(typed.family_name)
            given.setText(typed.given_names)
            birth.setText(typed.birth_date.strftime("%d%m%Y"))
        letters = LetterKeyboard()
        digits = DigitKeypad()
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
                    family.text().strip(),
                    given.text().strip(),
                    date(year, month, day),
                    appointment_code=self._code,
                )
            except ValueError:
                self._problem(self.tr("Please check your name and your date of birth."))
                return
            self._show_sex(patient)

        self._replace(
            self.tr("Who are you?"),
            self.tr("Your name and date of birth let the doctor find your record."),
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
            return lambda: self._identified(replace(patient, sex=sex))

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
    ) -> None:
        """One question: in portrait everything in a column; in landscape the keys stand
        beside the question, so nothing is squeezed."""
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
        outer.setSpacing(32)
        question = QVBoxLayout()
        question.setSpacing(16 if landscape else 24)
        heading = QLabel(title)
        heading.setObjectName("title")
        heading.setWordWrap(True)
        text = QLabel(body)
        text.setWordWrap(True)
        question.addWidget(heading)
        question.addWidget(text)
        for field in fields or []:
            question.addWidget(field)
        # In landscape the buttons stand side by side: the column has less height than width.
        buttons = QBoxLayout(
            QBoxLayout.Direction.LeftToRight if landscape else QBoxLayout.Direction.TopToBottom
        )
        buttons.setSpacing(16)
        for name, label, handler in actions:
            button = QPushButton(label)
            button.setObjectName(name)
            button.clicked.connect(lambda _=False, h=handler: h())
            buttons.addWidget(button)
        outer.addLayout(question, 1)
        if landscape:
            question.addStretch(1)
            question.addLayout(buttons)
            keys_column = QVBoxLayout()
            for widget in keys or []:
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
