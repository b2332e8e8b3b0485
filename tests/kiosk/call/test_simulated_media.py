"""The synthetic camera and voice used by the demo and the call tests (simulators/media.py)."""

from __future__ import annotations

import asyncio
import fractions
from itertools import pairwise
from pathlib import Path

import av
import numpy as np
import pytest

from simulators.media import (
    CabinScene,
    PersonPose,
    SeatedPatient,
    SpeechSynthesisError,
    SyntheticCamera,
    write_speech_wav,
)


class EmptyRoom:
    def pose_at(self, t_s: float) -> PersonPose | None:
        return None


def test_the_camera_gives_paced_640x480_frames_that_change() -> None:
    """Paced on the event loop's clock: a frame never comes before its time, a late consumer
    skips what it missed (never more), and gets the frame of now, not a queued one. Checked
    against the loop's clock read around each ``recv``, so a busy machine changes which frames
    come, never whether these hold."""
    period_s = 1 / 15

    async def scenario() -> tuple[list[av.VideoFrame], list[float], list[float]]:
        loop = asyncio.get_running_loop()
        camera = SyntheticCamera()
        frames, asked, got = [], [], []
        for index in range(9):
            if index == 8:
                await asyncio.sleep(0.5)  # a consumer that falls behind
            asked.append(loop.time())
            frames.append(await camera.recv())
            got.append(loop.time())
        camera.stop()
        return frames, asked, got

    frames, asked, got = asyncio.run(scenario())
    assert all((f.width, f.height) == (640, 480) for f in frames)
    assert all(f.time_base == fractions.Fraction(1, 90_000) for f in frames)
    pts = [f.pts or 0 for f in frames]
    assert frames[0].pts == 0 and all(p % 6000 == 0 for p in pts)  # 15 frames/s
    index = [p // 6000 for p in pts]
    assert all(b > a for a, b in pairwise(index))  # never twice, never back
    start = asked[0]  # the camera's clock starts within the first recv: at or after this
    tolerance = 1e-3
    for i in range(1, len(frames)):
        assert got[i] - start >= index[i] * period_s - tolerance  # never before its time
        # a frame is skipped only when the consumer came after its time: never more
        assert index[i] <= max(index[i - 1] + 1, int((got[i] - start) / period_s) + 1)
    # the late consumer gets the frame of now (at most one period old), not the next queued
    assert index[8] * period_s >= asked[8] - got[0] - 2 * period_s
    first, later = (f.to_ndarray(format="rgb24").astype(np.int16) for f in (frames[0], frames[7]))
    assert float(first.var()) > 300  # a picture, not a blank
    assert float(np.abs(first - later).mean()) > 0.05  # things move


def test_the_seated_patient_breathes_and_waves_now_and_then() -> None:
    patient = SeatedPatient(wave_every_s=8.0, wave_for_s=2.5)
    resting, waving = patient.pose_at(4.0), patient.pose_at(8.5)
    assert resting.right_shoulder_deg < 45 < 90 < waving.right_shoulder_deg
    assert {round(patient.pose_at(t).breath, 2) for t in (0.0, 1.0, 2.0)} != {0.0}

    scene, empty = CabinScene(patient), CabinScene(EmptyRoom())
    person = scene.render(4.0, 60)[150:450, 280:440].astype(np.int16)
    nobody = empty.render(4.0, 60)[150:450, 280:440].astype(np.int16)
    assert float(np.abs(person - nobody).mean()) > 20
    arm_up = scene.render(8.5, 128)[100:200, 380:480].astype(np.int16)
    arm_down = scene.render(4.0, 60)[100:200, 380:480].astype(np.int16)
    changed = (np.abs(arm_up - arm_down).sum(axis=2) > 60).mean()
    assert changed > 0.05  # the raised arm


def test_speech_is_written_as_a_wav(tmp_path: Path) -> None:
    path = write_speech_wav(tmp_path / "hello.wav", "Bonjour, je suis là.", "fr")
    with av.open(str(path)) as container:
        samples = np.concatenate([f.to_ndarray().ravel() for f in container.decode(audio=0)])
        rate = container.streams.audio[0].rate
    assert len(samples) / rate > 0.5
    assert float(np.sqrt(np.mean(samples.astype(np.float64) ** 2))) > 500
    with pytest.raises(SpeechSynthesisError):
        write_speech_wav(tmp_path / "none.wav", "x", "xx-no-such-voice")
