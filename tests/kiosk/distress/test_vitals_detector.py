"""The dangerous-vitals detector: NEWS2 red bands, a confirming re-measurement, extremes at
once, questionable readings never alone, a normal value forgetting a pending one."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devices.reading import Quality, Quantity, Reading, ReadingFlag, ReadingKind, Value
from kiosk.distress.vitals import DangerousVitals, Limits, Verdict, VitalThresholds

# Hypothesis times each example (200 ms) and its data generation: no clock may fail a test.
UNTIMED = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
AT = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def spo2(percent: float, pulse: float = 80.0, quality: Quality = Quality.GOOD) -> Reading:
    flags = frozenset({ReadingFlag.WEAK_SIGNAL}) if quality is Quality.QUESTIONABLE else frozenset()
    return Reading(
        "oximeter-1",
        ReadingKind.PULSE_OXIMETRY,
        (Value(Quantity.SPO2_PERCENT, percent), Value(Quantity.PULSE_BPM, pulse)),
        AT,
        quality,
        flags,
    )


def pressure(systolic: float, diastolic: float = 80.0, pulse: float = 70.0) -> Reading:
    return Reading(
        "bp-1",
        ReadingKind.BLOOD_PRESSURE,
        (
            Value(Quantity.SYSTOLIC_MMHG, systolic),
            Value(Quantity.DIASTOLIC_MMHG, diastolic),
            Value(Quantity.PULSE_BPM, pulse),
        ),
        AT,
    )


def temperature(celsius: float) -> Reading:
    return Reading(
        "thermo-1", ReadingKind.TEMPERATURE, (Value(Quantity.TEMPERATURE_C, celsius),), AT
    )


@pytest.mark.parametrize(
    ("reading", "verdict"),
    [
        (spo2(92), Verdict.NORMAL),
        (spo2(91), Verdict.REMEASURE),  # the band's limit is in the band
        (pressure(91), Verdict.NORMAL),
        (pressure(90), Verdict.REMEASURE),
        (pressure(219), Verdict.NORMAL),
        (pressure(220), Verdict.REMEASURE),
        (pressure(120, pulse=41), Verdict.NORMAL),
        (pressure(120, pulse=40), Verdict.REMEASURE),
        (spo2(97, pulse=131), Verdict.REMEASURE),
        (temperature(35.1), Verdict.NORMAL),
        (temperature(35.0), Verdict.REMEASURE),
        (temperature(38.9), Verdict.NORMAL),  # NEWS2's red band for fever is not a distress
    ],
)
def test_the_red_bands_first_ask_for_a_new_measurement(reading: Reading, verdict: Verdict) -> None:
    assert DangerousVitals().assess(reading, 0.0).verdict is verdict


def test_a_second_red_value_within_the_window_raises_the_alert() -> None:
    detector = DangerousVitals()
    assert detector.assess(spo2(90), 0.0).verdict is Verdict.REMEASURE
    alert = detector.assess(spo2(89), 60.0)
    assert alert.verdict is Verdict.ALERT
    assert alert.quantities == (Quantity.SPO2_PERCENT,)
    assert alert.confidence >= 0.9
    # once alerted, the next red value starts again from a re-measurement
    assert detector.assess(spo2(90), 70.0).verdict is Verdict.REMEASURE


def test_a_red_value_too_long_after_the_first_does_not_confirm_it() -> None:
    detector = DangerousVitals(VitalThresholds(confirm_within_s=300))
    detector.assess(pressure(88), 0.0)
    assert detector.assess(pressure(88), 301.0).verdict is Verdict.REMEASURE
    assert detector.assess(pressure(88), 400.0).verdict is Verdict.ALERT


def test_a_normal_value_forgets_the_pending_one() -> None:
    detector = DangerousVitals()
    detector.assess(spo2(90), 0.0)
    assert detector.assess(spo2(96), 30.0).verdict is Verdict.NORMAL
    assert detector.assess(spo2(90), 60.0).verdict is Verdict.REMEASURE


def test_another_kind_does_not_confirm_a_red_value() -> None:
    detector = DangerousVitals()
    detector.assess(spo2(90), 0.0)
    assert detector.assess(pressure(88), 10.0).verdict is Verdict.REMEASURE


@pytest.mark.parametrize(
    "reading", [spo2(84), pressure(69), pressure(251), spo2(96, pulse=29), temperature(31.9)]
)
def test_an_extreme_value_alerts_at_once(reading: Reading) -> None:
    assessment = DangerousVitals().assess(reading, 0.0)
    assert assessment.verdict is Verdict.ALERT
    assert assessment.extreme


def test_a_questionable_reading_never_alerts_on_its_own() -> None:
    detector = DangerousVitals()
    for second in range(5):
        assessment = detector.assess(spo2(80, quality=Quality.QUESTIONABLE), float(second))
        assert assessment.verdict is Verdict.REMEASURE
    # and it does not confirm a good red value either
    detector.assess(spo2(90), 10.0)
    assert (
        detector.assess(spo2(88, quality=Quality.QUESTIONABLE), 20.0).verdict is Verdict.REMEASURE
    )


def test_a_new_patient_starts_with_nothing_pending() -> None:
    detector = DangerousVitals()
    detector.assess(spo2(90), 0.0)
    detector.reset()
    assert detector.assess(spo2(90), 1.0).verdict is Verdict.REMEASURE


def test_the_bands_are_configurable() -> None:
    strict = VitalThresholds(red={Quantity.SPO2_PERCENT: Limits(low=94.0)}, extreme={})
    assert DangerousVitals(strict).assess(spo2(93), 0.0).verdict is Verdict.REMEASURE
    assert DangerousVitals(strict).assess(pressure(60), 0.0).verdict is Verdict.NORMAL


@UNTIMED
@given(st.floats(min_value=92.0, max_value=100.0), st.floats(min_value=41.0, max_value=130.0))
def test_values_outside_every_band_are_normal_however_often(
    saturation: float, pulse: float
) -> None:
    detector = DangerousVitals()
    for second in range(3):
        assert detector.assess(spo2(saturation, pulse), float(second)).verdict is Verdict.NORMAL
