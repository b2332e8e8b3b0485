"""Benchmark of the camera's distress detectors (kiosk/distress/vision.py) on the synthetic scenes.

Run ``python -m bench.bench_distress_vision`` (``--quick`` for a smoke run). For each candidate
analysis resolution (80x60, 160x120, 320x240), on the scenes of simulators/scenes.py analysed at
10 frames/s and scaled as the monitor scales a camera frame (YUV 4:2:0, then PyAV's `reformat` to
RGB at the analysis size):

- Falls: sensitivity (found within 2 s of the landing), time from the landing to the detection
  (median, max), confidence; on every fall variant of the catalogue (24).
- Stillness (default threshold, 60 s) on the fainted and lying scenes and absence (20 s) on the
  leaving scenes: found or not, delay beyond the threshold.
- False alarms: every short normal scene (entering, sitting, standing up, waving, bending, the
  lights, the door) and a long stretch of normal activity (1 h; ``--quick``: 10 min), per hour.
- CPU per analysed frame (`time.thread_time`, median) beside the floor measured on the same
  frames in the same run: the monitor's own scaling and conversion of the camera's frame
  (``VideoFrame.reformat(width, height, "rgb24").to_ndarray()``), and the share of one core at
  10 analysed frames per second. Targets: sensitivity >= 95 %, 0 false alarms per hour, fall
  found <= 2 s after the landing, <= 30 % of a core. Nothing passes or fails (see bench/README.md).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import cast

import av
import numpy as np

from kiosk.distress.detection import Detection, RgbFrame
from kiosk.distress.vision import VisionAnalyser, VisionThresholds
from simulators.scenes import (
    FALL_VARIANTS,
    Scene,
    absence_scenes,
    fall_scene,
    normal_activity,
    normal_scenes,
    stillness_scenes,
)
from wire.messages import AlertKind

RESOLUTIONS = ((80, 60), (160, 120), (320, 240))
FPS = 10.0
FALL_LATENCY_TARGET_S = 2.0
CORE_TARGET_PERCENT = 30.0


@dataclass
class Tally:
    """What one resolution's analyser did over the scenes."""

    width: int
    height: int
    fall_latencies_s: list[float] = field(default_factory=list)
    fall_confidences: list[float] = field(default_factory=list)
    falls_missed: list[str] = field(default_factory=list)
    still_delays_s: list[float] = field(default_factory=list)
    still_missed: list[str] = field(default_factory=list)
    absence_delays_s: list[float] = field(default_factory=list)
    absence_missed: list[str] = field(default_factory=list)
    false_short: list[str] = field(default_factory=list)
    false_long: list[str] = field(default_factory=list)
    analyse_cpu_s: list[float] = field(default_factory=list)
    floor_cpu_s: list[float] = field(default_factory=list)


def play(
    scene: Scene, tallies: list[Tally], thresholds: VisionThresholds, *, fps: float = FPS
) -> list[list[Detection]]:
    """Render each frame once; for each resolution, scale it as the monitor does (timed: the
    floor) and analyse it (timed). Returns the detections per resolution."""
    analysers = [VisionAnalyser(thresholds, width=t.width, height=t.height) for t in tallies]
    found: list[list[Detection]] = [[] for _ in tallies]
    cabin = scene.cabin_scene()
    for index in range(int(scene.duration_s * fps) + 1):
        t_s = index / fps
        camera = av.VideoFrame.from_ndarray(cabin.render(t_s, index), format="rgb24").reformat(
            format="yuv420p"
        )
        for tally, analyser, so_far in zip(tallies, analysers, found, strict=True):
            c0 = time.thread_time()
            image = np.asarray(
                camera.reformat(width=tally.width, height=tally.height, format="rgb24").to_ndarray()
            )
            c1 = time.thread_time()
            so_far.extend(analyser.analyse(cast(RgbFrame, image), t_s))
            c2 = time.thread_time()
            tally.floor_cpu_s.append(c1 - c0)
            tally.analyse_cpu_s.append(c2 - c1)
    return found


def run(quick: bool) -> list[Tally]:
    tallies = [Tally(w, h) for w, h in RESOLUTIONS]
    defaults = VisionThresholds()
    for variant in FALL_VARIANTS:
        scene = fall_scene(variant, lie_for_s=4.0)
        landing = next(e.at_s for e in scene.events if e.kind == "fall")
        for tally, detections in zip(tallies, play(scene, tallies, defaults), strict=True):
            falls = [d for d in detections if d.kind is AlertKind.FALL]
            if falls and falls[0].at_s - landing <= FALL_LATENCY_TARGET_S:
                tally.fall_latencies_s.append(falls[0].at_s - landing)
                tally.fall_confidences.append(falls[0].confidence)
            else:
                tally.falls_missed.append(variant.name)
            if len(falls) > 1 or any(d.kind is AlertKind.ABSENCE for d in detections):
                tally.false_short.append(f"{scene.name}: {len(falls)} falls")
    for scene in normal_scenes():
        for tally, detections in zip(tallies, play(scene, tallies, defaults), strict=True):
            tally.false_short += [f"{scene.name}: {d.kind.value}@{d.at_s:.1f}s" for d in detections]
    for scene in stillness_scenes(still_for_s=defaults.stillness_after_s + 8.0) + absence_scenes():
        truth = scene.events[0]
        delay = (
            defaults.stillness_after_s if truth.kind == "stillness" else defaults.absence_after_s
        )
        for tally, detections in zip(tallies, play(scene, tallies, defaults), strict=True):
            hits = [d for d in detections if d.kind.value == truth.kind]
            delays = tally.still_delays_s if truth.kind == "stillness" else tally.absence_delays_s
            missed = tally.still_missed if truth.kind == "stillness" else tally.absence_missed
            if hits:
                delays.append(hits[0].at_s - truth.at_s - delay)
            else:
                missed.append(scene.name)
            tally.false_short += [
                f"{scene.name}: {d.kind.value}@{d.at_s:.1f}s"
                for d in detections
                if d.kind.value != truth.kind
            ]
    long_scene = normal_activity(600.0 if quick else 3600.0, seed=1)
    for tally, detections in zip(tallies, play(long_scene, tallies, defaults), strict=True):
        tally.false_long += [f"{d.kind.value}@{d.at_s:.0f}s" for d in detections]
    return tallies


def _ms(values: list[float]) -> float:
    return statistics.median(values) * 1000 if values else float("nan")


def report(tallies: list[Tally], long_s: float) -> None:
    falls = len(FALL_VARIANTS)
    print(
        f"camera distress detectors: {falls} falls, 15 normal scenes, "
        f"{long_s / 60:.0f} min of normal activity, {FPS:.0f} analysed frames/s, "
        "default thresholds"
    )
    for t in tallies:
        found = len(t.fall_latencies_s)
        print(f"{t.width}x{t.height}")
        lat = t.fall_latencies_s
        latency = (
            f"after landing median {statistics.median(lat):.2f} s, max {max(lat):.2f} s"
            if lat
            else "-"
        )
        print(
            f"  fall       found {found}/{falls} = {100 * found / falls:5.1f} %   target >= 95 %"
            f"   {latency}   target <= {FALL_LATENCY_TARGET_S:.0f} s"
        )
        if t.fall_confidences:
            print(
                f"             confidence median {statistics.median(t.fall_confidences):.2f}, "
                f"min {min(t.fall_confidences):.2f}"
                + (f"; missed: {', '.join(t.falls_missed)}" if t.falls_missed else "")
            )
        for label, delays, missed in (
            ("stillness", t.still_delays_s, t.still_missed),
            ("absence", t.absence_delays_s, t.absence_missed),
        ):
            n = len(delays) + len(missed)
            beyond = (
                f"found after its threshold, from the truth's instant: {min(delays):+.1f} to "
                f"{max(delays):+.1f} s"
                if delays
                else ""
            )
            print(
                f"  {label:10s} found {len(delays)}/{n}   {beyond}"
                + (f"; missed: {', '.join(missed)}" if missed else "")
            )
        per_hour = len(t.false_long) * 3600.0 / long_s
        print(
            f"  false alarms: short normal scenes {len(t.false_short)}, "
            f"long activity {len(t.false_long)} = {per_hour:.1f}/h   target 0"
            + (
                f"   ({'; '.join((t.false_short + t.false_long)[:6])})"
                if t.false_short or t.false_long
                else ""
            )
        )
        analyse, floor = _ms(t.analyse_cpu_s), _ms(t.floor_cpu_s)
        core = (analyse + floor) * FPS / 10.0
        print(
            f"  cpu/frame  floor (reformat + to_ndarray) {floor:.3f} ms   analyse {analyse:.3f} ms"
            f"  x{analyse / floor:.1f} floor   both at {FPS:.0f} frames/s: {core:.1f} % of a core"
            f"   target <= {CORE_TARGET_PERCENT:.0f} %"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_distress_vision")
    parser.add_argument(
        "--quick", action="store_true", help="10 min of normal activity instead of 1 h"
    )
    args = parser.parse_args(argv)
    started = time.monotonic()
    tallies = run(args.quick)
    report(tallies, 600.0 if args.quick else 3600.0)
    print(f"(bench ran {time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
