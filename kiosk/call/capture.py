"""The cabin's camera and microphone read through FFmpeg, with one decoder per container, for weeks.

aiortc's `MediaPlayer` reads every frame with ``next(container.decode(...))``: a new PyAV
demuxing generator per frame, dropped unfinished. With PyAV 18.1 such a generator never runs its
``finally`` unless it is closed, so the packet it allocated to read into (``av_packet_alloc``)
and its stream mask are never freed: ~180 bytes per frame measured (a generator closed after
its first packet leaks nothing), in native memory that tracemalloc does not see. The demo's
looped sound file loses ~2 KB/s that way, a real cabin's V4L2 camera and ALSA microphone
0.5-1 GB a day, and a cabin runs for weeks (issue 14).

`MediaCapture` reads the same sources as `MediaPlayer` did, with the same behaviour kept: a
thread of its own owns the container while it runs; a file is paced in real time (read at most
`AHEAD_S` ahead, each frame handed out at its time) and may loop; a device is read at its own
pace; sound comes out as s16 stereo 48 kHz frames of 20 ms with continuous timestamps; video
timestamps start at 0. What differs: one decoding iterator per container, made again only when
a looping file goes back to its start (the finished one has freed its packet); time from the
monotonic clock (a wall-clock step would stall or rush the pacing); at most `QUEUED_FRAMES`
frames wait for each track (the reader waits when they are not taken); and `stop` wakes the
thread at once instead of after its pacing sleep.
"""

from __future__ import annotations

import asyncio
import errno
import fractions
import logging
import threading
import time
from collections.abc import Generator, Iterator, Sequence
from typing import Any, Final, cast

import av
import av.container
from aiortc.mediastreams import AUDIO_PTIME, MediaStreamError, MediaStreamTrack
from av.audio.stream import AudioStream
from av.frame import Frame
from av.packet import Packet
from av.video.stream import VideoStream

log = logging.getLogger(__name__)

# FFmpeg input formats that deliver at their own pace (aiortc's list, for the devices a cabin
# may have); anything else is a file and is paced here.
DEVICE_FORMATS: Final = frozenset({"alsa", "pulse", "oss", "jack", "v4l2", "video4linux2"})
AHEAD_S: Final = 1.0  # a paced file is read at most this far ahead of its playing time
QUEUED_FRAMES: Final = {"audio": 64, "video": 16}  # ~1.3 s of sound, ~0.5 s of video
WAKE_S: Final = 0.1  # how often a waiting reader looks whether it was stopped
AUDIO_RATE_HZ: Final = 48_000

_END: Final = None  # what the reader hands a track when the source ended


class MediaCapture:
    """An FFmpeg source (a device or a file) read by a thread of its own into `audio`/`video`.

    ``file`` and ``format``/``options`` are as for ``av.open`` (``"/dev/video0"``, ``"v4l2"``,
    ``{"video_size": "640x480"}``). ``loop`` plays a file again from its start at its end.
    ``paced`` (default: files yes, devices no) hands frames out in real time; unpaced, a file is
    read as fast as it is consumed (tests). The thread starts at the first ``recv`` of a track
    and stops, closing the container, once every started track is stopped.
    """

    def __init__(
        self,
        file: str,
        *,
        format: str | None = None,
        options: dict[str, str] | None = None,
        loop: bool = False,
        paced: bool | None = None,
    ) -> None:
        self._container: av.container.InputContainer | None = av.open(
            file, mode="r", format=format, options=options
        )
        container = self._container
        names = set(container.format.name.split(","))
        self._paced = not names & DEVICE_FORMATS if paced is None else paced
        if loop and container.duration is None:
            container.close()
            raise ValueError(f"{file} cannot loop: it has no duration (not a file?)")
        self._loop = loop
        self._name = file
        self.audio: CaptureTrack | None = None
        self.video: CaptureTrack | None = None
        self._streams: list[AudioStream | VideoStream] = []
        audio = next(iter(container.streams.audio), None)
        video = next(iter(container.streams.video), None)
        if audio is not None:
            self.audio = CaptureTrack(self, "audio")
            self._streams.append(audio)
        if video is not None:
            self.video = CaptureTrack(self, "video")
            self._streams.append(video)
        self._started: set[CaptureTrack] = set()
        self._thread: threading.Thread | None = None
        self._quit = threading.Event()
        self._ended = False  # the reader has finished: the file ended, or the device failed

    # --- the tracks' side (event loop) ------------------------------------------------------------
    def _start(self, track: CaptureTrack) -> None:
        """A track is read: start the reader if it is not running (MediaStreamError if the
        source is closed or has ended)."""
        if track in self._started:
            return
        self._started.add(track)
        if self._container is None or self._ended:
            raise MediaStreamError
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._read,
                args=(asyncio.get_running_loop(), self._container),
                name="media-capture",
                daemon=True,
            )
            self._thread.start()

    def _stop(self, track: CaptureTrack) -> None:
        """A track is stopped: once none is read, stop the reader and close the container."""
        self._started.discard(track)
        if self._started:
            return
        self._quit.set()
        if self._thread is not None:
            self._thread.join()  # it waits in steps of WAKE_S, or for the device's next frame
            self._thread = None
        if self._container is not None:
            self._container.close()
            self._container = None

    # --- the reader (its own thread) -----------------------------------------------------------
    def _read(
        self, loop: asyncio.AbstractEventLoop, container: av.container.InputContainer
    ) -> None:
        stamps = _Timestamps()
        started = time.monotonic()
        frames = self._decode(container)
        while not self._quit.is_set():
            try:
                frame = next(frames)
            except StopIteration:
                if not self._loop:
                    break
                container.seek(0)
                frames = self._decode(container)  # the finished one has freed its packet
                stamps.looped()
                continue
            except av.FFmpegError as exc:
                if exc.errno == errno.EAGAIN:  # a non-blocking device with nothing yet
                    frames = self._decode(container)  # the one that raised has finished
                    self._quit.wait(0.01)
                    continue
                log.warning("call.capture_failed source=%s error=%s", self._name, exc)
                break
            except OSError as exc:  # the device went away
                log.warning("call.capture_failed source=%s error=%s", self._name, exc)
                break
            out: Sequence[Frame]
            if isinstance(frame, av.AudioFrame):
                track, out = self.audio, stamps.audio(frame)
            elif isinstance(frame, av.VideoFrame) and frame.pts is not None:
                track, out = self.video, stamps.video(frame)
            else:
                continue
            for piece in out:
                if self._paced:
                    self._wait_until(started + float(piece.time or 0) - AHEAD_S)
                if track is not None and not self._hand(loop, track, piece):
                    return
        self._ended = True
        for track in (self.audio, self.video):
            if track is not None:
                self._hand(loop, track, _END)

    def _decode(self, container: av.container.InputContainer) -> Iterator[Frame]:
        """The one demuxing iterator, decoded, until the file ends or the device fails. PyAV's
        generator frees its packet when it finishes or is closed, not when it is dropped: it is
        closed here when this one is (at a stop)."""
        # a generator (PyAV's stubs say Iterator)
        packets = cast("Generator[Packet[Any]]", container.demux(*self._streams))
        try:
            for packet in packets:
                for frame in packet.decode():
                    if isinstance(frame, Frame):
                        yield frame
        finally:
            packets.close()

    def _wait_until(self, moment: float) -> None:
        while not self._quit.is_set():
            left = moment - time.monotonic()
            if left <= 0:
                return
            self._quit.wait(min(left, WAKE_S))

    def _hand(
        self, loop: asyncio.AbstractEventLoop, track: CaptureTrack, frame: Frame | None
    ) -> bool:
        """Give a frame to a track being read, waiting while its queue is full; False once the
        capture is stopped. A track nobody reads (not yet, or no longer) does without."""
        while not self._quit.is_set():
            if track not in self._started:
                return True
            if track.room.acquire(timeout=WAKE_S):
                try:
                    loop.call_soon_threadsafe(track.queue.put_nowait, frame)
                except RuntimeError:  # the event loop is closed: nobody will read anymore
                    return False
                return True
        return False


class _Timestamps:
    """What a frame is stamped with on its way out: sound resampled to 20 ms of s16 stereo at
    48 kHz numbered by samples; video from 0 at the first frame; both continuing over loops."""

    def __init__(self) -> None:
        self._resampler = av.AudioResampler(
            format="s16",
            layout="stereo",
            rate=AUDIO_RATE_HZ,
            frame_size=int(AUDIO_RATE_HZ * AUDIO_PTIME),
        )
        self._audio_samples = 0
        self._video_first_pts: int | None = None
        self._video_offset = 0  # in the stream's time base: what the loops before lasted
        self._video_last = 0
        self._video_step = 0

    def audio(self, frame: av.AudioFrame) -> list[av.AudioFrame]:
        out = self._resampler.resample(frame)
        for piece in out:
            piece.pts = self._audio_samples
            piece.time_base = fractions.Fraction(1, AUDIO_RATE_HZ)
            self._audio_samples += piece.samples
        return out

    def video(self, frame: av.VideoFrame) -> list[av.VideoFrame]:
        assert frame.pts is not None
        if self._video_first_pts is None:  # a webcam does not start at 0
            self._video_first_pts = frame.pts
        pts = frame.pts - self._video_first_pts + self._video_offset
        self._video_step, self._video_last = pts - self._video_last, pts
        frame.pts = pts
        return [frame]

    def looped(self) -> None:
        """The file starts again: its video goes on one frame after its last."""
        self._video_offset = self._video_last + max(self._video_step, 1)
        self._video_first_pts = None


class CaptureTrack(MediaStreamTrack):
    """One stream of a `MediaCapture`, as aiortc reads a track."""

    def __init__(self, capture: MediaCapture, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self._capture: MediaCapture | None = capture
        self.queue: asyncio.Queue[Frame | None] = asyncio.Queue()
        self.room = threading.Semaphore(QUEUED_FRAMES[kind])
        self._start_s: float | None = None  # monotonic time of the playing time 0

    async def recv(self) -> Frame:
        capture = self._capture
        if self.readyState != "live" or capture is None:
            raise MediaStreamError
        try:
            capture._start(self)
        except MediaStreamError:
            self.stop()
            raise
        frame = await self.queue.get()
        self.room.release()
        if frame is None:
            self.stop()
            raise MediaStreamError
        if capture._paced and frame.time is not None:
            now = time.monotonic()
            if self._start_s is None:
                self._start_s = now - frame.time
            elif (wait := self._start_s + frame.time - now) > 0:
                await asyncio.sleep(wait)
        return frame

    def stop(self) -> None:
        super().stop()
        capture, self._capture = self._capture, None
        if capture is not None:
            capture._stop(self)
            self.queue.put_nowait(_END)  # a recv waiting now ends too (MediaRelay's reader)
