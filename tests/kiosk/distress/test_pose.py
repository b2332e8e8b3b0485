"""The pose model's fall detector and the combined camera analysis (kiosk/distress/pose.py).

The rule alone on torsos laid out by hand (fast), then the real MediaPipe model: on the real
development clips (skipped when ../shared/data/real-recordings is absent), on a synthetic fall
and a sitting down, offline with nothing written, and the kiosk's fallback without mediapipe.
Sensitivity, false alarms per hour and CPU are the bench's (bench/bench_pose_model.py).
"""

from __future__ import annotations

import importlib.util
import json
import logging
import subprocess
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path

import av
import numpy as np
import pytest

from bench.real_recordings import clip_frames, fall_clips
from kiosk.app import _distress_analysers
from kiosk.config import DistressSection
from kiosk.distress.detection import Detection
from kiosk.distress.pose import (
    CombinedSettings,
    CombinedVision,
    FallFromPose,
    MediaPipePose,
    PoseAnalyser,
    Torso,
)
from kiosk.distress.vision import VisionAnalyser, VisionThresholds
from simulators.scenes import FALL_VARIANTS, absence_scenes, fall_scene, normal_scenes
from wire.messages import AlertKind

ROOT = Path(__file__).resolve().parents[3]
TORSO = 40.0  # pixels, shoulders to hips upright
HEIGHT = 240


def upright(hip_y: float = 140.0) -> Torso:
    return Torso(shoulder_x=160.0, shoulder_y=hip_y - TORSO, hip_x=160.0, hip_y=hip_y)


def lying(hip_y: float) -> Torso:
    return Torso(shoulder_x=120.0, shoulder_y=hip_y - 5.0, hip_x=160.0, hip_y=hip_y)


def feed(rule: FallFromPose, torsos: Sequence[Torso | None], t0: float = 0.0) -> list[Detection]:
    found = []
    for i, torso in enumerate(torsos):
        detection = rule.observe(t0 + i / 10, torso, HEIGHT)
        if detection is not None:
            found.append(detection)
    return found


def test_a_fast_drop_to_lying_is_a_fall_dated_at_its_first_down_frame() -> None:
    rule = FallFromPose()
    falling = [upright(140 + 10 * k) for k in range(4)] + [lying(180.0)]
    found = feed(rule, [upright()] * 20 + falling + [lying(182.0)] * 15)
    assert len(found) == 1
    assert found[0].kind is AlertKind.FALL
    assert found[0].event_at_s == pytest.approx(2.4)
    assert found[0].at_s - found[0].event_at_s == pytest.approx(1.0, abs=0.11)


def test_sitting_down_bending_and_lying_down_slowly_are_not_falls() -> None:
    sitting = [upright(140 + 4 * k) for k in range(9)] + [upright(172.0)] * 30
    assert feed(FallFromPose(), [upright()] * 20 + sitting) == []
    # a bend (torso horizontal, hips a little lower) held half a second, then up again
    bend = [lying(150.0)] * 5 + [upright()] * 20
    assert feed(FallFromPose(), [upright()] * 20 + bend) == []
    # down to the floor over 8 s (hips 0.125 torso a second), then lying there
    slow = [upright(140 + 0.5 * k) for k in range(80)] + [lying(182.0)] * 30
    assert feed(FallFromPose(), [upright()] * 20 + slow) == []


def test_bending_down_with_the_knees_bent_is_not_a_fall_with_the_hips_off_the_ground() -> None:
    def bent(hip_y: float, ankle_y: float) -> Torso:
        return Torso(120.0, hip_y - 5.0, 160.0, hip_y, ankle_y=ankle_y)

    # standing: ankles 1.8 torso below the hips; bent over: hips down 0.6 torso, torso
    # horizontal, held 2 s, the ankles where they were (hips 1.2 torso above them)
    stand = [Torso(160.0, 100.0, 160.0, 140.0, ankle_y=212.0)] * 20
    assert feed(FallFromPose(), stand + [bent(164.0, 212.0)] * 20) == []
    # the same drop, ending on the ground (hips 0.2 torso above the ankles): a fall
    assert len(feed(FallFromPose(), stand + [bent(200.0, 208.0)] * 20)) == 1


def test_a_person_lost_briefly_after_falling_still_counts_and_lost_long_does_not() -> None:
    fall = [upright(150.0), upright(165.0), lying(180.0)]
    briefly = [None] * 8 + [lying(181.0)] * 5
    assert len(feed(FallFromPose(), [upright()] * 20 + fall + briefly)) == 1
    gone = [None] * 30 + [lying(181.0)] * 5
    assert feed(FallFromPose(), [upright()] * 20 + fall + gone) == []


def test_one_fall_per_fall_then_rearmed_once_up_again() -> None:
    fall = [upright(150.0), upright(165.0), lying(180.0)] + [lying(181.0)] * 20
    rule = FallFromPose()
    first = feed(rule, [upright()] * 20 + fall)
    assert len(first) == 1
    again = feed(rule, [upright()] * 20 + fall, t0=5.0)
    assert len(again) == 1 and again[0].event_at_s > first[0].at_s


# --- the real model ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def model() -> MediaPipePose:
    return MediaPipePose()


def test_the_real_clips_every_fall_found_and_no_alert_on_daily_activities(
    model: MediaPipePose,
) -> None:
    clips = fall_clips()
    if not clips:
        pytest.skip("the real recordings (../shared/data/real-recordings) are not here")
    for clip in clips:
        combined = CombinedVision(
            VisionAnalyser(VisionThresholds()), PoseAnalyser(landmarker=model)
        )
        found: list[Detection] = []
        # as the monitor gives them: 320 wide, the camera's aspect (most clips are 4:3)
        with av.open(str(clip.path)) as container:
            stream = container.streams.video[0]
            height = round(stream.height * 320 / stream.width)
        for t_s, frame in clip_frames(clip.path, width=320, height=height):
            found += combined.analyse(frame, t_s)
        falls = [d for d in found if d.kind is AlertKind.FALL]
        if clip.is_fall:
            assert len(falls) == 1, f"{clip.name}: {falls}"
            start = clip.fall_starts_s
            assert start is not None and falls[0].event_at_s >= start - 0.5, clip.name
        else:
            assert found == [], f"{clip.name}: {found}"


def test_a_synthetic_fall_is_found_and_sitting_down_is_not(model: MediaPipePose) -> None:
    scene = fall_scene(FALL_VARIANTS[0], lie_for_s=3.0)
    landing = next(e.at_s for e in scene.events if e.kind == "fall")
    pose = PoseAnalyser(landmarker=model)
    frames = scene.frames(width=320, height=240, until_s=landing + 2.0)
    found = [d for t, f in frames for d in pose.analyse(f, t)]
    assert len(found) == 1 and 0.0 <= found[0].at_s - landing <= 2.0
    sit_down = next(s for s in normal_scenes() if s.name == "sit_down")
    pose = PoseAnalyser(landmarker=model)
    assert [d for t, f in sit_down.frames(width=320, height=240) for d in pose.analyse(f, t)] == []


def test_frames_are_checked_and_scaled_to_320_wide(model: MediaPipePose) -> None:
    pose = PoseAnalyser(landmarker=model)
    with pytest.raises(ValueError, match="uint8"):
        pose.analyse(np.zeros((180, 320, 3), np.float32), 0.0)
    with pytest.raises(ValueError, match="RGB"):
        pose.analyse(np.zeros((180, 320), np.uint8), 0.0)
    assert pose.analyse(np.zeros((720, 1280, 3), np.uint8), 0.1) == []
    assert not pose.person_present


def test_the_kiosk_combines_both_and_keeps_the_classical_without_mediapipe(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    vision, _sound = _distress_analysers(DistressSection(microphone=False))
    assert isinstance(vision, CombinedVision)
    for name in [m for m in sys.modules if m == "mediapipe" or m.startswith("mediapipe.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "mediapipe", None)
    with caplog.at_level(logging.ERROR, logger="kiosk.app"):
        vision, _sound = _distress_analysers(DistressSection(microphone=False))
    assert isinstance(vision, VisionAnalyser)
    assert "distress.pose_model_unavailable" in caplog.text


OFFLINE_RUN = textwrap.dedent(
    """
    import json, os, sys
    seen = []
    WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
    def hook(event, args):
        if event.startswith("socket.") or event.startswith("urllib."):
            seen.append(event)
        elif event == "open":
            mode, flags = args[1], args[2]
            if (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                isinstance(flags, int) and flags & WRITE_FLAGS
            ):
                seen.append(f"write {args[0]}")
        elif event in ("os.remove", "os.rename", "os.mkdir", "tempfile.mkstemp",
                       "tempfile.mkdtemp"):
            seen.append(f"{event} {args[0]}")
    sys.addaudithook(hook)  # before mediapipe is even imported

    from kiosk.distress.pose import PoseAnalyser
    from simulators.scenes import FALL_VARIANTS, fall_scene

    pose = PoseAnalyser()
    scene = fall_scene(FALL_VARIANTS[0], lie_for_s=1.0)
    found = 0
    for t_s, frame in scene.frames(width=320, height=240, until_s=4.0):
        pose.analyse(frame, t_s)
        found += pose.person_present
    print(json.dumps({"seen": seen, "found": found}))
    """
)


def test_the_pose_model_runs_offline_and_writes_nothing_of_its_own(tmp_path: Path) -> None:
    spec = importlib.util.find_spec("mediapipe")
    assert spec is not None and spec.origin is not None
    package = Path(spec.origin).parent
    before = sorted(p.relative_to(package) for p in package.rglob("*") if p.is_file())
    config = tmp_path / "matplotlib"
    result = subprocess.run(
        [sys.executable, "-c", OFFLINE_RUN],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={
            "PATH": "/usr/bin:/bin",
            "HOME": str(tmp_path),
            "MPLCONFIGDIR": str(config),
            "PYTHONDONTWRITEBYTECODE": "1",
        },
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["found"] >= 20  # the model ran and saw the person
    assert not [e for e in report["seen"] if e.startswith(("socket", "urllib"))]
    # Only matplotlib's font list (mediapipe's drawing helpers import pyplot) and /dev/null: no
    # picture, nothing in mediapipe's package (a model download would land there)
    written = [e for e in report["seen"] if str(config) not in e and e != "write /dev/null"]
    assert written == []
    after = sorted(p.relative_to(package) for p in package.rglob("*") if p.is_file())
    assert after == before


def test_an_absence_waits_for_the_pose_to_see_nobody_too(model: MediaPipePose) -> None:
    """The classical analysis loses a seated patient (here: its background made to learn them,
    as a still patient can be) and would end the session; the pose still sees them, so no
    ABSENCE. A patient who really leaves is still reported, after the same delay."""
    seated = next(s for s in normal_scenes() if s.name == "enter_and_sit")
    frames = list(seated.frames(width=320, height=240))
    end_s, last = frames[-1]
    thresholds = VisionThresholds(absence_after_s=5.0)
    alone = VisionAnalyser(thresholds)
    both = CombinedVision(
        VisionAnalyser(thresholds),
        PoseAnalyser(landmarker=model),
        CombinedSettings(absence_after_s=5.0),
    )
    from_alone: list[Detection] = []
    from_both: list[Detection] = []
    for t_s, frame in frames:
        from_alone += alone.analyse(frame, t_s)
        from_both += both.analyse(frame, t_s)
    alone.empty_cabin()
    both.classical.empty_cabin()
    for i in range(1, 121):  # 12 s of the patient seated, perfectly still
        from_alone += alone.analyse(last, end_s + i / 10)
        from_both += both.analyse(last, end_s + i / 10)
    assert [d.kind for d in from_alone] == [AlertKind.ABSENCE]  # what the pose prevents
    assert from_both == [] and both.pose.person_present

    leaving = next(s for s in absence_scenes() if s.name == "leaves")
    left_at = next(e.at_s for e in leaving.events if e.kind == "absence")
    both = CombinedVision(VisionAnalyser(VisionThresholds()), PoseAnalyser(landmarker=model))
    found = [d for t, f in leaving.frames(width=320, height=240) for d in both.analyse(f, t)]
    assert [d.kind for d in found] == [AlertKind.ABSENCE]
    assert abs(found[0].event_at_s - left_at) <= 1.5
    assert found[0].at_s - found[0].event_at_s == pytest.approx(20.0, abs=0.2)
