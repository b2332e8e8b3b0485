"""The cabin process: Qt on the main thread, asyncio on it through qasync, the core under it.

    python -m ui demo [--scripted] [--out DIR]    the demo cabin on embedded defaults
    python -m ui run --config FILE --data DIR     a real cabin

Without a display (no $DISPLAY nor $WAYLAND_DISPLAY) the demo is scripted: it plays a whole
consultation by itself, offscreen, and writes a screenshot of every screen into its output folder.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import faulthandler
import logging
import os
import sys
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import msgspec

from kiosk.config import Config, load_config
from kiosk.errors import KioskError
from kiosk.native_memory import limit_arenas

log = logging.getLogger("cabin")

T = TypeVar("T")

WORKER_THREADS = 10
"""Threads of asyncio's default executor (``asyncio.to_thread``, where aiortc also encodes the
call's video and sound), each started only when none is free: a call keeps two or three busy.
qasync's own default starts ten at once that take jobs in turn, and each of them grew a malloc
arena of the encoder's and the conversions' buffers (issue 14; the soak in bench/README.md)."""


async def with_worker_pool(main: Coroutine[Any, Any, T]) -> T:
    """Run ``main`` with a `WORKER_THREADS` thread pool as the event loop's default executor."""
    pool = ThreadPoolExecutor(WORKER_THREADS, thread_name_prefix="worker")
    asyncio.get_running_loop().set_default_executor(pool)
    return await main


MALLOC_ARENAS = 2
"""glibc's malloc arenas for the whole process (its default: 8 per core, 16 here), unless
``MALLOC_ARENA_MAX`` says otherwise. Each thread's freed buffers stay in its arena: with 16, the
call's encoders and the threads started per call spread them over all of them (issue 14; the
soak in bench/README.md: RSS at the 30th consultation, see there)."""


def limit_malloc_arenas() -> None:
    """`MALLOC_ARENAS` arenas, before the threads start (a no-op where libc is not glibc)."""
    if "MALLOC_ARENA_MAX" in os.environ:
        return  # whoever started the process chose
    if not limit_arenas(MALLOC_ARENAS):
        log.warning("cabin.malloc_arenas_not_limited")


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
    parser = argparse.ArgumentParser(prog="cabin")
    parser.add_argument("mode", choices=["demo", "run"])
    parser.add_argument("--config", type=Path, help="TOML file laid over the embedded defaults")
    parser.add_argument("--data", type=Path, help="data folder (database, key)")
    parser.add_argument("--scripted", action="store_true", help="play a consultation alone")
    parser.add_argument("--out", type=Path, default=Path("demo-out"), help="scripted output")
    parser.add_argument("--lang", choices=["fr", "en"], help="first language of the screen")
    parser.add_argument("--verbose", action="store_true")
    return parser.parse_args(argv)


def _config(args: argparse.Namespace, scripted: bool) -> Config:
    if args.mode == "run" and args.config is None:
        raise KioskError("a real cabin needs --config (for example /etc/cabin/cabin.toml)")
    config = load_config(args.config)
    if scripted:
        session = msgspec.structs.replace(config.session, **SCRIPTED_TIMEOUTS)
        config = msgspec.structs.replace(config, session=session)
    return config


def main(argv: list[str] | None = None) -> None:
    # A crash in native code (Qt, FFmpeg, OpenCV, SQLCipher) leaves every thread's Python stack
    # in the log (the journal, on a cabin) instead of a bare signal.
    faulthandler.enable()
    limit_malloc_arenas()
    args = _arguments(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    # qasync's debug lines print every callback with its arguments: never in the cabin's log.
    logging.getLogger("qasync").setLevel(logging.INFO)
    has_display = bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    scripted = args.mode == "demo" and (args.scripted or not has_display)
    if scripted or not has_display:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    try:
        config = _config(args, scripted)
    except (KioskError, OSError) as exc:
        log.error("cabin.config_refused: %s", exc)
        sys.exit(2)
    data_dir = args.data or (Path(".cabin-data") if args.mode == "demo" else Path("/var/lib/cabin"))

    # Qt is imported only now: the configuration errors above come out in milliseconds.
    import qasync  # noqa: PLC0415
    from PySide6.QtWidgets import QApplication  # noqa: PLC0415

    from ui.session_runner import run_cabin  # noqa: PLC0415

    app = QApplication.instance() or QApplication(sys.argv[:1])
    try:
        status = qasync.run(
            with_worker_pool(
                run_cabin(
                    app,  # type: ignore[arg-type]
                    config,
                    data_dir,
                    demo=args.mode == "demo",
                    scripted_out=args.out if scripted else None,
                    language=args.lang or config.cabin.default_language,
                )
            )
        )
    except KioskError as exc:
        log.error("cabin.refused_to_start: %s", exc)
        status = 3
    except asyncio.CancelledError:
        status = 1
    leave(status)


def leave(status: int) -> NoReturn:
    """End the process once the cabin has closed everything (its database, devices, hub link
    and children), without the interpreter's teardown: there, now and then, a native library's
    own clean-up (Qt's, OpenCV's or FFmpeg's: no Python thread is left by then) called
    std::terminate, and the cabin that had stopped cleanly died of SIGABRT ("terminate called
    without an active exception", 1 exit in about 40 of the scripted demo under load). The log
    and the standard streams are flushed first; nothing else is left to do at that point."""
    log.info("cabin.exit status=%d", status)
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(status)
