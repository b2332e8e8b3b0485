"""Waiting with a deadline, and stopping a task, without ever losing a cancellation.

Two traps of asyncio on Python 3.11, both seen hanging the cabin's shutdown:

- ``asyncio.wait_for`` swallows a cancellation that arrives after the awaited operation has
  finished but before the waiting task has resumed (CPython issue gh-86296; rewritten in 3.12).
  A serial driver reading a pty that streams 60 frames a second, cancelled by the core's
  ``aclose``, carried on reading as if nothing had happened, and the close waited for it
  forever (the suite hung in the window tests under load). Use :func:`within` instead; ruff
  bans ``asyncio.wait_for`` in the product (``TID251`` in ``pyproject.toml``).
- ``task.cancel(); with suppress(CancelledError): await task`` swallows a cancellation of the
  task that waits too: a driver closing its link while the cabin shut down carried on, and
  waited forever for a device. :func:`cancel_and_wait` keeps the waiter's own cancellation.

And the rest of the world (a library's own ``wait_for``) may still lose one: :func:`cancel_and_wait`
says so in the log, with the task's stack, and cancels it again, rather than wait forever.
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Awaitable
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

CANCEL_AGAIN_AFTER_S = 10.0
"""How long a cancelled task may take to end before its cancellation is taken as lost. Long
enough for a clean-up that closes a link (a BLE disconnect, a socket) with its own deadline."""


async def within(awaitable: Awaitable[T], timeout_s: float | None) -> T:
    """``await awaitable``, raising ``TimeoutError`` after ``timeout_s`` (None: no deadline).

    ``asyncio.wait_for`` without its trap: the awaitable runs in the caller's task, so a
    cancellation of the caller always reaches it and is never traded for a result. As with
    ``wait_for``, an awaited task or future is cancelled when the deadline passes.
    """
    async with asyncio.timeout(timeout_s):
        return await awaitable


async def cancel_and_wait(
    task: asyncio.Task[Any] | asyncio.Future[Any],
    *,
    cancel_again_after_s: float = CANCEL_AGAIN_AFTER_S,
) -> None:
    """Cancel ``task`` and wait until it is done; a cancellation of the caller still raises.

    A task still running ``cancel_again_after_s`` after its cancellation lost it (or is stuck
    in its clean-up): that is logged as an error with where it is, and it is cancelled again.
    The task's own exception, if it failed, is raised here.
    """
    task.cancel()
    while True:
        done, _ = await asyncio.wait({task}, timeout=cancel_again_after_s)
        if done:
            break
        log.error(
            "task.cancel_lost task=%s after_s=%.0f where=%s",
            task.get_name() if isinstance(task, asyncio.Task) else "future",
            cancel_again_after_s,
            _where(task),
        )
        task.cancel()
    try:
        task.result()
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            raise  # it was ours, not only the task's


def _where(task: asyncio.Future[Any]) -> str:
    if not isinstance(task, asyncio.Task):
        return "-"
    out = io.StringIO()
    task.print_stack(limit=8, file=out)
    return " | ".join(line.strip() for line in out.getvalue().splitlines()[1:])
