"""One capture, many readers: every frame or the newest, a reader that leaves, and a close that
leaves nothing running."""

from __future__ import annotations

import asyncio

import av
import pytest
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from devices.cancellation import within
from kiosk.call.fanout import MAX_QUEUED_FRAMES, Fanout


class Source(MediaStreamTrack):
    """A capture the test feeds, frame by frame; None ends it, an exception breaks it."""

    kind = "video"

    def __init__(self) -> None:
        super().__init__()
        self.frames: asyncio.Queue[av.VideoFrame | Exception | None] = asyncio.Queue()
        self.reads = 0
        self.read = asyncio.Event()

    async def recv(self) -> av.VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        frame = await self.frames.get()
        if frame is None:
            raise MediaStreamError
        if isinstance(frame, Exception):
            raise frame
        self.reads += 1
        self.read.set()
        return frame

    def feed(self, *numbers: int) -> None:
        for n in numbers:
            frame = av.VideoFrame(width=16, height=16, format="rgb24")
            frame.pts = n
            self.frames.put_nowait(frame)


async def until_read(source: Source, count: int) -> None:
    async def read() -> None:
        while source.reads < count:
            source.read.clear()
            await source.read.wait()

    await within(read(), 10)


def test_every_frame_in_order_for_one_reader_and_the_newest_for_the_other() -> None:
    async def scenario() -> None:
        source = Source()
        fanout = Fanout(source)
        microphone_like = fanout.subscribe(every_frame=True)
        camera_like = fanout.subscribe(every_frame=False)
        source.feed(1)
        assert (await within(camera_like.recv(), 10)).pts == 1  # reading starts here
        source.feed(2, 3, 4)
        await until_read(source, 4)
        assert [(await microphone_like.recv()).pts for _ in range(4)] == [1, 2, 3, 4]
        assert (await camera_like.recv()).pts == 4  # the slow reader skips to the newest
        await fanout.aclose()

    asyncio.run(scenario())


def test_a_reader_that_stops_leaves_the_others_reading() -> None:
    async def scenario() -> None:
        source = Source()
        fanout = Fanout(source)
        call, distress = fanout.subscribe(every_frame=False), fanout.subscribe(every_frame=False)
        source.feed(1)
        assert (await within(call.recv(), 10)).pts == 1
        waiting = asyncio.ensure_future(call.recv())
        await asyncio.sleep(0)
        call.stop()  # the call ends while it waits for a frame
        with pytest.raises(MediaStreamError):
            await within(waiting, 10)
        source.feed(2)
        await until_read(source, 2)
        assert (await within(distress.recv(), 10)).pts == 2
        await fanout.aclose()

    asyncio.run(scenario())


def test_when_the_capture_ends_every_reader_ends() -> None:
    async def scenario() -> None:
        source = Source()
        fanout = Fanout(source)
        readers = [fanout.subscribe(every_frame=flag) for flag in (True, False)]
        source.feed(1)
        await within(readers[1].recv(), 10)
        source.frames.put_nowait(None)  # the camera is unplugged
        assert (await within(readers[0].recv(), 10)).pts == 1  # what came before still comes
        for reader in readers:
            with pytest.raises(MediaStreamError):
                await within(reader.recv(), 10)
        with pytest.raises(MediaStreamError):  # a late subscriber learns it at once
            await within(fanout.subscribe(every_frame=True).recv(), 10)

    asyncio.run(scenario())


def test_a_capture_that_breaks_ends_its_readers_and_closing_still_works(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def scenario() -> None:
        source = Source()
        fanout = Fanout(source)
        reader = fanout.subscribe(every_frame=True)
        source.feed(1)
        await within(reader.recv(), 10)
        source.frames.put_nowait(av.FFmpegError(5, "Input/output error"))  # a camera's failure
        with pytest.raises(MediaStreamError):
            await within(reader.recv(), 10)
        await fanout.aclose()  # raises nothing: the cabin goes on closing

    asyncio.run(scenario())
    assert "media.capture_failed kind=video" in caplog.text


def test_closing_stops_the_capture_and_leaves_no_task_running() -> None:
    async def scenario() -> None:
        source = Source()
        fanout = Fanout(source)
        reader = fanout.subscribe(every_frame=True)
        source.feed(1)
        await within(reader.recv(), 10)
        waiting = asyncio.ensure_future(reader.recv())  # the reading task waits on the source
        await asyncio.sleep(0)
        await fanout.aclose()
        assert source.readyState == "ended"
        assert asyncio.all_tasks() == {asyncio.current_task(), waiting} or waiting.done()
        with pytest.raises(MediaStreamError):
            await within(waiting, 10)
        assert asyncio.all_tasks() == {asyncio.current_task()}

    asyncio.run(scenario())


def test_a_reader_that_stopped_reading_without_saying_so_is_not_kept_without_bound() -> None:
    async def scenario() -> None:
        source = Source()
        fanout = Fanout(source)
        forgotten = fanout.subscribe(every_frame=True)
        reading = fanout.subscribe(every_frame=False)
        total = MAX_QUEUED_FRAMES + 20
        source.feed(*range(total))
        await within(reading.recv(), 10)
        await until_read(source, total)
        assert forgotten.dropped == 20
        assert (await forgotten.recv()).pts == 20  # the oldest kept
        await fanout.aclose()

    asyncio.run(scenario())
