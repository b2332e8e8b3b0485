"""One capture, many readers: the camera and the microphone are each read once and handed to the
call's peer connection and to distress detection.

Like aiortc's `MediaRelay`, but its reading task is owned: `Fanout.aclose` stops the source and
ends that task before it returns, so nothing of the cabin's media is left running when the
cabin stops (aiortc's relay leaves its reader pending until the source's next frame, after the
cabin's loop has gone: "Task was destroyed but it is pending").

A subscriber reads either every frame in order (`every_frame`: the microphone, where a gap would
be heard) or the newest frame each time it asks (the camera: a slow reader skips frames instead
of falling behind). Reading starts with the first subscriber's first `recv`; a subscriber that
stops is forgotten and the others go on; when the source ends, every subscriber's `recv` raises
`MediaStreamError`.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import TYPE_CHECKING, Any, Final

from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from devices.cancellation import cancel_and_wait

if TYPE_CHECKING:
    from av.frame import Frame
    from av.packet import Packet

    Media = Frame | Packet[Any]

log = logging.getLogger(__name__)
MAX_QUEUED_FRAMES: Final = 250
"""An in-order reader this far behind (5 s of 20 ms sound frames) has stopped reading without
saying so: older frames are dropped rather than kept without bound."""


class Fanout:
    def __init__(self, source: MediaStreamTrack) -> None:
        self.source = source
        self._subscribers: set[FanoutTrack] = set()
        self._reader: asyncio.Task[None] | None = None
        self._ended = False

    def subscribe(self, *, every_frame: bool) -> FanoutTrack:
        track = FanoutTrack(self, self.source.kind, every_frame=every_frame)
        if self._ended:
            track.end()
        else:
            self._subscribers.add(track)
        return track

    def _start(self) -> None:
        if self._reader is None and not self._ended:
            self._reader = asyncio.get_running_loop().create_task(
                self._read(), name=f"fanout-{self.source.kind}"
            )

    def _forget(self, track: FanoutTrack) -> None:
        self._subscribers.discard(track)

    async def _read(self) -> None:
        try:
            while True:
                try:
                    frame = await self.source.recv()
                except MediaStreamError:
                    return
                except Exception:  # a capture's own failure ends it like an unplug
                    log.exception("media.capture_failed kind=%s", self.source.kind)
                    return
                for track in tuple(self._subscribers):
                    track.put(frame)
        finally:
            self._end_all()

    def _end_all(self) -> None:
        self._ended = True
        for track in tuple(self._subscribers):
            track.end()
        self._subscribers.clear()

    async def aclose(self) -> None:
        """Stop the source and the reading; every subscriber ends."""
        self.source.stop()
        if self._reader is not None:
            await cancel_and_wait(self._reader)
        self._end_all()


class FanoutTrack(MediaStreamTrack):
    """One reader's view of a `Fanout`'s source."""

    def __init__(self, fanout: Fanout, kind: str, *, every_frame: bool) -> None:
        super().__init__()
        self.kind = kind
        self._fanout: Fanout | None = fanout
        self._every_frame = every_frame
        self._frames: deque[Media] = deque()
        self._newest: Media | None = None
        self._ended = False
        self._arrived = asyncio.Event()
        self.dropped = 0

    def put(self, frame: Media) -> None:
        if self._every_frame:
            if len(self._frames) >= MAX_QUEUED_FRAMES:
                self._frames.popleft()
                self.dropped += 1
            self._frames.append(frame)
        else:
            self._newest = frame
        self._arrived.set()

    def end(self) -> None:
        self._ended = True
        self._arrived.set()

    async def recv(self) -> Media:
        fanout = self._fanout
        if self.readyState != "live" or fanout is None:
            raise MediaStreamError
        fanout._start()
        while True:
            if self._frames:
                return self._frames.popleft()
            if self._newest is not None:
                frame, self._newest = self._newest, None
                return frame
            if self._ended:
                self.stop()
                raise MediaStreamError
            self._arrived.clear()
            await self._arrived.wait()

    def stop(self) -> None:
        super().stop()
        fanout, self._fanout = self._fanout, None
        if fanout is not None:
            fanout._forget(self)
        self.end()
