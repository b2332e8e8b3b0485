"""A minimal aiortc offerer standing for the cabin in the console's tests.

It offers what the cabin offers (one video track, one audio track, the `cabin` data channel),
sends `Heartbeat`s every second, and records every `CallChannel` message the console sends,
each checked with `wire.decode`. Loopback only: no STUN server, host candidates narrowed to
127.0.0.1 by the caller (`loopback_only_ice`).
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from unittest import mock

import aioice.ice
import numpy as np
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCDataChannel,
    RTCPeerConnection,
    RTCSessionDescription,
    VideoStreamTrack,
)
from aiortc.contrib.media import MediaBlackhole
from aiortc.mediastreams import AudioStreamTrack
from av import VideoFrame

import wire

SendSignal = Callable[[wire.Message], Awaitable[None]]


@contextlib.contextmanager
def loopback_only_ice() -> Iterator[None]:
    """aioice skips 127.0.0.1 when it lists host addresses: give it only that one."""
    with mock.patch.object(aioice.ice, "get_host_addresses", return_value=["127.0.0.1"]):
        yield


class PatternTrack(VideoStreamTrack):
    """640x480 frames of calm moving bands, so that a screenshot shows the video plays."""

    def __init__(self) -> None:
        super().__init__()
        self._count = 0
        rows = np.linspace(0, 255, 480, dtype=np.float32)[:, None]
        cols = np.linspace(0, 255, 640, dtype=np.float32)[None, :]
        self._base = np.stack(
            [
                np.broadcast_to(rows * 0.3 + 40, (480, 640)),
                np.broadcast_to(cols * 0.5 + 60, (480, 640)),
                np.full((480, 640), 150.0),
            ],
            axis=-1,
        ).astype(np.uint8)

    async def recv(self) -> VideoFrame:
        pts, time_base = await self.next_timestamp()
        image = self._base.copy()
        band = (self._count * 8) % 480
        image[band : band + 24, :, :] = (235, 235, 235)
        self._count += 1
        frame = VideoFrame.from_ndarray(image, format="rgb24")
        frame.pts = pts
        frame.time_base = time_base if time_base else fractions.Fraction(1, 90000)
        return frame


class CabinPeer:
    """The cabin's side of one call: offer, data channel, heartbeats, readings."""

    def __init__(self, consultation_id: str, send_signal: SendSignal) -> None:
        self.consultation_id = consultation_id
        self._send_signal = send_signal
        self.pc: RTCPeerConnection | None = None
        self.channel: RTCDataChannel | None = None
        self.received: list[wire.Message] = []
        self.refused: list[str] = []
        self.heartbeats_paused = False
        self.channel_open = asyncio.Event()
        self._heartbeat_task: asyncio.Task[None] | None = None
        self._sink = MediaBlackhole()
        self._ids = 0

    def next_id(self, prefix: str) -> str:
        self._ids += 1
        return f"{prefix}-{self._ids}"

    async def offer(self) -> None:
        """A new peer connection and its `SdpOffer` (again after a simulated network cut)."""
        await self._close_pc()
        self.channel_open.clear()
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.pc = pc
        pc.addTrack(PatternTrack())
        pc.addTrack(AudioStreamTrack())
        channel = pc.createDataChannel("cabin", ordered=True)
        self.channel = channel

        @channel.on("open")
        def on_open() -> None:
            self.channel_open.set()

        @channel.on("message")
        def on_message(data: str | bytes) -> None:
            try:
                msg = wire.decode(data, allowed=wire.CallChannel)
            except wire.WireError as exc:
                self.refused.append(str(exc))
                return
            self.received.append(msg)
            if isinstance(msg, wire.MeasureRequest | wire.PrescriptionMessage | wire.CallEnd):
                self.send_on_channel(wire.Ack(msg_id=self.next_id("ack"), ack_of=msg.msg_id))

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            self._sink.addTrack(track)

        await pc.setLocalDescription(await pc.createOffer())  # aiortc gathers before it offers
        await self._send_signal(
            wire.SdpOffer(
                msg_id=self.next_id("offer"),
                consultation_id=self.consultation_id,
                sdp=pc.localDescription.sdp,
            )
        )
        if self._heartbeat_task is None:
            self._heartbeat_task = asyncio.create_task(self._heartbeats())

    async def on_answer(self, answer: wire.SdpAnswer) -> None:
        assert self.pc is not None
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=answer.sdp, type="answer"))
        await self._sink.start()

    def send_on_channel(self, msg: wire.Message) -> bool:
        if self.channel is None or self.channel.readyState != "open":
            return False
        self.channel.send(wire.encode(msg).decode())
        return True

    def send_reading(self, vital: wire.Vital, msg_id: str | None = None) -> str:
        msg_id = msg_id or self.next_id("reading")
        self.send_on_channel(
            wire.ReadingMessage(msg_id=msg_id, consultation_id=self.consultation_id, reading=vital)
        )
        return msg_id

    def of_type(self, kind: type[wire.Message]) -> list[wire.Message]:
        return [m for m in self.received if isinstance(m, kind)]

    async def _heartbeats(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            if not self.heartbeats_paused:
                self.send_on_channel(
                    wire.Heartbeat(msg_id=self.next_id("hb"), sent_at=datetime.now(UTC))
                )

    async def _close_pc(self) -> None:
        if self.pc is not None:
            pc, self.pc, self.channel = self.pc, None, None
            await pc.close()

    async def close(self) -> None:
        if self._heartbeat_task is not None:
            self._heartbeat_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._heartbeat_task
            self._heartbeat_task = None
        await self._close_pc()
        await self._sink.stop()
