"""The pose-model alternative for the camera's fall detector: MediaPipe Pose on synthetic scenes.

This does NOT run in the product's venv: ``mediapipe==0.10.21`` (the last release shipping its
pose model inside the wheel) needs numpy<2 and pulls jax. Measure it in a throwaway venv:

    python3 -m venv /tmp/posevenv
    /tmp/posevenv/bin/pip install "mediapipe==0.10.21" "opencv-python-headless<4.11" "numpy<2" av
    .venv/bin/python -m simulators.scenes --write /tmp/pose_scenes --fps 10 \\
        --scene fall_standing_quick_right ... --scene normal_activity    # the product's venv
    /tmp/posevenv/bin/python bench/bench_pose_model.py /tmp/pose_scenes

For each video (10 frames/s) and its ground truth JSON: MediaPipe Pose (`model_complexity=1`,
video mode) on every frame; the share of frames with a person in view where it finds a pose;
CPU per frame (`time.process_time`, median, with MediaPipe's own threads) beside the floor of
decoding the frame to RGB; then the same fall rule as the classical detector applied to the
landmarks' box (height down to half the tallest of the last 4 s, top lowered by 40 % of it,
held 0.8 s), for sensitivity and false alarms.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections import deque
from pathlib import Path
from typing import Any

import av

EMPTY_LEAD_S = 1.0
WINDOW_S, HEIGHT_RATIO, DROP_RATIO, CONFIRM_S = 4.0, 0.5, 0.4, 0.8


def analyse(video: Path, pose: Any) -> tuple[list[float], int, int, list[float], list[float]]:
    """Fall instants found, frames with a pose, frames with a person, CPU per frame, floor."""
    history: deque[tuple[float, float, float]] = deque()
    down_since: float | None = None
    armed, reference = True, 0.0
    falls: list[float] = []
    found = frames_with_person = 0
    cpu: list[float] = []
    floor: list[float] = []
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        for frame in container.decode(stream):
            base = stream.time_base
            t_s = float(frame.pts * base) if frame.pts is not None and base is not None else 0.0
            c0 = time.process_time()
            rgb = frame.to_ndarray(format="rgb24")
            c1 = time.process_time()
            result = pose.process(rgb)
            c2 = time.process_time()
            floor.append(c1 - c0)
            cpu.append(c2 - c1)
            if t_s >= EMPTY_LEAD_S + 0.5:
                frames_with_person += 1
            if result.pose_landmarks is None:
                continue
            found += 1
            ys = [lm.y for lm in result.pose_landmarks.landmark if lm.visibility > 0.5]
            if len(ys) < 4:
                continue
            top, height = min(ys), max(ys) - min(ys)
            while history and history[0][0] < t_s - WINDOW_S:
                history.popleft()
            earlier = list(history)
            history.append((t_s, top, height))
            if not armed:
                armed = height >= 0.75 * reference
                continue
            if down_since is None and earlier:
                tallest = max(h for _, _, h in earlier)
                if (
                    height <= HEIGHT_RATIO * tallest
                    and top - min(tp for _, tp, _ in earlier) >= DROP_RATIO * tallest
                ):
                    down_since, reference = t_s, tallest
            elif down_since is not None:
                if height > (HEIGHT_RATIO + 0.1) * reference:
                    down_since = None
                elif t_s - down_since >= CONFIRM_S:
                    falls.append(t_s)
                    armed, down_since = False, None
    return falls, found, frames_with_person, cpu, floor


def main(argv: list[str]) -> int:
    import mediapipe as mp  # type: ignore[import-not-found]  # noqa: PLC0415 - throwaway venv only

    folder = Path(argv[0]) if argv else Path("/tmp/pose_scenes")
    truths = sorted(folder.glob("*.json"))
    if not truths:
        print(f"no scenes in {folder}: write them first (see this module's docstring)")
        return 1
    falls_total = falls_found = 0
    false_alarms: list[str] = []
    normal_s = 0.0
    found_all = person_all = 0
    cpu_all: list[float] = []
    floor_all: list[float] = []
    latencies: list[float] = []
    for truth_path in truths:
        truth = json.loads(truth_path.read_text())
        with mp.solutions.pose.Pose(static_image_mode=False, model_complexity=1) as pose:
            falls, found, with_person, cpu, floor = analyse(folder / truth["video"], pose)
        found_all += found
        person_all += with_person
        cpu_all += cpu
        floor_all += floor
        landings = [e["at_s"] for e in truth["events"] if e["kind"] == "fall"]
        for landing in landings:
            falls_total += 1
            hits = [t for t in falls if -1.0 <= t - landing <= 2.0]
            if hits:
                falls_found += 1
                latencies.append(hits[0] - landing)
        extra = [t for t in falls if not any(-1.0 <= t - landing <= 2.0 for landing in landings)]
        false_alarms += [f"{truth['scene']}@{t:.1f}s" for t in extra]
        if not landings:
            normal_s += truth["duration_s"]
        print(
            f"  {truth['scene']:40s} pose found in {found}/{with_person} frames with a person; "
            f"falls at {[round(t, 1) for t in falls]} (truth {landings})"
        )
    print(
        f"MediaPipe Pose 0.10.21 (model_complexity=1), {len(truths)} scenes at 10 frames/s, 640x480"
    )
    print(
        f"  person found in {found_all}/{person_all} frames with a person = "
        f"{100 * found_all / max(1, person_all):.1f} %"
    )
    print(
        f"  falls found {falls_found}/{falls_total}"
        + (f", after landing median {statistics.median(latencies):.2f} s" if latencies else "")
    )
    per_hour = len(false_alarms) * 3600 / normal_s if normal_s else float("nan")
    print(
        f"  false falls {len(false_alarms)} over {normal_s / 60:.0f} min of normal scenes = "
        f"{per_hour:.1f}/h {false_alarms[:5]}"
    )
    cpu_ms, floor_ms = statistics.median(cpu_all) * 1000, statistics.median(floor_all) * 1000
    print(
        f"  cpu/frame  floor (decode to RGB) {floor_ms:.2f} ms   pose {cpu_ms:.1f} ms"
        f"  x{cpu_ms / floor_ms:.0f} floor"
        f"   at 10 frames/s: {(cpu_ms + floor_ms) * 10 / 10:.0f} % of a core"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
