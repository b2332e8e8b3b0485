"""A test that hangs fails by itself, quickly, and says where everything was.

pytest-timeout's `signal` method cannot interrupt Qt's event loop (a hang once ran past CI's
limit), and its `thread` method (set in pyproject.toml, the last resort) ends the whole run.
`run_guarded` runs one scenario on an event loop with a watchdog thread: past `limit_s`, it
writes every thread's stack and every task's stack, cancels the scenario (its `finally`
blocks close what it opened), and, if the loop still does not come back, stops the loop. Only
that test fails, with the stacks in its report; the run goes on.
"""

from __future__ import annotations

import asyncio
import io
import sys
import threading
import traceback
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest

T = TypeVar("T")

SCENARIO_LIMIT_S = 200.0
"""The longest UI scenario (a whole journey by taps) takes 25 s alone, 40 s with a load average
of 19 on 2 cores; 200 s (plus `CLOSING_GRACE_S`) stays under pytest-timeout's 300 s, which would
end the whole run."""
CLOSING_GRACE_S = 20.0
"""After the cancellation, how long its clean-up may take before the loop is stopped."""


def run_guarded(
    loop: asyncio.AbstractEventLoop,
    scenario: Coroutine[Any, Any, T],
    *,
    limit_s: float = SCENARIO_LIMIT_S,
    grace_s: float = CLOSING_GRACE_S,
) -> T:
    task = loop.create_task(scenario, name="scenario")
    finished = threading.Event()
    report: list[str] = []

    def dump_and_cancel() -> None:
        report.append(tasks_report(loop))
        task.cancel(f"the scenario ran past {limit_s:.0f} s")

    def watchdog() -> None:
        if finished.wait(limit_s):
            return
        report.append(threads_report())
        sys.stderr.write(f"\nhang_guard: the scenario ran past {limit_s:.0f} s\n{report[-1]}\n")
        loop.call_soon_threadsafe(dump_and_cancel)
        if finished.wait(grace_s):
            return
        report.append(f"its clean-up did not end within {grace_s:.0f} s: the loop is stopped")
        report.append(threads_report())
        loop.call_soon_threadsafe(loop.stop)

    guard = threading.Thread(target=watchdog, name="hang-guard", daemon=True)
    guard.start()
    try:
        return loop.run_until_complete(task)
    except (asyncio.CancelledError, RuntimeError):
        if not report:
            raise
        pytest.fail("the scenario hung:\n" + "\n".join(report), pytrace=False)
    finally:
        finished.set()
        guard.join()


def threads_report() -> str:
    """Every thread's stack, as faulthandler would print it, but as text for the report."""
    names = {thread.ident: thread.name for thread in threading.enumerate()}
    out = io.StringIO()
    for ident, frame in sys._current_frames().items():
        out.write(f"--- thread {names.get(ident, '?')} ({ident})\n")
        out.write("".join(traceback.format_stack(frame)))
    return out.getvalue()


def tasks_report(loop: asyncio.AbstractEventLoop) -> str:
    """Every task of the loop and the whole chain of awaits it waits in (on the loop's thread;
    `Task.print_stack` shows only the outermost coroutine)."""
    out = io.StringIO()
    for task in asyncio.all_tasks(loop):
        out.write(f"--- {task!r}\n")
        awaited: Any = task.get_coro()
        for _ in range(40):
            frame = getattr(awaited, "cr_frame", None) or getattr(awaited, "gi_frame", None)
            if frame is None:
                break
            out.write(f"  {frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}\n")
            awaited = getattr(awaited, "cr_await", None) or getattr(awaited, "gi_yieldfrom", None)
        if awaited is not None:
            out.write(f"  awaiting {awaited!r}\n")
    return out.getvalue()
