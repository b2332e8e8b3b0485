"""Per-model quirks of Blood Pressure Measurement (0x2A35): the Beurer BM85's frames.

The frames are the ones recorded from a Beurer BM85 and published as test vectors in
derdilla/blood-pressure-monitor-fl
(``app/test/features/bluetooth/logic/characteristics/ble_measurement_data_test.dart``).
"""

from __future__ import annotations

import math
from datetime import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devices.errors import DecodeError
from devices.protocols.bp_quirks import BEURER_BM85, STRICT, BpQuirks, bp_quirks_for
from devices.protocols.gatt import (
    BloodPressureMeasurement,
    BpStatus,
    decode_blood_pressure_measurement,
    encode_blood_pressure_measurement,
)

# flags 0x56: timestamp, pulse, status (and the reserved bit 6), no user-id flag; 19 bytes
BM85_USER_0 = bytes.fromhex("56 6A 00 47 00 00 00 EA 07 08 0B 12 1F 00 00 3F 00 00 00")
BM85_USER_1 = bytes.fromhex("56 71 00 49 00 00 00 EA 07 08 0B 14 38 00 00 41 01 00 00")
BM85_HIGH_PULSE = bytes.fromhex("56 77 00 46 00 00 00 EA 07 08 0B 14 39 00 00 57 01 00 40")
BM85_IRREGULAR = bytes.fromhex("56 76 00 50 00 00 00 EA 07 08 0B 14 1B 00 00 3C 00 00 04")


@pytest.mark.parametrize(
    ("data", "systolic", "diastolic", "pulse", "user", "when", "status"),
    [
        (BM85_USER_0, 106, 71, 63, 0, datetime(2026, 8, 11, 18, 31), frozenset()),
        (BM85_USER_1, 113, 73, 65, 1, datetime(2026, 8, 11, 20, 56), frozenset()),
        (BM85_HIGH_PULSE, 119, 70, 87, 1, datetime(2026, 8, 11, 20, 57), frozenset()),
        (
            BM85_IRREGULAR,
            118,
            80,
            60,
            0,
            datetime(2026, 8, 11, 20, 27),
            frozenset({BpStatus.IRREGULAR_PULSE}),
        ),
    ],
)
def test_beurer_bm85_frames_decode_with_its_quirks(
    data: bytes,
    systolic: float,
    diastolic: float,
    pulse: float,
    user: int,
    when: datetime,
    status: frozenset[BpStatus],
) -> None:
    m = decode_blood_pressure_measurement(data, BEURER_BM85)
    assert (m.systolic, m.diastolic, m.unit) == (systolic, diastolic, "mmHg")
    assert math.isnan(m.mean_arterial_pressure)  # sent as 0: not measured
    assert m.pulse_rate_bpm == pulse  # big-endian SFLOAT
    assert m.user_id == user  # present although flag bit 3 is clear
    assert m.timestamp == when
    assert m.status == status  # big-endian u16; bit 6 (0x0040) is reserved


@pytest.mark.parametrize("data", [BM85_USER_0, BM85_USER_1, BM85_HIGH_PULSE, BM85_IRREGULAR])
def test_beurer_frames_are_refused_by_a_strict_decoder(data: bytes) -> None:
    with pytest.raises(DecodeError):
        decode_blood_pressure_measurement(data)  # one byte beyond what the flags announce


def test_the_quirk_encoder_writes_the_beurer_shape_byte_for_byte() -> None:
    m = decode_blood_pressure_measurement(BM85_IRREGULAR, BEURER_BM85)
    assert encode_blood_pressure_measurement(m, quirks=BEURER_BM85) == BM85_IRREGULAR


@pytest.mark.parametrize(
    ("manufacturer", "model", "expected"),
    [
        ("Beurer", "BM85", BEURER_BM85),
        ("Beurer GmbH", "BM 85", BEURER_BM85),
        ("BEURER", "bm85", BEURER_BM85),
        ("beurer", "BM85-BT", BEURER_BM85),
        ("Beurer", "BM850", STRICT),
        ("Beurer", "BM54", STRICT),
        ("A&D Medical", "UA-651BLE", STRICT),
        ("Omron", "BM85", STRICT),  # another maker's model of the same name: strict
        (None, "BM85", STRICT),
        ("Beurer", None, STRICT),
        (None, None, STRICT),
    ],
)
def test_quirks_are_chosen_by_the_device_information_strings(
    manufacturer: str | None, model: str | None, expected: BpQuirks
) -> None:
    assert bp_quirks_for(manufacturer, model) is expected


bm85_measurements = st.builds(
    BloodPressureMeasurement,
    systolic=st.integers(60, 250).map(float),
    diastolic=st.integers(30, 59).map(float),
    mean_arterial_pressure=st.just(math.nan),
    unit=st.just("mmHg"),
    timestamp=st.none()
    | st.datetimes(datetime(2020, 1, 1), datetime(2030, 1, 1)).map(
        lambda d: d.replace(microsecond=0)
    ),
    pulse_rate_bpm=st.none() | st.integers(30, 200).map(float),
    user_id=st.none() | st.integers(0, 254),
    status=st.none() | st.frozensets(st.sampled_from([BpStatus.IRREGULAR_PULSE])),
)


@given(bm85_measurements)
def test_beurer_round_trip(m: BloodPressureMeasurement) -> None:
    back = decode_blood_pressure_measurement(
        encode_blood_pressure_measurement(m, quirks=BEURER_BM85), BEURER_BM85
    )
    assert math.isnan(back.mean_arterial_pressure)
    assert (back.systolic, back.diastolic, back.timestamp, back.pulse_rate_bpm) == (
        m.systolic,
        m.diastolic,
        m.timestamp,
        m.pulse_rate_bpm,
    )
    assert (back.user_id, back.status) == (m.user_id, m.status)
