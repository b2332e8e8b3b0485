"""Qt under a qasync loop, as in the cabin: the window and the core share one thread."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import qasync
from PySide6.QtWidgets import QApplication, QLineEdit, QPushButton, QWidget

from tests.hang_guard import run_guarded
from ui.i18n import build, qm_file
from ui.identify_page import _date_cursor
from ui.keyboards import SPACE
from ui.scripted_demo import _press

Runner = Callable[[Coroutine[Any, Any, Any]], Any]


@pytest.fixture(scope="session", autouse=True)
def translations() -> None:
    if not qm_file("fr").exists():
        build()


UNTIL_S = 60.0
"""How long `until` waits: only "never" should reach it. With two CPU burners beside the UI tests
and other suites running (load average near 20 on 2 cores), a blood-pressure measurement by taps
took over 30 s and a killed voice over 10 s to be reaped (issue 14)."""


@pytest.fixture
def run(qapp: QApplication) -> Iterator[Runner]:
    """Runs a scenario on a new qasync loop, as the cabin runs; a hang fails the test alone,
    with every thread's and task's stack (`tests.hang_guard`)."""
    qapp.setQuitOnLastWindowClosed(False)  # closing a test's window must not stop the loop
    loop = qasync.QEventLoop(qapp, already_running=False)
    asyncio.set_event_loop(loop)
    yield lambda scenario: run_guarded(loop, scenario)
    asyncio.set_event_loop(None)
    loop.close()


async def until(condition: Callable[[], bool], what: str, timeout_s: float = UNTIL_S) -> None:
    """Wait for what the screen should come to show, instead of sleeping a guessed while: on a
    loaded machine a page may take longer, and a fixed sleep turns the test red."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"never: {what}"
        await asyncio.sleep(0.01)


def keys_shown(page: QWidget) -> dict[str, QPushButton]:
    """The on-screen keys a finger can reach now, by the character they type."""
    found = page.findChildren(QPushButton, "key")
    return {k.property("key"): k for k in found if k.isVisible()}


async def type_on_keys(page: QWidget, line: QLineEdit, text: str) -> None:
    """Tap the field, then its on-screen keys, as a finger would: once the keys are shown and
    (for a date) the cursor has gone to the first blank, which the page does just after the tap
    (a finger is never faster than that)."""
    _press(line)
    wanted = {SPACE if char == " " else char for char in text.upper()}

    def ready() -> bool:
        at_blank = line.objectName() != "birth_date" or line.cursorPosition() == _date_cursor(
            line.text()
        )
        return at_blank and wanted <= keys_shown(page).keys()

    await until(ready, f"{line.objectName()} ready for the keys")
    keys = keys_shown(page)
    for char in text.upper():
        _press(keys[SPACE if char == " " else char])


@pytest.fixture(scope="session")
def screens_dir() -> Path:
    """Where the UI tests leave their screenshots to be looked at (git-ignored)."""
    path = Path(__file__).resolve().parents[2] / "test-out" / "screens"
    path.mkdir(parents=True, exist_ok=True)
    return path
