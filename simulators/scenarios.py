"""What the simulated patient's body does: a scenario's vital values, with a little variation.

The simulators take their values from here, so a test or the demo can say "hypoxia" and every
instrument agrees on the same patient.
"""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass


class Scenario(enum.Enum):
    NORMAL = "normal"
    HYPERTENSION = "hypertension"
    FEVER = "fever"
    HYPOXIA = "hypoxia"
    IRREGULAR_PULSE = "irregular_pulse"
    MOTION_ARTEFACT = "motion_artefact"


@dataclass(frozen=True, slots=True)
class Physiology:
    systolic_mmhg: float
    diastolic_mmhg: float
    pulse_bpm: float
    temperature_c: float
    spo2_percent: float
    irregular_pulse: bool = False
    moving: bool = False

    @property
    def mean_arterial_mmhg(self) -> float:
        return self.diastolic_mmhg + (self.systolic_mmhg - self.diastolic_mmhg) / 3


_BASE: dict[Scenario, Physiology] = {
    Scenario.NORMAL: Physiology(122, 78, 72, 36.7, 98),
    Scenario.HYPERTENSION: Physiology(178, 104, 84, 36.8, 97),
    Scenario.FEVER: Physiology(118, 74, 104, 39.2, 96),
    Scenario.HYPOXIA: Physiology(128, 82, 112, 37.0, 86),
    Scenario.IRREGULAR_PULSE: Physiology(134, 86, 88, 36.6, 96, irregular_pulse=True),
    Scenario.MOTION_ARTEFACT: Physiology(124, 80, 76, 36.7, 97, moving=True),
}


class Body:
    """A patient in a scenario; ``sample()`` gives today's values, slightly varied."""

    def __init__(self, scenario: Scenario = Scenario.NORMAL, seed: int | None = None) -> None:
        self.scenario = scenario
        self._rng = random.Random(seed)  # noqa: S311 - simulation, not secrets

    @property
    def base(self) -> Physiology:
        return _BASE[self.scenario]

    def sample(self) -> Physiology:
        b = self.base
        r = self._rng
        pulse = b.pulse_bpm + r.uniform(-2, 2)
        if b.irregular_pulse:
            pulse += r.choice((-12, 0, 9))
        return Physiology(
            systolic_mmhg=round(b.systolic_mmhg + r.uniform(-3, 3)),
            diastolic_mmhg=round(b.diastolic_mmhg + r.uniform(-2, 2)),
            pulse_bpm=round(pulse),
            temperature_c=round(b.temperature_c + r.uniform(-0.1, 0.1), 1),
            spo2_percent=round(min(100.0, b.spo2_percent + r.uniform(-1, 1))),
            irregular_pulse=b.irregular_pulse,
            moving=b.moving,
        )
