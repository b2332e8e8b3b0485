"""On-screen keys for a cabin with no physical keyboard: digits, and letters in alphabetical
order (easier than AZERTY for someone who never typed), 120 px keys, accents of French names.

Both widgets type into whichever ``QLineEdit`` they are given as their target; they emit
nothing else, so a page decides what a field means.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from PySide6.QtCore import QCoreApplication, Qt
from PySide6.QtWidgets import QGridLayout, QLineEdit, QPushButton, QSizePolicy, QWidget

from ui.theme import scaled

ERASE = "⌫"
SPACE = "␣"

DIGIT_ROWS = ("123", "456", "789", f" 0{ERASE}")
LETTER_ROWS = (
    "ABCDEFGH",
    "IJKLMNOP",
    "QRSTUVWX",
    "YZÉÈÊÀÇ-",
    f"'ÏÔ{SPACE}{ERASE}",
)
WIDE_KEYS: Mapping[str, int] = {
    SPACE: 3,
    ERASE: 2,
}  # in the letters: a long space bar, a wide erase key


class _Keys(QWidget):
    rows: tuple[str, ...]
    spans: ClassVar[Mapping[str, int]] = {}

    def __init__(self, scale: float = 1.0) -> None:
        super().__init__()
        self._target: QLineEdit | None = None
        grid = QGridLayout(self)
        grid.setSpacing(scaled(4, scale))
        grid.setContentsMargins(0, 0, 0, 0)
        for row, keys in enumerate(self.rows):
            column = 0
            for key in keys:
                span = self.spans.get(key, 1)
                if key == " ":
                    column += 1
                    continue
                button = QPushButton(self._label(key))
                button.setObjectName("key")
                button.setProperty("key", key)
                button.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # the field keeps its cursor
                button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
                button.setMinimumSize(scaled(120, scale), scaled(120, scale))
                button.clicked.connect(lambda _=False, k=key: self._press(k))
                grid.addWidget(button, row, column, 1, span)
                column += span

    def _label(self, key: str) -> str:
        if key == SPACE:
            return QCoreApplication.translate("Keyboard", "space")
        return key

    def set_target(self, target: QLineEdit | None) -> None:
        self._target = target

    def _press(self, key: str) -> None:
        target = self._target
        if target is None:
            return
        if key == ERASE:
            target.backspace()
        elif key == SPACE:
            target.insert(" ")
        else:
            target.insert(key)


class DigitKeypad(_Keys):
    rows = DIGIT_ROWS


class LetterKeyboard(_Keys):
    rows = LETTER_ROWS
    spans = WIDE_KEYS
