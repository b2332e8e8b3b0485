"""Qt under a qasync loop, as in the cabin: the window and the core share one thread."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import qasync
from PySide6.QtWidgets import QApplication

from ui.i18n import build, qm_file

Runner = Callable[[Coroutine[Any, Any, Any]], Any]


@pytest.fixture(scope="session", autouse=True)
def translations() -> None:
    if not qm_file("fr").exists():
        build()


@pytest.fixture
def run(qapp: QApplication) -> Iterator[Runner]:
    qapp.setQuitOnLastWindowClosed(False)  # closing a test's window must not stop the loop
    loop = qasync.QEventLoop(qapp, already_running=False)
    asyncio.set_event_loop(loop)
    yield loop.run_until_complete
    asyncio.set_event_loop(None)
    loop.close()


@pytest.fixture(scope="session")
def screens_dir() -> Path:
    """Where the UI tests leave their screenshots to be looked at (git-ignored)."""
    path = Path(__file__).resolve().parents[2] / "test-out" / "screens"
    path.mkdir(parents=True, exist_ok=True)
    return path
