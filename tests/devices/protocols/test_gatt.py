"""Bluetooth SIG health profiles: PROTOCOLS.md section 2 vectors, round trips, malformed values."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devices.errors import DecodeError, EncodeError
from devices.protocols import gatt
from devices.protocols.gatt import (
    BloodPressureMeasurement,
    BpFeature,
    BpStatus,
    PlxContinuous,
    PlxDeviceStatus,
    PlxFeature,
    PlxFeatures,
    PlxMeasurementStatus,
    PlxSpotCheck,
    TemperatureMeasurement,
    TemperatureType,
    decode_battery_level,
    decode_blood_pressure_measurement,
    decode_bp_feature,
    decode_measurement_interval,
    decode_plx_continuous,
    decode_plx_features,
    decode_plx_spot_check,
    decode_temperature_measurement,
    decode_temperature_type,
    decode_utf8_string,
    encode_battery_level,
    encode_blood_pressure_measurement,
    encode_bp_feature,
    encode_measurement_interval,
    encode_plx_continuous,
    encode_plx_features,
    encode_plx_spot_check,
    encode_temperature_measurement,
    encode_temperature_type,
    encode_utf8_string,
)

EXAMPLE_TIME = datetime(2024, 3, 15, 10, 30, 0)
BP_EXAMPLE = bytes.fromhex("1E 78 00 50 00 5D 00 E8 07 03 0F 0A 1E 00 48 00 01 04 00")
BP_KPA_EXAMPLE = bytes.fromhex("01 A0 F0 6B F0 7C F0")
CUFF_EXAMPLE = bytes.fromhex("00 55 00 FF 07 FF 07")
TEMPERATURE_EXAMPLE = bytes.fromhex("06 6E 01 00 FF E8 07 03 0F 0A 1E 00 06")
TEMPERATURE_F_EXAMPLE = bytes.fromhex("01 DA 03 00 FF")
SPOT_CHECK_EXAMPLE = bytes.fromhex("00 62 00 48 00")
CONTINUOUS_EXAMPLE = bytes.fromhex("10 61 00 41 00 19 F0")


# ---------------------------------------------------------------------------------------- UUIDs


def test_uuids() -> None:
    assert gatt.uuid16(0x2A35) == "00002a35-0000-1000-8000-00805f9b34fb"
    expected = {
        "BLOOD_PRESSURE_SERVICE": 0x1810,
        "BLOOD_PRESSURE_MEASUREMENT": 0x2A35,
        "INTERMEDIATE_CUFF_PRESSURE": 0x2A36,
        "BLOOD_PRESSURE_FEATURE": 0x2A49,
        "HEALTH_THERMOMETER_SERVICE": 0x1809,
        "TEMPERATURE_MEASUREMENT": 0x2A1C,
        "TEMPERATURE_TYPE": 0x2A1D,
        "INTERMEDIATE_TEMPERATURE": 0x2A1E,
        "MEASUREMENT_INTERVAL": 0x2A21,
        "PULSE_OXIMETER_SERVICE": 0x1822,
        "PLX_SPOT_CHECK_MEASUREMENT": 0x2A5E,
        "PLX_CONTINUOUS_MEASUREMENT": 0x2A5F,
        "PLX_FEATURES": 0x2A60,
        "DEVICE_INFORMATION_SERVICE": 0x180A,
        "MANUFACTURER_NAME": 0x2A29,
        "MODEL_NUMBER": 0x2A24,
        "SERIAL_NUMBER": 0x2A25,
        "HARDWARE_REVISION": 0x2A27,
        "FIRMWARE_REVISION": 0x2A26,
        "SOFTWARE_REVISION": 0x2A28,
        "BATTERY_SERVICE": 0x180F,
        "BATTERY_LEVEL": 0x2A19,
        "DATE_TIME": 0x2A08,
    }
    for name, number in expected.items():
        assert getattr(gatt, name) == f"0000{number:04x}-0000-1000-8000-00805f9b34fb", name
    with pytest.raises(ValueError):
        gatt.uuid16(0x10000)


# ------------------------------------------------------------------------------ Blood pressure


def test_bp_example() -> None:
    expected = BloodPressureMeasurement(
        systolic=120.0,
        diastolic=80.0,
        mean_arterial_pressure=93.0,
        unit="mmHg",
        timestamp=EXAMPLE_TIME,
        pulse_rate_bpm=72.0,
        user_id=1,
        status=frozenset({BpStatus.IRREGULAR_PULSE}),
    )
    assert decode_blood_pressure_measurement(BP_EXAMPLE) == expected
    assert encode_blood_pressure_measurement(expected) == BP_EXAMPLE


def test_bp_kpa_example() -> None:
    expected = BloodPressureMeasurement(16.0, 10.7, 12.4, "kPa")
    assert decode_blood_pressure_measurement(BP_KPA_EXAMPLE) == expected
    assert encode_blood_pressure_measurement(expected, exponent=-1) == BP_KPA_EXAMPLE


def test_intermediate_cuff_pressure_example() -> None:
    cuff = decode_blood_pressure_measurement(CUFF_EXAMPLE)
    assert cuff.systolic == 85.0
    assert cuff.unit == "mmHg"
    assert math.isnan(cuff.diastolic)
    assert math.isnan(cuff.mean_arterial_pressure)
    assert (cuff.timestamp, cuff.pulse_rate_bpm, cuff.user_id, cuff.status) == (None,) * 4
    assert encode_blood_pressure_measurement(cuff) == CUFF_EXAMPLE


def test_bp_unknown_user_decodes_to_none() -> None:
    data = bytes.fromhex("08 78 00 50 00 5D 00 FF")
    assert decode_blood_pressure_measurement(data).user_id is None
    with pytest.raises(EncodeError):
        encode_blood_pressure_measurement(
            BloodPressureMeasurement(120, 80, 93, "mmHg", user_id=255)
        )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (0x0000, set()),
        (0x0001, {BpStatus.BODY_MOVEMENT}),
        (0x0002, {BpStatus.CUFF_TOO_LOOSE}),
        (0x0008, {BpStatus.PULSE_RATE_ABOVE_RANGE}),
        (0x0010, {BpStatus.PULSE_RATE_BELOW_RANGE}),
        (0x0018, set()),  # range value 3 is reserved: ignored
        (0x0020, {BpStatus.IMPROPER_POSITION}),
        (0xFFC0, set()),  # reserved bits ignored
        (0x003F, {BpStatus.BODY_MOVEMENT, BpStatus.CUFF_TOO_LOOSE, BpStatus.IRREGULAR_PULSE,
                  BpStatus.IMPROPER_POSITION}),
    ],
)  # fmt: skip
def test_bp_status_bits(raw: int, expected: set[BpStatus]) -> None:
    data = bytes.fromhex("10 78 00 50 00 5D 00") + raw.to_bytes(2, "little")
    assert decode_blood_pressure_measurement(data).status == frozenset(expected)


def test_bp_status_cannot_be_above_and_below() -> None:
    both = frozenset({BpStatus.PULSE_RATE_ABOVE_RANGE, BpStatus.PULSE_RATE_BELOW_RANGE})
    with pytest.raises(EncodeError):
        encode_blood_pressure_measurement(BloodPressureMeasurement(1, 1, 1, "mmHg", status=both))


def test_bp_reserved_flag_bits_ignored() -> None:
    data = bytes([0xE0]) + bytes.fromhex("78 00 50 00 5D 00")
    assert decode_blood_pressure_measurement(data).systolic == 120.0


@pytest.mark.parametrize(
    "hex_bytes",
    [
        "00 78 00 50 00 5D",  # truncated
        "00 78 00 50 00 5D 00 00",  # one byte too many
        "02 78 00 50 00 5D 00",  # timestamp announced, missing
        "04 78 00 50 00 5D 00 48",  # pulse rate cut
        "00 FE 07 50 00 5D 00",  # +INF systolic
        "00 F4 01 50 00 5D 00",  # 500 mmHg
        "00 88 FF 50 00 5D 00",  # -120 mmHg
        "01 F4 01 50 00 5D 00",  # 500 kPa
        "04 78 00 50 00 5D 00 90 01",  # pulse 400 bpm
        "02 78 00 50 00 5D 00 E8 07 0D 0F 0A 1E 00",  # month 13
        "",
    ],
)
def test_bp_malformed(hex_bytes: str) -> None:
    with pytest.raises(DecodeError):
        decode_blood_pressure_measurement(bytes.fromhex(hex_bytes))


def test_every_truncation_of_the_example_is_rejected() -> None:
    decoders: list[tuple[bytes, Callable[[bytes], object]]] = [
        (BP_EXAMPLE, decode_blood_pressure_measurement),
        (TEMPERATURE_EXAMPLE, decode_temperature_measurement),
        (CONTINUOUS_EXAMPLE, decode_plx_continuous),
        (SPOT_CHECK_EXAMPLE, decode_plx_spot_check),
    ]
    for examples, decode in decoders:
        for size in range(len(examples)):
            with pytest.raises(DecodeError):
                decode(examples[:size])


timestamps = st.none() | st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31)
).map(lambda moment: moment.replace(microsecond=0))
tenths = st.integers(0, 2045).map(lambda steps: steps / 10)


def _flag_sets(enum_type: Any) -> st.SearchStrategy[Any]:
    return st.none() | st.frozensets(st.sampled_from(list(enum_type)))


bp_status = st.none() | st.frozensets(
    st.sampled_from(
        [
            BpStatus.BODY_MOVEMENT,
            BpStatus.CUFF_TOO_LOOSE,
            BpStatus.IRREGULAR_PULSE,
            BpStatus.IMPROPER_POSITION,
        ]
    )
).flatmap(
    lambda flags: st.sampled_from(
        [
            flags,
            flags | {BpStatus.PULSE_RATE_ABOVE_RANGE},
            flags | {BpStatus.PULSE_RATE_BELOW_RANGE},
        ]
    )
)


@given(
    st.integers(0, 400),
    st.integers(0, 400),
    st.integers(0, 400),
    timestamps,
    st.none() | st.integers(0, 350).map(float),
    st.none() | st.integers(0, 254),
    bp_status,
)
def test_bp_round_trip_mmhg(
    systolic: int,
    diastolic: int,
    mean: int,
    timestamp: datetime | None,
    pulse: float | None,
    user_id: int | None,
    status: frozenset[BpStatus] | None,
) -> None:
    m = BloodPressureMeasurement(
        float(systolic), float(diastolic), float(mean), "mmHg", timestamp, pulse, user_id, status
    )
    data = encode_blood_pressure_measurement(m)
    assert decode_blood_pressure_measurement(data) == m


@given(st.integers(0, 533).map(lambda steps: steps / 10), st.floats(0, 53.3), timestamps)
def test_bp_round_trip_kpa(systolic: float, diastolic: float, timestamp: datetime | None) -> None:
    m = BloodPressureMeasurement(systolic, diastolic, math.nan, "kPa", timestamp=timestamp)
    decoded = decode_blood_pressure_measurement(encode_blood_pressure_measurement(m, exponent=-1))
    assert decoded.systolic == systolic
    assert abs(decoded.diastolic - diastolic) <= 0.05 + 1e-9
    assert math.isnan(decoded.mean_arterial_pressure)
    assert (decoded.unit, decoded.timestamp) == ("kPa", timestamp)


def test_bp_feature() -> None:
    assert decode_bp_feature(bytes.fromhex("05 00")) == {
        BpFeature.BODY_MOVEMENT_DETECTION,
        BpFeature.IRREGULAR_PULSE_DETECTION,
    }
    assert decode_bp_feature(bytes.fromhex("C0 FF")) == frozenset()  # reserved bits
    for size in (0, 1, 3):
        with pytest.raises(DecodeError):
            decode_bp_feature(bytes(size))


@given(st.frozensets(st.sampled_from(list(BpFeature))))
def test_bp_feature_round_trip(features: frozenset[BpFeature]) -> None:
    assert decode_bp_feature(encode_bp_feature(features)) == features


# -------------------------------------------------------------------------------- Thermometer


def test_temperature_examples() -> None:
    celsius = TemperatureMeasurement(36.6, "C", EXAMPLE_TIME, TemperatureType.MOUTH)
    assert decode_temperature_measurement(TEMPERATURE_EXAMPLE) == celsius
    assert encode_temperature_measurement(celsius) == TEMPERATURE_EXAMPLE
    fahrenheit = TemperatureMeasurement(98.6, "F")
    assert decode_temperature_measurement(TEMPERATURE_F_EXAMPLE) == fahrenheit
    assert encode_temperature_measurement(fahrenheit) == TEMPERATURE_F_EXAMPLE


@pytest.mark.parametrize("type_byte", [0, 10, 0xFF])
def test_reserved_temperature_type_is_rejected(type_byte: int) -> None:
    with pytest.raises(DecodeError):
        decode_temperature_measurement(bytes.fromhex("04 6E 01 00 FF") + bytes([type_byte]))
    with pytest.raises(DecodeError):
        decode_temperature_type(bytes([type_byte]))


def test_temperature_type_characteristic() -> None:
    assert decode_temperature_type(b"\x09") is TemperatureType.TYMPANUM
    assert encode_temperature_type(TemperatureType.EAR) == b"\x03"
    for data in (b"", b"\x01\x00"):
        with pytest.raises(DecodeError):
            decode_temperature_type(data)


@pytest.mark.parametrize(
    "hex_bytes",
    [
        "00 6E 01 00",  # FLOAT cut
        "00 6E 01 00 FF 00",  # extra byte
        "02 6E 01 00 FF",  # timestamp missing
        "00 FE FF 7F 00",  # +INF
        "00 DC 05 00 00",  # 1500 °C
        "01 DC 05 00 00",  # 1500 °F
        "00 88 FF FF 00",  # -120 °C
    ],
)
def test_temperature_malformed(hex_bytes: str) -> None:
    with pytest.raises(DecodeError):
        decode_temperature_measurement(bytes.fromhex(hex_bytes))


def test_temperature_nan_is_no_value() -> None:
    assert math.isnan(decode_temperature_measurement(bytes.fromhex("00 FF FF 7F 00")).value)


@given(
    st.integers(-400, 1000).map(lambda steps: steps / 10),
    st.sampled_from(["C", "F"]),
    timestamps,
    st.none() | st.sampled_from(list(TemperatureType)),
)
def test_temperature_round_trip(
    value: float, unit: Any, timestamp: datetime | None, kind: TemperatureType | None
) -> None:
    m = TemperatureMeasurement(value, unit, timestamp, kind)
    assert decode_temperature_measurement(encode_temperature_measurement(m)) == m


@given(st.floats(30, 45))
def test_temperature_round_trip_two_decimals(value: float) -> None:
    m = TemperatureMeasurement(value, "C")
    decoded = decode_temperature_measurement(encode_temperature_measurement(m, exponent=-2))
    assert abs(decoded.value - value) <= 0.005 + 1e-9


def test_measurement_interval() -> None:
    assert decode_measurement_interval(bytes.fromhex("3C 00")) == 60
    assert encode_measurement_interval(60) == bytes.fromhex("3C 00")
    with pytest.raises(DecodeError):
        decode_measurement_interval(b"\x3c")
    with pytest.raises(EncodeError):
        encode_measurement_interval(70000)


# ---------------------------------------------------------------------------- Pulse oximeter


def test_plx_examples() -> None:
    spot = PlxSpotCheck(98.0, 72.0)
    assert decode_plx_spot_check(SPOT_CHECK_EXAMPLE) == spot
    assert encode_plx_spot_check(spot) == SPOT_CHECK_EXAMPLE
    continuous = PlxContinuous(97.0, 65.0, pulse_amplitude_index=2.5)
    assert decode_plx_continuous(CONTINUOUS_EXAMPLE) == continuous
    assert encode_plx_continuous(continuous) == CONTINUOUS_EXAMPLE


def test_plx_status_bits() -> None:
    # flags: measurement status (bit 1), device status (bit 2), clock not set (bit 4)
    data = bytes.fromhex("16 62 00 48 00") + (1 << 5 | 1 << 15 | 1).to_bytes(2, "little")
    data += (1 << 1 | 1 << 15 | 1 << 0 | 1 << 12 | 1 << 20).to_bytes(3, "little")
    spot = decode_plx_spot_check(data)
    assert spot.measurement_status == {
        PlxMeasurementStatus.MEASUREMENT_ONGOING,
        PlxMeasurementStatus.INVALID,
    }
    assert spot.device_status == {
        PlxDeviceStatus.EQUIPMENT_MALFUNCTION,
        PlxDeviceStatus.SENSOR_DISCONNECTED,
    }
    assert spot.clock_not_set


@pytest.mark.parametrize(
    ("decode", "hex_bytes"),
    [
        (decode_plx_spot_check, "00 62 00 48 00 00"),  # extra byte
        (decode_plx_spot_check, "04 62 00 48 00 00 00"),  # device status u24 cut
        (decode_plx_spot_check, "00 65 00 48 00"),  # SpO2 101 %
        (decode_plx_spot_check, "00 62 00 90 01"),  # pulse 400 bpm
        (decode_plx_spot_check, "08 62 00 48 00 E9 F3"),  # PAI 100.1 %
        (decode_plx_continuous, "01 61 00 41 00 61 00"),  # fast pair cut
        (decode_plx_continuous, "02 61 00 41 00 FE 07 41 00"),  # slow SpO2 +INF
        (decode_plx_continuous, "00 61 00 41 00 00"),  # extra byte
    ],
)
def test_plx_malformed(decode: Callable[[bytes], object], hex_bytes: str) -> None:
    with pytest.raises(DecodeError):
        decode(bytes.fromhex(hex_bytes))


spo2_values = st.integers(0, 100).map(float)
pulse_values = st.integers(0, 350).map(float)
pai_values = st.none() | st.integers(0, 1000).map(lambda steps: steps / 10)


@given(
    spo2_values,
    pulse_values,
    timestamps,
    _flag_sets(PlxMeasurementStatus),
    _flag_sets(PlxDeviceStatus),
    pai_values,
    st.booleans(),
)
def test_plx_spot_check_round_trip(
    spo2: float,
    pulse: float,
    timestamp: datetime | None,
    measurement_status: Any,
    device_status: Any,
    pai: float | None,
    clock_not_set: bool,
) -> None:
    m = PlxSpotCheck(spo2, pulse, timestamp, measurement_status, device_status, pai, clock_not_set)
    assert decode_plx_spot_check(encode_plx_spot_check(m)) == m


@given(
    st.integers(0, 1000).map(lambda steps: steps / 10),
    st.integers(0, 2045).map(lambda steps: steps / 10),
)
def test_plx_spot_check_round_trip_tenths(spo2: float, pulse: float) -> None:
    m = PlxSpotCheck(spo2, pulse)
    assert decode_plx_spot_check(encode_plx_spot_check(m, exponent=-1)) == m


pairs = st.none() | st.tuples(spo2_values, pulse_values)


@given(
    spo2_values,
    pulse_values,
    pairs,
    pairs,
    _flag_sets(PlxMeasurementStatus),
    _flag_sets(PlxDeviceStatus),
    pai_values,
)
def test_plx_continuous_round_trip(
    spo2: float,
    pulse: float,
    fast: tuple[float, float] | None,
    slow: tuple[float, float] | None,
    measurement_status: Any,
    device_status: Any,
    pai: float | None,
) -> None:
    m = PlxContinuous(spo2, pulse, fast, slow, measurement_status, device_status, pai)
    assert decode_plx_continuous(encode_plx_continuous(m)) == m


def test_plx_features_vector() -> None:
    # bits 0 (measurement status), 1 (device status), 3 (timestamp), 6 (PAI)
    data = bytes.fromhex("4B 00") + (1 << 5).to_bytes(2, "little") + (1 << 3).to_bytes(3, "little")
    features = decode_plx_features(data)
    assert features == PlxFeatures(
        frozenset({PlxFeature.SPOT_CHECK_TIMESTAMP, PlxFeature.PULSE_AMPLITUDE_INDEX}),
        frozenset({PlxMeasurementStatus.MEASUREMENT_ONGOING}),
        frozenset({PlxDeviceStatus.INADEQUATE_SIGNAL}),
    )
    assert encode_plx_features(features) == data
    for size in range(len(data)):
        with pytest.raises(DecodeError):
            decode_plx_features(data[:size])
    with pytest.raises(DecodeError):
        decode_plx_features(data + b"\x00")


@given(
    st.frozensets(st.sampled_from(list(PlxFeature))),
    _flag_sets(PlxMeasurementStatus),
    _flag_sets(PlxDeviceStatus),
)
def test_plx_features_round_trip(features: Any, measurement: Any, device: Any) -> None:
    value = PlxFeatures(features, measurement, device)
    assert decode_plx_features(encode_plx_features(value)) == value


# ------------------------------------------------------------------- Device info and battery


def test_battery_level() -> None:
    assert decode_battery_level(b"\x64") == 100
    assert encode_battery_level(0) == b"\x00"
    for data in (b"", b"\x65", b"\xff", b"\x10\x00"):
        with pytest.raises(DecodeError):
            decode_battery_level(data)
    for percent in (-1, 101):
        with pytest.raises(EncodeError):
            encode_battery_level(percent)


@given(st.integers(0, 100))
def test_battery_round_trip(percent: int) -> None:
    assert decode_battery_level(encode_battery_level(percent)) == percent


def test_device_information_strings() -> None:
    assert decode_utf8_string(b"A&D Medical") == "A&D Medical"
    assert decode_utf8_string(b"UA-651\x00") == "UA-651"
    with pytest.raises(DecodeError):
        decode_utf8_string(b"\xff\xfe")


@given(st.text().map(lambda text: text.rstrip("\x00")))
def test_device_information_round_trip(text: str) -> None:
    assert decode_utf8_string(encode_utf8_string(text)) == text
