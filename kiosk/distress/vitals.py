"""Dangerous vitals: the NEWS2 red bands, with a confirming re-measurement.

A single value in a red band (SpO2 ≤ 91 %, systolic ≤ 90 or ≥ 220 mmHg, pulse ≤ 40 or ≥ 131 /min,
temperature ≤ 35.0 °C) first asks for the measurement again: a loose probe or a cold finger must
not call the agent. A second red value of the same kind within the confirmation window raises
the alert. A value past the *extreme* limits raises it at once, without waiting for a second
one. A questionable reading (the instrument flagged movement, a weak signal...) never raises an
alert on its own: it asks for the measurement again. A normal value of the same kind forgets the
pending one. Pure logic: time is given by the caller, nothing is stored or sent from here.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from devices.reading import Quality, Quantity, Reading, ReadingKind


@dataclass(frozen=True, slots=True)
class Limits:
    """Inclusive limits: a value at or beyond one is in the band (None: no limit that side)."""

    low: float | None = None
    high: float | None = None

    def crossed(self, value: float) -> bool:
        return (self.low is not None and value <= self.low) or (
            self.high is not None and value >= self.high
        )


@dataclass(frozen=True, slots=True)
class VitalThresholds:
    """The red bands (NEWS2, configurable) and the extremes that need no confirmation."""

    red: dict[Quantity, Limits] = field(
        default_factory=lambda: {
            Quantity.SPO2_PERCENT: Limits(low=91.0),
            Quantity.SYSTOLIC_MMHG: Limits(low=90.0, high=220.0),
            Quantity.PULSE_BPM: Limits(low=40.0, high=131.0),
            Quantity.TEMPERATURE_C: Limits(low=35.0),
        }
    )
    extreme: dict[Quantity, Limits] = field(
        default_factory=lambda: {
            Quantity.SPO2_PERCENT: Limits(low=85.0),
            Quantity.SYSTOLIC_MMHG: Limits(low=70.0, high=250.0),
            Quantity.PULSE_BPM: Limits(low=30.0, high=160.0),
            Quantity.TEMPERATURE_C: Limits(low=32.0),
        }
    )
    confirm_within_s: float = 600.0
    """A second red value must come within this time of the first to confirm it."""


class Verdict(enum.Enum):
    NORMAL = "normal"
    REMEASURE = "remeasure"  # ask the patient to measure again (one red value, or questionable)
    ALERT = "alert"


@dataclass(frozen=True, slots=True)
class Assessment:
    verdict: Verdict
    quantities: tuple[Quantity, ...] = ()  # the values in a red band
    confidence: float = 0.0
    extreme: bool = False


class DangerousVitals:
    def __init__(self, thresholds: VitalThresholds | None = None) -> None:
        self.thresholds = thresholds or VitalThresholds()
        self._pending: dict[ReadingKind, float] = {}  # kind -> when a first red value came

    def reset(self) -> None:
        """A new patient: nothing of the previous one counts."""
        self._pending.clear()

    def assess(self, reading: Reading, now: float) -> Assessment:
        """What to do with ``reading``, measured (or received) at monotonic time ``now``."""
        red = tuple(
            value.quantity
            for value in reading.values
            if value.quantity in self.thresholds.red
            and self.thresholds.red[value.quantity].crossed(value.value)
        )
        if not red:
            self._pending.pop(reading.kind, None)
            return Assessment(Verdict.NORMAL)
        extreme = any(
            value.quantity in self.thresholds.extreme
            and self.thresholds.extreme[value.quantity].crossed(value.value)
            for value in reading.values
        )
        if reading.quality is not Quality.GOOD:
            return Assessment(Verdict.REMEASURE, red, 0.3, extreme)  # never on its own
        first = self._pending.get(reading.kind)
        if extreme:
            self._pending.pop(reading.kind, None)
            return Assessment(Verdict.ALERT, red, 0.95, True)
        if first is not None and now - first <= self.thresholds.confirm_within_s:
            self._pending.pop(reading.kind, None)
            return Assessment(Verdict.ALERT, red, 0.9)
        self._pending[reading.kind] = now
        return Assessment(Verdict.REMEASURE, red, 0.5)
