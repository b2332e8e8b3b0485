"""The doctor's voice taken out of what the cabin's microphone hears, before it is analysed.

During a call the cabin's speaker plays the doctor (the *far end*), and the microphone hears it
back, delayed and coloured by the room. The sound analyser must not take a doctor who shouts, or a
scream on the doctor's side, for a call for help in the cabin; and it must still hear the patient
who screams while the doctor talks (*double talk*). The far end is known exactly: it is what the
cabin gives its speaker (`kiosk.call.media.PlayedSound` keeps the last seconds of it, in memory,
on the monotonic clock). `EchoCanceller` subtracts its echo from each block of microphone sound:

1. **Delay.** Between the instant a sound is handed to the speaker (ALSA and `aplay` buffering)
   and the instant the microphone block holding its echo is labelled lie 20 to 1000 ms, unknown
   and drifting. It is measured by GCC-PHAT (the phase of the cross-spectrum of the microphone
   and the far end, smoothed over the last second or so of far-end activity; its peak is the
   delay of the direct path) every `delay_every_s` while both the far end and the microphone
   are well above silence; the phase weighting is softened (PHAT-beta), so that a band the far
   end does not reach (a narrowband call) adds little noise. A new delay is taken when three
   measurements in a row agree on it, away from the ends of the range searched, with a peak
   twice the one at the current delay. The adaptive filter keeps its taps, which model the
   room from the direct path on (a path that only moved costs no relearning), unless its
   strongest tap already sits at the new delay (it learnt the room before the delay was
   known): the taps are then shifted to keep it there. The microphone and the speaker may run
   on two clocks (a webcam's microphone, the sound card's output: up to 100 ppm apart, the
   delay moving by 0.36 s an hour): a line is fitted to the last 20 s of measurements, each
   refined to a fraction of a sample, and the delay it gives is followed block by block, its
   whole samples by the filter's position, its fraction by delaying the far end with a short
   windowed sinc. Without that, a drift of 100 ppm left 20 dB of ERLE instead of 60.
2. **The room.** A partitioned-block frequency-domain adaptive filter (PBFDAF, the structure of
   Speex's MDF and WebRTC's AEC3: blocks of 256 samples, overlap-save, constrained gradient,
   proportionate step across the partitions) models `filter_s` of room response starting
   `guard_s` before the measured delay, and its estimate of the echo is subtracted.
3. **Double talk.** The step of the filter is not frozen by a threshold: it is set, each block
   and each frequency, to the estimated ratio of *residual echo* to *error* (J.-M. Valin, "On
   adjusting the learning rate in frequency domain echo cancellation with double-talk", IEEE
   TASLP 2007). The residual echo is the echo estimate's spectrum times a *leakage* learnt from
   the correlation between the error's and the estimate's power spectra. When the patient
   speaks, the error is mostly the patient and the step becomes small: the filter is not
   dragged off by the patient's voice, yet it keeps adapting to a moving echo path. The same
   ratio counts the blocks of double talk (`double_talk_blocks`). A filter that makes a block
   louder than the microphone itself is not used for that block, and reset when it persists.
4. **Residual echo.** What the filter leaves (reverberation beyond its length, a change of the
   path not yet learnt, frequencies the far end had not reached before: a scream's high
   harmonics after speech) is attenuated per frequency, with 50 %-overlapping sqrt-Hann
   frames, by the smaller of two gains, floored at `suppression_floor_db`: ``1 - overestimate
   x residual / error`` (the leakage times the echo estimate: what the filter knows it misses),
   and ``1 - coherence / 0.6``, the coherence (over about 100 ms) between the microphone and
   the far end aligned with the direct path, 0.6 being about what a reverberant echo keeps of
   it: this one does not depend on what the filter has learnt. Where the patient is much
   louder than the echo both gains are near 1: the patient's voice comes out at its level.
   Last, a frame that all this took more than 15 dB under the microphone is the far end's
   echo alone: what is left of it is attenuated by the excess (up to 30 dB more), so that a
   loud far end leaves no voiced residue for the analyser above the room's noise. A frame
   where the patient speaks is not taken that far down, and keeps its level.

When the far end has been silent over the whole span the filter covers (no call, the doctor
quiet, muted), the microphone is passed through as it is, with the same latency: a copy per
block. The output lags the input by `latency_s` (2 blocks, 32 ms): the caller labels it so.

What it does not do: in the first second of far-end sound, before the delay is measured,
most of the echo is left (a scream played by the far end then is heard as the microphone hears
it; from 1.5 s on it is not); a microphone driven into clipping by the speaker (the echo within
3 dB of full scale) makes the echo non-linear, and a far-end scream that loud can still come
through; a delay beyond `max_delay_s` is not found; a far end that is not what the speaker
plays (a volume knob after the tap, an external speaker) is only partly cancelled: the filter
follows a gain change, the suppression a change of the room.

Cost (`python -m bench.bench_echo`): 28 to 40 ms of CPU per second of sound while the far end
plays (3 to 4 % of a core; the sound analyser itself takes about 20), 0.6 ms when it is silent.

Privacy: it keeps a few hundred milliseconds of microphone samples (the filter's blocks and the
delay measurement's window) and the filter itself, in memory; it writes and sends nothing.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Final, Protocol

import numpy as np
from numpy.typing import NDArray

RATE_HZ: Final = 16_000
"""The rate of the microphone blocks and of the far end (mono float, -1..1)."""

BLOCK: Final = 256  # 16 ms: the filter's block and partition
_FFT: Final = 2 * BLOCK
_LATENCY_BLOCKS: Final = 2  # the overlap-add of the suppression, and the block being filled
_TINY: Final = 1e-12
_MIN_LEAK: Final = 0.005
_NOISE_RISE: Final = 10 ** (0.5 / 10 * BLOCK / RATE_HZ)
_COHERENCE_SMOOTHING: Final = 0.85  # per block: about 100 ms of spectra
_ECHO_COHERENCE: Final = 0.6  # an echo's coherence with the direct path, its reverberation included
_ECHO_ONLY_FROM_DB: Final = 15.0  # a frame taken this far below the microphone is echo only:
_ECHO_ONLY_MAX_DB: Final = 30.0  # its rest is attenuated by the excess, up to this
_GCC_WINDOW: Final = 4096  # 256 ms of microphone per delay measurement
_PHAT_BETA: Final = 0.8
_EDGE: Final = 16  # lags this close to the ends of the range searched are artefacts
_CONFIRMATIONS: Final = 3
_DRIFT: Final = 16  # samples: a change this small is the clocks' drift (1 ms)
_DRIFT_WINDOW_S: Final = 20.0
_MAX_DRIFT: Final = 500e-6  # samples per sample: 500 ppm, beyond any two clocks' difference
_FRACTION_TAPS: Final = 32
_GCC_LOW_HZ: Final = 150.0
_GCC_HIGH_HZ: Final = 6000.0


class FarEnd(Protocol):
    """What the cabin's speaker was given: `read(start_s, count)` returns ``count`` samples at
    `RATE_HZ` from the monotonic instant ``start_s`` (zeros where nothing was played)."""

    def read(self, start_s: float, count: int) -> NDArray[np.float32]: ...


@dataclass(frozen=True, slots=True)
class EchoSettings:
    """How the echo is looked for and taken out (see the module's docstring)."""

    max_delay_s: float = 1.0
    """The longest delay looked for, speaker hand-off to microphone label (`aplay` alone starts
    playing once its buffer of 0.5 s is full)."""
    filter_s: float = 0.256
    """The length of room response modelled (a whole number of 16 ms blocks)."""
    guard_s: float = 0.032
    """How long before the measured delay the filter starts (the delay may move meanwhile)."""
    initial_delay_s: float = 0.1
    """The delay assumed until the first measurement."""
    quiet_dbfs: float = -70.0
    """A far end below this level over the filter's span is silence: pass-through."""
    delay_every_s: float = 0.128
    """How often the delay is measured while the far end plays."""
    delay_confidence: float = 0.12
    """The height of the GCC-PHAT peak (1: a pure delay) under which a measurement is ignored."""
    suppression_floor_db: float = -25.0
    overestimate: float = 2.0
    """The residual echo is taken this many times as loud as estimated before the gain."""

    @property
    def partitions(self) -> int:
        return max(1, round(self.filter_s * RATE_HZ / BLOCK))

    @property
    def history_samples(self) -> int:
        """How much far end before a microphone block `EchoCanceller.process` needs."""
        max_delay = round(self.max_delay_s * RATE_HZ)
        return max(max_delay + (self.partitions + 4) * BLOCK, max_delay + 2 * _GCC_WINDOW)


class EchoCanceller:
    """Takes the far end's echo out of a stream of microphone blocks (see the module docstring).

    `process(mic, far)`: ``mic`` the next block of the microphone (any length), ``far`` the far
    end over the same span preceded by `history_samples` samples (what the speaker was given
    from `history_samples` before the block's first sample to its end, on the same clock).
    Returns as many samples as ``mic``, the stream's output `latency_s` later: the returned
    block starts `latency_s` before ``mic`` does.
    """

    def __init__(self, settings: EchoSettings | None = None) -> None:
        self.settings = st = settings or EchoSettings()
        self.history_samples = st.history_samples
        self.latency_s = _LATENCY_BLOCKS * BLOCK / RATE_HZ
        self._parts = st.partitions
        self._max_delay = round(st.max_delay_s * RATE_HZ)
        self._guard = round(st.guard_s * RATE_HZ)
        self._quiet = 10 ** (st.quiet_dbfs / 20)
        self._floor = 10 ** (st.suppression_floor_db / 20)
        self._window = np.sqrt(np.hanning(_FFT + 1)[:_FFT])  # periodic: its squares add to 1
        self._gcc_every = max(1, round(st.delay_every_s * RATE_HZ / BLOCK))
        self._gcc_fft = 1 << math.ceil(math.log2(2 * _GCC_WINDOW + self._max_delay))
        freqs = np.fft.rfftfreq(self._gcc_fft, 1 / RATE_HZ)
        self._gcc_band = (freqs >= _GCC_LOW_HZ) & (freqs <= _GCC_HIGH_HZ)
        self.delay_samples = round(st.initial_delay_s * RATE_HZ)
        self.delay_changes = 0
        self.blocks = 0
        self.active_blocks = 0
        self.double_talk_blocks = 0
        self._mic_pending = np.zeros(0)
        self._received = 0  # microphone samples received: the stream's clock
        self._out = np.zeros(BLOCK, np.float32)  # output not yet returned (one block primed)
        self._mic_history = np.zeros(_GCC_WINDOW)
        self._prev_error = np.zeros(BLOCK)
        self._prev_estimate = np.zeros(BLOCK)
        self._ola_tail = np.zeros(BLOCK)
        self._active = False
        self._noise = 0.0
        self._candidate: int | None = None
        self._confirmed = 0
        self._measured: deque[tuple[float, float]] = deque()  # (stream sample, delay)
        self._drift: tuple[float, float, float] | None = None  # (at, delay there, slope)
        self._fraction = 0.0  # of a sample, added to the whole delay by the drift's line
        self._far_power = np.zeros(BLOCK + 1)  # the far end's, kept when the filter is reset
        self._reset_filter()
        self._cross = np.zeros(self._gcc_fft // 2 + 1, complex)

    @property
    def converged(self) -> bool:
        """The filter has adapted enough to be trusted (the step is then set by its leakage)."""
        return self._adapted

    def _reset_filter(self) -> None:
        self._weights = np.zeros((self._parts, BLOCK + 1), complex)
        self._sdd = np.zeros(BLOCK + 1)
        self._sxx = np.zeros(BLOCK + 1)
        self._sxd = np.zeros(BLOCK + 1, complex)
        self._err_smooth = np.zeros(BLOCK + 1)
        self._est_smooth = np.zeros(BLOCK + 1)
        self._pey = 0.0
        self._pyy = 0.0
        self._leak = 1.0
        self._sum_adapt = 0.0
        self._adapted = False
        self._diverging = 0

    @property
    def _bulk(self) -> int:
        return max(0, self.delay_samples - self._guard)

    # --- the stream -------------------------------------------------------------------------

    def process(self, mic: NDArray[np.floating], far: NDArray[np.floating]) -> NDArray[np.float32]:
        mic = np.asarray(mic, np.float64).reshape(-1)
        far = np.asarray(far, np.float64).reshape(-1)
        if far.size != mic.size + self.history_samples:
            raise ValueError(
                f"the far end must cover the block and {self.history_samples} samples before it"
            )
        start = self._received - self._mic_pending.size  # stream index of the first frame
        far_origin = self._received - self.history_samples  # stream index of far[0]
        buffered = np.concatenate((self._mic_pending, mic))
        self._received += mic.size
        frames = buffered.size // BLOCK
        # Silent far end over all the filter and the delay measurement can reach: pass-through.
        active = bool(far.size) and float(np.max(np.abs(far))) > self._quiet
        if active:
            self._follow_drift()
        shifted = _delayed(far, self._fraction) if active and self._fraction else far
        outputs: list[NDArray[np.floating]] = [self._out]
        for k in range(frames):
            block = buffered[k * BLOCK : (k + 1) * BLOCK]
            at = start + k * BLOCK
            if active:
                outputs.append(self._frame(block, far, shifted, at - far_origin))
            else:
                outputs.append(self._pass(block))
        self._mic_pending = buffered[frames * BLOCK :].copy()
        self._active = active
        out = np.concatenate(outputs).astype(np.float32, copy=False)
        self._out = out[mic.size :]
        return out[: mic.size]

    def _pass(self, block: NDArray[np.float64]) -> NDArray[np.float64]:
        """A block with no far end: out as it came, one block later (as the overlap-add)."""
        self.blocks += 1
        out = self._prev_error
        self._prev_error = block
        self._prev_estimate = np.zeros(BLOCK)
        self._ola_tail = block * self._window[BLOCK:] ** 2  # what a gain of 1 would leave
        self._remember_mic(block)
        return out

    def _remember_mic(self, block: NDArray[np.float64]) -> None:
        self._mic_history = np.concatenate((self._mic_history[BLOCK:], block))

    # --- one block with the far end playing --------------------------------------------------

    def _frame(
        self,
        y: NDArray[np.float64],
        far: NDArray[np.float64],
        shifted: NDArray[np.float64],
        at: int,
    ) -> NDArray[np.float64]:
        """``y``: 256 microphone samples; ``at``: the index in ``far`` of its first sample;
        ``shifted``: ``far`` delayed by the fraction of a sample the drift adds."""
        self.blocks += 1
        self.active_blocks += 1
        self._remember_mic(y)
        if self.blocks % self._gcc_every == 0:
            self._measure_delay(far, at + BLOCK)
        parts = self._parts
        # The far end as the filter sees it, moved by the bulk delay: partition p holds the
        # two blocks ending p blocks before the microphone block's end.
        base = at - self._bulk
        rows = base - BLOCK - np.arange(parts)[:, None] * BLOCK + np.arange(_FFT)[None, :]
        segments = shifted[np.clip(rows, 0, far.size - 1)] * (rows >= 0)
        spectra = np.fft.rfft(segments, axis=1)
        estimate = np.fft.irfft(np.sum(self._weights * spectra, axis=0))[BLOCK:]
        error = y - estimate
        aligned = segments[0, BLOCK:]
        sxx = float(aligned @ aligned)
        see = float(error @ error)
        syy = float(estimate @ estimate)
        sey = float(error @ estimate)
        sdd = float(y @ y)
        e_spec = np.fft.rfft(np.concatenate((np.zeros(BLOCK), error)))
        y_spec = np.fft.rfft(np.concatenate((np.zeros(BLOCK), estimate)))
        rf = e_spec.real**2 + e_spec.imag**2
        yf = y_spec.real**2 + y_spec.imag**2
        x0 = spectra[0]
        # The far end's power per frequency, the step's scale: never far under the block's
        # own (a filter learning from a far end louder than its scale blows up).
        x0_power = x0.real**2 + x0.imag**2
        self._far_power = np.maximum(
            (1 - 0.35 / parts) * self._far_power + 0.35 / parts * x0_power, 0.1 * x0_power
        )
        self._learn_leak(rf, yf, see, syy)
        rer = (1e-4 * sxx + 3 * self._leak * syy) / (see + _TINY)
        rer = min(0.5, max(rer, sey * sey / (see * syy + _TINY)))
        far_playing = sxx > BLOCK * self._quiet**2
        # The error's floor (the room's noise): down at once, up by 0.5 dB a second.
        self._noise = min(see, self._noise * _NOISE_RISE) if self._noise > 0 else see
        if far_playing and self._adapted and see > 4 * self._noise and rer < 0.1:
            self.double_talk_blocks += 1  # the error is mostly neither echo nor noise
        step = self._step(rf, yf, rer, sxx if far_playing else 0.0, see)
        self._adapt(spectra, e_spec, step)
        # A filter that adds to the microphone is not trusted for this block (reset if it lasts).
        if see > sdd + BLOCK * self._quiet**2:
            self._diverging += 1
            error, estimate = y, np.zeros(BLOCK)
            if self._diverging >= 50:
                self._reset_filter()
        else:
            self._diverging = 0
        # The far end aligned with the direct path, over the suppression's frame.
        first = base - self._guard - BLOCK
        direct = shifted[max(0, first) : first + _FFT]
        direct = np.concatenate((np.zeros(_FFT - direct.size), direct))
        return self._suppress(error, estimate, direct, far_playing)

    def _step(
        self, rf: NDArray[np.float64], yf: NDArray[np.float64], rer: float, sxx: float, see: float
    ) -> NDArray[np.float64]:
        """The step, per frequency: residual echo / error once adapted; before, a cautious
        fixed one, smaller when the error is larger than the far end (someone speaks)."""
        regularised = self._far_power + BLOCK * self._quiet**2
        if self._adapted:
            e = rf + BLOCK * _TINY
            r = np.minimum(self._leak * yf, 0.5 * e)
            r = 0.7 * r + 0.3 * rer * e
            step: NDArray[np.float64] = r / (e * regularised)
            return step
        rate = 0.25 * min(sxx, see) / (see + _TINY)
        self._sum_adapt += rate
        if self._sum_adapt > self._parts and self._leak > 0.03:
            self._adapted = True
        return rate / regularised

    def _learn_leak(
        self, rf: NDArray[np.float64], yf: NDArray[np.float64], see: float, syy: float
    ) -> None:
        """How much of the echo estimate's power is left in the error (Valin 2007)."""
        spec_average = BLOCK / RATE_HZ
        de = rf - self._err_smooth
        dy = yf - self._est_smooth
        pey = float(de @ dy)
        pyy = math.sqrt(float(dy @ dy))
        pey /= pyy + _TINY
        self._err_smooth = (1 - spec_average) * self._err_smooth + spec_average * rf
        self._est_smooth = (1 - spec_average) * self._est_smooth + spec_average * yf
        alpha = min(2 * spec_average * syy / (see + _TINY), 0.5 * spec_average)
        self._pey = (1 - alpha) * self._pey + alpha * pey
        self._pyy = max((1 - alpha) * self._pyy + alpha * pyy, _TINY)
        self._pey = min(max(self._pey, _MIN_LEAK * self._pyy), self._pyy)
        leak = self._pey / self._pyy
        self._leak = 1.0 if leak > 0.5 else leak

    def _adapt(
        self,
        spectra: NDArray[np.complex128],
        error: NDArray[np.complex128],
        step: NDArray[np.float64],
    ) -> None:
        """Constrained, proportionate gradient step on every partition."""
        weights = self._weights
        energy = 1 + np.sum(weights.real**2 + weights.imag**2, axis=1)
        prop = np.sqrt(energy)
        prop = 0.1 * prop.max() + prop
        prop = 0.99 * prop / prop.sum()
        gradient = np.conj(spectra) * (error * step)[None, :] * prop[:, None]
        taps = np.fft.irfft(gradient, axis=1)
        taps[:, BLOCK:] = 0  # the constraint: a linear, not circular, convolution
        self._weights = weights + np.fft.rfft(taps, axis=1)

    def _suppress(
        self,
        error: NDArray[np.float64],
        estimate: NDArray[np.float64],
        direct: NDArray[np.float64],
        far_playing: bool,
    ) -> NDArray[np.float64]:
        """Attenuate what is left of the echo; returns the previous block, finished.

        Two estimates of it, the larger attenuation taken per frequency: the leakage times the
        echo estimate (what the filter knows it misses), and the coherence between the
        microphone and the far end aligned with the direct path (what is still the far end's
        sound where the filter has not learnt: a scream's high harmonics after speech had
        none there). Neither touches a frequency where the patient is much louder than the
        echo."""
        window = self._window
        e_spec = np.fft.rfft(np.concatenate((self._prev_error, error)) * window)
        y_spec = np.fft.rfft(np.concatenate((self._prev_estimate, estimate)) * window)
        d_spec = np.fft.rfft(self._mic_history[-_FFT:] * window)
        x_spec = np.fft.rfft(direct * window)
        smooth = _COHERENCE_SMOOTHING
        self._sdd = smooth * self._sdd + (1 - smooth) * (d_spec.real**2 + d_spec.imag**2)
        self._sxx = smooth * self._sxx + (1 - smooth) * (x_spec.real**2 + x_spec.imag**2)
        self._sxd = smooth * self._sxd + (1 - smooth) * np.conj(x_spec) * d_spec
        coherence = (self._sxd.real**2 + self._sxd.imag**2) / (self._sdd * self._sxx + _TINY)
        residual = self._leak * (y_spec.real**2 + y_spec.imag**2)
        power = e_spec.real**2 + e_spec.imag**2 + _TINY
        gain = np.maximum(self._floor, 1 - self.settings.overestimate * residual / power)
        gain = np.maximum(self._floor, np.minimum(gain, 1 - coherence / _ECHO_COHERENCE))
        out_spec = e_spec * gain
        if far_playing:
            # A frame the filter and the gains took far below the microphone is the far
            # end's echo and nothing else: what is left of it is taken further down.
            kept = float(np.sum(out_spec.real**2 + out_spec.imag**2))
            heard = float(np.sum(d_spec.real**2 + d_spec.imag**2))
            removed_db = 10 * math.log10((heard + _TINY) / (kept + _TINY))
            extra_db = min(_ECHO_ONLY_MAX_DB, max(0.0, removed_db - _ECHO_ONLY_FROM_DB))
            out_spec = out_spec * 10 ** (-extra_db / 20)
        frame = np.fft.irfft(out_spec) * window
        out = self._ola_tail + frame[:BLOCK]
        self._ola_tail = frame[BLOCK:]
        self._prev_error = error
        self._prev_estimate = estimate
        return out

    # --- the delay ---------------------------------------------------------------------------

    def _measure_delay(self, far: NDArray[np.float64], end: int) -> None:
        """GCC-PHAT between the microphone's last `_GCC_WINDOW` samples (ending at ``end`` in
        ``far``'s indices) and the far end up to `max_delay_s` before them.

        Only where both are well above silence (the far end 20 dB over `quiet_dbfs`, the
        microphone 10 dB over the error's floor); the phase weighting is softened (PHAT-beta):
        a band the far end does not reach (a narrowband call) adds its noise with little
        weight. A new delay is taken when `_CONFIRMATIONS` measurements in a row agree on it,
        away from the ends of the range searched, its peak twice the one at the current delay.
        """
        first = end - _GCC_WINDOW - self._max_delay
        if first < 0:
            return
        far_part = far[first:end]
        far_ms = float(np.mean(far_part[: -_GCC_WINDOW // 2] ** 2))
        mic_ms = float(np.mean(self._mic_history**2))
        if far_ms < 100 * self._quiet**2 or mic_ms < 10 * self._noise / BLOCK:
            return
        n = self._gcc_fft
        mic_spec = np.fft.rfft(self._mic_history, n)
        far_spec = np.fft.rfft(far_part, n)
        self._cross = 0.6 * self._cross + 0.4 * np.conj(mic_spec) * far_spec
        weights = np.where(self._gcc_band, np.abs(self._cross) ** (1 - _PHAT_BETA), 0)
        phat = np.where(
            self._gcc_band, self._cross / (np.abs(self._cross) ** _PHAT_BETA + _TINY), 0
        )
        # c[k] = sum m[i] f[i + k]: the echo of far[i + max_delay - d] is at mic[i]
        scale = n / (2 * float(weights.sum()) + _TINY)
        corr = np.fft.irfft(phat, n)[: self._max_delay + 1] * scale
        k = int(np.argmax(corr))
        found = self._max_delay - k
        if corr[k] >= self.settings.delay_confidence and _EDGE < k < self._max_delay - _EDGE:
            self._track_drift(found - _peak_offset(corr, k))
        current = self._max_delay - self.delay_samples
        at_current = float(corr[current]) if 0 <= current <= self._max_delay else 0.0
        moved = abs(found - self.delay_samples)
        drift = moved <= _DRIFT  # a clock's drift moves it a sample at a time: no 2x rule
        if (
            corr[k] < self.settings.delay_confidence
            or not _EDGE < k < self._max_delay - _EDGE
            or moved < 2
            or (drift and self._drift is not None)  # followed by the drift's fit
            or (not drift and corr[k] < 2 * at_current)
        ):
            self._candidate, self._confirmed = None, 0
            return
        if self._candidate is None or abs(found - self._candidate) > (1 if drift else _DRIFT):
            self._candidate, self._confirmed = found, 1
            return
        self._confirmed += 1
        if self._confirmed >= _CONFIRMATIONS:
            self._move_to(found)
            self._candidate, self._confirmed = None, 0

    def _track_drift(self, delay: float) -> None:
        """Fit a line to the last `_DRIFT_WINDOW_S` of sub-sample delay measurements: the two
        clocks' drift (the microphone's and the speaker's: a webcam and a sound card differ by
        up to 100 ppm, 0.36 s an hour), followed between measurements to a fraction of a
        sample."""
        now = float(self._received)
        expected = self._expected_delay(now)
        if abs(delay - expected) > _DRIFT:
            return  # another path, or a jump: the GCC's rules decide
        self._measured.append((now, delay))
        while now - self._measured[0][0] > _DRIFT_WINDOW_S * RATE_HZ:
            self._measured.popleft()
        span = now - self._measured[0][0]
        if len(self._measured) < 16 or span < _DRIFT_WINDOW_S * RATE_HZ / 2:
            return
        times = np.array([t for t, _ in self._measured]) - now
        delays = np.array([d for _, d in self._measured])
        slope, at_now = np.polyfit(times, delays, 1)
        if abs(slope) <= _MAX_DRIFT:
            self._drift = (now, float(at_now), float(slope))

    def _expected_delay(self, at: float) -> float:
        if self._drift is None:
            return float(self.delay_samples) + self._fraction
        then, delay, slope = self._drift
        return delay + slope * (at - then)

    def _follow_drift(self) -> None:
        """The delay the drift's line gives now: whole samples move the filter's bulk (its
        taps kept), the fraction is applied to the far end (`_delayed`). After a silence the
        line goes on (the clocks drifted meanwhile); if the delay jumped instead, the next
        measurements are off the line and the GCC's rules take the new delay, and a new line."""
        if self._drift is None:
            return
        target = self._expected_delay(float(self._received))
        if not 0 <= target <= self._max_delay:
            self._measured.clear()
            self._drift = None
            self._fraction = 0.0
            return
        self.delay_samples = round(target)
        self._fraction = target - self.delay_samples

    def _move_to(self, delay: int) -> None:
        """Take a new delay. Where the filter's strongest tap already sits at that delay (it
        learnt the room before the delay was known), its taps are shifted to keep it there;
        otherwise the path moved and the taps stay as they are (they model the room from the
        direct path on, which moved with the delay)."""
        old_bulk = self._bulk
        self.delay_samples = delay
        self.delay_changes += 1
        self._cross[:] = 0
        if abs(delay - old_bulk - self._guard) > _DRIFT:
            self._measured.clear()  # a jump, not a drift: a new line to fit
            self._drift = None
            self._fraction = 0.0
        taps = np.fft.irfft(self._weights, axis=1)[:, :BLOCK].reshape(-1)
        strongest = int(np.argmax(np.abs(taps)))
        shift = self._bulk - old_bulk
        if shift == 0 or abs(old_bulk + strongest - delay) > BLOCK // 4:
            return
        moved = np.zeros_like(taps)
        if 0 < shift < taps.size:
            moved[:-shift] = taps[shift:]
        elif -taps.size < shift < 0:
            moved[-shift:] = taps[:shift]
        padded = np.zeros((self._parts, _FFT))
        padded[:, :BLOCK] = moved.reshape(self._parts, BLOCK)
        self._weights = np.fft.rfft(padded, axis=1)


def _peak_offset(corr: NDArray[np.float64], k: int) -> float:
    """Where, within a sample of ``k``, the peak of ``corr`` is (a parabola through three)."""
    left, mid, right = float(corr[k - 1]), float(corr[k]), float(corr[k + 1])
    curve = left - 2 * mid + right
    return 0.0 if curve >= 0 else max(-0.5, min(0.5, 0.5 * (left - right) / curve))


def _delayed(x: NDArray[np.float64], fraction: float) -> NDArray[np.float64]:
    """``x`` delayed by ``fraction`` of a sample (-1..1): a Hann-windowed sinc of 32 taps."""
    centre = _FRACTION_TAPS // 2 - 1
    taps = np.arange(_FRACTION_TAPS) - centre - fraction
    kernel = np.sinc(taps) * np.hanning(_FRACTION_TAPS + 2)[1:-1]
    kernel /= kernel.sum()
    out: NDArray[np.float64] = np.convolve(x, kernel)[centre : centre + x.size]
    return out
