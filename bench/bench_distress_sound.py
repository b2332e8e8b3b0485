"""Benchmark of the call-for-help detector (`kiosk.distress.sound`) on synthetic cabin sound.

Run ``python -m bench.bench_distress_sound`` (``--quick`` for a smoke run: 10 minutes of
normal activity instead of 60). Prints numbers beside their targets; nothing passes or fails
(see bench/README.md).

- Sensitivity: the calls for help of `simulators.sounds.call_scenes` (shouts and screams over
  four backgrounds, several levels and microphone gains), fed in 20 ms blocks; a call is found
  when a detection comes between its start and 2 s after its end. Time from the start of the
  call to the detection: median and max.
- False alarms per hour: `simulators.sounds.normal_activity` (seed 1), streamed in 30 s chunks
  and 20 ms blocks, plus the named normal scenes; every detection is a false alarm, reported
  with the labels of the sounds under way at that instant.
- CPU per second of audio (process time, median over chunks) beside the floor: what the monitor
  does anyway, `av.AudioResampler` turning 20 ms s16 stereo 48 kHz frames into float mono at
  the analysis rate, on the same sound.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import av
import numpy as np

from kiosk.distress.sound import ANALYSIS_RATE_HZ, SoundAnalyser
from simulators import sounds

BLOCK = ANALYSIS_RATE_HZ // 50  # 20 ms
SENSITIVITY_TARGET = 0.95


def feed(analyser: SoundAnalyser, samples: np.ndarray, t0_s: float) -> list[float]:
    found = []
    for i in range(0, len(samples), BLOCK):
        for detection in analyser.analyse(samples[i : i + BLOCK], t0_s + i / ANALYSIS_RATE_HZ):
            found.append(detection.at_s)
    return found


def resample_floor(samples: np.ndarray) -> float:
    """Process time to turn this sound, as 48 kHz s16 stereo 20 ms frames, into analysis blocks."""
    at48 = sounds.resample(samples, ANALYSIS_RATE_HZ, 48_000)
    pcm = (np.clip(at48, -1, 1) * 32767).astype(np.int16)
    stereo = np.repeat(pcm[None, :], 2, axis=0).T.reshape(1, -1)
    resampler = av.AudioResampler(format="flt", layout="mono", rate=ANALYSIS_RATE_HZ)
    started = time.process_time()
    for i in range(0, pcm.size - 960 + 1, 960):
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(stereo[:, 2 * i : 2 * (i + 960)]), format="s16", layout="stereo"
        )
        frame.sample_rate = 48_000
        for out in resampler.resample(frame):
            out.to_ndarray()
    return time.process_time() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="10 minutes of normal activity")
    args = parser.parse_args(argv)
    started = time.monotonic()
    print(f"python {sys.version.split()[0]}, {sys.executable}")
    speech = sounds.Espeak()

    calls = sounds.call_scenes(speech)
    latencies, missed = [], []
    for scene in calls:
        call = scene.calls[0]
        hits = [t for t in feed(SoundAnalyser(), scene.samples, 0.0) if call.start_s <= t]
        if hits and hits[0] <= call.end_s + 2.0:
            latencies.append(hits[0] - call.start_s)
        else:
            missed.append(scene.name)
    found = len(latencies)
    print(f"calls for help: {len(calls)} scenes (shouts and screams; 4 backgrounds; gains 0.3-2)")
    verdict = "met" if found / len(calls) >= SENSITIVITY_TARGET else "NOT met"
    print(
        f"  sensitivity {found}/{len(calls)} = {found / len(calls):.0%}"
        f"   target >= {SENSITIVITY_TARGET:.0%}: {verdict}"
        + (f"   missed: {', '.join(missed)}" if missed else "")
    )
    if latencies:
        print(
            f"  start of the call -> detection   median {statistics.median(latencies):.2f} s"
            f"   max {max(latencies):.2f} s"
        )

    normal_alarms = []
    normal_s = 0.0
    for scene in sounds.normal_scenes(speech):
        normal_s += scene.duration_s
        normal_alarms += [(scene.name, t) for t in feed(SoundAnalyser(), scene.samples, 0.0)]
    minutes = 10 if args.quick else 60
    analyser = SoundAnalyser()
    alarms: list[tuple[float, str]] = []
    cpu_per_s: list[float] = []
    floor_per_s: list[float] = []
    t0 = 0.0
    for chunk, events in sounds.normal_activity(1, minutes * 60.0, speech=speech):
        cpu = time.process_time()
        hits = feed(analyser, chunk, t0)
        cpu_per_s.append((time.process_time() - cpu) / (len(chunk) / ANALYSIS_RATE_HZ))
        if len(floor_per_s) < 20:
            floor_per_s.append(resample_floor(chunk) / (len(chunk) / ANALYSIS_RATE_HZ))
        for t in hits:
            under_way = sorted({e.label for e in events if e.start_s - 1 <= t <= e.end_s + 2})
            alarms.append((t, "+".join(under_way) or "background"))
        t0 += len(chunk) / ANALYSIS_RATE_HZ
    hours = t0 / 3600
    print(
        f"normal sound: {t0 / 60:.0f} min of cabin activity (seed 1) + {normal_s:.0f} s of scenes"
    )
    print(
        f"  false alarms {len(alarms)} in {t0 / 60:.0f} min = {len(alarms) / hours:.1f} per hour"
        f"   target 0: {'met' if not alarms else 'NOT met'}"
    )
    for t, what in alarms:
        print(f"    at {t:7.1f} s during {what}")
    print(
        f"  named normal scenes: {len(normal_alarms)} false alarm(s)"
        + "".join(f"   {name} at {t:.1f} s" for name, t in normal_alarms)
    )
    floor = statistics.median(floor_per_s)
    cpu = statistics.median(cpu_per_s)
    print("CPU per second of audio (process time, median over 30 s chunks, 20 ms blocks)")
    print(
        f"  floor  av.AudioResampler s16 stereo 48 kHz -> flt mono 16 kHz   {floor * 1e3:6.2f} ms"
    )
    print(
        f"  sound  SoundAnalyser.analyse                              {cpu * 1e3:6.2f} ms"
        f"   x{cpu / floor:.1f} floor   ({cpu:.1%} of one core)"
    )
    print(f"(bench took {time.monotonic() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
