"""The demo cabin's process: ``python -m demo [--scripted] [--out DIR]`` (``./cabin demo``).

The product's process (``ui.main``) and run (``ui.session_runner``), with the demo's wiring: its
simulators, its drawn camera, its own hub (started in the warm-up), a portrait window, and the
key made on the first run. Without a display (no $DISPLAY nor $WAYLAND_DISPLAY) the demo is
scripted: it plays a whole consultation by itself, offscreen, and writes a screenshot of every
screen into its output folder (``ui.scripted_demo``).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from demo.hub import DemoHubOnDemand, start_mailbox
from demo.root import demo_wiring
from kiosk.config import Config, load_config
from kiosk.errors import KioskError
from ui.main import has_display, leave, run_qt, start_process

if TYPE_CHECKING:
    from PySide6.QtWidgets import QApplication

    from kiosk.app import KioskCore
    from simulators.demo_hub import DemoMailbox
    from ui.kiosk_window import KioskWindow, LanguageSwitcher
    from ui.session_runner import Script

log = logging.getLogger("cabin")

DEMO_DATA_DIR = Path(".cabin-data")

# The scripted demo compresses time: a patient who stops touching the screen is asked "are you
# still there?" after a few seconds instead of ninety. Not fewer: the script must see each screen
# before its timeout moves it on, and on a loaded machine (load average 19 on 2 cores) the loop
# once went over 3 s without running it, so that the survey had passed before it was seen.
SCRIPTED_TIMEOUTS = {
    "inactivity_timeout_s": 8.0,
    "still_there_countdown_s": 4.0,
    "assistant_timeout_s": 30.0,
}


def _arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m demo")
    parser.add_argument("--config", type=Path, help="TOML file laid over the embedded defaults")
    parser.add_argument("--data", type=Path, help=f"data folder (default {DEMO_DATA_DIR})")
    parser.add_argument("--scripted", action="store_true", help="play a consultation alone")
    parser.add_argument("--out", type=Path, default=Path("demo-out"), help="scripted output")
    parser.add_argument("--lang", choices=["fr", "en"], help="first language of the screen")
    parser.add_argument("--verbose", action="store_true")
    return parser.parse_args(argv)


def demo_config(path: Path | None, *, scripted: bool) -> Config:
    """The embedded defaults (and ``path`` over them); the scripted demo's timeouts shorter."""
    config = load_config(path)
    if scripted:
        session = msgspec.structs.replace(config.session, **SCRIPTED_TIMEOUTS)
        config = msgspec.structs.replace(config, session=session)
    return config


async def run_demo(
    app: QApplication, config: Config, data_dir: Path, *, scripted_out: Path | None, language: str
) -> int:
    """The demo cabin until its window closes (or its script ends): the exit status. It brings
    its own hub, in a process of its own, with its demo doctors; the scripted demo, the
    patients' mailbox too (a real SMTP server on loopback)."""
    from ui.session_runner import CabinRun, run_cabin  # noqa: PLC0415 - Qt: after the checks

    mailbox = await start_mailbox(scripted_out) if scripted_out is not None else None
    hub = DemoHubOnDemand(data_dir, config, mailbox)
    script = scripted(scripted_out, mailbox) if scripted_out is not None else None
    run = CabinRun(wiring=demo_wiring(hub), create_key=True, windowed=True, script=script)
    try:
        return await run_cabin(app, config, data_dir, language=language, run=run)
    finally:
        await hub.stop()
        if mailbox is not None:
            await mailbox.stop()


def scripted(out: Path, mailbox: DemoMailbox | None) -> Script:
    """The scripted demo's play (``ui.scripted_demo``), its pictures and report into ``out``."""

    async def play(
        window: KioskWindow, core: KioskCore, languages: LanguageSwitcher, spoken: list[int]
    ) -> int:
        from ui.scripted_demo import play_scripted  # noqa: PLC0415 - Qt, loaded by then

        return await play_scripted(window, core, languages, out, spoken, mailbox=mailbox)

    return play


def main(argv: list[str] | None = None) -> None:
    args = _arguments(sys.argv[1:] if argv is None else argv)
    start_process(verbose=args.verbose)
    scripted = args.scripted or not has_display()
    if scripted:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    try:
        config = demo_config(args.config, scripted=scripted)
    except (KioskError, OSError) as exc:
        log.error("cabin.config_refused: %s", exc)
        sys.exit(2)
    data_dir = args.data or DEMO_DATA_DIR
    out = args.out if scripted else None
    language = args.lang or config.cabin.default_language
    leave(run_qt(lambda app: run_demo(app, config, data_dir, scripted_out=out, language=language)))
