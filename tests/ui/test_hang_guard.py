"""The guard of the UI scenarios: a hang fails its test alone, quickly, with the stacks."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
import qasync
from PySide6.QtWidgets import QApplication

from tests.hang_guard import run_guarded


@pytest.fixture
def loop(qapp: QApplication) -> Iterator[qasync.QEventLoop]:
    qapp.setQuitOnLastWindowClosed(False)
    loop = qasync.QEventLoop(qapp, already_running=False)
    asyncio.set_event_loop(loop)
    yield loop
    asyncio.set_event_loop(None)
    loop.close()


def test_a_scenario_that_ends_gives_its_result(loop: qasync.QEventLoop) -> None:
    async def scenario() -> str:
        await asyncio.sleep(0.01)
        return "done"

    assert run_guarded(loop, scenario(), limit_s=30) == "done"


def test_a_scenario_that_hangs_fails_with_where_every_task_waits(
    loop: qasync.QEventLoop,
) -> None:
    closed = []

    async def forever() -> None:
        await asyncio.get_running_loop().create_future()

    async def scenario() -> None:
        try:
            await forever()
        finally:
            closed.append("the scenario's finally ran")

    with pytest.raises(pytest.fail.Exception) as failure:
        run_guarded(loop, scenario(), limit_s=0.3, grace_s=5)
    message = str(failure.value)
    assert "the scenario hung" in message
    assert "in forever" in message  # the task's stack
    assert "--- thread MainThread" in message  # every thread's stack
    assert closed == ["the scenario's finally ran"]


def test_a_clean_up_that_hangs_too_stops_the_loop(loop: qasync.QEventLoop) -> None:
    async def scenario() -> None:
        never = asyncio.get_running_loop().create_future()
        try:
            await asyncio.shield(never)
        finally:
            await asyncio.shield(never)  # a close that waits for what never comes

    with pytest.raises(pytest.fail.Exception, match="the loop is stopped"):
        run_guarded(loop, scenario(), limit_s=0.3, grace_s=0.3)
