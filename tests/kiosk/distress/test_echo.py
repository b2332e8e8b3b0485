"""The doctor's voice taken out of the microphone: a simulated room, the real canceller, the real
sound analyser, the real speaker tap and the real monitor.

The room: the far end (real speech from the development set when it is there, espeak-ng voices
otherwise) played through a synthetic impulse response (a direct path, early reflections and a
reverberant tail of RT60 0.3 s) after a delay and a gain, plus the microphone's noise. What is
measured: the echo return loss enhancement (ERLE) after convergence; a scream of the patient's
over the doctor's voice keeps its level and is still found; a scream played by the far end is
found without the canceller and not with it; a delay that jumps is found again; a microphone
and a speaker on two clocks 100 ppm apart are followed; a silent far end leaves the microphone
as it was; the speaker's record of what it played (its timeline, what `aplay` wrote and not
what it dropped); and the whole through the monitor, fed by the real output's record.
"""

from __future__ import annotations

import asyncio
import fractions
import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import pytest
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from numpy.typing import NDArray

import wire
from bench.real_recordings import speech_files, speech_samples
from kiosk.app import KioskCore
from kiosk.call.media import PLAYED_RATE_HZ, AplayAudioOutput, NullAudioOutput, PlayedSound
from kiosk.distress.echo import RATE_HZ, EchoCanceller
from kiosk.distress.monitor import DistressMonitor
from kiosk.distress.sound import SoundAnalyser
from kiosk.distress.vitals import DangerousVitals
from kiosk.store import DatabaseKey
from simulators import sounds
from simulators.echo_room import ECHO_DELAY_S, mic_noise, room
from tests.kiosk.distress.test_monitor import with_core

Signal = NDArray[np.float64]
KEY = DatabaseKey.generate()
SPEECH_S = 20.0


# --- the simulated room -------------------------------------------------------------------------


def _far_speech(seconds: float = SPEECH_S) -> Signal:
    """A voice at -20 dBFS RMS: real read speech if the development set is here, the doctor's
    sentences said by espeak-ng otherwise."""
    files = [p for p in speech_files() if p.stem.startswith("vosk_")]
    if files:
        speech = np.concatenate([speech_samples(p) for p in files[:4]]).astype(np.float64)
    else:
        voice = sounds.Espeak()
        said = [sounds.talk(voice, text, "fr+m1") for text in sounds.DOCTOR_FR]
        gaps = [np.zeros(RATE_HZ // 3, np.float32)] * len(said)
        speech = np.tile(
            np.concatenate([x for pair in zip(said, gaps, strict=True) for x in pair]), 6
        )
    speech = speech[: round(seconds * RATE_HZ)].astype(np.float64)
    assert speech.size == round(seconds * RATE_HZ)
    scaled: Signal = speech * (0.1 / float(np.sqrt(np.mean(speech**2))))
    return scaled


@pytest.fixture(scope="module")
def far_speech() -> Signal:
    return _far_speech()


def a_scream(seed: int = 5, duration_s: float = 1.5, pitch_hz: float = 700.0) -> Signal:
    return sounds.scream(np.random.default_rng(seed), duration_s, pitch_hz).astype(np.float64)


def cancel(mic: Signal, far: Signal, block: int = 1600) -> tuple[Signal, EchoCanceller]:
    """The canceller over the whole stream in the monitor's blocks; the output realigned with
    the microphone (its latency taken off)."""
    canceller = EchoCanceller()
    history = canceller.history_samples
    padded = np.concatenate((np.zeros(history), far))
    out = [
        canceller.process(mic[i : i + block], padded[i : i + block + history])
        for i in range(0, mic.size - block + 1, block)
    ]
    latency = round(canceller.latency_s * RATE_HZ)
    output = np.concatenate(out).astype(np.float64)[latency:]
    return np.concatenate((output, np.zeros(mic.size - output.size))), canceller


def erle_db(mic: Signal, out: Signal, from_s: float, to_s: float) -> float:
    span = slice(round(from_s * RATE_HZ), round(to_s * RATE_HZ))
    return float(10 * np.log10(np.sum(mic[span] ** 2) / np.sum(out[span] ** 2)))


def level_db(x: Signal) -> float:
    return float(10 * np.log10(np.mean(x**2)))


def calls_found(samples: Signal) -> list[float]:
    """When the real sound analyser finds a call for help in these samples (s)."""
    analyser = SoundAnalyser()
    found = []
    for i in range(0, samples.size, 1600):
        block = samples[i : i + 1600].astype(np.float32)
        found += [d.event_at_s for d in analyser.analyse(block, i / RATE_HZ)]
    return found


# --- the canceller ------------------------------------------------------------------------------


def test_the_doctors_voice_is_reduced_by_more_than_20_db_once_converged(
    far_speech: Signal,
) -> None:
    echo = room(far_speech)
    mic = echo + mic_noise(echo.size)
    out, canceller = cancel(mic, far_speech)
    assert canceller.delay_samples == pytest.approx(ECHO_DELAY_S * RATE_HZ, abs=16)
    assert canceller.converged
    assert erle_db(mic, out, 5.0, 19.5) >= 20.0
    assert erle_db(mic, out, 2.0, 5.0) >= 10.0  # converging within the first seconds
    assert canceller.double_talk_blocks < canceller.active_blocks * 0.05


def test_a_scream_over_the_doctors_voice_keeps_its_level_and_is_found(
    far_speech: Signal,
) -> None:
    echo = room(far_speech)
    scream = a_scream() * 10 ** (-6 / 20)
    near = np.zeros(echo.size)
    at = 12 * RATE_HZ
    near[at : at + scream.size] = scream
    mic = echo + near + mic_noise(echo.size)
    out, canceller = cancel(mic, far_speech)
    during = slice(at, at + scream.size)
    assert level_db(out[during]) == pytest.approx(level_db(scream), abs=2.0)
    assert canceller.double_talk_blocks > 0  # it was seen as double talk ...
    assert erle_db(mic, out, 15.0, 19.5) >= 20.0  # ... and the filter did not lose the room
    found = calls_found(out)
    assert found and all(11.9 <= t <= 13.6 for t in found), found


def test_a_scream_played_by_the_far_end_is_not_taken_for_the_patients(
    far_speech: Signal,
) -> None:
    far = far_speech.copy()
    scream = a_scream(seed=6, pitch_hz=900.0)
    at = 12 * RATE_HZ
    far[at - RATE_HZ : at + scream.size] = 0  # the doctor stops talking, then, on that side,
    far[at : at + scream.size] = scream  # someone screams (a television, another patient)
    mic = room(far) + mic_noise(far.size)
    assert calls_found(mic), "the scream must be loud enough to be found without the canceller"
    out, _ = cancel(mic, far)
    assert calls_found(out) == []


def test_a_delay_that_jumps_is_found_again(far_speech: Signal) -> None:
    change = 10 * RATE_HZ
    # the output's buffer ran dry and `aplay` waited for its 0.5 s buffer to fill again
    echo = np.concatenate((room(far_speech)[:change], room(far_speech, delay_s=0.6)[change:]))
    mic = echo + mic_noise(echo.size)
    out, canceller = cancel(mic, far_speech)
    assert canceller.delay_samples == pytest.approx(0.6 * RATE_HZ, abs=16)
    assert canceller.delay_changes >= 2  # the first measurement, then the jump
    assert erle_db(mic, out, 5.0, 10.0) >= 20.0
    assert erle_db(mic, out, 12.0, 19.5) >= 20.0  # within two seconds of the jump


def test_a_microphone_whose_clock_drifts_from_the_speakers_is_followed() -> None:
    """A webcam's microphone and the sound card's speaker, 100 ppm apart: the echo's delay
    grows by 1.6 samples a second; the canceller follows it to a fraction of a sample, and
    finds it again when the doctor speaks after 40 s of silence (64 samples further)."""
    speech = _far_speech(32.0)
    far = np.concatenate((speech, np.zeros(40 * RATE_HZ), speech[: 8 * RATE_HZ]))
    echo = room(far)
    stretched = sounds.resample(echo, 1_000_000, 1_000_100).astype(np.float64)[: echo.size]
    mic = stretched + mic_noise(echo.size)
    out, canceller = cancel(mic, far)
    assert erle_db(mic, out, 22.0, 31.5) >= 30.0
    assert np.isfinite(out).all()
    drifted = ECHO_DELAY_S * RATE_HZ + 100e-6 * 80 * RATE_HZ  # 8 ms over the 80 s
    assert canceller.delay_samples == pytest.approx(drifted, abs=2)
    assert erle_db(mic, out, 74.0, 79.5) >= 20.0


def test_a_silent_far_end_leaves_the_microphone_as_it_was() -> None:
    rng = np.random.default_rng(7)
    mic = np.concatenate((rng.standard_normal(3 * RATE_HZ) * 0.05, a_scream() * 0.5))
    out, canceller = cancel(mic, np.zeros(mic.size), block=1000)
    whole = mic.size // 1000 * 1000 - round(canceller.latency_s * RATE_HZ)
    assert np.array_equal(out[:whole], mic[:whole].astype(np.float32).astype(np.float64))
    assert canceller.active_blocks == 0


def test_the_far_end_must_come_with_its_history() -> None:
    canceller = EchoCanceller()
    with pytest.raises(ValueError, match="far end"):
        canceller.process(np.zeros(1600), np.zeros(1600))


# --- what the speaker played --------------------------------------------------------------------


def pcm_frames(x: Signal, pts: int = 0) -> Iterator[av.AudioFrame]:
    """As a call's decoder gives them: 20 ms of s16 stereo at 48 kHz each."""
    up = np.clip(sounds.resample(x, RATE_HZ, 48_000), -1, 1)
    pcm = (up * 32767).astype(np.int16)
    for i in range(0, pcm.size - 959, 960):
        frame = av.AudioFrame.from_ndarray(
            np.repeat(pcm[i : i + 960], 2).reshape(1, -1), format="s16", layout="stereo"
        )
        frame.sample_rate = 48_000
        frame.pts = pts + i
        frame.time_base = fractions.Fraction(1, 48_000)
        yield frame


def test_the_speaker_keeps_what_it_played_on_its_timeline() -> None:
    assert PLAYED_RATE_HZ == RATE_HZ
    clock = [100.0]
    played = PlayedSound(keep_s=2.0, clock=lambda: clock[0])
    assert not played.read(100.0, 160).any()  # nothing played yet
    tone = 0.5 * np.sin(2 * np.pi * 440 * np.arange(RATE_HZ) / RATE_HZ)
    for k, frame in enumerate(pcm_frames(tone)):
        # handed over with 0 to 15 ms of jitter: the timeline stays continuous
        clock[0] = 100.0 + k * 0.02 + (0.015 if k % 3 == 1 else 0.0)
        played.record(frame)
    assert played.seconds_recorded == pytest.approx(1.0, abs=0.01)
    kept = played.read(100.1, 8000).astype(np.float64)
    # the same tone (up to the resampler's few samples of delay), at the same level
    lag = int(np.argmax(np.correlate(kept[:800], tone[1600:2400], "full"))) - 799
    assert abs(lag) <= 40
    assert level_db(kept) == pytest.approx(level_db(tone), abs=0.5)
    assert not played.read(98.0, 16_000).any()  # before the first frame: silence
    # three seconds later (the speaker ran dry): placed where handed over, silence in between
    clock[0] = 104.0
    for frame in pcm_frames(tone[:3200], pts=48_000):
        played.record(frame)
    assert not played.read(103.0, 12_000).any()
    assert level_db(played.read(104.02, 1600).astype(np.float64)) > -12
    assert not played.read(100.0, 16_000).any()  # older than keep_s: forgotten


def test_aplay_keeps_what_it_wrote_and_not_what_it_dropped() -> None:
    async def scenario() -> tuple[float, float]:
        tone = 0.3 * np.sin(2 * np.pi * 300 * np.arange(RATE_HZ // 2) / RATE_HZ)
        playing = AplayAudioOutput(argv=["sh", "-c", "cat > /dev/null"])
        broken = AplayAudioOutput(argv=["/nonexistent/aplay"])
        try:
            for frame in pcm_frames(tone):
                await playing.play(frame)
                await broken.play(frame)
        finally:
            await playing.close()
            await broken.close()
        assert playing.frames_played == 25 and broken.frames_dropped == 25
        return playing.played.seconds_recorded, broken.played.seconds_recorded

    played_s, dropped_s = asyncio.run(scenario())
    assert played_s == pytest.approx(0.5, abs=0.02)
    assert dropped_s == 0.0


# --- through the monitor ------------------------------------------------------------------------


class RoomMicrophone(MediaStreamTrack):
    """The cabin's microphone in the simulated room. Each 20 ms frame it gives, it first hands
    the doctor's next frame to the speaker (the real output, on the shared simulated clock): the
    microphone hears the echo of what was played ``ECHO_DELAY_S`` earlier."""

    kind = "audio"

    def __init__(
        self, mic: Signal, far: Signal, output: NullAudioOutput, clock: list[float]
    ) -> None:
        super().__init__()
        self._mic = list(pcm_frames(mic))
        self._far = list(pcm_frames(far))
        self._output = output
        self._clock = clock
        self.sent = 0
        self.ended = False

    async def recv(self) -> av.AudioFrame:
        if self.sent >= len(self._mic):
            self.ended = True
            raise MediaStreamError
        self._clock[0] = 50.0 + self.sent * 0.02
        await self._output.play(self._far[self.sent])
        frame = self._mic[self.sent]
        self.sent += 1
        await asyncio.sleep(0)
        return frame


async def monitor_hears(core: KioskCore, mic: Signal, far: Signal, *, tapped: bool) -> list[float]:
    """The calls for help the monitor finds (when, on the microphone's timeline, s)."""
    clock = [50.0]
    output = NullAudioOutput(PlayedSound(clock=lambda: clock[0]))
    assert core.alerts is not None
    monitor = DistressMonitor(
        core.session, core.bus, core.alerts, vitals=DangerousVitals(), clock=lambda: clock[0]
    )
    microphone = RoomMicrophone(mic, far, output, clock)
    monitor.listen(microphone, SoundAnalyser(), far_end=output.played if tapped else None)
    deadline = asyncio.get_running_loop().time() + 60
    while not microphone.ended:
        assert asyncio.get_running_loop().time() < deadline, "the monitor stopped listening"
        await asyncio.sleep(0.01)
    await monitor.aclose()
    assert monitor.sound_seconds_analysed >= (mic.size / RATE_HZ) - 0.5
    if tapped:
        assert monitor.echo is not None
        # the delay between the speaker's hand-over and the microphone's label
        assert monitor.echo.delay_samples == pytest.approx(ECHO_DELAY_S * RATE_HZ, abs=40)
    return [
        o.detection.event_at_s - 50.0
        for o in monitor.observed
        if o.detection.kind is wire.AlertKind.CALL_FOR_HELP
    ]


def test_the_monitor_takes_the_played_sound_out_of_the_microphone(
    far_speech: Signal, tmp_path: Path
) -> None:
    """A loud scream played by the far end at 6 s (after a second of silence), the patient's
    own scream over the doctor's voice at 11 s: with the speaker's record, only the patient's
    is found."""
    span = 14 * RATE_HZ
    far = far_speech[:span].copy()
    far_scream = a_scream(seed=8, pitch_hz=1000.0)
    far[5 * RATE_HZ : 6 * RATE_HZ + far_scream.size] = 0
    far[6 * RATE_HZ : 6 * RATE_HZ + far_scream.size] = far_scream
    near = np.zeros(span)
    scream = a_scream(seed=9, pitch_hz=600.0) * 10 ** (-6 / 20)
    near[11 * RATE_HZ : 11 * RATE_HZ + scream.size] = scream
    mic = room(far) + near + mic_noise(span)
    heard: dict[bool, list[float]] = {}

    async def body(core: KioskCore, _sent: list[wire.Message]) -> None:
        for tapped in (False, True):
            heard[tapped] = await monitor_hears(core, mic, far, tapped=tapped)

    with_core(tmp_path, body)
    assert any(5.9 <= t <= 7.7 for t in heard[False]), heard  # the far end's scream, unfiltered
    assert heard[True] and all(10.9 <= t <= 12.7 for t in heard[True]), heard


# --- privacy --------------------------------------------------------------------------------

AUDITED_ECHO = textwrap.dedent(
    """
    import json, os, sys

    import av
    import numpy as np

    from kiosk.call.media import PlayedSound
    from kiosk.distress.echo import RATE_HZ, EchoCanceller
    from kiosk.distress.sound import SoundAnalyser
    from tests.kiosk.distress.audit import forbid_writes_and_sockets

    rate = 48_000
    t = np.arange(4 * rate) / rate
    voice = (0.3 * np.sin(2 * np.pi * 220 * t) * (np.sin(2 * np.pi * 2 * t) > 0) * 32767)
    pcm = voice.astype(np.int16)
    frames = []
    for i in range(0, pcm.size, 960):
        frame = av.AudioFrame.from_ndarray(
            np.repeat(pcm[i : i + 960], 2).reshape(1, -1), format="s16", layout="stereo"
        )
        frame.sample_rate = rate
        frames.append(frame)
    clock = [10.0]
    played = PlayedSound(clock=lambda: clock[0])
    canceller = EchoCanceller()
    analyser = SoundAnalyser()

    seen = forbid_writes_and_sockets()  # from here on, nothing may be written or connected
    history = canceller.history_samples
    for k, frame in enumerate(frames):
        clock[0] = 10.0 + k * 0.02
        played.record(frame)
        if k % 5 == 4:  # a microphone block of 0.1 s, hearing the speaker 100 ms later
            start = clock[0] - 0.08
            mic = 0.5 * played.read(start - 0.1, RATE_HZ // 10)
            far = played.read(start - history / RATE_HZ, RATE_HZ // 10 + history)
            analyser.analyse(canceller.process(mic, far), start - canceller.latency_s)
    print(json.dumps({"seen": seen, "active": canceller.active_blocks,
                      "played_s": played.seconds_recorded}))
    """
)


def test_the_speakers_record_and_the_canceller_open_no_socket_and_write_nothing() -> None:
    """Under a Python audit hook (PEP 578), as `test_privacy` does for the analysers."""
    result = subprocess.run(
        [sys.executable, "-c", AUDITED_ECHO],
        cwd=Path(__file__).resolve().parents[3],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["seen"] == []
    assert report["active"] > 100 and report["played_s"] > 3.5  # it did run
