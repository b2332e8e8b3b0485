"""Benchmark of the camera's distress detectors: the real development set beside the synthetic one.

Run ``python -m bench.bench_distress_vision`` (``--quick`` for a shorter run, a few minutes).
Every detector sees the frames the monitor would give it: taken at 10 frames/s, scaled by
FFmpeg's scaler to 320 pixels wide keeping the camera's aspect (`AnalysisSettings.frame_size`),
after the camera's YUV 4:2:0. Detectors, each on the same frames:

- ``classical``: `kiosk.distress.vision.VisionAnalyser`, default thresholds;
- ``pose`` and ``combined``: `kiosk.distress.pose.PoseAnalyser` and `CombinedVision`, when that
  module and its model can be loaded (otherwise the line says why they are absent).

Sets:

- **real**: the real development clips (`bench/real_recordings.py`: the GMDCSA24 home fall
  clips, as they are given, no empty-room image made by hand; "not found" if the folder is
  absent). Falls found, and the time from the dataset's annotated fall start to the alert
  (median, max); an alert before that start counts as a false alarm. Daily-activity clips with
  an alert, and false alarms per hour of that real normal material (the daily-activity clips'
  total duration: a few seconds, so the rate is a coarse extrapolation).
- **synthetic, drawn**: the scenes of `simulators/scenes.py` as drawn (`IDEAL` camera): the 24
  falls (found within 2 s of the landing, time from the landing), the 15 short normal scenes,
  stillness and absence (classical and combined only: the pose analyser gives falls only), a
  long stretch of normal activity (1 h; ``--quick``: 10 min, 5 with the webcam, and the
  classical analyser only).
- **synthetic, webcam**: the same filmed by `WEBCAM` (16:9, automatic exposure, noise, flicker,
  blur, MJPEG), with the scenes a real camera makes hard (`camera_scenes`: someone close to the
  lens, then a fall; five scenes with the person in view from the first frame).
- **CPU** per analysed frame (`time.process_time`, median: a model's own threads count) beside
  the floor measured on the same frames: the monitor's scaling and conversion of the camera's
  frame; the share of one core for both at 10 frames/s.

Targets (issue 19): every real fall found, no alert on the daily activities, no regression on
the synthetic set (24/24, 0 false alarms), fall -> alert within 2 s, <= 30 % of a core. Nothing
passes or fails (see bench/README.md).
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import av
import numpy as np

from bench.real_recordings import Clip, clip_frames, fall_clips, recordings_dir
from kiosk.distress.detection import Detection, FrameAnalyser, RgbFrame
from kiosk.distress.monitor import AnalysisSettings
from kiosk.distress.vision import VisionAnalyser, VisionThresholds
from simulators.scenes import (
    FALL_VARIANTS,
    WEBCAM,
    CameraProfile,
    Scene,
    absence_scenes,
    camera_scenes,
    fall_scene,
    filmed,
    normal_activity,
    normal_scenes,
    stillness_scenes,
)
from wire.messages import AlertKind

FPS = 10.0
SETTINGS = AnalysisSettings(fps=FPS)
FALL_LATENCY_TARGET_S = 2.0
CORE_TARGET_PERCENT = 30.0
EARLY_TOLERANCE_S = 0.5
"""A real fall's alert this much before the annotated start still counts (annotations are
rounded); earlier, it is a false alarm."""


@dataclass(frozen=True, slots=True)
class Detector:
    name: str
    make: Callable[[], FrameAnalyser]
    """A fresh analyser for each scene or clip (it sees the cabin from its start)."""
    falls_only: bool = False


def detectors() -> tuple[list[Detector], str]:
    """The classical analyser, and the pose ones when they load; and a note on the latter."""
    classical = Detector("classical", lambda: VisionAnalyser(VisionThresholds()))
    try:
        # optional (mediapipe, and a module of its own): by name, so that the bench and its type
        # check stand without it
        pose = importlib.import_module("kiosk.distress.pose")
    except ImportError as exc:
        return [classical], f"pose, combined: not importable ({exc})"
    try:
        alone, inside = pose.MediaPipePose(), pose.MediaPipePose()
    except pose.PoseModelError as exc:
        return [classical], f"pose, combined: the model does not load ({exc})"
    found = [
        classical,
        Detector("pose", lambda: pose.PoseAnalyser(landmarker=alone), falls_only=True),
        Detector(
            "combined",
            lambda: pose.CombinedVision(
                VisionAnalyser(VisionThresholds()), pose.PoseAnalyser(landmarker=inside)
            ),
        ),
    ]
    return found, ""


@dataclass
class Synthetic:
    """What one detector did on one camera's synthetic scenes."""

    fall_latencies_s: list[float] = field(default_factory=list)
    falls_missed: list[str] = field(default_factory=list)
    still_found: int = 0
    still_missed: list[str] = field(default_factory=list)
    absence_found: int = 0
    absence_missed: list[str] = field(default_factory=list)
    false_short: list[str] = field(default_factory=list)
    false_long: list[str] = field(default_factory=list)
    long_s: float = 0.0
    falls_total: int = 0


@dataclass
class Real:
    """What one detector did on the real clips."""

    fall_latencies_s: list[float] = field(default_factory=list)
    falls_missed: list[str] = field(default_factory=list)
    adl_alerted: list[str] = field(default_factory=list)
    false_alarms: list[str] = field(default_factory=list)
    adl_s: float = 0.0
    adl_clips: int = 0


@dataclass
class Tally:
    detector: Detector
    synthetic: dict[str, Synthetic] = field(default_factory=dict)
    real: Real = field(default_factory=Real)
    analyse_cpu_s: list[float] = field(default_factory=list)


@dataclass
class Floor:
    cpu_s: list[float] = field(default_factory=list)


def camera_frames(scene: Scene, floor: Floor) -> Iterator[tuple[float, RgbFrame]]:
    """The scene's frames at 10 a second, as the monitor gets them (the scaling timed)."""
    cabin = scene.cabin_scene()
    for index in range(int(scene.duration_s * FPS) + 1):
        t_s = index / FPS
        picture = cabin.render(t_s, index)
        camera = av.VideoFrame.from_ndarray(picture, format="rgb24").reformat(format="yuv420p")
        c0 = time.process_time()
        width, height = SETTINGS.frame_size(camera.width, camera.height)
        image = camera.reformat(width=width, height=height, format="rgb24").to_ndarray()
        floor.cpu_s.append(time.process_time() - c0)
        yield t_s, cast(RgbFrame, np.asarray(image))


def play(frames: Iterator[tuple[float, RgbFrame]], tallies: list[Tally]) -> list[list[Detection]]:
    """Each frame to every detector (a fresh analyser each); their detections."""
    analysers = [t.detector.make() for t in tallies]
    found: list[list[Detection]] = [[] for _ in tallies]
    for t_s, image in frames:
        for tally, analyser, so_far in zip(tallies, analysers, found, strict=True):
            c0 = time.process_time()
            so_far.extend(analyser.analyse(image, t_s))
            tally.analyse_cpu_s.append(time.process_time() - c0)
    return found


def run_synthetic(
    camera: str, tallies: list[Tally], floor: Floor, quick: bool, progress: Callable[[str], None]
) -> None:
    profile: CameraProfile | None = WEBCAM if camera == "webcam" else None

    def shot(scene: Scene) -> Scene:
        return filmed(scene, profile) if profile is not None else scene

    for tally in tallies:
        tally.synthetic[camera] = Synthetic()
    falls = [shot(fall_scene(v, lie_for_s=4.0)) for v in FALL_VARIANTS]
    normals = [shot(s) for s in normal_scenes()]
    if profile is not None:
        falls += [s for s in camera_scenes() if "fall" in s.tags]
        normals += [s for s in camera_scenes() if "normal" in s.tags]
    progress(f"{camera}: {len(falls)} falls")
    for scene in falls:
        landing = next(e.at_s for e in scene.events if e.kind == "fall")
        for tally, found in zip(tallies, play(camera_frames(scene, floor), tallies), strict=True):
            s = tally.synthetic[camera]
            s.falls_total += 1
            hits = [d for d in found if d.kind is AlertKind.FALL]
            if hits and -EARLY_TOLERANCE_S <= hits[0].at_s - landing <= FALL_LATENCY_TARGET_S:
                s.fall_latencies_s.append(hits[0].at_s - landing)
            else:
                s.falls_missed.append(scene.name)
            if len(hits) > 1 or any(d.kind is AlertKind.ABSENCE for d in found):
                s.false_short.append(f"{scene.name}: {len(hits)} falls")
    progress(f"{camera}: {len(normals)} normal scenes")
    for scene in normals:
        for tally, found in zip(tallies, play(camera_frames(scene, floor), tallies), strict=True):
            tally.synthetic[camera].false_short += [
                f"{scene.name}: {d.kind.value}@{d.at_s:.1f}s" for d in found
            ]
    defaults = VisionThresholds()
    watching = [t for t in tallies if not t.detector.falls_only]
    progress(f"{camera}: stillness and absence")
    for drawn in stillness_scenes(still_for_s=defaults.stillness_after_s + 8.0) + absence_scenes():
        scene = shot(drawn)
        truth = scene.events[0]
        for tally, found in zip(watching, play(camera_frames(scene, floor), watching), strict=True):
            s = tally.synthetic[camera]
            hit = any(d.kind.value == truth.kind for d in found)
            if truth.kind == "stillness":
                s.still_found += hit
                s.still_missed += [] if hit else [scene.name]
            else:
                s.absence_found += hit
                s.absence_missed += [] if hit else [scene.name]
            s.false_short += [
                f"{scene.name}: {d.kind.value}@{d.at_s:.1f}s"
                for d in found
                if d.kind.value != truth.kind
            ]
    long_s = 3600.0 if not quick else 600.0 if profile is None else 300.0
    long_run = [t for t in tallies if not quick or t.detector.name == "classical"]
    progress(f"{camera}: {long_s / 60:.0f} min of normal activity")
    scene = shot(normal_activity(long_s, seed=1))
    for tally, found in zip(long_run, play(camera_frames(scene, floor), long_run), strict=True):
        s = tally.synthetic[camera]
        s.long_s = long_s
        s.false_long += [f"{d.kind.value}@{d.at_s:.0f}s" for d in found]


def clip_size(path: Path) -> tuple[int, int]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return stream.codec_context.width, stream.codec_context.height


def clip_seconds(clip: Clip) -> float:
    """The clip's length as the analysis sees it (its last frame's instant plus a period)."""
    last = 0.0
    width, height = SETTINGS.frame_size(*clip_size(clip.path))
    for t_s, _ in clip_frames(clip.path, fps=FPS, width=width, height=height):
        last = t_s
    return last + 1.0 / FPS


def run_real(clips: list[Clip], tallies: list[Tally]) -> None:
    for clip in clips:
        width, height = SETTINGS.frame_size(*clip_size(clip.path))
        found_by = play(clip_frames(clip.path, fps=FPS, width=width, height=height), tallies)
        start = clip.fall_starts_s
        for tally, found in zip(tallies, found_by, strict=True):
            real = tally.real
            falls = [d for d in found if d.kind is AlertKind.FALL]
            if start is None:
                real.adl_clips += 1
                real.adl_s += clip_seconds(clip)
                if found:
                    real.adl_alerted.append(clip.name)
                real.false_alarms += [f"{clip.name}: {d.kind.value}@{d.at_s:.1f}s" for d in falls]
                continue
            early = [d for d in falls if d.at_s < start - EARLY_TOLERANCE_S]
            real.false_alarms += [f"{clip.name}: early fall@{d.at_s:.1f}s" for d in early]
            on_time = [d for d in falls if d.at_s >= start - EARLY_TOLERANCE_S]
            if on_time:
                real.fall_latencies_s.append(on_time[0].at_s - start)
            else:
                real.falls_missed.append(clip.name)


def _latency(values: list[float]) -> str:
    if not values:
        return "-"
    return f"median {statistics.median(values):.2f} s, max {max(values):.2f} s"


def _ms(values: list[float]) -> float:
    return statistics.median(values) * 1000 if values else float("nan")


def report(
    tallies: list[Tally], floor: Floor, clips: list[Clip], note: str, quick: bool, real_asked: bool
) -> None:
    print(
        f"camera distress detectors: {FPS:.0f} analysed frames/s, frames {SETTINGS.width} wide "
        "(the camera's aspect), default thresholds"
    )
    if not clips and real_asked:
        print(f"  real development set: not found (looked in {recordings_dir()})")
    if note:
        print(f"  {note}")
    falls_real = sum(c.is_fall for c in clips)
    for t in tallies:
        print(t.detector.name)
        if clips:
            r = t.real
            found = len(r.fall_latencies_s)
            missed = f"; missed: {', '.join(r.falls_missed)}" if r.falls_missed else ""
            print(
                f"  real        falls found {found}/{falls_real}   annotated start -> alert "
                f"{_latency(r.fall_latencies_s)}{missed}"
            )
            per_hour = len(r.false_alarms) * 3600.0 / r.adl_s if r.adl_s else float("nan")
            print(
                f"              daily-activity clips with an alert {len(r.adl_alerted)}/"
                f"{r.adl_clips}   false falls {len(r.false_alarms)} in {r.adl_s:.1f} s of "
                f"daily activity = {per_hour:.0f}/h"
                + (f"   ({'; '.join(r.false_alarms[:4])})" if r.false_alarms else "")
            )
        for camera, s in t.synthetic.items():
            found = len(s.fall_latencies_s)
            missed = f"; missed: {', '.join(s.falls_missed[:4])}" if s.falls_missed else ""
            print(
                f"  {camera:10s}  falls found {found}/{s.falls_total}   landing -> alert "
                f"{_latency(s.fall_latencies_s)}{missed}"
            )
            if not t.detector.falls_only:
                n_still = s.still_found + len(s.still_missed)
                n_absence = s.absence_found + len(s.absence_missed)
                print(
                    f"              stillness {s.still_found}/{n_still}   "
                    f"absence {s.absence_found}/{n_absence}"
                    + (
                        f"   missed: {', '.join(s.still_missed + s.absence_missed)}"
                        if s.still_missed or s.absence_missed
                        else ""
                    )
                )
            long = (
                f"{s.long_s / 60:.0f} min of activity {len(s.false_long)} = "
                f"{len(s.false_long) * 3600.0 / s.long_s:.1f}/h"
                if s.long_s
                else "long activity not run (--quick)"
            )
            examples = (s.false_short + s.false_long)[:4]
            print(
                f"              false alarms: short normal scenes {len(s.false_short)}, {long}"
                + (f"   ({'; '.join(examples)})" if examples else "")
            )
        analyse, floor_ms = _ms(t.analyse_cpu_s), _ms(floor.cpu_s)
        if not floor.cpu_s:  # the real clips alone: their scaling is inside the decoding
            print(
                f"  cpu/frame   analyse {analyse:.2f} ms ({analyse * FPS / 10.0:.1f} % of a core)"
            )
            continue
        core = (analyse + floor_ms) * FPS / 10.0
        print(
            f"  cpu/frame   analyse {analyse:.2f} ms   floor (the monitor's scaling, synthetic "
            f"frames) {floor_ms:.2f} ms   x{analyse / floor_ms:.1f} floor   both at {FPS:.0f} "
            f"frames/s: {core:.1f} % of a core   target <= {CORE_TARGET_PERCENT:.0f} %"
        )
    print(
        "targets: every real fall found, no alert on daily activity, synthetic 24/24 falls and "
        f"0 false alarms, fall -> alert <= {FALL_LATENCY_TARGET_S:.0f} s"
        + ("   (--quick: the long activity shorter, classical only)" if quick else "")
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_distress_vision")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="10 min of normal activity (classical only) instead of 1 h",
    )
    parser.add_argument(
        "--sets",
        default="real,drawn,webcam",
        help="which sets, comma-separated (default: real,drawn,webcam)",
    )
    parser.add_argument("--verbose", action="store_true", help="say what runs, on stderr")
    args = parser.parse_args(argv)
    started = time.monotonic()

    def progress(step: str) -> None:
        if args.verbose:
            print(f"[{time.monotonic() - started:5.0f} s] {step}", file=sys.stderr, flush=True)

    found, note = detectors()
    tallies = [Tally(d) for d in found]
    floor = Floor()
    sets = {name.strip() for name in args.sets.split(",")}
    unknown = sets - {"real", "drawn", "webcam"}
    if unknown:
        parser.error(f"unknown sets: {', '.join(sorted(unknown))}")
    clips = fall_clips() if "real" in sets else []
    progress(f"real: {len(clips)} clips")
    run_real(clips, tallies)
    for camera in ("drawn", "webcam"):
        if camera in sets:
            run_synthetic(camera, tallies, floor, args.quick, progress)
    report(tallies, floor, clips, note, args.quick, "real" in sets)
    print(f"(bench ran {time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
