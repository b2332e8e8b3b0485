"""Values no living patient in a cabin can have: a reading outside them is refused, not stored.

These are instrument-sanity bounds (a broken sensor, a decoding slip), far wider than clinical
alarm thresholds: a dangerous but real value (SpO2 80 %, 220 mmHg) passes here and is for the
distress detection to act on.
"""

from __future__ import annotations

from devices.reading import Quantity, Reading

PLAUSIBLE: dict[Quantity, tuple[float, float]] = {
    Quantity.SYSTOLIC_MMHG: (50.0, 280.0),
    Quantity.DIASTOLIC_MMHG: (25.0, 180.0),
    Quantity.MEAN_ARTERIAL_MMHG: (30.0, 220.0),
    Quantity.PULSE_BPM: (25.0, 250.0),
    Quantity.TEMPERATURE_C: (30.0, 44.0),
    Quantity.SPO2_PERCENT: (50.0, 100.0),
    Quantity.PERFUSION_INDEX_PERCENT: (0.0, 25.0),
}


def implausible(reading: Reading) -> list[Quantity]:
    """The quantities of ``reading`` that cannot be true (empty when all can)."""
    wrong = [
        v.quantity
        for v in reading.values
        if not (PLAUSIBLE[v.quantity][0] <= v.value <= PLAUSIBLE[v.quantity][1])
    ]
    systolic = reading.get(Quantity.SYSTOLIC_MMHG)
    diastolic = reading.get(Quantity.DIASTOLIC_MMHG)
    if systolic is not None and diastolic is not None and systolic <= diastolic:
        wrong.append(Quantity.SYSTOLIC_MMHG)
    return wrong
