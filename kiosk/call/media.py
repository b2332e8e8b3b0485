"""The cabin's media for the call: one capture per device, fanned out; the doctor's sound and image.

`CabinMedia` owns the camera and the microphone, each read once and fanned out (`kiosk.call.fanout`)
to every subscriber: the call's peer connection now (a new one at each reconnection), distress
detection later (`subscribe_camera`). The sources are given: a V4L2 camera and an ALSA microphone
on a real cabin (`open_v4l2_camera`, `open_alsa_microphone`), a synthetic scene and a looped sound
file for the demo and the tests (`open_sound_file_microphone`; the scene comes from `simulators`,
passed in by the composition root). Devices and files are read by `kiosk.call.capture`, not by
aiortc's `MediaPlayer`, which leaks native memory with every frame (see there).

The doctor's sound goes to an `AudioOutput`: `AplayAudioOutput` (s16le PCM into `aplay`, started
lazily, failures logged, never raised) or `NullAudioOutput` (counts and level, for machines with
no sound card). Both keep, in memory, the last seconds of what they were given (`PlayedSound`,
16 kHz mono on the monotonic clock): distress detection subtracts it from the microphone
(`kiosk.distress.echo`). The doctor's image goes through a `RemoteVideoSink`: RGB arrays to a
callback, the newest frame only when the callback is slower than the video.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final, Protocol, cast

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av.frame import Frame
from av.packet import Packet
from numpy.typing import NDArray

from devices.cancellation import cancel_and_wait, within
from kiosk.call.capture import MediaCapture
from kiosk.call.fanout import Fanout
from kiosk.call.settings import CallSettings

log = logging.getLogger(__name__)

RgbImage = NDArray[np.uint8]
"""An image as rows x columns x 3 (R, G, B) bytes."""

PCM_RATE_HZ: Final = 48_000
PCM_CHANNELS: Final = 2
PCM_BYTES_PER_S: Final = PCM_RATE_HZ * PCM_CHANNELS * 2
PLAYED_RATE_HZ: Final = 16_000
"""The rate at which what was played is kept (distress detection's analysis rate)."""


# --- sources -------------------------------------------------------------------------------------


def open_v4l2_camera(device: str, settings: CallSettings) -> MediaStreamTrack:
    """The video of a V4L2 camera (`/dev/video0`) at the call's size and frame rate."""
    capture = MediaCapture(
        device,
        format="v4l2",
        options={
            "video_size": f"{settings.video_width}x{settings.video_height}",
            "framerate": str(settings.video_fps),
        },
    )
    if capture.video is None:
        raise OSError(f"{device} gives no video")
    return capture.video


def open_alsa_microphone(device: str = "default") -> MediaStreamTrack:
    """The sound of an ALSA capture device."""
    capture = MediaCapture(device, format="alsa")
    if capture.audio is None:
        raise OSError(f"ALSA device {device} gives no sound")
    return capture.audio


def open_sound_file_microphone(path: Path, *, paced: bool = True) -> MediaStreamTrack:
    """A sound file (a WAV) played in a loop, in real time, as the microphone (demo, tests).

    ``paced=False`` reads it as fast as it is consumed (tests of hours of sound)."""
    capture = MediaCapture(str(path), loop=True, paced=paced)
    if capture.audio is None:
        raise OSError(f"{path.name} holds no sound")
    return capture.audio


# --- playing the doctor's sound ------------------------------------------------------------------


class AudioOutput(Protocol):
    """Where the doctor's voice goes. `play` must return quickly and never raise."""

    async def play(self, frame: av.AudioFrame) -> None: ...

    async def close(self) -> None: ...


def pcm_s16_stereo(frame: av.AudioFrame, resampler: av.AudioResampler | None = None) -> bytes:
    """The frame as interleaved signed 16-bit little-endian stereo PCM at 48 kHz."""
    if (
        frame.format.name == "s16"
        and frame.layout.name == "stereo"
        and frame.sample_rate == PCM_RATE_HZ
    ):
        return bytes(frame.planes[0])[: frame.samples * PCM_CHANNELS * 2]
    resampler = resampler or av.AudioResampler(format="s16", layout="stereo", rate=PCM_RATE_HZ)
    return b"".join(
        bytes(out.planes[0])[: out.samples * PCM_CHANNELS * 2] for out in resampler.resample(frame)
    )


def rms_level(pcm: bytes) -> float:
    """Root mean square of s16 PCM, 0 (silence) to 1 (full scale)."""
    samples = np.frombuffer(pcm, dtype="<i2")
    if samples.size == 0:
        return 0.0
    return math.sqrt(float(np.mean(np.square(samples, dtype=np.float64)))) / 32768.0


class PlayedSound:
    """The last `keep_s` seconds of what the speaker was given, for the microphone's echo
    canceller (`kiosk.distress.echo`): mono float32 at `PLAYED_RATE_HZ`, on the monotonic clock.

    `record(frame)` (on the event loop, by the output, for each frame it plays) places the frame
    on a timeline of samples: right after the previous one, as the output's buffer plays it,
    unless it was handed over more than `late_s` after that point (the output ran dry) or more
    than `early_s` before it (more than the output buffers): then at the instant it was handed
    over. The delay from this timeline to the loudspeaker (the output's buffering) is not known
    here: the echo canceller measures it. `read(start_s,
    count)` (from any thread) returns the samples from the instant ``start_s``, zeros where
    nothing was played or where it is older than `keep_s`. Memory only: a ring of `keep_s`
    seconds, nothing written, nothing sent.
    """

    def __init__(
        self,
        *,
        keep_s: float = 8.0,
        late_s: float = 0.1,
        early_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ring = np.zeros(round(keep_s * PLAYED_RATE_HZ), np.float32)
        self._late = round(late_s * PLAYED_RATE_HZ)
        self._early = round(early_s * PLAYED_RATE_HZ)
        self._clock = clock
        self._origin_s: float | None = None  # the instant of sample 0 of the timeline
        self._end = 0  # the timeline's index after the last sample kept
        self._lock = threading.Lock()
        # Stereo, then the mean of the channels: FFmpeg's downmix would add 3 dB to a voice
        # played on both.
        self._resampler = av.AudioResampler(format="fltp", layout="stereo", rate=PLAYED_RATE_HZ)
        self.seconds_recorded = 0.0

    def record(self, frame: av.AudioFrame) -> None:
        """The frame was just handed to the speaker."""
        at_s = self._clock()
        try:
            parts = [
                out.to_ndarray().mean(axis=0, dtype=np.float32)
                for out in self._resampler.resample(frame)
            ]
        except (ValueError, av.FFmpegError) as exc:
            log.error("call.played_sound_failed error=%s", exc)
            return
        samples = np.concatenate(parts) if parts else np.zeros(0, np.float32)
        self.seconds_recorded += samples.size / PLAYED_RATE_HZ
        with self._lock:
            if self._origin_s is None:
                self._origin_s = at_s
            handed = round((at_s - self._origin_s) * PLAYED_RATE_HZ)
            late = handed - self._end
            start = self._end if -self._early <= late <= self._late else handed
            self._write(start, samples)

    def _write(self, start: int, samples: NDArray[np.float32]) -> None:
        ring = self._ring
        size = ring.size
        if start > self._end:  # nothing was played in between: silence
            gap = min(start - self._end, size)
            self._place(start - gap, np.zeros(gap, np.float32))
        self._place(start, samples[-size:] if samples.size > size else samples)
        self._end = start + min(samples.size, size)

    def _place(self, start: int, samples: NDArray[np.float32]) -> None:
        size = self._ring.size
        at = start % size
        first = min(samples.size, size - at)
        self._ring[at : at + first] = samples[:first]
        self._ring[: samples.size - first] = samples[first:]

    def read(self, start_s: float, count: int) -> NDArray[np.float32]:
        """``count`` samples from the instant ``start_s`` (zeros where nothing is kept)."""
        out = np.zeros(max(0, count), np.float32)
        with self._lock:
            if self._origin_s is None or count <= 0:
                return out
            size = self._ring.size
            first = round((start_s - self._origin_s) * PLAYED_RATE_HZ)
            low = max(first, self._end - size)
            high = min(first + count, self._end)
            if high <= low:
                return out
            idx = np.arange(low, high) % size
            out[low - first : high - first] = self._ring[idx]
        return out


class NullAudioOutput:
    """Consumes the doctor's sound without playing it: counts frames and measures the level."""

    def __init__(self, played: PlayedSound | None = None) -> None:
        self.played = played if played is not None else PlayedSound()
        self.frames = 0
        self.samples = 0
        self.last_rms = 0.0
        self.peak_rms = 0.0
        self._resampler = av.AudioResampler(format="s16", layout="stereo", rate=PCM_RATE_HZ)

    async def play(self, frame: av.AudioFrame) -> None:
        pcm = pcm_s16_stereo(frame, self._resampler)
        self.frames += 1
        self.samples += len(pcm) // (PCM_CHANNELS * 2)
        self.last_rms = rms_level(pcm)
        self.peak_rms = max(self.peak_rms, self.last_rms)
        self.played.record(frame)

    async def close(self) -> None:
        return None


class AplayAudioOutput:
    """Plays the doctor's sound through `aplay` (ALSA), fed s16le stereo 48 kHz on its stdin.

    `aplay` starts with the first frame. If it cannot start or exits, that is logged
    (`call.audio_output_failed`, `call.audio_output_exited`) and sound is dropped; another start is
    tried after `restart_after_s`. When `aplay` does not keep up, frames beyond `max_buffered_s`
    of sound are dropped instead of queued.
    """

    def __init__(
        self,
        device: str | None = None,
        *,
        argv: Sequence[str] | None = None,
        max_buffered_s: float = 0.3,
        restart_after_s: float = 5.0,
        played: PlayedSound | None = None,
    ) -> None:
        device_args = ["-D", device] if device else []
        self.argv: tuple[str, ...] = tuple(
            argv
            if argv is not None
            else [
                "aplay",
                "-q",
                *device_args,
                "-t",
                "raw",
                "-f",
                "S16_LE",
                "-r",
                str(PCM_RATE_HZ),
                "-c",
                str(PCM_CHANNELS),
            ]
        )
        self.frames_played = 0
        self.frames_dropped = 0
        self._max_buffered_bytes = int(max_buffered_s * PCM_BYTES_PER_S)
        self._restart_after_s = restart_after_s
        self._process: asyncio.subprocess.Process | None = None
        self._next_start = 0.0
        self._closed = False
        self._resampler = av.AudioResampler(format="s16", layout="stereo", rate=PCM_RATE_HZ)
        self.played = played if played is not None else PlayedSound()
        """What was given to `aplay` (frames dropped are not), for the echo canceller."""

    async def play(self, frame: av.AudioFrame) -> None:
        process = await self._running_process()
        stdin = process.stdin if process is not None else None
        if stdin is None or stdin.transport.get_write_buffer_size() > self._max_buffered_bytes:
            self.frames_dropped += 1
            return
        stdin.write(pcm_s16_stereo(frame, self._resampler))
        self.frames_played += 1
        self.played.record(frame)

    async def close(self) -> None:
        self._closed = True
        process, self._process = self._process, None
        if process is None:
            return
        if process.returncode is None:
            if process.stdin is not None:
                process.stdin.close()
            try:
                await within(process.wait(), 1.0)
            except TimeoutError:
                process.kill()
                await process.wait()
        _subprocess_transport(process).close()

    async def _running_process(self) -> asyncio.subprocess.Process | None:
        process = self._process
        if process is not None and process.returncode is None:
            return process
        if process is not None:
            log.warning("call.audio_output_exited code=%s", process.returncode)
            _subprocess_transport(process).close()
            self._process = None
            self._next_start = asyncio.get_running_loop().time() + self._restart_after_s
        now = asyncio.get_running_loop().time()
        if self._closed or now < self._next_start:
            return None
        try:
            self._process = await asyncio.create_subprocess_exec(
                *self.argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )
        except OSError as exc:
            log.error("call.audio_output_failed command=%s error=%s", self.argv[0], exc)
            self._next_start = now + self._restart_after_s
            return None
        log.info("call.audio_output_started command=%s", self.argv[0])
        return self._process


def _subprocess_transport(process: asyncio.subprocess.Process) -> asyncio.SubprocessTransport:
    """The process's transport, which asyncio's ``Process`` does not expose (CPython #100055):
    closed by its owner on the loop's thread, it is not left to the garbage collector, which
    would close it from whichever thread it runs in (qasync's loop does not survive that)."""
    return process._transport  # type: ignore[attr-defined, no-any-return]


# --- the doctor's image --------------------------------------------------------------------------


class RemoteVideoSink:
    """Hands the doctor's video to `on_frame` as RGB arrays, the newest frame first.

    Frames are read as they come and converted (on a worker thread) one at a time; a frame that
    arrives while the previous one is still being converted or shown replaces any frame waiting,
    and the one it replaces is counted in `dropped`. Nothing queues up. Every frame received ends
    up either `delivered` or `dropped` (those left over when the track ends are dropped).
    """

    def __init__(self, on_frame: Callable[[RgbImage], None]) -> None:
        self._on_frame = on_frame
        self.received = 0
        self.delivered = 0
        self.dropped = 0

    async def run(self, track: MediaStreamTrack) -> None:
        """Until `track` ends (or this task is cancelled)."""
        waiting: list[Frame | Packet[Any]] = []
        in_hand: list[Frame | Packet[Any]] = []  # the frame being converted and shown
        ready = asyncio.Event()

        async def convert_and_show() -> None:
            while True:
                await ready.wait()
                ready.clear()
                if not waiting:
                    continue
                in_hand.append(waiting.pop())
                frame = in_hand[0]
                if isinstance(frame, av.VideoFrame):
                    image: RgbImage = await asyncio.to_thread(_to_rgb, frame)
                    try:
                        self._on_frame(image)
                    except Exception:
                        log.exception("call.remote_frame_handler_failed")
                    self.delivered += 1
                else:
                    self.dropped += 1
                in_hand.clear()

        shower = asyncio.get_running_loop().create_task(convert_and_show())
        try:
            while True:
                try:
                    frame = await track.recv()
                except MediaStreamError:
                    return
                self.received += 1
                if waiting:
                    waiting.clear()
                    self.dropped += 1
                waiting.append(frame)
                ready.set()
        finally:
            await cancel_and_wait(shower)
            self.dropped += len(waiting) + len(in_hand)


def _to_rgb(frame: av.VideoFrame) -> RgbImage:
    return cast(RgbImage, frame.to_ndarray(format="rgb24"))


# --- the cabin's media ---------------------------------------------------------------------------


class CabinMedia:
    """The camera and the microphone, each captured once and relayed; the doctor's sound output.

    Built by the composition root and shared by the call and distress detection; `close` it when
    the cabin stops (a call ending does not close it).
    """

    def __init__(
        self,
        *,
        camera: MediaStreamTrack,
        microphone: MediaStreamTrack,
        audio_output: AudioOutput,
    ) -> None:
        if camera.kind != "video" or microphone.kind != "audio":
            raise ValueError("camera must be a video track and microphone an audio track")
        self._camera = Fanout(camera)
        self._microphone = Fanout(microphone)
        self.audio_output = audio_output
        self._closed = False
        self._suspended = False

    @classmethod
    def from_devices(
        cls,
        settings: CallSettings,
        *,
        camera_device: str = "/dev/video0",
        microphone_device: str = "default",
        audio_output: AudioOutput,
    ) -> CabinMedia:
        """A real cabin's media: a V4L2 camera and an ALSA microphone."""
        return cls(
            camera=open_v4l2_camera(camera_device, settings),
            microphone=open_alsa_microphone(microphone_device),
            audio_output=audio_output,
        )

    @property
    def played_sound(self) -> PlayedSound | None:
        """What the sound output played lately (None: an output that does not keep it)."""
        played = getattr(self.audio_output, "played", None)
        return played if isinstance(played, PlayedSound) else None

    @property
    def camera_source(self) -> MediaStreamTrack:
        """The capture itself (to read, subscribe instead): the demo finds its scene here."""
        return self._camera.source

    def subscribe_camera(self) -> MediaStreamTrack:
        """A new consumer of the camera: it gets the newest frame each time it reads.

        Stop the returned track when done with it; the camera keeps running for the others.
        """
        return self._camera.subscribe(every_frame=False)

    def subscribe_microphone(self) -> MediaStreamTrack:
        """A new consumer of the microphone: every frame, in order (a gap would be heard)."""
        return self._microphone.subscribe(every_frame=True)

    @property
    def suspended(self) -> bool:
        """The camera and the microphone are released (`suspend`) until `resume`."""
        return self._suspended

    async def suspend(self) -> None:
        """Release the camera and the microphone between patients: their captures stop and
        close their devices (every subscription ends). The sound output stays."""
        if self._closed or self._suspended:
            return
        self._suspended = True
        await self._camera.aclose()
        await self._microphone.aclose()

    async def resume(self, fresh: CabinMedia) -> None:
        """Capture again, from ``fresh``: the devices opened anew (`open_v4l2_camera`...). Those
        who hold this object (the call's factory, the preview) subscribe to them from now on;
        ``fresh``'s own sound output is not used (closed)."""
        if self._closed or not self._suspended:
            await fresh.close()
            return
        self._camera, self._microphone = fresh._camera, fresh._microphone
        self._suspended = False
        fresh._closed = True
        await fresh.audio_output.close()

    async def close(self) -> None:
        """Stop the camera and the microphone (every subscription ends) and the sound output."""
        if self._closed:
            return
        self._closed = True
        await self._camera.aclose()
        await self._microphone.aclose()
        await self.audio_output.close()
