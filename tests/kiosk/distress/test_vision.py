"""The camera's detectors (kiosk/distress/vision.py) on the synthetic cabin scenes.

Each scene is rendered at 640x480, scaled to 160x120 and analysed at 10 frames/s, as the monitor
does. Short thresholds (stillness after 6-8 s, absence after 5 s) keep the tests fast; the hour of
normal activity and the default thresholds are the bench's (bench/bench_distress_vision.py).
"""

from __future__ import annotations

import itertools
import math
from typing import Literal

import numpy as np
import pytest

from bench.real_recordings import Clip, clip_frames, fall_clips, recordings_dir
from kiosk.distress.detection import Detection
from kiosk.distress.vision import ANALYSIS_HEIGHT, ANALYSIS_WIDTH, VisionAnalyser, VisionThresholds
from simulators.scenes import (
    EMPTY_LEAD_S,
    FALL_VARIANTS,
    FallVariant,
    Key,
    Keyframes,
    Piecewise,
    Scene,
    absence_scenes,
    fall_scene,
    gesturing,
    lying,
    normal_scenes,
    seated,
    standing,
    stillness_scenes,
    waving,
)
from wire.messages import AlertKind

SHORT = VisionThresholds(stillness_after_s=8.0, absence_after_s=5.0)


def play(
    scene: Scene,
    analyser: VisionAnalyser | None = None,
    *,
    until_s: float | None = None,
    scaler: Literal["camera", "area"] = "area",
) -> list[Detection]:
    analyser = analyser or VisionAnalyser(SHORT)
    detections: list[Detection] = []
    for t_s, frame in scene.frames(until_s=until_s, scaler=scaler):
        detections += analyser.analyse(frame, t_s)
    return detections


def of(kind: AlertKind, detections: list[Detection]) -> list[Detection]:
    return [d for d in detections if d.kind is kind]


@pytest.mark.parametrize("variant", FALL_VARIANTS, ids=lambda v: v.name)
def test_every_fall_is_found_once_within_two_seconds_of_landing(variant: FallVariant) -> None:
    scene = fall_scene(variant, lie_for_s=2.0)
    (landing,) = (e.at_s for e in scene.events if e.kind == "fall")
    falls = of(AlertKind.FALL, play(scene, scaler="camera"))  # as the monitor scales frames
    assert len(falls) == 1, falls
    (fall,) = falls
    assert landing - 1.0 <= fall.event_at_s <= landing + 0.2
    assert fall.at_s - landing <= 2.0
    assert 0.5 <= fall.confidence <= 1.0
    assert "au sol" in fall.detail


@pytest.mark.parametrize("scene", normal_scenes(), ids=lambda s: s.name)
def test_normal_scenes_raise_nothing(scene: Scene) -> None:
    """Entering, sitting down, standing up, waving, bending, crouching, talking, the lights
    going down or up (suddenly or slowly), the door opening: no alert with default thresholds
    (at 5 frames/s rather than the monitor's 10 to keep the suite fast)."""
    analyser = VisionAnalyser()
    present = []
    for t_s, frame in scene.frames(fps=5.0, scaler="area"):
        assert analyser.analyse(frame, t_s) == [], (scene.name, t_s)
        present.append(analyser.person_present)
    someone = scene.script.pose_at(scene.duration_s) is not None
    assert present[-1] is someone  # nobody is invented by the lights or the door


def test_lights_dimmed_with_a_patient_keep_the_patient_in_view() -> None:
    scene = {s.name: s for s in normal_scenes()}["lights_sudden_dim"]
    analyser = VisionAnalyser()
    seen = [
        (t_s, analyser.person_present)
        for t_s, frame in scene.frames()
        if analyser.analyse(frame, t_s) == []
    ]
    assert all(present for t_s, present in seen if t_s >= EMPTY_LEAD_S + 0.5)


def test_a_fainted_patient_who_only_breathes_is_still_after_the_delay_and_not_before() -> None:
    scene = stillness_scenes(still_for_s=12.0)[0]  # slumps from 5 s to 7 s, then only breathes
    (still_from,) = (e.at_s for e in scene.events)
    early = play(scene, until_s=still_from + SHORT.stillness_after_s - 1.5)
    assert of(AlertKind.STILLNESS, early) == []
    detections = play(scene)
    (still,) = of(AlertKind.STILLNESS, detections)
    assert still.at_s - still.event_at_s >= SHORT.stillness_after_s
    assert still_from - 2.0 <= still.event_at_s <= still_from + 1.0
    assert of(AlertKind.FALL, detections) == [] and of(AlertKind.ABSENCE, detections) == []


def test_a_waving_person_is_not_still() -> None:
    keys = [Key(0.0, None), Key(EMPTY_LEAD_S, seated())]
    keys += [Key(2.0 + 0.5 * i, waving(seated(), i % 2 == 0)) for i in range(50)]
    scene = Scene("waving_on", "waves without stopping", Keyframes(tuple(keys)), 26.0)
    assert play(scene, VisionAnalyser(VisionThresholds(stillness_after_s=5.0))) == []


def test_a_person_lying_still_for_minutes_stays_present_and_is_not_absent() -> None:
    scene = stillness_scenes(still_for_s=100.0)[2]  # lying on the floor from 1 s
    assert scene.name == "lying_still"
    analyser = VisionAnalyser()  # default thresholds: stillness after 60 s, absence after 20 s
    detections: list[Detection] = []
    for t_s, frame in scene.frames(fps=3.0, scaler="area"):
        detections += analyser.analyse(frame, t_s)
        if t_s > EMPTY_LEAD_S + 1.0:
            assert analyser.person_present, t_s
    assert of(AlertKind.ABSENCE, detections) == []
    assert of(AlertKind.FALL, detections) == []  # appearing already down is no fall
    (still,) = of(AlertKind.STILLNESS, detections)
    assert 60.0 <= still.at_s - still.event_at_s <= 61.0  # at 3 frames/s


def test_absence_after_the_delay_once_and_again_after_a_return() -> None:
    leaves = absence_scenes(gone_for_s=8.0)[0]
    (left_at,) = (e.at_s for e in leaves.events)
    detections = play(leaves)
    (absence,) = of(AlertKind.ABSENCE, detections)
    assert abs(absence.event_at_s - left_at) <= 0.5
    assert SHORT.absence_after_s <= absence.at_s - absence.event_at_s <= SHORT.absence_after_s + 0.2
    assert of(AlertKind.FALL, detections) == []

    keys = [
        Key(0.0, None),
        Key(EMPTY_LEAD_S, standing(500.0)),
        Key(3.0, standing(500.0)),
        Key(3.01, None),
        Key(10.0, standing(500.0)),
        Key(12.0, standing(500.0)),
        Key(12.01, None),
    ]
    twice = Scene("away_twice", "", Keyframes(tuple(keys)), 19.0)
    assert [round(d.event_at_s) for d in play(twice)] == [3, 12]


def test_nobody_ever_seen_is_no_absence() -> None:
    empty = Scene("empty", "", Keyframes((Key(0.0, None),)), 12.0)
    assert play(empty) == []


def test_a_fall_is_reported_again_only_after_the_person_got_up() -> None:
    down = lying(380.0, 410.0, "right")
    keys = [
        Key(0.0, None),
        Key(EMPTY_LEAD_S, standing(300.0)),
        Key(4.0, standing(300.0)),
        Key(4.8, down, "in"),
        Key(7.0, down),
        Key(7.5, standing(300.0)),  # up, only briefly
        Key(7.9, down, "in"),
        Key(10.0, down),
        Key(12.0, standing(300.0)),
        Key(15.0, standing(300.0)),
        Key(15.8, down, "in"),
    ]
    scene = Scene("falls_again", "", Keyframes(tuple(keys)), 18.0)
    falls = of(AlertKind.FALL, play(scene))
    assert [round(f.event_at_s) for f in falls] == [5, 16]


def test_reset_forgets_the_patient_but_not_the_empty_cabin() -> None:
    leaves = absence_scenes(gone_for_s=8.0)[0]
    (left_at,) = (e.at_s for e in leaves.events)
    analyser = VisionAnalyser(SHORT)
    detections: list[Detection] = []
    for t_s, frame in leaves.frames():
        if abs(t_s - (left_at + 0.5)) < 0.05:
            analyser.reset()  # the session ended as the patient left
        detections += analyser.analyse(frame, t_s)
    assert detections == []  # nobody seen since the reset: no absence

    fall = fall_scene(FALL_VARIANTS[0], lie_for_s=2.0)
    frames = list(fall.frames())
    analyser = VisionAnalyser(SHORT)
    for t_s, frame in frames[:30]:  # the empty cabin, then the patient standing
        analyser.analyse(frame, t_s)
    assert analyser.person_present
    analyser.reset()
    t_s, frame = frames[30]
    analyser.analyse(frame, t_s)
    assert analyser.person_present  # the background was kept: seen at once
    assert len(of(AlertKind.FALL, [d for t, f in frames[31:] for d in analyser.analyse(f, t)])) == 1


def test_garbage_frames_raise_a_clear_error_or_are_adapted() -> None:
    analyser = VisionAnalyser(SHORT)
    h, w = ANALYSIS_HEIGHT, ANALYSIS_WIDTH
    bad_frames: list[np.ndarray] = [
        np.zeros((h, w), np.uint8),
        np.zeros((h, w, 4), np.uint8),
        np.zeros((h, w, 3), np.float32),
        np.zeros((0, 0, 3), np.uint8),
    ]
    for bad in bad_frames:
        with pytest.raises(ValueError, match="frame"):
            analyser.analyse(bad, 0.0)
    with pytest.raises(ValueError):
        analyser.analyse([[1, 2, 3]], 0.0)  # type: ignore[arg-type]
    black = np.zeros((h, w, 3), np.uint8)
    assert all(analyser.analyse(black, i / 10) == [] for i in range(30))
    assert not analyser.person_present
    rng = np.random.default_rng(3)
    for i in range(30):
        analyser.analyse(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), 3.0 + i / 10)
    assert analyser.analyse(black, 1.0) == []  # time going backwards: ignored

    # a frame of another size (the camera's own 640x480) is scaled to the analysis size
    scene = fall_scene(FALL_VARIANTS[0], lie_for_s=2.0)
    big = VisionAnalyser(SHORT)
    detections: list[Detection] = []
    for t_s, frame in scene.frames(width=640, height=480):
        detections += big.analyse(frame, t_s)
    assert [d.kind for d in detections] == [AlertKind.FALL]


def test_a_long_dim_spell_leaves_no_ghost_around_a_patient_who_stays_seated() -> None:
    """The background adapts where the patient is not; it must keep the same lighting units as
    the part hidden behind the patient, or a ghost grows around them after minutes of dim light
    (a bug found in the hour of normal activity: the silhouette tripled, and gestures were
    lost in it). Here the gesture's box is the same before and after 4 min of dim light."""
    keys = [Key(0.0, None), Key(EMPTY_LEAD_S, seated())]
    for i in range(20):  # a gesture every 20 s
        keys += [Key(20.0 * i + 9.0, seated()), Key(20.0 * i + 10.0, gesturing(seated(), i)),
                 Key(20.0 * i + 11.0, seated())]  # fmt: skip
    light = Piecewise(((6.0, 1.0), (6.05, 0.45), (240.0, 0.45), (245.0, 1.0)))
    scene = Scene("dim", "", Keyframes(tuple(keys)), 256.0, light_gain_at=light)
    analyser = VisionAnalyser()
    boxes: dict[str, set[tuple[int, int, int, int] | None]] = {"before": set(), "after": set()}
    for t_s, frame in scene.frames(fps=1.0, scaler="area"):
        assert analyser.analyse(frame, t_s) == []
        if 3.0 <= t_s <= 5.5 or t_s >= 252.0:  # not during a gesture
            boxes["before" if t_s < 6.0 else "after"].add(analyser.person_box)
    assert None not in boxes["before"] | boxes["after"]
    area = {k: max((b[2] - b[0]) * (b[3] - b[1]) for b in v if b) for k, v in boxes.items()}
    assert area["after"] < 1.1 * area["before"], boxes


# --- drawn scenes: a person as a box whose geometry each rule is about ---------------------------

BoxKeys = list[tuple[float, tuple[int, int, int, int]]]


def _room(seed: int = 5) -> np.ndarray:
    """A textured room at the analysis size: a wall with a gradient, a floor with tiles."""
    rng = np.random.default_rng(seed)
    h, w = ANALYSIS_HEIGHT, ANALYSIS_WIDTH
    room = np.empty((h, w, 3), np.float32)
    room[:, :] = (150.0, 170.0, 185.0)
    room[:, :, 0] += np.linspace(-20, 20, w)[None, :]
    tiles = ((np.arange(w)[None, :] // 8 + np.arange(h)[:, None] // 6) % 2) * 25.0
    room[75:, :, 1] -= tiles[75:]
    room += rng.normal(0, 4, room.shape).astype(np.float32)
    return room


def _box_at(keys: BoxKeys, t_s: float) -> tuple[int, int, int, int] | None:
    if t_s < keys[0][0]:
        return None
    for (t0, b0), (t1, b1) in itertools.pairwise(keys):
        if t0 <= t_s < t1:
            u = (t_s - t0) / (t1 - t0)
            return tuple(round(a + (b - a) * u) for a, b in zip(b0, b1, strict=True))  # type: ignore[return-value]
    return keys[-1][1]


def _drawn(
    keys: BoxKeys,
    duration_s: float,
    *,
    room: np.ndarray | None = None,
    objects: list[tuple[float, float, tuple[int, int, int, int]]] = (),  # type: ignore[assignment]
    exposure_from_s: float = math.inf,
    fps: float = 10.0,
) -> list[tuple[float, np.ndarray]]:
    """Frames of a dark, striped person whose box follows `keys`, who sways by a pixel and
    fidgets (a hand moving by a pixel or two), as a real person does, with sensor noise;
    `objects` are grey boxes in view from one time to another (a rug or a chair pushed from one
    place to another); from `exposure_from_s` the camera's exposure jumps (brighter, and not a
    mere gain: a gamma)."""
    base = _room() if room is None else room
    rng = np.random.default_rng(11)
    frames = []
    for i in range(int(duration_s * fps) + 1):
        t_s = i / fps
        image = base.copy()
        for since_s, until_s, (x0, y0, x1, y1) in objects:
            if since_s <= t_s < until_s:
                image[y0:y1, x0:x1] = (95.0, 80.0, 70.0)
        box = _box_at(keys, t_s)
        if box is not None:
            sway = (i // 3) % 2  # a real person is never quite still
            x0, y0, x1, y1 = box[0] + sway, box[1], box[2] + sway, box[3]
            image[y0:y1, x0:x1] = (45.0, 55.0, 95.0)
            image[y0:y1:4, x0:x1] = (70.0, 60.0, 50.0)
            wiggle = i % 3
            image[y0 + 2 : y0 + 5, max(0, x0 - 2 - wiggle) : x0] = (200.0, 150.0, 120.0)
        image += rng.normal(0, 2, image.shape).astype(np.float32)
        if t_s >= exposure_from_s:
            image = 255.0 * (np.clip(image, 0, 255) / 255.0) ** 0.7
        frames.append((t_s, np.clip(image, 0, 255).astype(np.uint8)))
    return frames


def _run(
    frames: list[tuple[float, np.ndarray]], analyser: VisionAnalyser | None = None
) -> tuple[VisionAnalyser, list[Detection], dict[float, tuple[int, int, int, int] | None]]:
    analyser = analyser or VisionAnalyser(SHORT)
    detections: list[Detection] = []
    boxes = {}
    for t_s, frame in frames:
        detections += analyser.analyse(frame, t_s)
        boxes[round(t_s, 1)] = analyser.person_box
    return analyser, detections, boxes


STANDING = (70, 20, 84, 100)  # 14 x 80 pixels
SEATED = (66, 45, 86, 100)  # on a bed's edge: 20 x 55
LYING_ON_BED = (50, 58, 110, 72)  # 60 x 14
ON_FLOOR = (40, 80, 110, 100)  # 70 x 20


def test_a_person_in_view_from_the_first_frame_is_found_by_movement_and_their_fall_too() -> None:
    """The first frame is only the background's first guess: the place the person leaves is
    relearned, the person is what moves, and the fall is found; later than with a known empty
    cabin (up to 3 s after the landing), as the place left must first be seen to be the room."""
    keys = [(0.0, STANDING), (1.5, STANDING), (2.2, ON_FLOOR)]
    analyser, detections, boxes = _run(_drawn(keys, 6.0))
    falls = of(AlertKind.FALL, detections)
    assert len(falls) == 1 and 1.5 <= falls[0].event_at_s <= 4.0, falls
    assert falls[0].at_s <= 2.2 + 3.0
    final = boxes[6.0]
    assert final is not None and final[1] >= ON_FLOOR[1] - 6  # the place left is not theirs
    assert analyser.person_present


def test_a_fall_from_sitting_on_a_bed_edge_to_little_more_than_half_the_height_is_found() -> None:
    low = (50, 70, 100, 100)  # 55 % of the seated height, wide
    keys = [(0.0, None), (1.0, SEATED), (3.0, SEATED), (3.6, low)]
    frames = _drawn([k for k in keys if k[1] is not None], 7.0)  # type: ignore[misc]
    (fall,) = of(AlertKind.FALL, _run(frames)[1])
    assert 3.0 <= fall.event_at_s <= 4.0 and fall.at_s <= 3.6 + 2.0


def test_lying_down_on_purpose_sitting_down_and_crouching_are_no_fall() -> None:
    slowly = [(1.0, SEATED), (3.0, SEATED), (6.0, (50, 70, 100, 100))]  # 3 s, on purpose
    crouch = [(1.0, STANDING), (3.0, STANDING), (3.5, (66, 55, 86, 100))]  # fast, held: narrow
    sit = [(1.0, STANDING), (3.0, STANDING), (3.6, SEATED)]
    for keys in (slowly, crouch, sit):
        assert of(AlertKind.FALL, _run(_drawn(keys, 9.0))[1]) == [], keys


def test_a_roll_from_a_bed_to_the_floor_is_a_fall_though_never_upright() -> None:
    rolled = (45, 84, 105, 98)
    keys = [(1.0, LYING_ON_BED), (4.0, LYING_ON_BED), (4.5, rolled)]
    (fall,) = of(AlertKind.FALL, _run(_drawn(keys, 8.0))[1])
    assert 4.0 <= fall.event_at_s <= 5.0
    slowly = [(1.0, LYING_ON_BED), (4.0, LYING_ON_BED), (7.0, rolled)]  # climbing down
    assert of(AlertKind.FALL, _run(_drawn(slowly, 10.0))[1]) == []


def test_an_object_pushed_by_the_fall_does_not_hide_it_nor_join_the_person() -> None:
    rug = (118, 88, 150, 104)  # the room's rug, pushed by the landing person, then at rest
    was = (124, 100, 156, 116)
    keys = [(1.0, STANDING), (3.0, STANDING), (3.6, ON_FLOOR)]
    objects = [(0.0, 3.5, was), (3.5, math.inf, rug)]
    _, detections, boxes = _run(_drawn(keys, 9.0, objects=objects))
    assert len(of(AlertKind.FALL, detections)) == 1
    final = boxes[9.0]
    assert final is not None and final[2] < rug[0]  # the box follows the person, not the rug


def test_an_exposure_jump_is_recovered_within_seconds_and_raises_nothing() -> None:
    keys = [(1.0, SEATED)]
    _, detections, boxes = _run(_drawn(keys, 12.0, exposure_from_s=5.0))
    assert detections == []
    before = boxes[4.9]
    assert before is not None
    area = (before[2] - before[0]) * (before[3] - before[1])
    for t_s in (8.0, 10.0, 12.0):  # 3 s after the jump and later: the person's box again
        box = boxes[t_s]
        assert box is not None and (box[2] - box[0]) * (box[3] - box[1]) < 1.5 * area, (t_s, box)


def test_empty_cabin_relearns_on_demand() -> None:
    chair = (100, 60, 125, 100)  # moved during the cleaning: new, static, not a person
    room = _room()
    frames = _drawn([(1.0, STANDING), (3.0, STANDING), (3.1, (150, 20, 160, 100))], 4.0)
    analyser, _, _ = _run(frames[:32])  # a patient stood, then left
    cleaned = _drawn([(0.0, (150, 20, 160, 100))], 6.0, room=room, objects=[(0, math.inf, chair)])
    analyser.reset()  # the session ended
    analyser.empty_cabin()
    t0 = 4.0
    for t_s, frame in cleaned:
        assert analyser.analyse(frame, t0 + t_s) == [] and not analyser.person_present


def test_a_place_left_is_no_person_and_the_empty_cabin_is_relearned_by_itself() -> None:
    """A patient in view from the first frame (in the background's first guess) leaves: the
    place they left is not taken for a person; ABSENCE once; then the cabin, seen empty, is
    relearned everywhere, and a newcomer standing still there is seen whole."""
    off = (0, 0, 0, 0)  # out of view
    keys = [(0.0, SEATED), (2.0, SEATED), (2.5, (140, 45, 160, 100)), (2.6, off)]
    frames = _drawn(keys, 10.0)
    newcomer = _drawn([(0.0, SEATED)], 1.0)
    _, detections, boxes = _run(frames + [(10.1 + t, f) for t, f in newcomer])
    assert [d.kind for d in detections] == [AlertKind.ABSENCE]
    assert all(boxes[round(t, 1)] is None for t in np.arange(4.5, 10.0, 0.1))
    box = boxes[11.1]
    assert box is not None and abs(box[1] - SEATED[1]) <= 2 and abs(box[3] - SEATED[3]) <= 2


# --- the real development set (bench/real_recordings.py; never copied into the repository) --------


REAL_FALLS_MISSED = ("S1_Fall_15",)  # the chair pushed by the fall joins the box: VISION.md


def _real_clips() -> list[Clip]:
    clips = fall_clips()
    if not clips:
        pytest.skip(f"the real recordings are not here ({recordings_dir()})")
    return clips


def test_real_clips_as_given_falls_found_and_daily_activities_raise_nothing() -> None:
    """GMDCSA24 clips as given (the person in view from the first frame, 16:9 squeezed to
    160x120 as the monitor does), default thresholds: the falls found, no alert at all on the
    daily activities (six falls, three daily activities in the development set; one fall is
    still missed, documented)."""
    found: dict[str, list[Detection]] = {}
    for clip in _real_clips():
        analyser = VisionAnalyser()
        detections: list[Detection] = []
        for t_s, frame in clip_frames(clip.path):
            detections += analyser.analyse(frame, t_s)
        found[clip.name] = detections
        if not clip.is_fall:
            assert detections == [], (clip.name, detections)
    for clip in _real_clips():
        if clip.is_fall and clip.name not in REAL_FALLS_MISSED:
            (fall,) = of(AlertKind.FALL, found[clip.name])
            assert clip.fall_starts_s is not None
            assert fall.event_at_s >= clip.fall_starts_s - 0.5, (clip.name, fall)
