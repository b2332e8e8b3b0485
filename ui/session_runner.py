"""Runs the cabin: the core, the window, and (for the scripted demo) the script.

The idle screen comes first: the core's fast part is opened (``open_core``), the window shown,
and once it is painted the core warms up in the background (the camera, the hub, the printer;
see ``kiosk.app``).

A real cabin runs with `CabinRun`'s defaults: the product's wiring, full screen, no key created.
The demo's composition root (``demo.main``) gives its own (its simulators, its hub started in
the warm-up when the core asks where it is, a portrait window, its script); this module knows
nothing of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QApplication, QWidget

from devices.cancellation import within
from kiosk.app import PRODUCT, KioskCore, Wiring, open_core
from kiosk.config import Config
from kiosk.systemd_notify import ServiceNotifier
from ui.kiosk_window import KioskWindow, LanguageSwitcher, TouchWatcher
from ui.speech import Speaker

log = logging.getLogger(__name__)

FIRST_PAINT_WAIT_S = 2.0
"""The warm-up starts once the window is painted, or after this (a window never painted, such
as one on a screen that is off, must not keep the cabin from warming up)."""


@contextlib.contextmanager
def _stop_on_signals(stop: asyncio.Event) -> Iterator[None]:
    """SIGTERM (systemd stopping the cabin) and SIGINT end the run cleanly: the store is
    closed, nothing is cut mid-write. Python runs the handler between two bytecodes, which
    the loop's own timers guarantee even while Qt waits for events."""
    loop = asyncio.get_running_loop()

    def handler(signum: int, frame: FrameType | None) -> None:
        del frame
        log.info("ui.signal %s", signal.Signals(signum).name)
        loop.call_soon_threadsafe(stop.set)

    previous = {number: signal.signal(number, handler) for number in STOP_SIGNALS}
    try:
        yield
    finally:
        for number, old in previous.items():
            signal.signal(number, old)


PORTRAIT = (1080, 1920)
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)

Script = Callable[[KioskWindow, KioskCore, LanguageSwitcher, list[int]], Awaitable[int]]
"""Plays the cabin by itself once it is warmed up (the window, the core, its languages, and the
size of each sentence spoken, for a run without loudspeakers); returns the exit status."""


@dataclass(frozen=True, slots=True)
class CabinRun:
    """How the cabin runs besides its configuration. A real cabin's is the default."""

    wiring: Wiring = PRODUCT
    create_key: bool = False
    """Make the database key on the first run (the demo); a real cabin never does."""
    windowed: bool = False
    """A portrait window (the demo on a desktop) instead of the full screen."""
    script: Script | None = None
    """Play the cabin by itself (the scripted demo): no loudspeakers, then the exit status."""


async def run_cabin(
    app: QApplication,
    config: Config,
    data_dir: Path,
    *,
    language: str,
    run: CabinRun = CabinRun(),
) -> int:
    """Run until the window closes (or the script ends); the exit status."""
    core = await open_core(config, data_dir, create_key=run.create_key, wiring=run.wiring)
    # The loop must outlive the window: closing it is ours to handle, not Qt's to quit on.
    app.setQuitOnLastWindowClosed(False)
    languages = LanguageSwitcher(app)
    languages.set(language)
    spoken: list[int] = []  # the scripted demo has no speakers: it keeps each sentence's size
    speaker = Speaker(sink=lambda wav: spoken.append(len(wav))) if run.script else Speaker()
    window = KioskWindow(core, languages, speaker)
    watcher = TouchWatcher(core.session.touch)
    app.installEventFilter(watcher)
    core.start_ticker()
    first_paint = FirstPaint(window)
    try:
        if run.script is not None:
            window.resize(*PORTRAIT)
            window.show()
            window.show_state()  # laid out again at its final size before the first picture
            core.start_warm_up()
            await core.warmed_up()  # the script plays the doctor and the camera: all of it up
            return await run.script(window, core, languages, spoken)
        closed = asyncio.Event()
        app.lastWindowClosed.connect(closed.set)
        if run.windowed:
            window.resize(*PORTRAIT)
            window.show()
        else:
            window.showFullScreen()
        log.info("ui.window_shown size=%dx%d", window.width(), window.height())
        with _stop_on_signals(closed):
            await first_paint.wait(FIRST_PAINT_WAIT_S)
            systemd = ServiceNotifier.from_environment()  # READY=1, then the watchdog's pings
            systemd.ready("idle screen shown")  # from this loop (cabin.service, WatchdogSec=)
            core.start_warm_up()  # what the idle screen does not need
            # The assistant's safe restart ends the process cleanly; systemd starts it again.
            stopped = asyncio.ensure_future(closed.wait())
            restart = asyncio.ensure_future(core.assistant.restart_requested.wait())
            await asyncio.wait({stopped, restart}, return_when=asyncio.FIRST_COMPLETED)
            for waiter in (stopped, restart):
                waiter.cancel()
            systemd.stopping()
        log.info("ui.stopping restart=%s", core.assistant.restart_requested.is_set())
        return 0
    finally:
        app.removeEventFilter(watcher)
        await window.intents.drain()
        await speaker.aclose()
        await core.aclose()  # the warm-up too, if it is still running
        window.close()


class FirstPaint(QObject):
    """``painted`` is set when the widget is first painted."""

    def __init__(self, widget: QWidget) -> None:
        super().__init__()
        self.painted = asyncio.Event()
        self._widget = widget
        widget.installEventFilter(self)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if event.type() == QEvent.Type.Paint and not self.painted.is_set():
            self.painted.set()  # the task waiting for it runs once this paint pass is over
            self._widget.removeEventFilter(self)
        return False

    async def wait(self, timeout_s: float) -> None:
        with contextlib.suppress(TimeoutError):
            await within(self.painted.wait(), timeout_s)
