"""The scripted cabin scenes (simulators/scenes.py) and the scene conditions of simulators/media.py:
they show what they claim (someone on the floor after a fall, the door open, the lights down),
are reproducible, play live and write a video the demo can play."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import av
import numpy as np
import pytest

from simulators.media import CabinScene, PersonPose
from simulators.scenes import (
    EMPTY_LEAD_S,
    FALL_VARIANTS,
    IDEAL,
    WEBCAM,
    CameraProfile,
    FilmedCabin,
    Key,
    Keyframes,
    Piecewise,
    Scene,
    camera_scenes,
    catalogue,
    demo_fall,
    fall_scene,
    filmed,
    normal_activity,
    scene_camera,
    tone_curve,
    webcam_catalogue,
    write_scene,
)

REPO = Path(__file__).resolve().parents[2]
HORIZON_Y = int(480 * 0.66)


class Nobody:
    def pose_at(self, t_s: float) -> PersonPose | None:
        return None


def silhouette_box(frame: np.ndarray, empty: np.ndarray) -> tuple[int, int, int, int]:
    """Bounding box (x0, y0, x1, y1) of what differs from the empty room, overlay excluded."""
    differs = np.abs(frame.astype(np.int16) - empty.astype(np.int16)).max(axis=2) > 25
    differs[:45, :] = False  # time stamp
    differs[-8:, :] = False  # sweeping marker
    differs[50:142, 498:590] = False  # the wall clock's hand
    ys, xs = np.nonzero(differs)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def test_the_catalogue_has_varied_falls_and_the_other_kinds() -> None:
    scenes = catalogue()
    falls = [s for s in scenes.values() if "fall" in s.tags and "demo" not in s.tags]
    assert len(falls) >= 20
    for s in scenes.values():
        assert all(0.0 < e.at_s < s.duration_s for e in s.events), s.name
    assert {e.kind for s in scenes.values() for e in s.events} == {"fall", "stillness", "absence"}
    assert sum("normal" in s.tags for s in scenes.values()) >= 10
    assert len({v.direction for v in FALL_VARIANTS}) == 4
    assert {v.start for v in FALL_VARIANTS} == {"standing", "chair", "walk_in"}


def test_every_fall_ends_with_somebody_lying_on_the_floor() -> None:
    empty = CabinScene(Nobody()).render(0.0, 0)
    for variant in FALL_VARIANTS:
        scene = fall_scene(variant, lie_for_s=2.0)
        cabin = CabinScene(scene.script)  # the person alone: no lights, door or noise
        (landing,) = (e.at_s for e in scene.events if e.kind == "fall")
        _, y0, _, y1 = silhouette_box(cabin.render(4.0, 60), empty)
        standing_height = y1 - y0
        _, y0, _, y1 = silhouette_box(cabin.render(landing + 1.0, 99), empty)
        assert y1 - y0 < 0.5 * standing_height, variant.name
        assert y0 > HORIZON_Y - 0.15 * 480, variant.name  # the whole body near the floor


def test_a_scene_starts_empty_and_holds_its_last_pose() -> None:
    scene = fall_scene(FALL_VARIANTS[0], lie_for_s=2.0)
    assert scene.script.pose_at(EMPTY_LEAD_S - 0.1) is None
    assert scene.script.pose_at(EMPTY_LEAD_S + 0.1) is not None
    last = scene.script.pose_at(scene.duration_s)
    assert last is not None and scene.script.pose_at(scene.duration_s + 100) is not None
    assert abs(last.torso_deg) > 80  # lying across the picture


def test_normal_activity_is_long_varied_and_reproducible() -> None:
    hour = normal_activity(3600.0, seed=7)
    again = normal_activity(3600.0, seed=7)
    other = normal_activity(3600.0, seed=8)
    instants = [12.3 + 97.1 * i for i in range(36)]
    assert [hour.script.pose_at(t) for t in instants] == [again.script.pose_at(t) for t in instants]
    assert [hour.script.pose_at(t) for t in instants] != [other.script.pose_at(t) for t in instants]
    poses = [hour.script.pose_at(t) for t in np.arange(2.0, 3600.0, 0.5)]
    assert all(p is not None for p in poses)  # the patient stays in the cabin
    heights = {round(p.hip_y) for p in poses if p is not None}
    assert min(heights) < 280 < 295 < max(heights)  # stands up and sits again
    assert hour.events == () and hour.door_open_at is not None and hour.light_gain_at is not None
    assert min(hour.light_gain_at(t) for t in np.arange(0, 3600, 5.0)) < 0.7  # lights change


def test_door_and_lights_change_only_what_they_should() -> None:
    door = CabinScene(Nobody(), door_open_at=Piecewise(((0.0, 1.0),)), overlay=False)
    closed, opened = CabinScene(Nobody(), overlay=False).render(1.0, 1), door.render(1.0, 1)
    changed = np.abs(closed.astype(np.int16) - opened.astype(np.int16)).max(axis=2) > 0
    ys, xs = np.nonzero(changed)
    assert xs.max() < int(640 * 0.25) and ys.max() < HORIZON_Y  # the door's frame only
    assert changed.sum() > 0.5 * (int(640 * 0.19) * int(480 * 0.5))  # the door's leaf is gone
    dim = CabinScene(Nobody(), light_gain_at=Piecewise(((0.0, 0.5),)), overlay=False)
    plain = CabinScene(Nobody(), overlay=False).render(0.0, 0).astype(np.float64)
    assert abs(dim.render(0.0, 0).mean() / plain.mean() - 0.5) < 0.01
    noisy = CabinScene(Nobody(), noise_level=8, overlay=False).render(0.0, 0).astype(np.float64)
    assert 0.5 < np.abs(noisy - plain).mean() < 6.0


def test_a_named_scene_plays_live_on_the_synthetic_camera() -> None:
    async def two_frames() -> list[np.ndarray]:
        camera = scene_camera("fall_chair_quick_right")
        frames = [(await camera.recv()).to_ndarray(format="rgb24") for _ in range(2)]
        camera.stop()
        return frames

    frames = asyncio.run(two_frames())
    assert all(f.shape == (480, 640, 3) for f in frames)


def test_a_scene_is_written_as_a_playable_video_with_its_ground_truth(tmp_path: Path) -> None:
    keys = (Key(0.0, None), Key(EMPTY_LEAD_S, demo_fall().script.keys[1].pose))
    scene = Scene("short", "seated", Keyframes(keys), 2.0, tags=frozenset({"normal"}))
    video, truth = write_scene(scene, tmp_path, fps=10)
    with av.open(str(video)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames) == 20 and frames[0].shape == (480, 640, 3)
    expected = scene.cabin_scene().render(1.5, 15).astype(np.int16)
    assert np.abs(frames[15].astype(np.int16) - expected).mean() < 6  # the same picture
    meta = json.loads(truth.read_text())
    assert meta["scene"] == "short" and meta["fps"] == 10 and meta["events"] == []

    demo = demo_fall(12.0)
    assert [e.kind for e in demo.events] == ["fall", "stillness"]
    assert 12.0 < demo.events[0].at_s < 20.0


def test_the_command_line_lists_the_scenes() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "simulators.scenes", "--list"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert "demo_fall" in result.stdout and "fall_chair_quick_right" in result.stdout


# --- the camera ---------------------------------------------------------------------------------

STILL_CAMERA = CameraProfile("test", 640, 360, auto_exposure=True)
"""The webcam's exposure and frame, without its noise, flicker, blur or compression."""


def wall_and_floor(image: np.ndarray) -> tuple[float, float]:
    """Mean brightness of a patch of wall and of floor in a 640x360 frame of the empty cabin."""
    grey = image.astype(np.float64).mean(axis=2)
    return float(grey[150:200, 450:500].mean()), float(grey[300:340, 450:550].mean())


def test_a_scene_is_filmed_as_drawn_unless_it_has_a_camera() -> None:
    scene = catalogue()["sit_down"]
    assert scene.camera == IDEAL and type(scene.cabin_scene()) is CabinScene
    webcam = webcam_catalogue()
    assert webcam["sit_down@webcam"].camera == WEBCAM
    assert {"close_to_lens_and_sit", "close_to_lens_then_fall"} <= set(webcam)
    assert len(webcam) == len(catalogue()) + len(camera_scenes())
    assert all(s.camera == WEBCAM for s in camera_scenes())
    started = webcam["fall_chair_quick_left_from_start@webcam"]
    drawn = catalogue()["fall_chair_quick_left"]
    assert started.script.pose_at(0.0) is not None and drawn.script.pose_at(0.0) is None
    assert started.events == drawn.events and "from_start" in started.tags


def test_the_webcam_gives_a_16_9_frame_of_the_same_room_seen_wider() -> None:
    drawn = catalogue()["fall_chair_quick_right"]
    filmed_scene = filmed(drawn)
    cabin = filmed_scene.cabin_scene()
    assert isinstance(cabin, FilmedCabin) and cabin.width == 853 and cabin.height == 480
    frame = cabin.render(0.0, 0)
    assert frame.shape == (360, 640, 3)
    [(_, small)] = list(filmed_scene.frames(fps=1.0, width=320, height=180, until_s=0.5))
    assert small.shape == (180, 320, 3)
    # the room is the same: the floor starts at two thirds of the height, the door on the left
    grey = frame.astype(np.float64).mean(axis=2)
    column = grey[:, 600]
    assert abs(int(np.argmax(np.abs(np.diff(column[200:280])))) + 200 - 0.66 * 360) <= 4
    assert grey[120:200, 40:120].mean() < 0.7 * grey[120:200, 250:350].mean()  # the door


def test_the_exposure_follows_the_lights_late_overshoots_and_settles() -> None:
    lights = Piecewise(((3.0, 1.0), (3.01, 0.5)))
    cabin = FilmedCabin(Nobody(), STILL_CAMERA, light_gain_at=lights, overlay=False)
    fps = 30.0
    gains, walls = [], []
    for index in range(int(8.0 * fps)):
        image = cabin.render(index / fps, index)
        gains.append(cabin.last_gain)
        walls.append(wall_and_floor(image)[0])
    before, just_after, settled, end = (walls[round(t * fps)] for t in (2.9, 3.1, 6.0, 7.9))
    assert gains[round(2.9 * fps)] == pytest.approx(1.0, abs=0.1)
    # the lights halve: the picture darkens at once, the exposure has not reacted yet (late)
    assert just_after < 0.85 * before
    assert gains[round(3.1 * fps)] == pytest.approx(gains[round(2.9 * fps)], rel=0.02)
    # it then brings the wall back within a few percent in about two seconds
    assert settled == pytest.approx(before, rel=0.04) and end == pytest.approx(before, rel=0.04)
    final = gains[-1]
    # the drawn lights halve the gamma-encoded levels: 2^2.2 = 4.6 in linear light
    assert 3.8 < final < 5.5
    overshoot = max(gains) / final - 1.0
    assert 0.03 < overshoot < 0.35
    # a change of exposure is not a plain multiplication: the highlights move less
    brighter = tone_curve(2.0).astype(np.float64)
    assert brighter[100] / 100 > brighter[220] / 220 + 0.1
    assert np.all(np.diff(brighter) >= 0) and brighter[255] == 255
    assert np.abs(tone_curve(1.0).astype(np.int16) - np.arange(256))[:200].max() == 0


def test_someone_close_to_the_lens_swings_the_exposure_of_the_whole_picture() -> None:
    scene = replace(webcam_catalogue()["close_to_lens_and_sit"], camera=STILL_CAMERA)
    cabin = scene.cabin_scene()
    assert isinstance(cabin, FilmedCabin)
    gains = []
    for index in range(int(scene.duration_s * 10)):
        cabin.render(index / 10, index)
        gains.append(cabin.last_gain)
    assert max(gains) > 1.2 * gains[0]  # the background brightens while they are close
    assert gains[-1] == pytest.approx(gains[0], rel=0.05)  # and comes back


def test_the_webcam_noise_grows_with_the_signal_and_the_picture_flickers() -> None:
    noisy = CameraProfile("noise", 640, 360, read_noise=2.0, shot_noise=6.0, grain_px=0.8)
    cabin = FilmedCabin(Nobody(), noisy, overlay=False)
    clean = FilmedCabin(Nobody(), CameraProfile("clean", 640, 360), overlay=False)
    reference = clean.render(0.0, 0).astype(np.float64)
    frames = np.stack([cabin.render(i / 10, i).astype(np.float64) for i in range(12)])
    wall_sd = float((frames[:, 150:200, 450:500] - reference[150:200, 450:500]).std())
    door_sd = float((frames[:, 120:200, 60:120] - reference[120:200, 60:120]).std())
    # sqrt(2² + 6² · level / 255): the wall (about 205) 5.7, the door (about 85) 4.0
    assert 4.5 < wall_sd < 7.0 and 3.0 < door_sd < 5.0 and wall_sd > 1.2 * door_sd
    flickering = FilmedCabin(
        Nobody(), CameraProfile("flicker", 640, 360, flicker=0.015), overlay=False
    )
    means = [float(flickering.render(i / 10, i).mean()) for i in range(20)]
    spread = (max(means) - min(means)) / float(np.mean(means))
    assert 0.005 < spread < 0.05
    webcam = FilmedCabin(Nobody(), WEBCAM, overlay=False)
    assert float(np.abs(webcam.render(0.0, 0).astype(np.float64) - reference).mean()) > 1.5


def test_a_webcam_scene_plays_live_by_its_name() -> None:
    async def one_frame() -> np.ndarray:
        camera = scene_camera("close_to_lens_then_fall")
        frame = (await camera.recv()).to_ndarray(format="rgb24")
        camera.stop()
        return frame

    assert asyncio.run(one_frame()).shape == (360, 640, 3)
