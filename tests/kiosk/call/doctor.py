"""A real aiortc "doctor" for the call tests, and an in-memory hub between it and the cabin.

The doctor behaves as hub/PROTOCOL.md asks of the console: it answers each `SdpOffer` with a new
peer connection (closing the old one), sends its own synthetic video and speech, heartbeats every
second (or every `heartbeat_s`) on the data channel `cabin`, acks each reading, and may be told
to go silent, to drop its peer connection, or to send anything on the data channel.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import av
import numpy as np
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaPlayer
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtcdatachannel import RTCDataChannel

import wire
from kiosk.call import CallClient, NullAudioOutput, loopback_candidates
from simulators.media import CabinScene, SeatedPatient, SyntheticCamera


def new_id() -> str:
    return uuid.uuid4().hex


PATIENCE_S = 30.0
"""How long a test waits for something that takes well under a second on an idle machine: only
a real failure (or a hang) runs into it, never a loaded one. Durations are measured in
`bench/bench_call.py`, not asserted here."""


async def until(predicate: Callable[[], bool], what: str, timeout_s: float = PATIENCE_S) -> None:
    """Wait until `predicate()` holds; fail the test, saying what it waited for, after
    `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        await asyncio.sleep(0.02)


class HubRelay:
    """The cabin's `SignalingSender`: what the cabin sends reaches the doctor, in order."""

    def __init__(self) -> None:
        self.sent: list[wire.SdpOffer | wire.IceCandidate | wire.CallEnd] = []
        self.queue: asyncio.Queue[wire.SdpOffer | wire.IceCandidate | wire.CallEnd] = (
            asyncio.Queue()
        )

    async def send(self, message: wire.SdpOffer | wire.IceCandidate | wire.CallEnd) -> None:
        self.sent.append(message)
        self.queue.put_nowait(message)

    def offers(self) -> list[wire.SdpOffer]:
        return [m for m in self.sent if isinstance(m, wire.SdpOffer)]


class Doctor:
    def __init__(self, consultation_id: str, speech_wav: Path, *, heartbeat_s: float = 1.0) -> None:
        self.consultation_id = consultation_id
        self.speech_wav = speech_wav
        self.heartbeat_s = heartbeat_s
        self.client: CallClient | None = None
        self.pc: RTCPeerConnection | None = None
        self.channel: RTCDataChannel | None = None
        self.silent = False
        """Neither heartbeats nor acks, incoming messages dropped: a link gone quiet."""
        self.answers = 0
        self.received: list[wire.Message] = []
        self.readings: list[str] = []
        self.acks: list[str] = []
        self.signal_call_ends: list[wire.CallEnd] = []
        self.channel_call_ends: list[wire.CallEnd] = []
        self.video_frames = 0
        self.last_image: np.ndarray | None = None
        self.audio = NullAudioOutput()
        self._tasks: set[asyncio.Task[None]] = set()
        self._pc_tasks: set[asyncio.Task[None]] = set()
        self._tracks: list[MediaStreamTrack] = []

    # --- the hub's side ---------------------------------------------------------------------
    async def serve(self, relay: HubRelay) -> None:
        """Answer what the cabin signals, until cancelled."""
        while True:
            message = await relay.queue.get()
            if isinstance(message, wire.SdpOffer):
                await self._answer(message)
            elif isinstance(message, wire.CallEnd):
                self.signal_call_ends.append(message)

    def start(self, relay: HubRelay) -> None:
        self._spawn(self.serve(relay), self._tasks)
        self._spawn(self._heartbeats(), self._tasks)

    async def _answer(self, offer: wire.SdpOffer) -> None:
        assert self.client is not None
        await self.drop_peer_connection()
        self.silent = False
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.pc = pc
        camera = SyntheticCamera(CabinScene(SeatedPatient(hip_x=300, wave_every_s=3.0)))
        player = MediaPlayer(str(self.speech_wav), loop=True)
        assert player.audio is not None
        self._tracks = [camera, player.audio]

        @pc.on("datachannel")
        def on_datachannel(channel: RTCDataChannel) -> None:
            if pc is self.pc:
                self.channel = channel
                channel.on("message", self._on_message)

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            self._spawn(self._consume(track), self._pc_tasks)

        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer.sdp, type="offer"))
        pc.addTrack(player.audio)  # the offer's transceivers, made sendrecv
        pc.addTrack(camera)
        answer = await pc.createAnswer()
        with loopback_candidates():
            await pc.setLocalDescription(answer)
        self.answers += 1
        await self.client.handle_signal(
            wire.SdpAnswer(
                msg_id=new_id(),
                consultation_id=self.consultation_id,
                sdp=pc.localDescription.sdp,
            )
        )

    async def drop_peer_connection(self) -> None:
        """Close the peer connection at once, as a console that closes or reloads would."""
        pc, self.pc, self.channel = self.pc, None, None
        for task in list(self._pc_tasks):
            task.cancel()
        if pc is not None:
            await pc.close()
        for track in self._tracks:
            track.stop()

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.drop_peer_connection()

    # --- the data channel -------------------------------------------------------------------
    def send(self, message: wire.Message) -> None:
        self.send_raw(wire.encode(message).decode())

    def send_raw(self, data: str | bytes) -> None:
        assert self.channel is not None and self.channel.readyState == "open"
        self.channel.send(data)

    def is_open(self) -> bool:
        return self.channel is not None and self.channel.readyState == "open"

    def unique_readings(self) -> set[str]:
        return set(self.readings)

    def _on_message(self, data: str | bytes) -> None:
        if self.silent:
            return
        message = wire.decode(data, allowed=wire.CallChannel)
        self.received.append(message)
        if isinstance(message, wire.ReadingMessage):
            self.readings.append(message.msg_id)
            self.send(wire.Ack(msg_id=new_id(), ack_of=message.msg_id))
        elif isinstance(message, wire.Ack):
            self.acks.append(message.ack_of)
        elif isinstance(message, wire.CallEnd):
            self.channel_call_ends.append(message)

    async def _heartbeats(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_s)
            if self.is_open() and not self.silent:
                self.send(wire.Heartbeat(msg_id=new_id(), sent_at=datetime.now(UTC)))

    # --- media --------------------------------------------------------------------------------
    async def _consume(self, track: MediaStreamTrack) -> None:
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            if isinstance(frame, av.VideoFrame):
                self.video_frames += 1
                self.last_image = frame.to_ndarray(format="rgb24")
            elif isinstance(frame, av.AudioFrame):
                await self.audio.play(frame)

    def _spawn(self, work: Coroutine[Any, Any, None], tasks: set[asyncio.Task[None]]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        tasks.add(task)
        task.add_done_callback(tasks.discard)
