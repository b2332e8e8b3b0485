"""Stopping a task and waiting for it, without swallowing our own cancellation.

``task.cancel(); with suppress(CancelledError): await task`` has a trap: if the task that waits
is itself cancelled meanwhile (the cabin shutting down while a driver closes its link), the
CancelledError meant for it is suppressed too, and it carries on as if nothing happened (seen:
a BLE driver then waited forever for a device, and the cabin never finished stopping).
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
            raise  # it was ours, not only the task's
