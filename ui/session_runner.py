"""Runs the cabin: the core, the window, and (for the demo without a screen) the script.

The idle screen comes first: the core's fast part is opened (``open_core``), the window shown,
and once it is painted the core warms up in the background (the camera, the hub, the printer;
see ``kiosk.app``). The demo's own hub starts in that warm-up, when the core asks where it is.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject
from PySide6.QtWidgets import QApplication, QWidget

from devices.cancellation import within
from kiosk.app import open_core
from kiosk.config import Config
from kiosk.systemd_notify import ServiceNotifier
from ui.kiosk_window import KioskWindow, LanguageSwitcher, TouchWatcher
from ui.speech import Speaker

if TYPE_CHECKING:
    from simulators.demo_hub import DemoHub, DemoMailbox

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
    # The demo brings its own hub, in a process of its own, with its demo doctors; the
    # scripted demo, the patients' mailbox too (a real SMTP server on loopback).
    mailbox = await _start_mailbox(scripted_out) if demo and scripted_out is not None else None
    hub = DemoHubOnDemand(data_dir, config, mailbox) if demo else None
    try:
        return await _run_cabin(app, config, data_dir, hub, scripted_out, language, mailbox)
    finally:
        if hub is not None:
            await hub.stop()
        if mailbox is not None:
            await mailbox.stop()


async def _start_mailbox(out: Path) -> DemoMailbox:
    from simulators.demo_hub import start_demo_mailbox  # noqa: PLC0415 - demo only

    folder = out / "mail"
    await asyncio.to_thread(shutil.rmtree, folder, True)
    return await start_demo_mailbox(folder)


class DemoHubOnDemand:
    """The demo's hub, started when the core's warm-up first asks where the hub is (after the
    first screen is painted), and stopped with the cabin."""

    def __init__(self, data_dir: Path, config: Config, mailbox: DemoMailbox | None = None) -> None:
        self._data_dir = data_dir
        self._token_file = config.resolve(data_dir, config.hub.credential_file)
        self._mailbox = mailbox
        """The scripted demo's: its hub sends e-mail there, and starts on an empty database."""
        self._starting: asyncio.Task[DemoHub] | None = None

    async def url(self) -> str:
        if self._starting is None:
            self._starting = asyncio.get_running_loop().create_task(self._start())
        # Shielded: a warm-up cancelled meanwhile lets the start end, and `stop` stops the hub.
        hub = await asyncio.shield(self._starting)
        return hub.url

    async def _start(self) -> DemoHub:
        from simulators import demo_hub  # noqa: PLC0415 - demo only

        hub_dir = self._data_dir / "hub"
        config_file = None
        if self._mailbox is None:
            await asyncio.to_thread(hub_dir.mkdir, mode=0o700, parents=True, exist_ok=True)
        else:  # the scripted demo: a hub of its own, new each run
            hub_dir = await asyncio.to_thread(demo_hub.fresh_hub_folder, self._data_dir)
            config_file = self._data_dir / "hub-scripted.toml"
            mailbox = self._mailbox
            text = demo_hub.scripted_hub_config(mailbox.hub_mail_config(), mailbox.hub_sms_config())
            await asyncio.to_thread(config_file.write_text, text, encoding="utf-8")
        hub = await demo_hub.start_demo_hub(
            hub_dir,
            self._token_file,
            log_file=self._data_dir / "hub.log",
            config_file=config_file,
        )
        announce_console(hub.url)
        return hub

    async def stop(self) -> None:
        starting = self._starting
        if starting is None:
            return
        await asyncio.wait({starting})  # a start under way ends by itself: it has a deadline
        if starting.cancelled() or starting.exception() is not None:
            return  # it did not start (the warm-up's log says why): nothing to stop
        await starting.result().stop()


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


def announce_console(url: str) -> None:
    """Tell the person running the demo where the doctor's console is, and how to log in."""
    from simulators.demo_hub import DEMO_DOCTOR  # noqa: PLC0415 - demo only

    print(
        f"\n  Doctor's console: {url}/\n"
        f"  Log in as {DEMO_DOCTOR.username} / {DEMO_DOCTOR.password}"
        f" ({DEMO_DOCTOR.display_name}); the hub's log is in the data folder.\n",
        flush=True,
    )


async def _run_cabin(
    app: QApplication,
    config: Config,
    data_dir: Path,
    hub: DemoHubOnDemand | None,
    scripted_out: Path | None,
    language: str,
    mailbox: DemoMailbox | None = None,
) -> int:
    demo = hub is not None
    core = await open_core(config, data_dir, create_key=demo)
    # The loop must outlive the window: closing it is ours to handle, not Qt's to quit on.
    app.setQuitOnLastWindowClosed(False)
    languages = LanguageSwitcher(app)
    languages.set(language)
    spoken: list[int] = []  # the scripted demo has no speakers: it keeps each sentence's size
    speaker = Speaker(sink=lambda wav: spoken.append(len(wav))) if scripted_out else Speaker()
    window = KioskWindow(core, languages, speaker)
    watcher = TouchWatcher(core.session.touch)
    app.installEventFilter(watcher)
    core.start_ticker()
    first_paint = FirstPaint(window)
    hub_address = hub.url if hub is not None else None
    try:
        if scripted_out is not None:
            from ui.scripted_demo import play_scripted  # noqa: PLC0415 - the demo's script

            window.resize(*PORTRAIT)
            window.show()
            window.show_state()  # laid out again at its final size before the first picture
            core.start_warm_up(hub_address=hub_address)
            await core.warmed_up()  # the script plays the doctor and the camera: all of it up
            return await play_scripted(
                window, core, languages, scripted_out, spoken, mailbox=mailbox
            )
        closed = asyncio.Event()
        app.lastWindowClosed.connect(closed.set)
        if demo:
            window.resize(*PORTRAIT)
            window.show()
        else:
            window.showFullScreen()
        log.info("ui.window_shown size=%dx%d", window.width(), window.height())
        with _stop_on_signals(closed):
            await first_paint.wait(FIRST_PAINT_WAIT_S)
            systemd = ServiceNotifier.from_environment()  # READY=1, then the watchdog's pings
            systemd.ready("idle screen shown")  # from this loop (cabin.service, WatchdogSec=)
            core.start_warm_up(hub_address=hub_address)  # what the idle screen does not need
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
