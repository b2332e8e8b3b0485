"""Calls for help heard by the cabin's microphone: screams and shouts, processed locally.

What it detects: **a voice held high**, the acoustic shape of a scream or of a shouted call
("au secours !", "à l'aide !", "help!" with their drawn-out vowels). A 40 ms frame every 20 ms
is *hot* when it is at once

- loud: `margin_db` above the cabin's running floor (a low percentile of the last
  `floor_window_s` of frame levels, never below `floor_min_dbfs`) and at least
  `min_level_dbfs`; the microphone's gain is unknown, so the margin is what matters;
- voiced and high, once the background is taken out: the background's power spectrum (it
  follows a louder sound slowly, `background_rise_s`, and a quieter one quickly) is subtracted
  from the frame's, and the rest's normalised autocorrelation must peak at `harmonicity_min`,
  at a pitch within `pitch_min_hz`..`pitch_max_hz` (250-3200 Hz: a child's scream too);
- one voice: at most `bass_max` of its energy lies below 0.7 x its pitch (a band's bass line
  or chord under a tune has energy there; a single voice has none).

A hot frame is *held* when its pitch is within `steady_semitones` of the last voiced frame's,
at most `bridge_gap_s` before it: a scream is held on a pitch or glides, speech's pitch moves
with every syllable and its voiced runs are syllable-long. One `Detection(CALL_FOR_HELP)` is
emitted when held frames add up to `held_s` within the last `held_window_s`, their pitch
moves at all (`wobble_min_semitones`: a perfectly still tone is a device), and the voice is
*new*:

- when people were talking just before (voiced frames, mostly not held, in the last
  `voice_history_s` but `voice_recent_s`), it is `novelty_db` louder than their loud parts
  (`voice_percentile`): a person who bursts into a scream while talking, not one who talks high;
- otherwise (silence, noise, or a tune playing before), it is `sudden_db` louder than the
  median level of the second before it: a scream out of silence or noise, where a tune that
  plays on or fades in rises less.

Two short shouts also count (a double "Heeelp!"): `short_runs` abrupt runs of `short_run_s`,
mostly held, mostly at `pitch_min_hz` or higher (a run goes on through a vowel gliding down to
`pitch_hold_min_hz`), loud (`short_margin_db`), adding up to `short_sustained_s` within
`window_s`. The next detection needs `rearm_quiet_s` without a hot frame. The confidence grows
with the margin, the voicing's strength and the held duration.

What it does not detect, by design: normal or raised speech, coughs, sneezes, a door slam,
knocking, steady background, the doctor's voice on the speaker (subtracted upstream by the
echo stage), music that plays on. It does not understand words: a calm "help" is not a call
here (SOUND.md: keyword spotting), and a low scream (a man's, under 250 Hz), a groan or a
weak voice is not heard. Music or a recording of screaming switched on abruptly, a solo
singer's held high notes, and tonal animal sounds (crickets) can be taken for a call.

Privacy: the analyser keeps frame levels (the floor's window), the background's spectrum, the
last seconds' voiced levels and the open run's figures, and less than one frame of samples
between blocks; it writes nothing, sends nothing, logs nothing.
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from dataclasses import dataclass, field
from typing import Final

import numpy as np
from numpy.typing import NDArray

from kiosk.distress.detection import Detection, Samples
from wire.messages import AlertKind

ANALYSIS_RATE_HZ: Final = 16_000
"""The rate the analyser expects its samples at (mono float32, -1..1)."""

FRAME_SAMPLES: Final = 640  # 40 ms: three periods of an 80 Hz voice, for the autocorrelation
HOP_SAMPLES: Final = 320  # 20 ms between frames
_FFT_SAMPLES: Final = 2048  # >= 2 * FRAME_SAMPLES: the autocorrelation is not circular
_LOWEST_PITCH_SEARCHED_HZ: Final = 70.0  # the period is looked for down to this pitch ...
_HIGHEST_PITCH_SEARCHED_HZ: Final = 3200.0  # ... and up to this one (a lag of 5 samples)
_BASS_FROM_HZ: Final = 60.0  # the spectrum's share below the pitch is counted from here ...
_SPECTRUM_TO_HZ: Final = 7800.0  # ... over the spectrum up to here
_DISCONTINUITY_S: Final = 0.1  # a block this far from where the previous one ended restarts framing
_SILENCE_POWER: Final = 1e-12  # added to a frame's mean square: -120 dBFS, no log of zero
_VOICED_REFERENCE_MIN: Final = 0.6  # harmonicity of a frame counted as someone's voice ...
_VOICED_REFERENCE_MARGIN_DB: Final = 10.0  # ... when this far above the floor


class SoundInputError(ValueError):
    """A block that is not mono floating-point sound, or a capture instant that is not a number.

    Integer samples are refused rather than scaled: the monitor resamples to float ("flt")."""


@dataclass(frozen=True, slots=True)
class SoundThresholds:
    """Every threshold of the call-for-help detector, with its unit.

    Levels are dBFS of the frame's RMS, where a full-scale sine is 0 dBFS (so a square wave at
    full scale is +3 dBFS, digital silence about -120 dBFS)."""

    floor_window_s: float = 10.0
    """The running noise floor is taken over the last this many seconds of frame levels."""
    floor_percentile: float = 10.0
    """... as this percentile (0..100): the quiet moments between words, not the words."""
    floor_min_dbfs: float = -65.0
    """The floor is never taken below this level: the absolute floor for a silent or muted line."""
    margin_db: float = 15.0
    """A hot frame is at least this much (dB) above the running floor ..."""
    min_level_dbfs: float = -45.0
    """... and at least this loud in absolute terms (dBFS)."""
    background_rise_s: float = 10.0
    """The background's spectrum, subtracted before the pitch is looked for (a fan, a street, a
    station's hum), follows a louder sound with this time constant (s) ..."""
    background_fall_s: float = 0.1
    """... and a quieter one with this one (s): it settles on the quiet moments."""
    harmonicity_min: float = 0.65
    """A hot frame is voiced: the normalised autocorrelation's peak (0..1) is at least this."""
    pitch_min_hz: float = 250.0
    """A hot frame's pitch is at least this (Hz): a talking voice is mostly lower ..."""
    pitch_hold_min_hz: float = 230.0
    """An abrupt run goes on through loud voiced frames down to this pitch (Hz): a shouted
    vowel glides down as it ends; only `pitch_min_hz` can start a run or count as held."""
    pitch_max_hz: float = 3200.0
    """... and at most this (Hz): a child's or a woman's scream can reach 2-3 kHz."""
    bass_max: float = 0.5
    """A hot frame has at most this share (0..1) of its energy below 0.7 x its pitch: one voice
    has none there; a band's bass line or chord under a tune has."""
    steady_semitones: float = 0.6
    """A hot frame is *held* when the previous frame was hot too and the pitch moved by at most
    this (semitones in 20 ms): a scream is held on one pitch or glides slowly, speech's pitch
    moves with every syllable."""
    held_window_s: float = 1.0
    """A call for help is heard when, within the last this many seconds, ..."""
    held_s: float = 0.5
    """... held frames add up to this (s): a voice held high for most of a second ..."""
    novelty_db: float = 4.0
    """... at least this much (dB) louder than the voices heard just before (the median level of
    the voiced frames from `voice_history_s` to `voice_recent_s` ago): a person who bursts into
    a scream while talking, not one who talks high. No voice before: no condition."""
    voice_percentile: float = 80.0
    """The voices' level is this percentile (0..100) of their frames' levels: their loud
    parts (a tune fading in is louder now than most of what came before it)."""
    voice_history_s: float = 8.0
    """See `novelty_db`."""
    voice_recent_s: float = 1.2
    """See `novelty_db`."""
    voice_reference_s: float = 1.0
    """The voices before are a reference only when they add up to this (s) ..."""
    talking_share: float = 0.6
    """... and more than this share (0..1) of them moved in pitch (not held): people talking.
    Sound held on steady pitches before (a tune playing, fading in) is no reference: then, as
    with no voice before, the call needs a run that started abruptly (`onset_db`)."""
    bridge_gap_s: float = 0.06
    """Hot frames no further apart than this (s) belong to one run (a consonant, a breath)."""
    window_s: float = 4.0
    """Short shouts: runs are added up over the last this many seconds ..."""
    short_run_s: float = 0.25
    """... an abrupt run this long (s), mostly held, counts towards a call of short shouts ..."""
    short_runs: int = 2
    """... when at least this many abrupt runs within `window_s` ..."""
    short_sustained_s: float = 0.55
    """... add up to this (s): two short "Heeelp!" in a row."""
    short_held_share: float = 0.6
    """The share (0..1) of a short run's frames that must be held ..."""
    short_hot_share: float = 0.5
    """... the share (0..1) of its frames at `pitch_min_hz` or higher (not gliding) ..."""
    short_margin_db: float = 40.0
    """... and its frames' mean margin over the floor (dB): short shouts are loud."""
    onset_db: float = 20.0
    """A run starts *abruptly* when its first frame is at least this much (dB) above the
    `onset_percentile` of the levels from `onset_lookback_s` to `onset_rise_s` before it."""
    onset_percentile: float = 20.0
    """... this percentile (0..100) of the preceding levels (a pause in them is enough) ..."""
    onset_lookback_s: float = 1.15
    """... over the levels from this long (s) before the run's first frame ..."""
    onset_rise_s: float = 0.15
    """... up to this long (s) before it: the rise has to happen within this time."""
    sudden_db: float = 12.0
    """With no one talking before, the held voice is new when it is at least this much (dB)
    louder than the median level of the second before it (`onset_lookback_s` to
    `onset_rise_s` before its first held frame): a scream out of silence or noise; a tune
    that plays or fades in rises less within a second."""
    noisy_room_dbfs: float = -50.0
    """Where the levels before a run are at least this (dBFS), a noisy room, ..."""
    noisy_onset_db: float = 10.0
    """... a jump of this much (dB) is abrupt enough: no music fades in from silence there."""
    wobble_min_semitones: float = 0.02
    """A held voice moves: the median pitch change between its held frames is at least this
    (semitones in 20 ms). A tone held perfectly still is a device or an instrument (an alarm,
    a test tone, a synthesiser), not a voice, whose pitch always jitters."""
    rearm_quiet_s: float = 3.0
    """After a detection, the next one needs this long (s) without a hot frame first."""

    def __post_init__(self) -> None:
        for name in ("floor_percentile", "onset_percentile", "voice_percentile"):
            if not 0.0 <= getattr(self, name) <= 100.0:
                raise ValueError(f"{name} is a percentile: 0..100")
        if not 0.0 < self.harmonicity_min < 1.0:
            raise ValueError("harmonicity_min is a correlation: strictly between 0 and 1")
        if not (_LOWEST_PITCH_SEARCHED_HZ <= self.pitch_min_hz < self.pitch_max_hz):
            raise ValueError(f"pitch range must be within {_LOWEST_PITCH_SEARCHED_HZ:g} Hz and up")
        if not _LOWEST_PITCH_SEARCHED_HZ <= self.pitch_hold_min_hz <= self.pitch_min_hz:
            raise ValueError("pitch_hold_min_hz must be within the search range, <= pitch_min_hz")
        if self.pitch_max_hz > _HIGHEST_PITCH_SEARCHED_HZ:
            raise ValueError(f"pitch_max_hz is at most {_HIGHEST_PITCH_SEARCHED_HZ:g} Hz")
        for name in ("bass_max", "short_held_share", "short_hot_share", "talking_share"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} is a share: 0..1")
        if not 0.0 <= self.onset_rise_s < self.onset_lookback_s:
            raise ValueError("onset_rise_s must be within 0..onset_lookback_s")
        if not 0.0 <= self.voice_recent_s < self.voice_history_s:
            raise ValueError("voice_recent_s must be within 0..voice_history_s")
        positive = (
            "floor_window_s",
            "window_s",
            "held_window_s",
            "held_s",
            "short_run_s",
            "short_sustained_s",
            "steady_semitones",
            "background_rise_s",
            "background_fall_s",
        )
        for name in positive:
            if getattr(self, name) <= 0.0:
                raise ValueError(f"{name} must be positive")
        if self.held_s > self.held_window_s:
            raise ValueError("held_s cannot exceed held_window_s")
        if self.short_sustained_s > self.window_s:
            raise ValueError("short_sustained_s cannot exceed window_s")
        if self.short_runs < 1:
            raise ValueError("short_runs must be at least 1")


@dataclass(slots=True)
class _Run:
    """Consecutive hot frames (gaps bridged): when, whether it started abruptly, how held."""

    start_s: float
    end_s: float
    abrupt: bool = False
    frames: int = 0
    hot: int = 0
    held: int = 0
    margin_db_sum: float = 0.0

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s


@dataclass(frozen=True, slots=True)
class _Frame:
    """What one frame is made of, for the episode's rules."""

    t_s: float
    level_dbfs: float
    margin_db: float
    harmonicity: float
    pitch_hz: float
    bass_share: float


@dataclass(slots=True)
class _Framing:
    """Samples waiting for a whole frame, and the capture instant of the first of them."""

    pending: NDArray[np.float64] = field(default_factory=lambda: np.zeros(0, np.float64))
    first_s: float | None = None


def _window_autocorrelation() -> NDArray[np.float64]:
    window = np.hanning(FRAME_SAMPLES)
    spectrum = np.fft.rfft(window, _FFT_SAMPLES)
    r = np.fft.irfft(np.abs(spectrum) ** 2, _FFT_SAMPLES)[:FRAME_SAMPLES]
    return np.asarray(r / r[0], dtype=np.float64)


class SoundAnalyser:
    """Hears calls for help in blocks of any length (see the module's docstring).

    `analyse(samples, t_s)` takes mono float samples (-1..1) at `ANALYSIS_RATE_HZ`, `t_s` the
    capture instant of the block's first sample on a monotonic clock, and returns the detections
    this block completed (at most one per episode). Blocks are cut into frames on the stream's
    own timeline, so the result does not depend on how the sound was cut into blocks. A block
    that does not follow the previous one (more than 0.1 s away) restarts the framing.

    Input: a 1-D float array (float32, float64 or float16); NaN and infinities are replaced by
    silence and values clipped to -1..1 (a glitch must not stop the detector); an empty block
    does nothing. Integer arrays, other dtypes, arrays of more than one dimension and a
    non-finite `t_s` raise `SoundInputError` (a ValueError).
    """

    def __init__(self, thresholds: SoundThresholds | None = None) -> None:
        self.thresholds = thresholds or SoundThresholds()
        th = self.thresholds
        self._window = np.hanning(FRAME_SAMPLES)
        self._window_r = _window_autocorrelation()
        self._lag_min = math.floor(ANALYSIS_RATE_HZ / _HIGHEST_PITCH_SEARCHED_HZ)
        self._lag_max = math.ceil(ANALYSIS_RATE_HZ / _LOWEST_PITCH_SEARCHED_HZ)
        self._hop_s = HOP_SAMPLES / ANALYSIS_RATE_HZ
        self._frame_s = FRAME_SAMPLES / ANALYSIS_RATE_HZ
        bin_hz = ANALYSIS_RATE_HZ / _FFT_SAMPLES
        self._bin_hz = bin_hz
        self._bass_from = math.ceil(_BASS_FROM_HZ / bin_hz)
        self._spectrum_to = math.floor(_SPECTRUM_TO_HZ / bin_hz)
        self._rise = self._hop_s / th.background_rise_s
        self._fall = min(1.0, self._hop_s / th.background_fall_s)
        floor_frames = max(1, round(th.floor_window_s / self._hop_s))
        self._onset_far = round(th.onset_lookback_s / self._hop_s)
        self._onset_near = round(th.onset_rise_s / self._hop_s)
        self._levels: deque[float] = deque(maxlen=max(floor_frames, self._onset_far + 1))
        self._floor_frames = floor_frames
        self._levels_t_s = 0.0  # the instant of the newest level kept
        self._ordered_levels: list[float] = []  # the floor's window, sorted
        self._held_frames = max(1, round(th.held_window_s / self._hop_s))
        self._held_needed = round(th.held_s / self._hop_s)
        self._voice_far = round(th.voice_history_s / self._hop_s)
        self._voice_near = round(th.voice_recent_s / self._hop_s)
        self._voice_needed = max(1, round(th.voice_reference_s / self._hop_s))
        self._voices: deque[tuple[float, bool] | None] = deque(maxlen=self._voice_far)
        self._background: NDArray[np.float64] | None = None
        self._framing = _Framing()
        self._held: deque[tuple[float, float] | None] = deque(maxlen=self._held_frames)
        self._held_count = 0
        self._previous_pitch_hz = 0.0
        self._runs: deque[_Run] = deque()
        self._open: _Run | None = None
        self._last_hot_s: float | None = None
        self._armed = True

    def reset(self) -> None:
        """A new session: forget runs and episodes, keep the cabin's noise floor."""
        self._framing = _Framing()
        self._held.clear()
        self._held_count = 0
        self._previous_pitch_hz = 0.0
        self._voices.clear()
        self._runs.clear()
        self._open = None
        self._last_hot_s = None
        self._armed = True

    # --- input -----------------------------------------------------------------------------

    def analyse(self, samples: Samples, t_s: float) -> list[Detection]:
        block = _checked(samples, t_s)
        if block.size == 0:
            return []
        framing = self._framing
        if framing.first_s is not None:
            expected_s = framing.first_s + framing.pending.size / ANALYSIS_RATE_HZ
            if abs(t_s - expected_s) > _DISCONTINUITY_S:
                framing = self._framing = _Framing()
        if framing.first_s is None:
            framing.first_s = float(t_s)
        buffer = np.concatenate((framing.pending, block)) if framing.pending.size else block
        count = (
            0 if buffer.size < FRAME_SAMPLES else 1 + (buffer.size - FRAME_SAMPLES) // HOP_SAMPLES
        )
        detections: list[Detection] = []
        if count:
            starts = np.arange(count) * HOP_SAMPLES
            frames = buffer[starts[:, None] + np.arange(FRAME_SAMPLES)]
            times = framing.first_s + starts / ANALYSIS_RATE_HZ
            detections = self._frames(frames, times)
        consumed = count * HOP_SAMPLES
        framing.pending = buffer[consumed:].copy()
        framing.first_s += consumed / ANALYSIS_RATE_HZ
        return detections

    # --- per frame -------------------------------------------------------------------------

    def _frames(self, frames: NDArray[np.float64], times: NDArray[np.float64]) -> list[Detection]:
        th = self.thresholds
        frames = frames - frames.mean(axis=1, keepdims=True)
        power = np.mean(frames * frames, axis=1) * 2.0  # x2: a full-scale sine is 0 dBFS
        levels = 10.0 * np.log10(power + _SILENCE_POWER)
        spectra = np.fft.rfft(frames * self._window, _FFT_SAMPLES, axis=1)
        powers = spectra.real**2 + spectra.imag**2
        cleaned = self._subtract_background(powers)
        harmonicity = np.zeros(len(frames))
        pitch_hz = np.zeros(len(frames))
        bass = np.ones(len(frames))
        candidates = np.flatnonzero(levels >= th.min_level_dbfs)
        if candidates.size:
            h, p, b = self._voicing(cleaned[candidates])
            harmonicity[candidates], pitch_hz[candidates], bass[candidates] = h, p, b
        detections: list[Detection] = []
        for i, t in enumerate(times):
            level = float(levels[i])
            floor = max(self._keep_level(level), th.floor_min_dbfs)
            self._levels_t_s = float(t)
            frame = _Frame(
                float(t),
                level,
                level - floor,
                float(harmonicity[i]),
                float(pitch_hz[i]),
                float(bass[i]),
            )
            detection = self._step(frame)
            if detection is not None:
                detections.append(detection)
        return detections

    def _keep_level(self, level: float) -> float:
        """Keeps a frame's level; returns the `floor_percentile` of the last `floor_window_s`
        of them (numpy's linear percentile, from a sorted copy kept up to date)."""
        ordered = self._ordered_levels
        if len(self._levels) >= self._floor_frames:
            oldest = self._levels[len(self._levels) - self._floor_frames]
            del ordered[bisect.bisect_left(ordered, oldest)]
        self._levels.append(level)
        bisect.insort(ordered, level)
        position = self.thresholds.floor_percentile / 100.0 * (len(ordered) - 1)
        below = math.floor(position)
        above = min(below + 1, len(ordered) - 1)
        return ordered[below] + (ordered[above] - ordered[below]) * (position - below)

    def _subtract_background(self, powers: NDArray[np.float64]) -> NDArray[np.float64]:
        """Each frame's power spectrum less the background's before it; the background follows
        (slowly up, quickly down)."""
        cleaned = np.empty_like(powers)
        background = self._background
        for i, power in enumerate(powers):
            if background is None:
                background = power.copy()
            cleaned[i] = np.maximum(power - background, 0.0)
            rate = np.where(power > background, self._rise, self._fall)
            background = background + rate * (power - background)
        self._background = background
        return cleaned

    def _voicing(
        self, powers: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
        """Harmonicity (0..1), pitch (Hz) and bass share (0..1) of each frame's cleaned power
        spectrum, from its normalised autocorrelation.

        The windowed frame's autocorrelation is divided by the window's own, so that a periodic
        sound peaks near 1 at its period; the period is the first local maximum within 90 % of
        the highest one (which keeps an octave too low from winning by a hair), refined between
        samples by a parabola. The bass share is the spectrum's energy from 60 Hz up to 0.7 x
        the pitch over its energy from 60 Hz up."""
        r = np.fft.irfft(powers, _FFT_SAMPLES, axis=1)
        lo, hi = self._lag_min, self._lag_max
        energy = r[:, :1]
        valid = energy[:, 0] > 0.0
        rows = len(powers)
        norm = np.zeros((rows, hi + 2 - lo + 1))
        norm[valid] = r[valid, lo - 1 : hi + 2] / energy[valid] / self._window_r[lo - 1 : hi + 2]
        inner = norm[:, 1:-1]
        peaks = (inner >= norm[:, :-2]) & (inner > norm[:, 2:])
        scored = np.where(peaks, inner, -np.inf)
        best = scored.max(axis=1)
        first = np.argmax(peaks & (inner >= 0.9 * best[:, None]), axis=1)
        found = np.isfinite(best)
        index = np.arange(rows)
        left, centre, right = norm[index, first], norm[index, first + 1], norm[index, first + 2]
        curvature = left - 2.0 * centre + right
        safe = np.where(curvature < 0.0, curvature, -1.0)
        shift = np.where(curvature < 0.0, np.clip(0.5 * (left - right) / safe, -0.5, 0.5), 0.0)
        harmonicity = np.where(found, np.clip(centre, 0.0, 1.0), 0.0)
        pitch = np.where(found, ANALYSIS_RATE_HZ / (first + lo + shift), 0.0)
        spectrum = powers[:, self._bass_from : self._spectrum_to]
        cumulative = np.cumsum(spectrum, axis=1)
        total = cumulative[:, -1]
        below = np.clip(
            np.floor(0.7 * pitch / self._bin_hz).astype(int) - self._bass_from,
            0,
            spectrum.shape[1] - 1,
        )
        bass = np.where(total > 0.0, cumulative[index, below] / np.maximum(total, 1e-30), 1.0)
        return harmonicity, pitch, np.where(found, bass, 1.0)

    def _abrupt(self, level: float) -> bool:
        """Whether this frame's level (the last one kept) jumped over the preceding second's."""
        th = self.thresholds
        history = len(self._levels) - 1
        earlier = [
            self._levels[history - back]
            for back in range(self._onset_near, self._onset_far + 1)
            if back <= history
        ]
        reference = th.floor_min_dbfs
        if earlier:
            reference = max(reference, float(np.percentile(earlier, th.onset_percentile)))
        needed_db = th.onset_db if reference < th.noisy_room_dbfs else th.noisy_onset_db
        return level - reference >= needed_db

    def _novel(self, held_level_dbfs: float, since_s: float) -> bool:
        """Whether the held voice is `novelty_db` louder than the voices heard before it or,
        with no voice before, whether a run since `since_s` started abruptly."""
        th = self.thresholds
        earlier = list(self._voices)[: max(0, len(self._voices) - self._voice_near)]
        voiced = [item for item in earlier if item is not None]
        talking = sum(not held for _level, held in voiced) > th.talking_share * len(voiced)
        if len(voiced) >= self._voice_needed and talking:
            levels = [level for level, _held in voiced]
            reference = float(np.percentile(levels, th.voice_percentile))
            return held_level_dbfs - reference >= th.novelty_db
        back = round((self._levels_t_s - since_s) / self._hop_s)
        newest = len(self._levels) - 1 - back
        before = [
            self._levels[newest - k]
            for k in range(self._onset_near, self._onset_far + 1)
            if newest - k >= 0
        ]
        if not before:
            return True
        return held_level_dbfs - float(np.median(before)) >= th.sudden_db

    def _step(self, frame: _Frame) -> Detection | None:
        """One frame through the held window, runs and episode; a detection when a call is
        complete."""
        th = self.thresholds
        t_s = frame.t_s
        end_s = t_s + self._frame_s
        warm = (
            frame.margin_db >= th.margin_db
            and frame.level_dbfs >= th.min_level_dbfs
            and frame.harmonicity >= th.harmonicity_min
            and th.pitch_hold_min_hz <= frame.pitch_hz <= th.pitch_max_hz
            and frame.bass_share <= th.bass_max
        )
        hot = warm and frame.pitch_hz >= th.pitch_min_hz
        previous = self._previous_pitch_hz
        if self._last_hot_s is None or t_s - self._last_hot_s > th.bridge_gap_s + self._hop_s:
            previous = 0.0  # the pitch is compared with the last hot frame's, across a gap
        change = abs(12.0 * math.log2(frame.pitch_hz / previous)) if warm and previous else 99.0
        held = hot and change <= th.steady_semitones
        if warm:
            self._previous_pitch_hz = frame.pitch_hz
        voiced = (
            frame.harmonicity >= _VOICED_REFERENCE_MIN
            and frame.margin_db >= _VOICED_REFERENCE_MARGIN_DB
        )
        self._voices.append((frame.level_dbfs, held) if voiced else None)
        if len(self._held) == self._held.maxlen and self._held[0] is not None:
            self._held_count -= 1
        self._held.append((frame.level_dbfs, change) if held else None)
        self._held_count += held
        gliding = warm and not hot and self._open is not None and self._open.abrupt
        self._track_runs(t_s, end_s, hot, gliding, change <= th.steady_semitones, frame)
        if not self._armed:
            if self._last_hot_s is None or t_s - self._last_hot_s >= th.rearm_quiet_s:
                self._armed = True
                self._runs.clear()
            return None
        if self._held_count >= self._held_needed:
            window = np.asarray([item for item in self._held if item is not None])
            mean_power = float(np.mean(np.power(10.0, window[:, 0] / 10.0)))
            first = next(k for k, item in enumerate(self._held) if item is not None)
            started_s = t_s - (len(self._held) - 1 - first) * self._hop_s
            wobbles = float(np.median(window[:, 1])) >= th.wobble_min_semitones
            if wobbles and self._novel(10.0 * math.log10(mean_power), started_s):
                duration_s = self._held_count * self._hop_s
                return self._detected(end_s, started_s, duration_s, frame)
        while self._runs and self._runs[0].end_s < end_s - th.window_s:
            self._runs.popleft()
        runs = list(self._runs)
        if self._open is not None:
            runs.append(self._open)
        since_s = end_s - th.window_s
        counted = [
            run
            for run in runs
            if run.abrupt
            and run.duration_s >= th.short_run_s
            and run.held >= th.short_held_share * run.frames
            and run.hot >= th.short_hot_share * run.frames
            and run.margin_db_sum >= th.short_margin_db * run.frames
        ]
        total_s = sum(min(run.duration_s, run.end_s - since_s) for run in counted)
        if len(counted) >= th.short_runs and total_s >= th.short_sustained_s:
            return self._detected(end_s, counted[0].start_s, total_s, frame)
        return None

    def _track_runs(
        self, t_s: float, end_s: float, hot: bool, gliding: bool, steady: bool, frame: _Frame
    ) -> None:
        th = self.thresholds
        bridged = t_s - (self._last_hot_s or t_s) <= th.bridge_gap_s + self._hop_s
        if hot or gliding:
            run = self._open
            if run is None or not bridged:
                self._close_run()
                run = self._open = _Run(t_s, end_s, abrupt=self._abrupt(frame.level_dbfs))
            run.end_s = end_s
            run.frames += 1
            run.hot += hot
            run.held += steady
            run.margin_db_sum += frame.margin_db
            self._last_hot_s = t_s
        elif self._open is not None and not bridged:
            self._close_run()

    def _detected(
        self, end_s: float, started_s: float, duration_s: float, frame: _Frame
    ) -> Detection:
        th = self.thresholds
        self._armed = False
        confidence = 0.4 + 0.2 * (
            _unit((frame.margin_db - th.margin_db) / 20.0)
            + _unit((frame.harmonicity - th.harmonicity_min) / (1.0 - th.harmonicity_min))
            + _unit(duration_s / th.held_window_s)
        )
        return Detection(
            kind=AlertKind.CALL_FOR_HELP,
            confidence=round(confidence, 3),
            at_s=end_s,
            event_at_s=started_s,
            detail=f"cri {duration_s:.1f} s",
        )

    def _close_run(self) -> None:
        run, self._open = self._open, None
        if run is not None and run.duration_s >= self.thresholds.short_run_s:
            self._runs.append(run)


def _unit(x: float) -> float:
    return min(1.0, max(0.0, x))


def _checked(samples: object, t_s: float) -> NDArray[np.float64]:
    if not isinstance(samples, np.ndarray):
        raise SoundInputError(f"samples must be a numpy array, not {type(samples).__name__}")
    if samples.ndim != 1:
        raise SoundInputError(f"samples must be mono (1-D), not of shape {samples.shape}")
    if not np.issubdtype(samples.dtype, np.floating):
        raise SoundInputError(f"samples must be floating point -1..1, not {samples.dtype}")
    try:
        finite = math.isfinite(float(t_s))
    except (TypeError, ValueError):
        finite = False
    if not finite:
        raise SoundInputError(f"t_s must be a finite number of seconds, not {t_s!r}")
    block = np.nan_to_num(samples.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    return np.clip(block, -1.0, 1.0)
