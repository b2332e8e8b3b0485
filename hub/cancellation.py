"""Stopping a task and waiting for it, without swallowing the waiter's own cancellation.

The hub's twin of ``devices/cancellation.py`` (the hub imports nothing of the cabin's packages):
``task.cancel(); with suppress(CancelledError): await task`` also swallows a cancellation of the
task that waits, which then carries on as if it had not been stopped.
"""

from __future__ import annotations

import asyncio
from typing import Any


async def cancel_and_wait(task: asyncio.Task[Any] | asyncio.Future[Any]) -> None:
    """Cancel ``task`` and wait until it is done; a cancellation of the caller still raises."""
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            raise
