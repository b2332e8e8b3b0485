"""Runs the cabin: the core, the window, and (for the demo without a screen) the script."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from PySide6.QtWidgets import QApplication

from kiosk.app import start_core
from kiosk.config import Config
from ui.kiosk_window import KioskWindow, LanguageSwitcher, TouchWatcher
from ui.scripted_demo import play_scripted

log = logging.getLogger(__name__)

PORTRAIT = (1080, 1920)


async def run_cabin(
    app: QApplication,
    config: Config,
    data_dir: Path,
    *,
    demo: bool,
    scripted_out: Path | None,
    language: str,
) -> int:
    """Run until the window closes (or the script ends); the exit status."""
    core = await start_core(config, data_dir, create_key=demo)
    # The loop must outlive the window: closing it is ours to handle, not Qt's to quit on.
    app.setQuitOnLastWindowClosed(False)
    languages = LanguageSwitcher(app)
    languages.set(language)
    window = KioskWindow(core, languages)
    watcher = TouchWatcher(core.session.touch)
    app.installEventFilter(watcher)
    core.start_ticker()
    try:
        if scripted_out is not None:
            window.resize(*PORTRAIT)
            window.show()
            return await play_scripted(window, core, languages, scripted_out)
        closed = asyncio.Event()
        app.lastWindowClosed.connect(closed.set)
        if demo:
            window.resize(*PORTRAIT)
            window.show()
        else:
            window.showFullScreen()
        await closed.wait()
        return 0
    finally:
        app.removeEventFilter(watcher)
        await window.intents.drain()
        await core.aclose()
        window.close()
