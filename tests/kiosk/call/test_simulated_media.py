"""The synthetic camera and voice used by the demo and the call tests (simulators/media.py)."""

from __future__ import annotations

import asyncio
import fractions
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
    async def scenario() -> list[av.VideoFrame]:
        camera = SyntheticCamera()
        frames = [await camera.recv() for _ in range(8)]
        await asyncio.sleep(0.5)  # a consumer that falls behind
        frames.append(await camera.recv())
        camera.stop()
        return frames

    frames = asyncio.run(scenario())
    assert all((f.width, f.height) == (640, 480) for f in frames)
    assert all(f.time_base == fractions.Fraction(1, 90_000) for f in frames)
    pts = [f.pts or 0 for f in frames]
    assert frames[0].pts == 0 and all(f.pts for f in frames[1:])
    assert pts[:8] == [i * 6000 for i in range(8)]  # 15 frames/s
    assert pts[8] - pts[7] >= 5 * 6000  # missed frames are skipped, not queued
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
