"""Runs the cabin: the core, the window, and (for the demo without a screen) the script."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

import msgspec
from PySide6.QtWidgets import QApplication

from kiosk.app import start_core
from kiosk.config import Config
from ui.kiosk_window import KioskWindow, LanguageSwitcher, TouchWatcher
from ui.scripted_demo import play_scripted
from ui.speech import Speaker

log = logging.getLogger(__name__)


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
    hub = None
    if demo:
        # The demo brings its own hub, in a process of its own, with its demo doctors.
        from simulators.demo_hub import start_demo_hub  # noqa: PLC0415 - demo only

        await asyncio.to_thread(data_dir.mkdir, parents=True, exist_ok=True)
        hub = await start_demo_hub(
            data_dir / "hub",
            config.resolve(data_dir, config.hub.credential_file),
            log_file=data_dir / "hub.log",
        )
        config = msgspec.structs.replace(
            config, hub=msgspec.structs.replace(config.hub, url=hub.url)
        )
        announce_console(hub.url)
    try:
        return await _run_cabin(app, config, data_dir, demo, scripted_out, language)
    finally:
        if hub is not None:
            await hub.stop()


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
    demo: bool,
    scripted_out: Path | None,
    language: str,
) -> int:
    core = await start_core(config, data_dir, create_key=demo)
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
    try:
        if scripted_out is not None:
            window.resize(*PORTRAIT)
            window.show()
            window.show_state()  # laid out again at its final size before the first picture
            return await play_scripted(window, core, languages, scripted_out, spoken)
        closed = asyncio.Event()
        app.lastWindowClosed.connect(closed.set)
        if demo:
            window.resize(*PORTRAIT)
            window.show()
        else:
            window.showFullScreen()
        log.info("ui.window_shown size=%dx%d", window.width(), window.height())
        with _stop_on_signals(closed):
            # The assistant's safe restart ends the process cleanly; systemd starts it again.
            stopped = asyncio.ensure_future(closed.wait())
            restart = asyncio.ensure_future(core.assistant.restart_requested.wait())
            await asyncio.wait({stopped, restart}, return_when=asyncio.FIRST_COMPLETED)
            for waiter in (stopped, restart):
                waiter.cancel()
        log.info("ui.stopping restart=%s", core.assistant.restart_requested.is_set())
        return 0
    finally:
        app.removeEventFilter(watcher)
        await window.intents.drain()
        await speaker.aclose()
        await core.aclose()
        window.close()
