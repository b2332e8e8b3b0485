"""Calls for help heard by the cabin's microphone: shouting and screaming, processed locally.

What it detects: **sustained loud voiced sound**, the acoustic shape of a shout ("au secours !",
"à l'aide !", "help!" shouted, with their drawn-out vowels) or of a scream. A 40 ms frame every
20 ms is *hot* when it is at once

- loud: its level is `margin_db` above the cabin's running noise floor (a low percentile of the
  last `floor_window_s` of frame levels, never taken below `floor_min_dbfs`) and at least
  `min_level_dbfs` in absolute terms; the microphone's gain is unknown, so the margin over the
  floor is what matters, the absolute level only keeps a muted or far microphone quiet;
- voiced: periodic, with a normalised autocorrelation peak of at least `harmonicity_min`;
- high: its pitch between `pitch_min_hz` and `pitch_max_hz` (a shouting or screaming voice; a
  talking voice is lower).

Hot frames close together (gaps up to `bridge_gap_s`) make a run; a run shorter than
`min_run_s` is a syllable of speech and does not count. When the runs within the last
`window_s` add up to `sustained_s` (one long scream, or a couple of shouted words), one
`Detection` of `AlertKind.CALL_FOR_HELP` is emitted for the episode, provided one of the runs
started abruptly (`onset_db` over the preceding second: music fading in does not); at least
`short_runs` abrupt runs of `short_run_s` adding up to `short_sustained_s` do too (a double
"Heeelp!"), an abrupt run being held through frames down to `pitch_hold_min_hz` (a shouted
vowel gliding down; those frames do not count towards `sustained_s`). The next one can only come
after `rearm_quiet_s` without a hot frame. Its confidence grows with the level's margin over
the threshold, the voicing's strength and the duration beyond `sustained_s`.

What it does not detect, by design: normal or raised speech (syllable-long voiced runs at a
talking pitch), coughs, sneezes, a door slam, knocking (loud but unvoiced or short), steady
background (fan, street, a television, music that plays on: it raises the floor itself), the
doctor's voice on the cabin's speaker at a normal level. It does not understand words: a calm
"help" said at a normal voice is not a call for help here (see SOUND.md for keyword spotting),
and a groan or a weak voice that never rises above the floor is not heard. Loud music or a
recording of shouting that starts abruptly would be taken for a call.

Privacy: the analyser keeps only frame levels (the floor's window), the open run's figures and
less than one frame of samples between blocks; it writes nothing, sends nothing, logs nothing.
"""

from __future__ import annotations

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
_HIGHEST_PITCH_SEARCHED_HZ: Final = 2000.0  # ... and up to this one
_DISCONTINUITY_S: Final = 0.1  # a block this far from where the previous one ended restarts framing
_SILENCE_POWER: Final = 1e-12  # added to a frame's mean square: -120 dBFS, no log of zero


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
    margin_db: float = 25.0
    """A hot frame is at least this much (dB) above the running floor ..."""
    min_level_dbfs: float = -40.0
    """... and at least this loud in absolute terms (dBFS)."""
    harmonicity_min: float = 0.6
    """A hot frame is voiced: the normalised autocorrelation's peak (0..1) is at least this."""
    pitch_min_hz: float = 250.0
    """A hot frame's pitch is at least this (Hz): a talking voice is mostly lower ..."""
    pitch_max_hz: float = 1800.0
    """... and at most this (Hz): a scream's fundamental rarely goes higher."""
    bridge_gap_s: float = 0.06
    """Hot frames no further apart than this (s) belong to one run (a consonant, a breath)."""
    min_run_s: float = 0.25
    """A run shorter than this (s) is a syllable and does not count towards a call."""
    window_s: float = 4.0
    """Runs are added up over the last this many seconds ..."""
    sustained_s: float = 0.8
    """... and a call for help is heard when they add up to this (s)."""
    rearm_quiet_s: float = 3.0
    """After a detection, the next one needs this long (s) without a hot frame first."""
    onset_db: float = 20.0
    """A run starts *abruptly* when its first frame is at least this much (dB) above the
    `onset_percentile` of the levels from `onset_lookback_s` to `onset_rise_s` before it: a
    call starts at once, music fading in rises over seconds. Every call needs an abrupt run."""
    onset_percentile: float = 20.0
    """... this percentile (0..100) of the preceding levels (a pause in them is enough) ..."""
    onset_lookback_s: float = 1.15
    """... over the levels from this long (s) before the run's first frame ..."""
    onset_rise_s: float = 0.15
    """... up to this long (s) before it: the rise has to happen within this time."""
    pitch_hold_min_hz: float = 230.0
    """An abrupt run goes on through loud voiced frames down to this pitch (Hz): a shouted
    vowel glides down as it ends; only `pitch_min_hz` can start a run."""
    short_run_s: float = 0.25
    """An abrupt run this long (s) counts towards a call of short shouts ..."""
    short_runs: int = 2
    """... when at least this many abrupt runs within `window_s` ..."""
    short_sustained_s: float = 0.55
    """... add up to this (s): two short "Heeelp!" in a row."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.floor_percentile <= 100.0:
            raise ValueError("floor_percentile is a percentile: 0..100")
        if not 0.0 < self.harmonicity_min < 1.0:
            raise ValueError("harmonicity_min is a correlation: strictly between 0 and 1")
        if not (_LOWEST_PITCH_SEARCHED_HZ <= self.pitch_min_hz < self.pitch_max_hz):
            raise ValueError(f"pitch range must be within {_LOWEST_PITCH_SEARCHED_HZ:g} Hz and up")
        if not _LOWEST_PITCH_SEARCHED_HZ <= self.pitch_hold_min_hz <= self.pitch_min_hz:
            raise ValueError("pitch_hold_min_hz must be within the search range, <= pitch_min_hz")
        if self.pitch_max_hz > _HIGHEST_PITCH_SEARCHED_HZ:
            raise ValueError(f"pitch_max_hz is at most {_HIGHEST_PITCH_SEARCHED_HZ:g} Hz")
        if not 0.0 <= self.onset_percentile <= 100.0:
            raise ValueError("onset_percentile is a percentile: 0..100")
        if not 0.0 <= self.onset_rise_s < self.onset_lookback_s:
            raise ValueError("onset_rise_s must be within 0..onset_lookback_s")
        names = ("floor_window_s", "window_s", "sustained_s", "min_run_s", "short_run_s")
        for name in (*names, "short_sustained_s"):
            if getattr(self, name) <= 0.0:
                raise ValueError(f"{name} must be positive")
        if max(self.sustained_s, self.short_sustained_s) > self.window_s:
            raise ValueError("sustained_s and short_sustained_s cannot exceed window_s")
        if self.short_runs < 1:
            raise ValueError("short_runs must be at least 1")


@dataclass(slots=True)
class _Run:
    """Consecutive hot frames (gaps bridged): when, and the sums for the confidence."""

    start_s: float
    end_s: float
    hot_end_s: float
    """The end of its last frame within `pitch_min_hz` (`end_s` may go on, held lower)."""
    abrupt: bool = False
    frames: int = 0
    margin_db_sum: float = 0.0
    harmonicity_sum: float = 0.0

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s

    @property
    def hot_duration_s(self) -> float:
        return self.hot_end_s - self.start_s


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
        floor_frames = max(1, round(th.floor_window_s / self._hop_s))
        self._onset_far = round(th.onset_lookback_s / self._hop_s)
        self._onset_near = round(th.onset_rise_s / self._hop_s)
        self._levels: deque[float] = deque(maxlen=max(floor_frames, self._onset_far + 1))
        self._floor_frames = floor_frames
        self._framing = _Framing()
        self._runs: deque[_Run] = deque()
        self._open: _Run | None = None
        self._last_hot_s: float | None = None
        self._armed = True

    def reset(self) -> None:
        """A new session: forget runs and episodes, keep the cabin's noise floor."""
        self._framing = _Framing()
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
        harmonicity = np.zeros(len(frames))
        pitch_hz = np.zeros(len(frames))
        candidates = np.flatnonzero(levels >= th.min_level_dbfs)
        if candidates.size:
            harmonicity[candidates], pitch_hz[candidates] = self._voicing(frames[candidates])
        detections: list[Detection] = []
        for level_raw, h_raw, p_raw, t in zip(levels, harmonicity, pitch_hz, times, strict=True):
            level, h, p = float(level_raw), float(h_raw), float(p_raw)
            self._levels.append(level)
            recent = np.fromiter(self._levels, float)[-self._floor_frames :]
            floor = max(float(np.percentile(recent, th.floor_percentile)), th.floor_min_dbfs)
            margin = level - floor
            warm = (
                margin >= th.margin_db
                and level >= th.min_level_dbfs
                and h >= th.harmonicity_min
                and th.pitch_hold_min_hz <= p <= th.pitch_max_hz
            )
            hot = warm and p >= th.pitch_min_hz
            detection = self._step(float(t), hot, warm, level, margin - th.margin_db, h)
            if detection is not None:
                detections.append(detection)
        return detections

    def _voicing(
        self, frames: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Harmonicity (0..1) and pitch (Hz) of each frame, from its normalised autocorrelation.

        The windowed frame's autocorrelation is divided by the window's own, so that a periodic
        sound peaks near 1 at its period; the period is the first local maximum within 90 % of
        the highest one (which keeps an octave too low from winning by a hair)."""
        spectrum = np.fft.rfft(frames * self._window, _FFT_SAMPLES, axis=1)
        r = np.fft.irfft(spectrum.real**2 + spectrum.imag**2, _FFT_SAMPLES, axis=1)
        lo, hi = self._lag_min, self._lag_max
        energy = r[:, :1]
        valid = energy[:, 0] > 0.0
        norm = np.zeros((len(frames), hi + 2 - lo + 1))
        norm[valid] = r[valid, lo - 1 : hi + 2] / energy[valid] / self._window_r[lo - 1 : hi + 2]
        inner = norm[:, 1:-1]
        peaks = (inner >= norm[:, :-2]) & (inner > norm[:, 2:])
        scored = np.where(peaks, inner, -np.inf)
        best = scored.max(axis=1)
        first = np.argmax(peaks & (inner >= 0.9 * best[:, None]), axis=1)
        found = np.isfinite(best)
        harmonicity = np.where(found, np.clip(inner[np.arange(len(frames)), first], 0.0, 1.0), 0.0)
        pitch = np.where(found, ANALYSIS_RATE_HZ / (first + lo), 0.0)
        return harmonicity, pitch

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
        return level - reference >= th.onset_db

    def _step(
        self,
        t_s: float,
        hot: bool,
        warm: bool,
        level: float,
        excess_db: float,
        harmonicity: float,
    ) -> Detection | None:
        """One frame through runs, window and episode; a detection when a call is complete."""
        th = self.thresholds
        end_s = t_s + self._frame_s
        bridged = t_s - (self._last_hot_s or t_s) <= th.bridge_gap_s + self._hop_s
        held = warm and not hot and self._open is not None and self._open.abrupt and bridged
        if hot or held:  # held: a shouted vowel gliding down below pitch_min_hz
            run = self._open
            if run is None or not bridged:
                self._close_run()
                run = self._open = _Run(t_s, end_s, end_s, abrupt=self._abrupt(level))
            run.end_s = end_s
            if hot:
                run.hot_end_s = end_s
            run.frames += 1
            run.margin_db_sum += excess_db
            run.harmonicity_sum += harmonicity
            self._last_hot_s = t_s
        elif self._open is not None and not bridged:
            self._close_run()
        if not self._armed:
            if self._last_hot_s is None or t_s - self._last_hot_s >= th.rearm_quiet_s:
                self._armed = True
                self._runs.clear()
            return None
        while self._runs and self._runs[0].end_s < end_s - th.window_s:
            self._runs.popleft()
        runs = list(self._runs)
        if self._open is not None:
            runs.append(self._open)
        since_s = end_s - th.window_s
        counted = [run for run in runs if run.hot_duration_s >= th.min_run_s]
        total_s = sum(min(run.hot_duration_s, run.hot_end_s - since_s) for run in counted)
        if total_s < th.sustained_s or not any(run.abrupt for run in counted):
            counted = [run for run in runs if run.abrupt and run.duration_s >= th.short_run_s]
            total_s = sum(min(run.duration_s, run.end_s - since_s) for run in counted)
            if len(counted) < th.short_runs or total_s < th.short_sustained_s:
                return None
        self._armed = False
        frames = sum(run.frames for run in counted)
        excess = sum(run.margin_db_sum for run in counted) / frames
        voicing = sum(run.harmonicity_sum for run in counted) / frames
        confidence = 0.4 + 0.2 * (
            _unit(excess / 15.0)
            + _unit((voicing - th.harmonicity_min) / (1.0 - th.harmonicity_min))
            + _unit((total_s - th.sustained_s) / th.sustained_s)
        )
        return Detection(
            kind=AlertKind.CALL_FOR_HELP,
            confidence=round(confidence, 3),
            at_s=end_s,
            event_at_s=counted[0].start_s,
            detail=f"cri {total_s:.1f} s",
        )

    def _close_run(self) -> None:
        th = self.thresholds
        run, self._open = self._open, None
        shortest_s = min(th.min_run_s, th.short_run_s)
        if run is not None and run.duration_s >= shortest_s:
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
