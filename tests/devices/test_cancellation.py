"""cancel_and_wait: the task stops, and a cancellation of the waiter is never swallowed."""

from __future__ import annotations

import asyncio

import pytest

from devices.cancellation import cancel_and_wait


def test_the_task_is_cancelled_and_awaited() -> None:
    async def scenario() -> None:
        task = asyncio.get_running_loop().create_task(asyncio.sleep(60))
        await cancel_and_wait(task)
        assert task.cancelled()

    asyncio.run(scenario())


def test_a_cancelled_waiter_stays_cancelled() -> None:
    """The bug it fixes: a driver closing its link while the cabin shuts down carried on, its
    own cancellation swallowed with the reader task's, and waited forever."""

    async def scenario() -> None:
        stopping = asyncio.Event()

        async def slow_to_stop() -> None:
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                stopping.set()
                await asyncio.sleep(0.2)  # cleans up a while before it ends
                raise

        async def closer() -> str:
            reader = asyncio.get_running_loop().create_task(slow_to_stop())
            await asyncio.sleep(0.01)  # the reader runs
            await cancel_and_wait(reader)
            await asyncio.sleep(60)  # what the driver did next: wait for the device
            return "carried on"

        waiter = asyncio.get_running_loop().create_task(closer())
        await asyncio.wait_for(stopping.wait(), 2)
        waiter.cancel()  # the shutdown, while the waiter waits for the reader to end
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(waiter, 2)

    asyncio.run(scenario())
