"""Benchmark of the call-for-help detector (`kiosk.distress.sound`): synthetic cabin sound,
then real recordings.

Run ``python -m bench.bench_distress_sound`` (``--quick`` for a smoke run: 10 minutes of
normal activity instead of 60, the real speech at its own gain only, screams over speech 6 dB
louder and over the ship's noise only). Prints numbers beside
their targets; nothing passes or fails (see bench/README.md).

- Synthetic calls that the first detector missed on real recordings
  (`simulators.sounds.hard_call_scenes`): a scream over talking, high screams, loud noise.
- Real material, printed when present: the shared real speech (`bench.real_recordings`, none
  of it a call: every alert is a false alarm, counted over its minutes and per hour), and the
  Debian packages' screams, music and ambient sounds (`bench.real_sounds`, fetched once with
  ``python -m bench.real_sounds --fetch``): screams in a quiet room, over real speech (6 and
  10 dB louder than it) and over recorded noise; music excerpts switched on and faded in.

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

from bench import real_recordings, real_sounds
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

    hard = sounds.hard_call_scenes(speech)
    hard_missed = []
    for scene in hard:
        call = scene.calls[0]
        hits = [t for t in feed(SoundAnalyser(), scene.samples, 0.0) if call.start_s <= t]
        if not hits or hits[0] > call.end_s + 2.0:
            hard_missed.append(scene.name)
    print(
        f"  issue 19 calls (scream over talking, 2-2.8 kHz, 15 dB over loud noise):"
        f" {len(hard) - len(hard_missed)}/{len(hard)}"
        + (f"   missed: {', '.join(hard_missed)}" if hard_missed else "")
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
    real_figures(quick=args.quick)
    print(f"(bench took {time.monotonic() - started:.1f} s)")
    return 0


def _level(x: np.ndarray, dbfs: float) -> np.ndarray:
    """`x` scaled so that its loud part (`real_sounds.active_dbfs`) is at `dbfs`."""
    return np.asarray(x * 10 ** ((dbfs - real_sounds.active_dbfs(x)) / 20), np.float32)


def _pink(rng: np.random.Generator, seconds_: float, dbfs: float) -> np.ndarray:
    n = round(seconds_ * ANALYSIS_RATE_HZ)
    return _level(sounds.shaped_noise(rng, n, -3.0), dbfs)


def _found(samples: np.ndarray, start_s: float, end_s: float) -> tuple[bool, int]:
    """(a detection from the call's start to 2 s after its end, detections elsewhere)."""
    hits = feed(SoundAnalyser(), samples, 0.0)
    inside = [t for t in hits if start_s <= t <= end_s + 2.0]
    return bool(inside), len(hits) - len(inside)


def real_figures(*, quick: bool) -> None:
    """The real recordings' figures (see the module's docstring); "not found" when absent."""
    rng = np.random.default_rng(19)
    files = real_recordings.speech_files()
    print(f"REAL speech ({real_recordings.recordings_dir()}):", "" if files else "not found")
    speech = [real_recordings.speech_samples(path) for path in files]
    for gain_db in (0.0,) if quick else (0.0, 10.0):
        alarms: list[str] = []
        total_s = 0.0
        for path, samples in zip(files, speech, strict=True):
            x = np.clip(samples * 10 ** (gain_db / 20), -1, 1).astype(np.float32)
            total_s += x.size / ANALYSIS_RATE_HZ
            alarms += [f"{path.name} at {t:.1f} s" for t in feed(SoundAnalyser(), x, 0.0)]
        if files:
            print(
                f"  false alarms at mic gain {gain_db:+.0f} dB: {len(alarms)} in"
                f" {total_s / 60:.1f} min = {len(alarms) / (total_s / 3600):.1f} per hour"
                f"   target 0 (< 1 per hour): {'met' if not alarms else 'NOT met'}"
                + "".join(f"\n    {a}" for a in alarms)
            )
    screams = real_sounds.unique(real_sounds.screams())
    print(
        f"REAL screams, music, noise (Debian packages, {real_sounds.cache_dir()}):",
        "" if screams else "not fetched (python -m bench.real_sounds --fetch)",
    )
    if not screams:
        return
    talking = np.concatenate(speech[1:3]) if len(speech) >= 3 else None
    noises = {
        n.name.rsplit("/", 1)[-1].removesuffix(".ogg"): n.samples for n in real_sounds.noises()
    }
    cases: list[tuple[str, float]] = [("quiet room (-62 dBFS), scream at -18 dBFS", 0.0)]
    if talking is not None:
        cases.append(("over real speech, 6 dB louder", 6.0))
        if not quick:
            cases.append(("over real speech, 10 dB louder", 10.0))
    cases.append(("over ship noise, 15 dB louder", 15.0))
    if not quick:
        cases.append(("over campfire noise, 15 dB louder", 15.0))
    for label, louder_db in cases:
        found, others, missed = 0, 0, []
        for scream in screams:
            n = scream.samples.size
            if label.startswith("quiet"):
                x = np.concatenate([_pink(rng, 3.0, -62.0), _level(scream.samples, -18.0)])
                x = np.concatenate([x, _pink(rng, 3.0, -62.0)])
                start_s = 3.0
            elif "speech" in label and talking is not None:
                x = _level(talking[: 16 * ANALYSIS_RATE_HZ], -30.0) + _pink(rng, 16.0, -62.0)
                x[8 * ANALYSIS_RATE_HZ : 8 * ANALYSIS_RATE_HZ + n] += _level(
                    scream.samples, -30.0 + louder_db
                )
                start_s = 8.0
            else:
                noise = noises["campfire" if "campfire" in label else "ship"]
                x = _level(np.tile(noise, 3)[: 12 * ANALYSIS_RATE_HZ], -35.0)
                x[6 * ANALYSIS_RATE_HZ : 6 * ANALYSIS_RATE_HZ + n] += _level(
                    scream.samples, -35.0 + louder_db
                )
                start_s = 6.0
            hit, elsewhere = _found(x, start_s, start_s + n / ANALYSIS_RATE_HZ)
            found += hit
            others += elsewhere
            if not hit:
                missed.append(scream.short_name)
        print(
            f"  screams {label}: {found}/{len(screams)}   alarms elsewhere {others}"
            + (f"   missed: {', '.join(missed)}" if missed else "")
        )
    excerpts = real_sounds.music_excerpts()
    for fade_s in (0.0, 2.0):
        fired = []
        for excerpt in excerpts:
            tune = _level(excerpt.samples, -20.0)
            if fade_s:
                tune = sounds.fade_in(tune, fade_s)
            x = np.concatenate([_pink(rng, 3.0, -62.0), tune + _pink(rng, 8.0, -62.0)])
            if feed(SoundAnalyser(), x, 0.0):
                fired.append(excerpt.name)
        how = f"faded in over {fade_s:g} s" if fade_s else "switched on"
        print(
            f"  music excerpts at -20 dBFS over a quiet room, {how}: {len(fired)}/{len(excerpts)}"
            f" raised an alert" + (f"   ({', '.join(fired)})" if fired else "")
        )
    fired = []
    for name, noise in noises.items():
        x = np.concatenate([_pink(rng, 3.0, -62.0), _level(noise, -20.0)])
        if feed(SoundAnalyser(), x, 0.0):
            fired.append(name)
    print(
        f"  ambient sounds at -20 dBFS ({', '.join(noises)}): {len(fired)} raised an alert"
        + (f"   ({', '.join(fired)})" if fired else "")
    )


if __name__ == "__main__":
    sys.exit(main())
