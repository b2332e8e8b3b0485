"""Benchmarks of the cabin's call: time to connect and to the first frame, CPU during a call.

Run ``python -m bench.bench_call`` (``--quick`` for a smoke run). Prints medians beside a floor
measured in the same run on the same machine, and the ratio; no pass/fail. Loopback only: no
packet leaves the machine (explicit empty ICE servers, host candidates narrowed to 127.0.0.1).

- floor: a bare aiortc offerer (synthetic 640x480 camera, a data channel) and a bare aiortc
  answerer in the same process, signaling by direct calls: from `createOffer` to the offerer's
  data channel open, and to the answerer's first decoded frame.
- CallClient: the cabin's `CallClient` (synthetic camera, looped speech, relay, heartbeats, codec
  preferences, bit-rate cap) against an aiortc doctor answering with its own camera and speech,
  in the same process: from `start()` to CONNECTED (its data channel open), to the doctor's first
  frame of the cabin, and to the cabin's first frame of the doctor.
- CPU: the cabin's process during a 640x480 call, the doctor in another process (so only the
  cabin's encode/decode is counted), as a share of one core (process time over wall time); with
  the uplink's bit rate from the client's stats.
- reconnection (what `tests/kiosk/call/test_client.py` checks happens, timed here): with the
  tests' quick settings, the doctor (a) closes its peer connection without a word, or (b) goes
  silent; from then (from its last heartbeat, for b) to RECONNECTING shown, to the new offer
  sent, and to CONNECTED again. Floors: the same client's first connection (start -> CONNECTED)
  in the same run, and the settings' own delays for the silence.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiortc
import av
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaPlayer
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtcdatachannel import RTCDataChannel

import wire
from devices.cancellation import within
from kiosk.call import (
    CabinMedia,
    CallClient,
    CallLinkState,
    CallSettings,
    NullAudioOutput,
    loopback_candidates,
    open_sound_file_microphone,
)
from simulators.media import CabinScene, SeatedPatient, SyntheticCamera, write_speech_wav

CONSULTATION = "c-bench-1"
SETTINGS = CallSettings(loopback_only=True)
QUICK = CallSettings(  # as tests/kiosk/call/test_client.py
    loopback_only=True,
    heartbeat_interval_s=0.5,
    reconnecting_after_s=1.5,
    renegotiate_after_s=3.0,
    retry_interval_s=2.0,
    retry_max_interval_s=4.0,
)
QUICK_DOCTOR_BEAT_S = 0.25  # as the tests' doctor beats with the quick settings
CPU_TARGET = 0.5  # of one core, for the cabin's side of a call (encode + decode)


def line(label: str, values: list[float], floor: list[float] | None, target: str = "") -> str:
    median = statistics.median(values)
    ratio = f"   x{median / statistics.median(floor):.2f} floor" if floor else ""
    return f"  {label:<44} median {median * 1e3:7.1f} ms{ratio}   {target}"


async def first(predicate: Callable[[], bool], timeout_s: float = 10.0) -> float:
    """The `perf_counter` at which `predicate` first holds (polled every millisecond)."""
    deadline = time.perf_counter() + timeout_s
    while not predicate():
        if time.perf_counter() > deadline:
            raise TimeoutError("benchmark step did not complete")
        await asyncio.sleep(0.001)
    return time.perf_counter()


async def count_frames(track: MediaStreamTrack, counter: list[int]) -> None:
    with contextlib.suppress(MediaStreamError):
        while True:
            await track.recv()
            counter[0] += 1


# --- floor: bare aiortc to aiortc ----------------------------------------------------------------


async def bare_call() -> tuple[float, float]:
    offerer = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    answerer = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    camera = SyntheticCamera()
    frames = [0]
    tasks: list[asyncio.Task[None]] = []
    answerer.add_listener(
        "track", lambda track: tasks.append(asyncio.create_task(count_frames(track, frames)))
    )
    try:
        start = time.perf_counter()
        offerer.addTrack(camera)
        channel = offerer.createDataChannel("cabin")
        with loopback_candidates():
            await offerer.setLocalDescription(await offerer.createOffer())
            await answerer.setRemoteDescription(offerer.localDescription)
            await answerer.setLocalDescription(await answerer.createAnswer())
        await offerer.setRemoteDescription(answerer.localDescription)
        connected = await first(lambda: channel.readyState == "open")
        frame = await first(lambda: frames[0] > 0)
        return connected - start, frame - start
    finally:
        for task in tasks:
            task.cancel()
        await offerer.close()
        await answerer.close()
        camera.stop()


# --- the doctor ----------------------------------------------------------------------------------


class BenchDoctor:
    """Answers each offer with a new peer connection, its own camera and speech; heartbeats."""

    def __init__(
        self, speech: Path, answer: Callable[[wire.SdpAnswer], Any], heartbeat_s: float = 1.0
    ) -> None:
        self.speech = speech
        self.answer = answer
        self.heartbeat_s = heartbeat_s
        self.silent = False
        self.last_beat_at = 0.0  # perf_counter of the last heartbeat sent
        self.pc: RTCPeerConnection | None = None
        self.channel: RTCDataChannel | None = None
        self.video_frames = [0]
        self._tasks: set[asyncio.Task[None]] = set()
        self._tracks: list[MediaStreamTrack] = []

    async def on_offer(self, offer: wire.SdpOffer) -> None:
        await self.close()
        self.silent = False
        pc = self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        camera = SyntheticCamera(CabinScene(SeatedPatient(hip_x=300)))
        player = MediaPlayer(str(self.speech), loop=True)
        assert player.audio is not None
        self._tracks = [camera, player.audio]
        pc.add_listener("datachannel", self._on_channel)
        pc.add_listener("track", self._on_track)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer.sdp, type="offer"))
        pc.addTrack(player.audio)
        pc.addTrack(camera)
        with loopback_candidates():
            await pc.setLocalDescription(await pc.createAnswer())
        result = self.answer(
            wire.SdpAnswer(
                msg_id=f"a-{time.monotonic_ns()}",
                consultation_id=offer.consultation_id,
                sdp=pc.localDescription.sdp,
            )
        )
        if asyncio.iscoroutine(result):
            await result

    def _on_channel(self, channel: RTCDataChannel) -> None:
        self.channel = channel
        self._spawn(self._heartbeats(channel))

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "video":
            self._spawn(count_frames(track, self.video_frames))
        else:
            self._spawn(count_frames(track, [0]))

    async def _heartbeats(self, channel: RTCDataChannel) -> None:
        while True:
            if channel.readyState == "open" and not self.silent:
                beat = wire.Heartbeat(msg_id=f"h-{time.monotonic_ns()}", sent_at=datetime.now(UTC))
                channel.send(wire.encode(beat).decode())
                self.last_beat_at = time.perf_counter()
            await asyncio.sleep(self.heartbeat_s)

    async def drop(self) -> None:
        """Close the peer connection without a word, as a console that reloads."""
        if self.pc is not None:
            await self.pc.close()

    def _spawn(self, work: Any) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self.pc is not None:
            await self.pc.close()
        for track in self._tracks:
            track.stop()


class InProcessHub:
    """The cabin's signaling straight to an in-process doctor."""

    def __init__(self) -> None:
        self.doctor: BenchDoctor | None = None
        self.offered_at: list[float] = []  # perf_counter of each offer the cabin sent
        self._tasks: set[asyncio.Task[None]] = set()

    async def send(self, message: wire.SdpOffer | wire.IceCandidate | wire.CallEnd) -> None:
        if isinstance(message, wire.SdpOffer):
            self.offered_at.append(time.perf_counter())
        if isinstance(message, wire.SdpOffer) and self.doctor is not None:
            task = asyncio.get_running_loop().create_task(self.doctor.on_offer(message))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)


def cabin_media(speech: Path) -> CabinMedia:
    return CabinMedia(
        camera=SyntheticCamera(),
        microphone=open_sound_file_microphone(speech),
        audio_output=NullAudioOutput(),
    )


def accepted() -> wire.CallAccepted:
    return wire.CallAccepted(
        msg_id="accepted-1",
        consultation_id=CONSULTATION,
        doctor=wire.DoctorInfo(display_name="Dr Bench", specialty="general practice"),
    )


async def client_call(speech: Path) -> tuple[float, float, float]:
    media = cabin_media(speech)
    hub = InProcessHub()
    cabin_frames = [0]

    def seen(_image: Any) -> None:
        cabin_frames[0] += 1

    client = CallClient(
        consultation_id=CONSULTATION,
        accepted=accepted(),
        signaling=hub,
        media=media,
        settings=SETTINGS,
        on_link_state=lambda _state: None,
        on_message=lambda _message: None,
        on_remote_frame=seen,
    )
    doctor = BenchDoctor(speech, client.handle_signal)
    hub.doctor = doctor
    try:
        start = time.perf_counter()
        await client.start()
        connected = await first(lambda: client.link_state is CallLinkState.CONNECTED)
        doctor_frame = await first(lambda: doctor.video_frames[0] > 0)
        cabin_frame = await first(lambda: cabin_frames[0] > 0)
        return connected - start, doctor_frame - start, cabin_frame - start
    finally:
        await client.close()
        await doctor.close()
        await media.close()


# --- reconnection -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reconnection:
    """Seconds: the first connection, then from the doctor's drop (or last heartbeat) on."""

    connect_s: float
    reconnecting_s: float
    offer_s: float
    connected_again_s: float


async def reconnection(speech: Path, silence: bool) -> Reconnection:
    """One call with the quick settings; the doctor drops its peer connection (or goes silent)
    once the call is up, and the cabin comes back with a new one."""
    media = cabin_media(speech)
    hub = InProcessHub()
    states: list[tuple[float, CallLinkState]] = []
    client = CallClient(
        consultation_id=CONSULTATION,
        accepted=accepted(),
        signaling=hub,
        media=media,
        settings=QUICK,
        on_link_state=lambda state: states.append((time.perf_counter(), state)),
        on_message=lambda _message: None,
        on_remote_frame=lambda _image: None,
    )
    doctor = BenchDoctor(speech, client.handle_signal, QUICK_DOCTOR_BEAT_S)
    hub.doctor = doctor
    try:
        start = time.perf_counter()
        await client.start()
        connected = await first(lambda: client.link_state is CallLinkState.CONNECTED)
        await first(lambda: doctor.video_frames[0] > 0)
        await asyncio.sleep(0.5)  # a call under way: past the first keyframes
        seen = len(states)
        if silence:
            doctor.silent = True
            await asyncio.sleep(0)
            since = doctor.last_beat_at
        else:
            since = time.perf_counter()
            await doctor.drop()
        await first(lambda: client.link_state is CallLinkState.RECONNECTING, 20)
        await first(lambda: len(hub.offered_at) >= 2, 20)
        await first(lambda: any(s is CallLinkState.CONNECTED for _, s in states[seen:]), 20)
        reconnecting = next(t for t, s in states[seen:] if s is CallLinkState.RECONNECTING)
        again = next(t for t, s in states[seen:] if s is CallLinkState.CONNECTED)
        return Reconnection(
            connect_s=connected - start,
            reconnecting_s=reconnecting - since,
            offer_s=hub.offered_at[1] - since,
            connected_again_s=again - since,
        )
    finally:
        await client.close()
        await doctor.close()
        await media.close()


def reconnection_lines(drops: list[Reconnection], silences: list[Reconnection]) -> list[str]:
    floor = [r.connect_s for r in drops + silences]
    after_offer = [r.connected_again_s - r.offer_s for r in drops + silences]

    def setting(label: str, values: list[float], setting_s: float) -> str:
        median = statistics.median(values)
        return (
            f"  {label:<44} median {median * 1e3:7.1f} ms   setting {setting_s * 1e3:.0f} ms,"
            f" +{(median - setting_s) * 1e3:.0f} ms (x{median / setting_s:.2f})"
        )

    return [
        line("floor  start -> CONNECTED (the first time)", floor, None),
        line("drop   closed -> RECONNECTING shown", [r.reconnecting_s for r in drops], None),
        line("drop   closed -> new offer sent", [r.offer_s for r in drops], None),
        line(
            "drop   closed -> CONNECTED again",
            [r.connected_again_s for r in drops],
            floor,
            "(test_client: noticed at once, not after the silence)",
        ),
        setting(
            "silent last beat -> RECONNECTING shown",
            [r.reconnecting_s for r in silences],
            QUICK.reconnecting_after_s,
        ),
        setting(
            "silent last beat -> new offer sent",
            [r.offer_s for r in silences],
            QUICK.renegotiate_after_s,
        ),
        line("any    new offer -> CONNECTED again", after_offer, floor),
    ]


# --- CPU, the doctor in another process ----------------------------------------------------------

DOCTOR_PROCESS = """
import asyncio, sys
from pathlib import Path
import wire
from bench.bench_call import BenchDoctor

async def main():
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    def answer(message):
        sys.stdout.write(wire.encode(message).decode() + "\\n")
        sys.stdout.flush()
    doctor = BenchDoctor(Path(sys.argv[1]), answer)
    while line := await reader.readline():
        message = wire.decode(line)
        if isinstance(message, wire.SdpOffer):
            await doctor.on_offer(message)
        elif isinstance(message, wire.CallEnd):
            break
    await doctor.close()

asyncio.run(main())
"""


class PipeHub:
    """The cabin's signaling to a doctor process, one JSON message a line."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    async def send(self, message: wire.SdpOffer | wire.IceCandidate | wire.CallEnd) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(wire.encode(message) + b"\n")
        await self.process.stdin.drain()


async def cabin_cpu(speech: Path, seconds: float) -> tuple[float, float, int]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        DOCTOR_PROCESS,
        str(speech),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    media = cabin_media(speech)
    client = CallClient(
        consultation_id=CONSULTATION,
        accepted=accepted(),
        signaling=PipeHub(process),
        media=media,
        settings=SETTINGS,
        on_link_state=lambda _state: None,
        on_message=lambda _message: None,
        on_remote_frame=lambda _image: None,
    )

    async def answers() -> None:
        assert process.stdout is not None
        while line := await process.stdout.readline():
            message = wire.decode(line, allowed=wire.SdpAnswer)
            assert isinstance(message, wire.SdpAnswer)
            await client.handle_signal(message)

    reader = asyncio.create_task(answers())
    try:
        await client.start()
        await first(lambda: client.link_state is CallLinkState.CONNECTED, 20)
        await asyncio.sleep(2.0)  # past the first keyframes
        before = await client.stats()
        cpu, wall = time.process_time(), time.perf_counter()
        await asyncio.sleep(seconds)
        share = (time.process_time() - cpu) / (time.perf_counter() - wall)
        after = await client.stats()
        uplink_kbps = (after.bytes_sent - before.bytes_sent) * 8 / seconds / 1000
        frames = after.video_frames_received - before.video_frames_received
        return share, uplink_kbps, frames
    finally:
        await client.hang_up(wire.CallEndReason.COMPLETED)
        reader.cancel()
        await media.close()
        try:
            await within(process.wait(), 5)
        except TimeoutError:
            process.kill()
            await process.wait()


async def main_async(quick: bool) -> None:
    runs = 3 if quick else 10
    with tempfile.TemporaryDirectory(prefix="bench-call-") as work:
        speech = write_speech_wav(Path(work) / "speech.wav", "Bonjour docteur.", "fr")
        floor_connect, floor_frame = [], []
        client_connect, doctor_frame, cabin_frame = [], [], []
        for _ in range(runs):  # interleaved
            connected, frame = await bare_call()
            floor_connect.append(connected)
            floor_frame.append(frame)
            connected, seen_by_doctor, seen_by_cabin = await client_call(speech)
            client_connect.append(connected)
            doctor_frame.append(seen_by_doctor)
            cabin_frame.append(seen_by_cabin)
        drops, silences = [], []
        for _ in range(runs):  # interleaved
            drops.append(await reconnection(speech, silence=False))
            silences.append(await reconnection(speech, silence=True))
        seconds = 3.0 if quick else 10.0
        share, uplink_kbps, frames = await cabin_cpu(speech, seconds)
    print(f"loopback call, {runs} runs each, same process (aiortc {aiortc.__version__})")
    print(line("floor  bare offer -> data channel open", floor_connect, None))
    print(line("floor  bare offer -> first frame decoded", floor_frame, None))
    print(line("CallClient  start -> CONNECTED", client_connect, floor_connect))
    print(line("CallClient  start -> doctor's first frame", doctor_frame, floor_frame))
    print(line("CallClient  start -> cabin's first frame", cabin_frame, floor_frame))
    print(
        f"reconnection: {runs} runs each, quick settings (heartbeat {QUICK.heartbeat_interval_s} s,"
        f" reconnecting after {QUICK.reconnecting_after_s} s, new offer after"
        f" {QUICK.renegotiate_after_s} s of silence; the doctor beats every"
        f" {QUICK_DOCTOR_BEAT_S} s)"
    )
    for text in reconnection_lines(drops, silences):
        print(text)
    print(
        f"cabin CPU in a 640x480 call, doctor in another process, {seconds:.0f} s:"
        f" {share * 100:.1f} % of one core   target <= {CPU_TARGET * 100:.0f} %"
    )
    print(
        f"  uplink {uplink_kbps:.0f} kbit/s (budget 500), doctor's frames shown"
        f" {frames / seconds:.1f}/s, av {av.__version__}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_call")
    parser.add_argument("--quick", action="store_true", help="fewer runs: a smoke run")
    args = parser.parse_args(argv)
    logging.getLogger("kiosk.call").setLevel(logging.ERROR)  # the reconnections' warnings
    started = time.perf_counter()
    asyncio.run(main_async(args.quick))
    print(f"(bench took {time.perf_counter() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
