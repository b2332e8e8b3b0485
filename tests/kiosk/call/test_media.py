"""The cabin's media: one capture fanned out, a looped sound file, the doctor's sound and image."""

from __future__ import annotations

import asyncio
import fractions
import gc
import logging
import sys
import time
import warnings
from pathlib import Path

import av
import numpy as np
import pytest
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from devices.cancellation import within
from kiosk.call.media import (
    AplayAudioOutput,
    CabinMedia,
    NullAudioOutput,
    RemoteVideoSink,
    open_sound_file_microphone,
    pcm_s16_stereo,
)
from simulators.media import SyntheticCamera, write_speech_wav


def tone(samples: int = 960, amplitude: float = 0.5, layout: str = "stereo") -> av.AudioFrame:
    t = np.arange(samples) / 48_000
    wave = (amplitude * 32767 * np.sin(2 * np.pi * 440 * t)).astype("<i2")
    channels = 2 if layout == "stereo" else 1
    data = np.repeat(wave, channels).reshape(1, -1)
    frame = av.AudioFrame.from_ndarray(data, format="s16", layout=layout)
    frame.sample_rate = 48_000
    frame.pts = 0
    frame.time_base = fractions.Fraction(1, 48_000)
    return frame


@pytest.fixture(scope="module")
def short_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_speech_wav(tmp_path_factory.mktemp("wav") / "oui.wav", "Oui.", "fr")


def test_one_camera_capture_feeds_the_call_and_distress_detection(short_wav: Path) -> None:
    async def scenario() -> None:
        camera = SyntheticCamera()
        media = CabinMedia(
            camera=camera,
            microphone=open_sound_file_microphone(short_wav),
            audio_output=NullAudioOutput(),
        )
        call, distress = media.subscribe_camera(), media.subscribe_camera()

        async def read(track: MediaStreamTrack, count: int) -> list[int]:
            pts = []
            for _ in range(count):
                frame = await track.recv()
                assert isinstance(frame, av.VideoFrame) and frame.pts is not None
                pts.append(frame.pts)
            return pts

        seen_by_call, seen_by_distress = await asyncio.gather(read(call, 8), read(distress, 8))
        assert seen_by_call == seen_by_distress  # the same frames
        assert camera.frames_rendered <= 10  # rendered once for both, not twice
        call.stop()  # the call ends; distress detection goes on
        more = await read(distress, 3)
        assert more[0] > seen_by_distress[-1]
        await media.close()
        with pytest.raises(MediaStreamError):
            await within(distress.recv(), 2)

    asyncio.run(scenario())


def test_a_sound_file_microphone_loops_in_real_time(short_wav: Path) -> None:
    with av.open(str(short_wav)) as container:
        length_s = float(container.duration or 0) / av.time_base
    assert 0.2 < length_s < 1.0

    async def scenario() -> tuple[list[int | None], float, float]:
        microphone = open_sound_file_microphone(short_wav)
        frames: list[av.AudioFrame] = []
        start = time.monotonic()
        while sum(f.samples for f in frames) < 48_000 * (length_s + 0.5):
            frame = await microphone.recv()
            assert isinstance(frame, av.AudioFrame)
            frames.append(frame)
        took = time.monotonic() - start
        microphone.stop()
        level = max(float(np.abs(f.to_ndarray().astype(np.float64)).mean()) for f in frames)
        return [f.pts for f in frames], took, level

    pts, took, level = asyncio.run(scenario())
    assert None not in pts and pts == sorted(pts, key=lambda p: p or 0)
    assert len(set(pts)) == len(pts)  # on past the end of the file
    assert took > length_s  # paced, not read at disk speed
    assert level > 100  # speech, not silence


def test_the_null_output_counts_the_doctors_sound_and_measures_its_level() -> None:
    output = NullAudioOutput()

    async def scenario() -> None:
        await output.play(tone(amplitude=0.5))
        await output.play(tone(amplitude=0.0, layout="mono"))

    asyncio.run(scenario())
    assert output.frames == 2 and output.samples == 2 * 960
    assert output.peak_rms == pytest.approx(0.5 / np.sqrt(2), rel=0.02)
    assert output.last_rms == 0.0


def test_pcm_is_interleaved_s16_stereo_at_48_khz() -> None:
    stereo = pcm_s16_stereo(tone())
    assert len(stereo) == 960 * 2 * 2
    mono = tone(layout="mono")
    assert len(pcm_s16_stereo(mono)) in range(900 * 4, 961 * 4)  # resampled to stereo


def test_aplay_output_pipes_pcm_to_its_process(tmp_path: Path) -> None:
    sink = tmp_path / "played.raw"
    copy = f"import sys; open({str(sink)!r}, 'wb').write(sys.stdin.buffer.read())"
    output = AplayAudioOutput(argv=[sys.executable, "-c", copy])

    async def scenario() -> None:
        for _ in range(5):
            await output.play(tone())
        await output.close()

    asyncio.run(scenario())
    assert output.frames_played == 5
    assert sink.read_bytes() == pcm_s16_stereo(tone()) * 5


def test_aplay_output_that_cannot_start_or_dies_is_logged_and_never_raises(
    caplog: pytest.LogCaptureFixture,
) -> None:
    missing = AplayAudioOutput(argv=["/nonexistent/aplay"], restart_after_s=60)
    dying = AplayAudioOutput(argv=[sys.executable, "-c", "pass"], restart_after_s=60)

    async def scenario() -> None:
        for _ in range(3):
            await missing.play(tone())
        await dying.play(tone())
        await asyncio.sleep(0.5)  # the process has exited by now
        for _ in range(3):
            await dying.play(tone())
        await missing.close()
        await dying.close()

    with caplog.at_level(logging.INFO, logger="kiosk.call"):
        asyncio.run(scenario())
    assert missing.frames_dropped == 3 and missing.frames_played == 0
    assert caplog.text.count("call.audio_output_failed") == 1  # not retried at once
    assert "call.audio_output_exited code=0" in caplog.text
    assert dying.frames_dropped >= 2


class DecodedTrack(MediaStreamTrack):
    """`count` frames, one every `interval_s`, then the end; like aiortc's remote track, a frame
    already decoded is returned at once (no suspension), a frame not yet due is waited for."""

    kind = "video"

    def __init__(self, count: int, interval_s: float) -> None:
        super().__init__()
        self.count = count
        self.interval_s = interval_s
        self.index = 0
        self.start: float | None = None
        self.image = np.zeros((48, 64, 3), dtype=np.uint8)

    async def recv(self) -> av.VideoFrame:
        if self.index == self.count:
            raise MediaStreamError
        self.start = self.start or time.monotonic()
        wait = self.start + self.index * self.interval_s - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        self.index += 1
        return av.VideoFrame.from_ndarray(self.image, format="rgb24")


def test_a_slow_screen_gets_the_newest_frames_and_nothing_queues() -> None:
    shown: list[tuple[int, ...]] = []

    def slow_screen(image: np.ndarray) -> None:
        shown.append(image.shape)
        time.sleep(0.03)  # a busy main thread

    sink = RemoteVideoSink(slow_screen)
    asyncio.run(sink.run(DecodedTrack(60, interval_s=0.005)))
    assert sink.received == 60
    assert 0 < sink.delivered < 40 and sink.dropped > 20
    assert sink.received == sink.delivered + sink.dropped
    assert shown[0] == (48, 64, 3)


def unclosed_subprocess_transports() -> list[str]:
    """Subprocess transports still open, and those the collector just found unclosed."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        gc.collect()
    collected = [str(w.message) for w in caught if "unclosed transport" in str(w.message)]
    alive = [
        repr(o)
        for o in gc.get_objects()
        if isinstance(o, asyncio.SubprocessTransport) and not o.is_closing()
    ]
    return collected + alive


def test_aplay_output_leaves_no_subprocess_transport_to_the_garbage_collector() -> None:
    playing = AplayAudioOutput(argv=[sys.executable, "-c", "import sys; sys.stdin.buffer.read()"])
    dying = AplayAudioOutput(argv=[sys.executable, "-c", "pass"], restart_after_s=60)

    async def scenario() -> list[str]:
        await playing.play(tone())
        await dying.play(tone())
        while dying.frames_dropped == 0:  # until it is seen dead, and its sound dropped
            await asyncio.sleep(0.05)
            await dying.play(tone())
        await playing.close()
        await dying.close()
        return unclosed_subprocess_transports()

    assert unclosed_subprocess_transports() == []
    assert asyncio.run(scenario()) == []
