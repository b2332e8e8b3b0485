"""What an instrument reports: typed values with their units, never loose dicts.

A ``Quantity`` names both the thing measured and its unit, so a value can never be read in the
wrong unit (``SYSTOLIC_MMHG`` holds millimetres of mercury, whatever the cuff sent on the wire:
codecs convert before a Reading is made).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime


class ReadingKind(enum.Enum):
    """The kind of measurement an instrument makes."""

    BLOOD_PRESSURE = "blood_pressure"
    TEMPERATURE = "temperature"
    PULSE_OXIMETRY = "pulse_oximetry"


class Quantity(enum.Enum):
    """A measured quantity and its unit (UCUM code as the value's second half)."""

    SYSTOLIC_MMHG = "systolic_mmhg"
    DIASTOLIC_MMHG = "diastolic_mmhg"
    MEAN_ARTERIAL_MMHG = "mean_arterial_mmhg"
    PULSE_BPM = "pulse_bpm"
    TEMPERATURE_C = "temperature_c"
    SPO2_PERCENT = "spo2_percent"
    PERFUSION_INDEX_PERCENT = "perfusion_index_percent"

    @property
    def unit(self) -> str:
        """The UCUM unit of this quantity."""
        return _UNITS[self]


_UNITS: dict[Quantity, str] = {
    Quantity.SYSTOLIC_MMHG: "mm[Hg]",
    Quantity.DIASTOLIC_MMHG: "mm[Hg]",
    Quantity.MEAN_ARTERIAL_MMHG: "mm[Hg]",
    Quantity.PULSE_BPM: "/min",
    Quantity.TEMPERATURE_C: "Cel",
    Quantity.SPO2_PERCENT: "%",
    Quantity.PERFUSION_INDEX_PERCENT: "%",
}

_ORDER: dict[Quantity, int] = {quantity: index for index, quantity in enumerate(Quantity)}


@dataclass(frozen=True, slots=True)
class Value:
    """One measured quantity."""

    quantity: Quantity
    value: float


class Quality(enum.Enum):
    """How far a reading can be trusted, as the instrument itself judged it."""

    GOOD = "good"
    QUESTIONABLE = "questionable"  # measured, but the device flagged a condition (see flags)


class ReadingFlag(enum.Enum):
    """A condition the instrument reported with the value; some make the reading questionable."""

    IRREGULAR_PULSE = "irregular_pulse"
    BODY_MOVEMENT = "body_movement"
    CUFF_TOO_LOOSE = "cuff_too_loose"
    IMPROPER_POSITION = "improper_position"
    PULSE_RATE_OUT_OF_RANGE = "pulse_rate_out_of_range"
    LOW_PERFUSION = "low_perfusion"
    WEAK_SIGNAL = "weak_signal"
    DEVICE_CLOCK_NOT_SET = "device_clock_not_set"
    FROM_DEVICE_MEMORY = "from_device_memory"
    LOW_BATTERY = "low_battery"


# The flags that make a value less trustworthy (the others are findings or context).
QUESTIONABLE_FLAGS = frozenset(
    {
        ReadingFlag.BODY_MOVEMENT,
        ReadingFlag.CUFF_TOO_LOOSE,
        ReadingFlag.IMPROPER_POSITION,
        ReadingFlag.LOW_PERFUSION,
        ReadingFlag.WEAK_SIGNAL,
    }
)


@dataclass(frozen=True, slots=True)
class Reading:
    """A final measurement from one instrument, with its values in fixed units.

    The values are kept in the order ``Quantity`` declares them, whatever order they were given
    in, so two readings of the same values are equal (and a stored one equals what was stored).
    """

    device_id: str
    kind: ReadingKind
    values: tuple[Value, ...]
    measured_at: datetime
    quality: Quality = Quality.GOOD
    flags: frozenset[ReadingFlag] = frozenset()

    def __post_init__(self) -> None:
        if self.measured_at.tzinfo is None:
            raise ValueError("a reading's time must carry its time zone")
        quantities = [v.quantity for v in self.values]
        if len(set(quantities)) != len(quantities):
            raise ValueError("a reading holds each quantity at most once")
        ordered = tuple(sorted(self.values, key=lambda v: _ORDER[v.quantity]))
        object.__setattr__(self, "values", ordered)  # frozen: set once, at construction

    def get(self, quantity: Quantity) -> float | None:
        """The value of ``quantity`` in this reading, or None when it was not measured."""
        for value in self.values:
            if value.quantity is quantity:
                return value.value
        return None
