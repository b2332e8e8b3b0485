"""The cabin's speaker heard back by its microphone, simulated: what the echo canceller
(`kiosk/distress/echo.py`) must take out. A small room (direct path, three early reflections,
a reverberant tail), a delay (the output's buffering and the air), a gain, and the
microphone's own noise; at the analysis rate (16 kHz), float64 samples."""

from __future__ import annotations

from typing import Final

import numpy as np
from numpy.typing import NDArray

Signal = NDArray[np.float64]

RATE_HZ: Final = 16_000
ECHO_DELAY_S: Final = 0.12
ECHO_GAIN_DB: Final = -10.0
NOISE_DBFS: Final = -65.0


def impulse_response(seed: int = 3, rt60_s: float = 0.3) -> Signal:
    """A small room seen from the cabin's speaker: direct path, reflections, reverberant tail
    (half the direct path's energy)."""
    rng = np.random.default_rng(seed)
    n = round(rt60_s * RATE_HZ)
    t = np.arange(n) / RATE_HZ
    h = 0.07 * rng.standard_normal(n) * np.exp(-6.9 * t / rt60_s)
    h[: round(0.002 * RATE_HZ)] = 0  # the first reflection 2 ms after the direct path
    h[0] = 1.0
    for at_ms, gain in ((3.1, 0.5), (5.7, -0.35), (9.2, 0.3)):
        h[round(at_ms * RATE_HZ / 1000)] += gain
    return h


def room(far: Signal, delay_s: float = ECHO_DELAY_S, gain_db: float = ECHO_GAIN_DB) -> Signal:
    """What the microphone hears of the far end: delayed, reverberated, attenuated."""
    echo = np.convolve(far, impulse_response())[: far.size] * 10 ** (gain_db / 20)
    delay = round(delay_s * RATE_HZ)
    return np.concatenate((np.zeros(delay), echo))[: far.size]


def mic_noise(n: int, seed: int = 4) -> Signal:
    """The microphone's own noise, at `NOISE_DBFS`."""
    return np.random.default_rng(seed).standard_normal(n) * 10 ** (NOISE_DBFS / 20)
