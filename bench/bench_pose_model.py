"""The camera's fall detectors side by side: classical, pose model, and their combinations.

Run ``python -m bench.bench_pose_model`` in the product's venv (``--quick``: 10 min of normal
activity instead of 1 h; ``--real-only``: the real clips only). Detectors:

- ``classical``: `kiosk.distress.vision.VisionAnalyser` (frames scaled to 160x120 by itself);
- ``pose``: `kiosk.distress.pose.PoseAnalyser` on every analysed frame (10/s), and ``pose 5/s``
  on every other one (a run of the model of its own: its tracking sees every other frame);
- ``combined ...``: `CombinedVision` with each `FallSource` (the pose's falls only; either; either
  unless the pose sees the person upright) at 10/s, and the default one with the pose at 5/s.

On the real development clips (``bench/real_recordings.py``: 6 falls, 3 daily activities, as
given, no empty room first), frames as the monitor gives them: 320 pixels wide, the clip's aspect
(320x180), 10 frames/s. Per detector: falls found, the time from the annotated start of the fall
to the alert, alerts on the daily activities. On the synthetic scenes (``simulators/scenes.py``,
rendered 640x480, scaled to 320x240 as a camera frame is): falls found within 2 s of the landing
over every fall variant, false alarms on the short normal scenes and per hour of normal activity.

The pose model runs once per frame and scene (its torso is replayed, keyed by the frame's bytes,
to every detector that uses it at that rate: the same output, the model's CPU counted once).
CPU per frame (`time.process_time`: MediaPipe computes on threads of its own; medians): the
floor (scaling a decoded frame to 320 wide, RGB), the classical analysis, the pose model, and
the share of one core at 10 analysed frames/s.
Nothing passes or fails (bench/README.md).
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import cast

import av
import numpy as np
from numpy.typing import NDArray

from bench.real_recordings import Clip, clip_frames, fall_clips
from kiosk.distress.detection import Detection, FrameAnalyser, RgbFrame
from kiosk.distress.pose import (
    CombinedSettings,
    CombinedVision,
    FallSource,
    MediaPipePose,
    PoseAnalyser,
    Torso,
)
from kiosk.distress.vision import VisionAnalyser, VisionThresholds
from simulators.scenes import FALL_VARIANTS, Scene, fall_scene, normal_activity, normal_scenes
from wire.messages import AlertKind

FPS = 10.0
WIDTH = 320
FALL_LATENCY_TARGET_S = 2.0
CORE_TARGET_PERCENT = 30.0

DETECTORS = (
    "classical",
    "pose",
    "pose 5/s",
    "combined, pose falls only",
    "combined, either",
    "combined, either unless upright",
    "combined, either unless upright, pose 5/s",
)


class Replayed:
    """The pose model's output for frames already seen (same bytes), else the model's."""

    def __init__(self, model: MediaPipePose, cpu_s: list[float]) -> None:
        self._model = model
        self._cpu_s = cpu_s
        self._seen: dict[bytes, Torso | None] = {}

    def torso(self, rgb: NDArray[np.uint8]) -> Torso | None:
        key = hashlib.blake2b(rgb.tobytes(), digest_size=16).digest()
        if key not in self._seen:
            c0 = time.process_time()
            self._seen[key] = self._model.torso(rgb)
            self._cpu_s.append(time.process_time() - c0)
        return self._seen[key]


@dataclass
class Tally:
    name: str
    real_latencies_s: list[float] = field(default_factory=list)
    real_missed: list[str] = field(default_factory=list)
    real_false: list[str] = field(default_factory=list)
    synthetic_latencies_s: list[float] = field(default_factory=list)
    synthetic_missed: list[str] = field(default_factory=list)
    false_short: list[str] = field(default_factory=list)
    false_long: list[str] = field(default_factory=list)


@dataclass
class Cpu:
    floor_s: list[float] = field(default_factory=list)
    classical_s: list[float] = field(default_factory=list)
    pose_s: list[float] = field(default_factory=list)
    pose_5_s: list[float] = field(default_factory=list)


def detectors(cpu: Cpu) -> tuple[list[FrameAnalyser], list[MediaPipePose]]:
    """Fresh analysers, one per name of DETECTORS, for one clip or scene, and the two runs of
    the pose model they share (every frame, every other frame), to close after it."""
    models = [MediaPipePose(), MediaPipePose()]
    every_frame = Replayed(models[0], cpu.pose_s)
    every_other = Replayed(models[1], cpu.pose_5_s)

    def pose(every: int = 1) -> PoseAnalyser:
        return PoseAnalyser(landmarker=every_frame if every == 1 else every_other)

    def combined(falls: FallSource, every: int = 1) -> CombinedVision:
        return CombinedVision(
            VisionAnalyser(VisionThresholds()),
            pose(every),
            CombinedSettings(falls=falls, pose_every=every),
        )

    analysers: list[FrameAnalyser] = [
        _TimedClassical(VisionAnalyser(VisionThresholds()), cpu.classical_s),
        pose(),
        _Every(pose(2), 2),
        combined(FallSource.POSE),
        combined(FallSource.EITHER),
        combined(FallSource.EITHER_UNLESS_UPRIGHT),
        combined(FallSource.EITHER_UNLESS_UPRIGHT, 2),
    ]
    return analysers, models


class _TimedClassical:
    def __init__(self, analyser: VisionAnalyser, cpu_s: list[float]) -> None:
        self._analyser, self._cpu_s = analyser, cpu_s

    def analyse(self, frame: RgbFrame, t_s: float) -> list[Detection]:
        c0 = time.process_time()
        found = self._analyser.analyse(frame, t_s)
        self._cpu_s.append(time.process_time() - c0)
        return found

    def reset(self) -> None:
        self._analyser.reset()

    def empty_cabin(self) -> None:
        self._analyser.empty_cabin()


class _Every:
    """An analyser given one frame in `every` (the pose alone at 5/s)."""

    def __init__(self, analyser: FrameAnalyser, every: int) -> None:
        self._analyser, self._every, self._count = analyser, every, 0

    def analyse(self, frame: RgbFrame, t_s: float) -> list[Detection]:
        self._count += 1
        return self._analyser.analyse(frame, t_s) if (self._count - 1) % self._every == 0 else []

    def reset(self) -> None:
        self._analyser.reset()

    def empty_cabin(self) -> None:
        self._analyser.empty_cabin()


def _camera_frames(scene: Scene, cpu: Cpu) -> Iterator[tuple[float, RgbFrame]]:
    cabin = scene.cabin_scene()
    height = round(cabin.height * WIDTH / cabin.width)
    for index in range(int(scene.duration_s * FPS) + 1):
        t_s = index / FPS
        camera = av.VideoFrame.from_ndarray(cabin.render(t_s, index), format="rgb24").reformat(
            format="yuv420p"
        )
        c0 = time.process_time()
        image = np.asarray(camera.reformat(width=WIDTH, height=height, format="rgb24").to_ndarray())
        cpu.floor_s.append(time.process_time() - c0)
        yield t_s, cast(RgbFrame, image)


def _clip_frames(clip: Clip, cpu: Cpu) -> Iterator[tuple[float, RgbFrame]]:
    """The clip as the monitor takes it, 320 wide with its aspect; the floor timed is the
    scaling and conversion of the decoded frame."""
    return clip_frames(clip.path, fps=FPS, width=WIDTH, height=None, scaling_s=cpu.floor_s)


def play(frames: Iterator[tuple[float, RgbFrame]], cpu: Cpu) -> list[list[Detection]]:
    analysers, models = detectors(cpu)
    found: list[list[Detection]] = [[] for _ in analysers]
    for t_s, image in frames:
        for analyser, so_far in zip(analysers, found, strict=True):
            so_far.extend(analyser.analyse(image, t_s))
    for model in models:
        model.close()
    return [[d for d in f if d.kind is AlertKind.FALL] for f in found]


def run(quick: bool, real_only: bool) -> tuple[list[Tally], Cpu, int, float]:
    tallies = [Tally(name) for name in DETECTORS]
    cpu = Cpu()
    clips = fall_clips()
    for clip in clips:
        falls_by = play(_clip_frames(clip, cpu), cpu)
        for tally, falls in zip(tallies, falls_by, strict=True):
            start = clip.fall_starts_s
            if start is None:
                tally.real_false += [f"{clip.name}@{d.at_s:.1f}s" for d in falls]
            elif falls:
                tally.real_latencies_s.append(falls[0].at_s - start)
                tally.real_false += [f"{clip.name}: again @{d.at_s:.1f}s" for d in falls[1:]]
            else:
                tally.real_missed.append(clip.name)
    long_s = 0.0
    if real_only:
        return tallies, cpu, len(clips), long_s
    for variant in FALL_VARIANTS:
        scene = fall_scene(variant, lie_for_s=4.0)
        landing = next(e.at_s for e in scene.events if e.kind == "fall")
        falls_by = play(_camera_frames(scene, cpu), cpu)
        for tally, falls in zip(tallies, falls_by, strict=True):
            if falls and falls[0].at_s - landing <= FALL_LATENCY_TARGET_S:
                tally.synthetic_latencies_s.append(falls[0].at_s - landing)
            else:
                tally.synthetic_missed.append(variant.name)
            if len(falls) > 1:
                tally.false_short.append(f"{scene.name}: {len(falls)} falls")
    for scene in normal_scenes():
        falls_by = play(_camera_frames(scene, cpu), cpu)
        for tally, falls in zip(tallies, falls_by, strict=True):
            tally.false_short += [f"{scene.name}@{d.at_s:.1f}s" for d in falls]
    long_s = 600.0 if quick else 3600.0
    long_scene = normal_activity(long_s, seed=1)
    falls_by = play(_camera_frames(long_scene, cpu), cpu)
    for tally, falls in zip(tallies, falls_by, strict=True):
        tally.false_long += [f"{d.at_s:.0f}s" for d in falls]
    return tallies, cpu, len(clips), long_s


def _ms(values: list[float]) -> float:
    return statistics.median(values) * 1000 if values else float("nan")


def _latency(values: list[float]) -> str:
    if not values:
        return "-"
    return f"median {statistics.median(values):.1f} s, max {max(values):.1f} s"


def report(tallies: list[Tally], cpu: Cpu, clips: int, long_s: float) -> None:
    real_falls = sum(1 for c in fall_clips() if c.is_fall)
    daily = clips - real_falls
    if not clips:
        print("real clips: not found (bench/real_recordings.py says where they are looked for)")
    else:
        print(
            f"real clips (GMDCSA24, {real_falls} falls, {daily} daily activities, as given, "
            f"{WIDTH} px wide, {FPS:.0f} frames/s); time from the annotated start of the fall"
        )
        for t in tallies:
            found = len(t.real_latencies_s)
            print(
                f"  {t.name:42s} falls {found}/{real_falls}  alert {_latency(t.real_latencies_s)}"
                f"   alerts on daily activities {len(t.real_false)}"
                + (f"   missed: {', '.join(t.real_missed)}" if t.real_missed else "")
                + (f"   false: {', '.join(t.real_false)}" if t.real_false else "")
            )
    if long_s:
        n = len(FALL_VARIANTS)
        print(
            f"synthetic scenes ({n} falls, within {FALL_LATENCY_TARGET_S:.0f} s of the landing; "
            f"15 short normal scenes; {long_s / 60:.0f} min of normal activity)"
        )
        for t in tallies:
            per_hour = len(t.false_long) * 3600.0 / long_s
            print(
                f"  {t.name:42s} falls {len(t.synthetic_latencies_s)}/{n}  after landing "
                f"{_latency(t.synthetic_latencies_s)}   false: short {len(t.false_short)}, "
                f"long {len(t.false_long)} = {per_hour:.1f}/h"
                + (f"   missed: {', '.join(t.synthetic_missed)}" if t.synthetic_missed else "")
                + (
                    f"   ({'; '.join((t.false_short + t.false_long)[:6])})"
                    if t.false_short or t.false_long
                    else ""
                )
            )
    floor, classical, pose = _ms(cpu.floor_s), _ms(cpu.classical_s), _ms(cpu.pose_s)
    pose_5 = _ms(cpu.pose_5_s)
    print(
        f"cpu/frame (medians, {len(cpu.floor_s)} frames): floor (scale + RGB, {WIDTH} wide) "
        f"{floor:.2f} ms   classical {classical:.2f} ms   pose model {pose:.1f} ms "
        f"(at 5/s, tracking every other frame: {pose_5:.1f} ms)"
    )
    for label, per_second in (
        ("classical", floor + classical),
        ("classical + pose 10/s", floor + classical + pose),
        ("classical + pose 5/s", floor + classical + pose_5 / 2),
    ):
        share = per_second * FPS / 10.0
        print(
            f"  {label:24s} {share:5.1f} % of one core at {FPS:.0f} frames/s"
            f"   target <= {CORE_TARGET_PERCENT:.0f} %"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_pose_model")
    parser.add_argument("--quick", action="store_true", help="10 min of normal activity, not 1 h")
    parser.add_argument("--real-only", action="store_true", help="the real clips only")
    args = parser.parse_args(argv)
    started = time.monotonic()
    tallies, cpu, clips, long_s = run(args.quick, args.real_only)
    report(tallies, cpu, clips, long_s)
    print(f"(bench ran {time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
