"""What every distress detector gives: `Detection`s, events without any image, sound or value.

The analysers (`vision.VisionAnalyser` for the camera, `sound.SoundAnalyser` for the microphone)
are plain synchronous objects fed one analysed frame or one block of sound at a time with the
instant it was captured (seconds on a monotonic clock). They keep only the small state they need
(a background model at low resolution, levels, durations) in memory, never write anything, never
open a socket, and return the detections that this frame or block completed. The monitor
(`monitor.DistressMonitor`) runs them off the Qt thread and turns detections into alerts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from wire.messages import AlertKind

RgbFrame = NDArray[np.uint8]
"""An analysed frame: rows x columns x 3 (R, G, B), already at the analysis resolution."""

Samples = NDArray[np.float32]
"""Mono sound, -1..1, at the analysis rate."""


@dataclass(frozen=True, slots=True)
class Detection:
    """A detector concluded: `kind` happened at `at_s`, with this confidence (0..1).

    `event_at_s` is when the detector places the event itself (the moment of the fall, the
    start of the shout), `at_s` when it concluded (the analysed frame or block that confirmed
    it): the difference is the detector's latency. `detail` is a short technical phrase for
    the logs and the agent ("au sol depuis 1.2 s", "cri 1.6 s"), never a patient's value."""

    kind: AlertKind
    confidence: float
    at_s: float
    event_at_s: float
    detail: str = ""


class FrameAnalyser(Protocol):
    def analyse(self, frame: RgbFrame, t_s: float) -> list[Detection]: ...

    def reset(self) -> None:
        """A new session: forget the previous patient (not the empty cabin's background)."""

    def empty_cabin(self) -> None:
        """The cabin is known to be empty now (the cleaning is done, nobody is in it): what is
        in view from now on is the empty cabin. An analyser with no background ignores it."""


class SoundAnalyser(Protocol):
    def analyse(self, samples: Samples, t_s: float) -> list[Detection]:
        """`t_s` is the capture instant of the block's first sample."""

    def reset(self) -> None: ...
