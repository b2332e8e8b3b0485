"""Qt calling into Python must not drop references to None.

PySide6 6.12.0 on Python 3.11 did: every timer, every call_soon and every readable file
descriptor under qasync took one reference from None, and the cabin aborted ("Fatal Python
error: none_dealloc") after a few minutes of serial traffic. The lock file pins 6.11; this test
keeps it so.
"""

from __future__ import annotations

import asyncio
import os
import sys

from PySide6.QtWidgets import QApplication

from tests.ui.conftest import Runner

ROUNDS = 2000


def test_the_event_loop_does_not_eat_references_to_none(qapp: QApplication, run: Runner) -> None:
    async def scenario() -> int:
        before = sys.getrefcount(None)
        loop = asyncio.get_running_loop()
        readable, writable = os.pipe()
        woken = asyncio.Event()

        def wake() -> None:
            os.read(readable, 1)
            woken.set()

        loop.add_reader(readable, wake)
        try:
            for _ in range(ROUNDS):
                await asyncio.sleep(0)
                woken.clear()
                os.write(writable, b"x")
                await woken.wait()
        finally:
            loop.remove_reader(readable)
            os.close(readable)
            os.close(writable)
        return sys.getrefcount(None) - before

    change = run(scenario())
    assert change > -ROUNDS // 10, f"None lost {-change} references in {ROUNDS} rounds"
