"""cancel_and_wait: the task stops, and a cancellation of the waiter is never swallowed."""

from __future__ import annotations

import asyncio
import logging
import sys

import pytest

from devices.cancellation import cancel_and_wait, within


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
        await within(stopping.wait(), 30)
        waiter.cancel()  # the shutdown, while the waiter waits for the reader to end
        with pytest.raises(asyncio.CancelledError):
            await within(waiter, 30)

    asyncio.run(scenario())


async def _cancel_right_after_the_read_completes(wait: str) -> asyncio.Task[None]:
    """A driver's serving loop, as `SerialInstrument._serve`: read with a deadline, again and
    again. The read completes, and the cabin's close cancels the loop before it resumes: the
    moment the suite hung in, under load."""
    loop = asyncio.get_running_loop()
    reads: list[asyncio.Future[bytes]] = []

    async def read() -> bytes:
        reads.append(loop.create_future())
        return await reads[-1]

    async def serve() -> None:
        while True:
            if wait == "asyncio.wait_for":
                await asyncio.wait_for(read(), 10)  # noqa: TID251 - the trap itself
            else:
                await within(read(), 10)

    task = loop.create_task(serve())
    for _ in range(5):
        await asyncio.sleep(0)
    reads[-1].set_result(b"\x86U\x0cGb")
    # Two turns of the loop later: the read is over, the serving loop not resumed yet.
    loop.call_soon(lambda: loop.call_soon(task.cancel))
    await asyncio.wait({task}, timeout=2)
    return task


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="asyncio.wait_for was fixed in 3.12")
def test_asyncio_wait_for_loses_a_cancellation_that_arrives_after_the_result() -> None:
    """Why the product never calls asyncio.wait_for (CPython gh-86296)."""

    async def scenario() -> None:
        task = await _cancel_right_after_the_read_completes("asyncio.wait_for")
        assert not task.done() and task.cancelling() == 1  # cancelled, and still reading
        task.cancel()
        await asyncio.wait({task}, timeout=2)

    asyncio.run(scenario())


def test_within_never_trades_a_cancellation_for_a_result() -> None:
    async def scenario() -> None:
        task = await _cancel_right_after_the_read_completes("within")
        assert task.cancelled()

    asyncio.run(scenario())


def test_within_gives_the_result_or_times_out_and_cancels_what_it_awaited() -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        assert await within(asyncio.sleep(0, "read"), 5) == "read"
        assert await within(asyncio.sleep(0, "no deadline"), None) == "no deadline"
        slow = loop.create_task(asyncio.sleep(60))
        with pytest.raises(TimeoutError):
            await within(slow, 0.01)
        assert slow.cancelled()

    asyncio.run(scenario())


def test_a_lost_cancellation_is_logged_and_sent_again(caplog: pytest.LogCaptureFixture) -> None:
    """A library's own wait_for can still lose one: closing does not wait forever for it."""

    async def scenario() -> None:
        lost = asyncio.Event()

        async def deaf_once() -> None:
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                lost.set()  # as asyncio.wait_for does, in effect: carries on
            await asyncio.sleep(60)

        task = asyncio.get_running_loop().create_task(deaf_once(), name="deaf-reader")
        await asyncio.sleep(0)
        await within(cancel_and_wait(task, cancel_again_after_s=0.05), 10)
        assert lost.is_set() and task.cancelled()

    with caplog.at_level(logging.ERROR, logger="devices.cancellation"):
        asyncio.run(scenario())
    lost_lines = [r.getMessage() for r in caplog.records if "task.cancel_lost" in r.getMessage()]
    assert len(lost_lines) == 1
    assert "task=deaf-reader" in lost_lines[0] and "deaf_once" in lost_lines[0]


def test_a_failed_task_raises_its_error_when_stopped() -> None:
    async def scenario() -> None:
        async def failing() -> None:
            raise RuntimeError("the link broke")

        task = asyncio.get_running_loop().create_task(failing())
        await asyncio.sleep(0)
        with pytest.raises(RuntimeError, match="the link broke"):
            await cancel_and_wait(task)

    asyncio.run(scenario())
