"""The cabin process: Qt on the main thread, asyncio on it through qasync, the core under it.

    python -m ui run --config FILE [--data DIR]    a real cabin

A real cabin refuses to start, exit status 2 with one log line per setting, when its
configuration carries a demo setting or no database key (``kiosk.production``; ``python -m
kiosk check-config FILE`` says the same without starting anything).

The demo cabin is ``python -m demo`` (``./cabin demo``), its own composition root: this module
knows nothing of it, and the demo uses its process set-up (`start_process`, `run_qt`, `leave`).
Without a display (no $DISPLAY nor $WAYLAND_DISPLAY) Qt draws offscreen.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import faulthandler
import logging
import os
import sys
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

from kiosk.errors import KioskError
from kiosk.native_memory import limit_arenas
from kiosk.production import check_file

if TYPE_CHECKING:
    from PySide6.QtWidgets import QApplication

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


DEFAULT_DATA_DIR = Path("/var/lib/cabin")


def _arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m ui")
    parser.add_argument("mode", choices=["run"], help="a real cabin")
    parser.add_argument("--config", type=Path, help="TOML file laid over the embedded defaults")
    parser.add_argument("--data", type=Path, help=f"data folder (default {DEFAULT_DATA_DIR})")
    parser.add_argument("--lang", choices=["fr", "en"], help="first language of the screen")
    parser.add_argument("--verbose", action="store_true")
    return parser.parse_args(argv)


def start_process(*, verbose: bool) -> None:
    """What the cabin's process sets up first, demo or not."""
    # A crash in native code (Qt, FFmpeg, OpenCV, SQLCipher) leaves every thread's Python stack
    # in the log (the journal, on a cabin) instead of a bare signal.
    faulthandler.enable()
    limit_malloc_arenas()
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    # qasync's debug lines print every callback with its arguments: never in the cabin's log.
    logging.getLogger("qasync").setLevel(logging.INFO)


def has_display() -> bool:
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def run_qt(cabin: Callable[[QApplication], Coroutine[Any, Any, int]]) -> int:
    """Run ``cabin(app)`` on Qt's main thread through qasync, with the worker pool; its exit
    status (3 when the cabin refused to start, named in the log)."""
    # Qt is imported only now: the configuration errors before come out in milliseconds.
    import qasync  # noqa: PLC0415
    from PySide6.QtWidgets import QApplication  # noqa: PLC0415

    app = QApplication.instance() or QApplication(sys.argv[:1])
    try:
        return int(qasync.run(with_worker_pool(cabin(app))))  # type: ignore[arg-type]
    except KioskError as exc:
        log.error("cabin.refused_to_start: %s", exc)
        return 3
    except asyncio.CancelledError:
        return 1


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["demo"]:
        sys.exit("the demo cabin is `python -m demo` (./cabin demo): this is the product's")
    args = _arguments(argv)
    start_process(verbose=args.verbose)
    if args.config is None:
        log.error("cabin.config_refused: a real cabin needs --config (/etc/cabin/cabin.toml)")
        sys.exit(2)
    if not has_display():
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    data_dir = args.data or DEFAULT_DATA_DIR
    try:
        config, problems = check_file(args.config, data_dir, os.environ)
    except (KioskError, OSError) as exc:
        log.error("cabin.config_refused: %s", exc)
        sys.exit(2)
    if problems:  # the demo's settings, or no database key: named, each on its line
        for problem in problems:
            log.error("cabin.production_refused: %s", problem.describe(str(args.config)))
        log.error(
            "cabin.config_refused: %d setting(s) a real cabin refuses"
            " (python -m kiosk check-config %s)",
            len(problems),
            args.config,
        )
        sys.exit(2)
    language = args.lang or config.cabin.default_language

    from ui.session_runner import run_cabin  # noqa: PLC0415 - Qt: after the checks

    leave(run_qt(lambda app: run_cabin(app, config, data_dir, language=language)))


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
