"""Benchmark of the far end's subtraction (`kiosk.distress.echo`) in a simulated room.

Run ``python -m bench.bench_echo`` (``--quick``: 2 minutes of the doctor's speech instead of all
the real speech). Prints numbers beside their targets; nothing passes or fails (see
bench/README.md).

The room (`room`): the far end (the doctor) at -20 dBFS RMS, played by the cabin's speaker and
heard by its microphone 120 ms later (the output's and the capture's buffering), through a
synthetic impulse response (direct path, three early reflections, a reverberant tail of RT60
0.3 s holding half the direct path's energy), 10 dB down, over microphone noise at -65 dBFS.
The far end is the real speech of the development set (``../shared/data/real-recordings``)
when it is there, espeak-ng's doctor otherwise. The microphone is fed to the canceller in the
monitor's blocks of 0.1 s, and its output to the real `SoundAnalyser`.

- ERLE (echo return loss enhancement, dB) after convergence (from 5 s on), per far-end file:
  the doctor's voice taken out. Target >= 20 dB.
- The doctor's speech played by the cabin: calls for help found in it without and with the
  canceller (each a false alarm).
- Double talk: the synthetic screams of `simulators.sounds.scream` and espeak-ng's shouted
  calls, 6 dB under full scale, by the patient over the doctor's voice: found without and with
  the canceller, and the change of their level through it (target: found; within 3 dB).
- Far-end screams and shouts (played by the cabin's speaker after a second of silence: a
  television or another patient on the doctor's side): found without and with (target: none
  with).
- A delay that jumps from 120 to 600 ms (the output ran dry, `aplay` filled its buffer of 0.5 s
  again): the time until the canceller's delay is within 2 ms of the new one, and the ERLE
  from 2 s after the jump.
- The microphone's and the speaker's clocks 100 ppm apart (a webcam and a sound card): the ERLE
  before and after the drift's line is fitted (20 s of measurements).
- CPU per second of sound (process time), far end playing and silent, beside the floor (a
  copy of the blocks: what the monitor's loop does anyway) and beside the sound analyser.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from bench.real_recordings import speech_files, speech_samples
from kiosk.distress.echo import RATE_HZ, EchoCanceller
from kiosk.distress.sound import SoundAnalyser
from simulators import sounds
from simulators.echo_room import ECHO_DELAY_S as DELAY_S
from simulators.echo_room import ECHO_GAIN_DB as GAIN_DB
from simulators.echo_room import NOISE_DBFS, room
from simulators.echo_room import mic_noise as noise

Signal = NDArray[np.float64]
BLOCK = RATE_HZ // 10  # the monitor's blocks
ERLE_TARGET_DB = 20.0


def cancel(
    mic: Signal, far: Signal, on_block: Callable[[EchoCanceller, int], None] | None = None
) -> tuple[Signal, EchoCanceller, float]:
    """The output realigned with the microphone, the canceller, its process time (s)."""
    canceller = EchoCanceller()
    history = canceller.history_samples
    padded = np.concatenate((np.zeros(history), far))
    out = []
    cpu = 0.0
    for i in range(0, mic.size - BLOCK + 1, BLOCK):
        started = time.process_time()
        out.append(canceller.process(mic[i : i + BLOCK], padded[i : i + BLOCK + history]))
        cpu += time.process_time() - started
        if on_block is not None:
            on_block(canceller, i + BLOCK)
    latency = round(canceller.latency_s * RATE_HZ)
    output = np.concatenate(out).astype(np.float64)[latency:]
    return np.concatenate((output, np.zeros(mic.size - output.size))), canceller, cpu


def found(samples: Signal) -> list[float]:
    analyser = SoundAnalyser()
    times: list[float] = []
    for i in range(0, samples.size, BLOCK):
        block = samples[i : i + BLOCK].astype(np.float32)
        times += [d.event_at_s for d in analyser.analyse(block, i / RATE_HZ)]
    return times


def erle_db(mic: Signal, out: Signal, start: int, end: int | None = None) -> float:
    return float(10 * np.log10(np.sum(mic[start:end] ** 2) / (np.sum(out[start:end] ** 2) + 1e-20)))


def level_db(x: Signal) -> float:
    return float(10 * np.log10(np.mean(x**2) + 1e-20))


def at_rms(x: Signal, dbfs: float) -> Signal:
    scaled: Signal = x * (10 ** (dbfs / 20) / np.sqrt(np.mean(x**2)))
    return scaled


def far_ends(quick: bool, speech: sounds.Espeak) -> list[tuple[str, Signal]]:
    """The doctor's speech: each real file (2 minutes in all with --quick), or espeak-ng's."""
    files = speech_files()
    if not files:
        said = [sounds.talk(speech, text, "fr+m1") for text in sounds.DOCTOR_FR]
        gap = np.zeros(RATE_HZ // 3, np.float32)
        voice = np.concatenate([x for s in said for x in (s, gap)]).astype(np.float64)
        return [("espeak doctor", at_rms(np.tile(voice, 4), -20))]
    out = []
    total = 0.0
    for path in files:
        samples = speech_samples(path).astype(np.float64)
        if quick:
            samples = samples[: round(max(0.0, 120.0 - total) * RATE_HZ)]
        if samples.size < 10 * RATE_HZ:
            continue
        total += samples.size / RATE_HZ
        out.append((path.stem, at_rms(samples, -20)))
    return out


def calls(speech: sounds.Espeak) -> list[tuple[str, Signal]]:
    """Screams and shouted calls for help, 6 dB under full scale at their loudest."""
    rng = np.random.default_rng(11)
    out = []
    for i, pitch in enumerate((450.0, 700.0, 1000.0, 1400.0)):
        scream = sounds.scream(rng, 1.2 + 0.4 * i, pitch).astype(np.float64)
        out.append((f"scream {pitch:.0f} Hz", scream * 0.5 / np.abs(scream).max()))
    for i, (text, language) in enumerate(sounds.SHOUTS[:4]):
        shout = sounds.shout(speech, text, language, i, rng).astype(np.float64)
        out.append((f"shout {text!r}", shout * 0.5 / np.abs(shout).max()))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="2 minutes of the doctor's speech")
    args = parser.parse_args(argv)
    started = time.monotonic()
    print(f"python {sys.version.split()[0]}, {sys.executable}")
    speech = sounds.Espeak()
    doctors = far_ends(args.quick, speech)
    real = bool(speech_files())
    print(
        f"far end: {'real speech' if real else 'espeak-ng (no real recordings here)'}, "
        f"{sum(x.size for _, x in doctors) / RATE_HZ / 60:.1f} min; echo {DELAY_S * 1e3:.0f} ms, "
        f"{GAIN_DB:.0f} dB, RT60 0.3 s; microphone noise {NOISE_DBFS:.0f} dBFS"
    )

    # --- ERLE and the doctor's speech alone --------------------------------------------------
    erles: list[float] = []
    alarms_without = alarms_with = 0
    cpu_active = 0.0
    active_s = 0.0
    print("the doctor's voice alone")
    for name, far in doctors:
        mic = room(far) + noise(far.size)
        out, canceller, cpu = cancel(mic, far)
        cpu_active += cpu
        active_s += far.size / RATE_HZ
        erle = erle_db(mic, out, 5 * RATE_HZ)
        erles.append(erle)
        without, with_ = len(found(mic)), len(found(out))
        alarms_without += without
        alarms_with += with_
        print(
            f"  {name:22} {far.size / RATE_HZ:6.1f} s   ERLE {erle:5.1f} dB"
            f"   delay found {canceller.delay_samples / RATE_HZ * 1e3:5.1f} ms"
            f"   double-talk blocks {canceller.double_talk_blocks}/{canceller.active_blocks}"
            f"   alarms without/with {without}/{with_}"
        )
    verdict = "met" if min(erles) >= ERLE_TARGET_DB else "NOT met"
    print(
        f"  ERLE after 5 s: median {statistics.median(erles):.1f} dB, min {min(erles):.1f} dB"
        f"   target >= {ERLE_TARGET_DB:.0f} dB: {verdict}"
    )
    print(f"  false alarms on the doctor's speech: without {alarms_without}, with {alarms_with}")

    # --- the patient over the doctor, and screams on the doctor's side ----------------------
    doctor = np.concatenate([x for _, x in doctors])[: 20 * RATE_HZ]
    if doctor.size < 20 * RATE_HZ:
        doctor = np.resize(doctor, 20 * RATE_HZ)
    at = 12 * RATE_HZ
    print("double talk: the patient's call at 12 s over the doctor's voice")
    dt_found = [0, 0]
    level_changes = []
    for name, call in calls(speech):
        near = np.zeros(doctor.size)
        near[at : at + call.size] = call[: doctor.size - at]
        mic = room(doctor) + near + noise(doctor.size)
        out, _, _ = cancel(mic, doctor)
        span = slice(at, at + min(call.size, doctor.size - at))
        change = level_db(out[span]) - level_db(near[span])
        level_changes.append(change)
        hits = [any(t >= at / RATE_HZ - 0.2 for t in found(x)) for x in (mic, out)]
        dt_found = [dt_found[0] + hits[0], dt_found[1] + hits[1]]
        print(
            f"  {name:32} found without/with {hits[0]!s:5}/{hits[1]!s:5}   level {change:+.1f} dB"
        )
    n = len(level_changes)
    print(
        f"  found: without {dt_found[0]}/{n}, with {dt_found[1]}/{n}"
        f"   level change max {max(level_changes, key=abs):+.1f} dB (target within 3 dB)"
    )
    print("the far end's own screams and shouts at 12 s, after a second of silence")
    far_found = [0, 0]
    for name, call in calls(speech):
        far = doctor.copy()
        far[at - RATE_HZ :] = 0
        far[at : at + call.size] = call[: far.size - at]
        mic = room(far) + noise(far.size)
        out, _, _ = cancel(mic, far)
        hits = [any(t >= at / RATE_HZ - 0.2 for t in found(x)) for x in (mic, out)]
        far_found = [far_found[0] + hits[0], far_found[1] + hits[1]]
        print(f"  {name:32} found without/with {hits[0]!s:5}/{hits[1]!s:5}")
    print(f"  found: without {far_found[0]}/{n}, with {far_found[1]}/{n} (target 0 with)")

    # --- the delay jumps ----------------------------------------------------------------------
    jump = 10 * RATE_HZ
    mic = np.concatenate((room(doctor)[:jump], room(doctor, delay_s=0.6)[jump:]))
    mic = mic + noise(mic.size)
    reacquired: list[int] = []

    def watch(canceller: EchoCanceller, at_sample: int) -> None:
        if at_sample > jump and not reacquired and abs(canceller.delay_samples - 9600) <= 32:
            reacquired.append(at_sample)

    out, _, _ = cancel(mic, doctor, watch)
    took = (reacquired[0] - jump) / RATE_HZ if reacquired else float("nan")
    print(
        f"delay 120 -> 600 ms at 10 s: found again after {took:.1f} s"
        f" (within the 0.1 s block); ERLE from 12 s {erle_db(mic, out, 12 * RATE_HZ):.1f} dB"
    )

    # --- two clocks ------------------------------------------------------------------------
    long_far = np.concatenate([x for _, x in doctors])[: 60 * RATE_HZ]
    echo = room(long_far)
    stretched = sounds.resample(echo, 1_000_000, 1_000_100).astype(np.float64)[: echo.size]
    mic = stretched + noise(echo.size)
    out, canceller, _ = cancel(mic, long_far)
    print(
        f"microphone and speaker 100 ppm apart, {long_far.size / RATE_HZ:.0f} s: ERLE 10-30 s"
        f" {erle_db(mic, out, 10 * RATE_HZ, 30 * RATE_HZ):.1f} dB, from 30 s"
        f" {erle_db(mic, out, 30 * RATE_HZ):.1f} dB; delay found"
        f" {canceller.delay_samples / RATE_HZ * 1e3:.1f} ms"
        f" (true {(DELAY_S + 100e-6 * long_far.size / RATE_HZ) * 1e3:.1f} ms)"
    )

    # --- CPU -----------------------------------------------------------------------------------
    silent = np.zeros(doctor.size)
    quiet_mic = noise(doctor.size)  # the room without a far end
    _, _, cpu_silent = cancel(quiet_mic, silent)
    copy_started = time.process_time()
    for i in range(0, doctor.size - BLOCK + 1, BLOCK):
        np.concatenate((doctor[i : i + BLOCK], doctor[i : i + BLOCK])).astype(np.float32)
    floor = (time.process_time() - copy_started) / (doctor.size / RATE_HZ)
    analyser_started = time.process_time()
    found(room(doctor) + noise(doctor.size))
    analyser = (time.process_time() - analyser_started) / (doctor.size / RATE_HZ)
    active = cpu_active / active_s
    idle = cpu_silent / (doctor.size / RATE_HZ)
    print("CPU per second of sound (process time, blocks of 0.1 s)")
    print(f"  floor     a copy of the blocks                        {floor * 1e3:7.2f} ms")
    print(
        f"  canceller far end playing                            {active * 1e3:7.2f} ms"
        f"   ({active:.1%} of one core)"
    )
    print(
        f"  canceller far end silent (pass-through)              {idle * 1e3:7.2f} ms"
        f"   ({idle:.2%} of one core)"
    )
    print(f"  beside: SoundAnalyser.analyse                        {analyser * 1e3:7.2f} ms")
    print(f"(bench took {time.monotonic() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
