"""Runs the patient's intents (coroutines of the core) from Qt signal handlers.

A button's slot cannot await; it hands the coroutine here. Each runs as an owned task; a
refusal or a store failure becomes a message on the screen and a log line, never a crash.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from kiosk.errors import KioskError

log = logging.getLogger(__name__)


class IntentRunner:
    def __init__(self, on_error: Callable[[KioskError], None]) -> None:
        self._on_error = on_error
        self._tasks: set[asyncio.Task[Any]] = set()

    def run(self, intent: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(intent)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        error = task.exception()
        if isinstance(error, KioskError):
            log.warning("ui.intent_refused error=%s", type(error).__name__)
            self._on_error(error)
        elif error is not None:
            log.error("ui.intent_failed", exc_info=error)

    async def drain(self) -> None:
        """Wait for the intents under way (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def cancel_all(self) -> None:
        for task in self._tasks:
            task.cancel()
