"""Fuzzing every single-frame decoder and every stream decoder with seeded random input.

For each decoder: random byte strings and mutated valid frames (bits flipped, bytes replaced,
inserted, deleted, duplicated, truncated). Only :class:`DecodeError` may escape, and whatever
decodes must be a plausible value. Each stream decoder eats random bytes in random chunks and
never raises. Seeds are fixed: a failure reproduces.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest

from devices.errors import DecodeError
from devices.protocols import and_bp, bp_quirks, cms50, gatt, ieee11073, ir_thermometer, nonin

RANDOM_INPUTS = 100_000
MUTATED_INPUTS = 100_000
STREAM_BYTES = 100_000


def _nan_or_within(value: float, low: float, high: float) -> bool:
    return math.isnan(value) or low <= value <= high


def _optional_within(value: float | None, low: float, high: float) -> bool:
    return value is None or _nan_or_within(value, low, high)


def _flags_of(value: Any, enum_type: Any) -> bool:
    return value is None or (
        isinstance(value, frozenset) and all(isinstance(flag, enum_type) for flag in value)
    )


# --------------------------------------------------------------- plausibility of decoded values


def _check_float(value: object) -> None:
    assert isinstance(value, float)


def _check_date_time(value: object) -> None:
    assert value is None or (isinstance(value, datetime) and 1582 <= value.year <= 9999)


def _check_bp(m: object) -> None:
    assert isinstance(m, gatt.BloodPressureMeasurement)
    high = 400.0 if m.unit == "mmHg" else 400.0 / gatt.MMHG_PER_KPA
    for pressure in (m.systolic, m.diastolic, m.mean_arterial_pressure):
        assert _nan_or_within(pressure, 0.0, high)
    assert _optional_within(m.pulse_rate_bpm, 0.0, 350.0)
    assert m.user_id is None or 0 <= m.user_id <= 254
    assert _flags_of(m.status, gatt.BpStatus)
    assert (
        m.status is None
        or not {
            gatt.BpStatus.PULSE_RATE_ABOVE_RANGE,
            gatt.BpStatus.PULSE_RATE_BELOW_RANGE,
        }
        <= m.status
    )
    _check_date_time(m.timestamp)


def _check_bp_feature(value: object) -> None:
    assert _flags_of(value, gatt.BpFeature)


def _check_temperature(m: object) -> None:
    assert isinstance(m, gatt.TemperatureMeasurement)
    low, high = (-40.0, 100.0) if m.unit == "C" else (-40.0, 212.0)
    assert _nan_or_within(m.value, low, high)
    assert m.temperature_type is None or isinstance(m.temperature_type, gatt.TemperatureType)
    _check_date_time(m.timestamp)


def _check_temperature_type(value: object) -> None:
    assert isinstance(value, gatt.TemperatureType)


def _check_interval(value: object) -> None:
    assert isinstance(value, int)
    assert 0 <= value <= 0xFFFF


def _check_spo2_pr(spo2: float, pulse: float) -> None:
    assert _nan_or_within(spo2, 0.0, 100.0)
    assert _nan_or_within(pulse, 0.0, 350.0)


def _check_spot(m: object) -> None:
    assert isinstance(m, gatt.PlxSpotCheck)
    _check_spo2_pr(m.spo2_percent, m.pulse_rate_bpm)
    assert _optional_within(m.pulse_amplitude_index, 0.0, 100.0)
    assert _flags_of(m.measurement_status, gatt.PlxMeasurementStatus)
    assert _flags_of(m.device_status, gatt.PlxDeviceStatus)
    _check_date_time(m.timestamp)


def _check_continuous(m: object) -> None:
    assert isinstance(m, gatt.PlxContinuous)
    _check_spo2_pr(m.spo2_percent, m.pulse_rate_bpm)
    for pair in (m.fast, m.slow):
        if pair is not None:
            _check_spo2_pr(*pair)
    assert _optional_within(m.pulse_amplitude_index, 0.0, 100.0)
    assert _flags_of(m.measurement_status, gatt.PlxMeasurementStatus)
    assert _flags_of(m.device_status, gatt.PlxDeviceStatus)


def _check_plx_features(m: object) -> None:
    assert isinstance(m, gatt.PlxFeatures)
    assert _flags_of(m.features, gatt.PlxFeature)
    assert _flags_of(m.measurement_status_support, gatt.PlxMeasurementStatus)
    assert _flags_of(m.device_status_support, gatt.PlxDeviceStatus)


def _check_battery(value: object) -> None:
    assert isinstance(value, int)
    assert 0 <= value <= 100


def _check_str(value: object) -> None:
    assert isinstance(value, str)


def _check_pulse_oximeter_ints(spo2: int | None, pulse: int | None, pulse_max: int) -> None:
    assert spo2 is None or 0 <= spo2 <= 100
    assert pulse is None or 0 <= pulse <= pulse_max


def _check_legacy(f: object) -> None:
    assert isinstance(f, cms50.LegacyFrame)
    assert 0 <= f.signal_strength <= 15
    assert 0 <= f.pleth <= 127
    assert 0 <= f.bar_graph <= 15
    assert f.spo2_percent != 0
    assert f.pulse_rate_bpm not in (0, 255)
    _check_pulse_oximeter_ints(f.spo2_percent, f.pulse_rate_bpm, 254)


def _check_realtime(f: object) -> None:
    assert isinstance(f, cms50.RealtimeFrame)
    assert 0 <= f.signal_strength <= 15
    assert 0 <= f.pleth <= 127
    assert 0 <= f.bar_graph <= 15
    assert not (f.pi_invalid and f.perfusion_index_percent is not None)
    _check_pulse_oximeter_ints(f.spo2_percent, f.pulse_rate_bpm, 254)
    assert _optional_within(f.perfusion_index_percent, 0.0, 100.0)


def _check_host_command(value: object) -> None:
    assert isinstance(value, cms50.HostCommand)


def _check_ascii(s: object) -> None:
    assert isinstance(s, nonin.AsciiSample)
    _check_pulse_oximeter_ints(s.spo2_percent, s.pulse_rate_bpm, 350)
    assert s.clock is None or len(s.clock) == 8


def _check_df8(f: object) -> None:
    assert isinstance(f, nonin.Df8Frame)
    _check_pulse_oximeter_ints(f.sent_spo2_percent, f.sent_pulse_rate_bpm, 350)
    assert _flags_of(f.status, nonin.Df8Status)
    if f.sensor_alarm:  # held values are never a reading
        assert (f.spo2_percent, f.pulse_rate_bpm) == (None, None)


def _decode_df8_9560(data: bytes) -> nonin.Df8Frame:
    return nonin.decode_df8_frame(data, nonin.Df8Model.ONYX_II_9560)


def _check_and_reading(r: object) -> None:
    assert isinstance(r, and_bp.AndReading)
    assert isinstance(r.status, and_bp.AndStatus)
    assert 0 <= r.diastolic_mmhg <= r.systolic_mmhg <= 300
    assert 0 <= r.pulse_rate_bpm <= 255
    assert 0 <= r.trailer <= 255


def _check_and_message(m: object) -> None:
    if not isinstance(m, and_bp.AndAck):
        _check_and_reading(m)


def _check_and_command(value: object) -> None:
    assert isinstance(value, str)
    assert len(value) == 5
    assert value.isprintable()


def _check_ir(f: object) -> None:
    assert isinstance(f, ir_thermometer.IrFrame)
    assert isinstance(f.mode, ir_thermometer.IrMode)
    assert -70.0 <= f.object_c <= 380.0
    assert -40.0 <= f.ambient_c <= 125.0


def _check_request_count(value: object) -> None:
    assert isinstance(value, int)


# ------------------------------------------------------------------------------- the decoders


@dataclass(frozen=True)
class Case:
    name: str
    decode: Callable[[bytes], object]
    check: Callable[[object], None]
    valid: Sequence[bytes]
    alphabet: bytes = b""  # for text protocols: random strings drawn from it too
    sizes: Sequence[int] = field(default=())


def _frames(*hex_frames: str) -> list[bytes]:
    return [bytes.fromhex(frame) for frame in hex_frames]


CASES = [
    Case("sfloat", ieee11073.decode_sfloat, _check_float, _frames("6E F1", "FF 07", "2E 0B")),
    Case("float", ieee11073.decode_float, _check_float, _frames("6E 01 00 FF", "DA 03 00 FF")),
    Case(
        "date_time",
        ieee11073.decode_date_time,
        _check_date_time,
        _frames("E8 07 03 0F 0A 1E 00", "E8 07 0C 1F 17 3B 3B"),
    ),
    Case(
        "blood_pressure",
        gatt.decode_blood_pressure_measurement,
        _check_bp,
        _frames(
            "1E 78 00 50 00 5D 00 E8 07 03 0F 0A 1E 00 48 00 01 04 00",
            "01 A0 F0 6B F0 7C F0",
            "00 55 00 FF 07 FF 07",
        ),
    ),
    Case(
        "blood_pressure_beurer_bm85",
        lambda data: gatt.decode_blood_pressure_measurement(data, bp_quirks.BEURER_BM85),
        _check_bp,
        _frames(
            "56 6A 00 47 00 00 00 EA 07 08 0B 12 1F 00 00 3F 00 00 00",
            "56 76 00 50 00 00 00 EA 07 08 0B 14 1B 00 00 3C 00 00 04",
        ),
    ),
    Case("bp_feature", gatt.decode_bp_feature, _check_bp_feature, _frames("3F 00")),
    Case(
        "temperature",
        gatt.decode_temperature_measurement,
        _check_temperature,
        _frames("06 6E 01 00 FF E8 07 03 0F 0A 1E 00 06", "01 DA 03 00 FF"),
    ),
    Case("temperature_type", gatt.decode_temperature_type, _check_temperature_type, [b"\x06"]),
    Case("interval", gatt.decode_measurement_interval, _check_interval, [b"\x3c\x00"]),
    Case(
        "plx_spot_check",
        gatt.decode_plx_spot_check,
        _check_spot,
        _frames("00 62 00 48 00", "1F 62 00 48 00 E8 07 03 0F 0A 1E 00 20 80 02 A0 00 19 F0"),
    ),
    Case(
        "plx_continuous",
        gatt.decode_plx_continuous,
        _check_continuous,
        _frames(
            "10 61 00 41 00 19 F0", "1F 61 00 41 00 60 00 40 00 61 00 42 00 20 00 02 00 00 19 F0"
        ),
    ),
    Case(
        "plx_features",
        gatt.decode_plx_features,
        _check_plx_features,
        _frames("FF 00 E0 FF FE FF 00", "4C 00"),
    ),
    Case("battery", gatt.decode_battery_level, _check_battery, [b"\x64", b"\x05"]),
    Case("utf8", gatt.decode_utf8_string, _check_str, [b"A&D Medical", "Thermomètre".encode()]),
    Case(
        "cms50_legacy",
        cms50.decode_legacy_frame,
        _check_legacy,
        _frames("C5 32 46 16 61", "80 00 40 7F 7F"),
    ),
    Case(
        "cms50_realtime",
        cms50.decode_realtime_packet,
        _check_realtime,
        _frames("01 E0 85 B3 96 C1 E1 FF FF", "01 83 CF FF 8F F8 E4 81 80"),
    ),
    Case(
        "cms50_host_command",
        cms50.decode_host_command,
        _check_host_command,
        [cms50.START_REALTIME, cms50.STOP_REALTIME, cms50.KEEP_ALIVE],
    ),
    Case(
        "nonin_ascii",
        nonin.decode_ascii_line,
        _check_ascii,
        [b"SPO2=098 HR=072", b"12:34:56 SPO2=--- HR=  7", b"SPO2=100 HR=350"],
        alphabet=b"SPOHR=0123456789-: ",
    ),
    Case(
        "nonin_df8_9560",
        _decode_df8_9560,
        _check_df8,
        _frames("80 48 62 00", "83 7F 7F 03", "BC 48 62 29"),
    ),
    Case(
        "and_reading",
        and_bp.decode_reading_line,
        _check_and_reading,
        [b"804C4C4960", b"83FF2DFFFF", b"80ff2d4960"],
        alphabet=b"0123456789ABCDEFabcdef",
    ),
    Case("and_command", and_bp.decode_command, _check_and_command, [and_bp.OPEN_COMMAND]),
    Case(
        "ir_frame",
        ir_thermometer.decode_frame,
        _check_ir,
        _frames("66 66 01 04 0E 47 08 A2 D0", "66 66 02 04 7F FF 30 D4 6A"),
    ),
]


def _random_input(rng: random.Random, case: Case) -> bytes:
    lengths = [len(frame) for frame in case.valid]
    size = rng.choice(lengths) if rng.random() < 0.5 else rng.randint(0, 2 * max(lengths))
    if case.alphabet and rng.random() < 0.5:
        return bytes(rng.choices(case.alphabet, k=size))
    return rng.randbytes(size)


def _mutate(rng: random.Random, frame: bytes, alphabet: bytes) -> bytes:
    data = bytearray(frame)
    for _ in range(rng.randint(1, 3)):
        kind = rng.randrange(7)
        position = rng.randint(0, len(data))
        if kind == 0 and data and position < len(data):  # flip a bit
            data[position] ^= 1 << rng.randrange(8)
        elif kind == 1 and position < len(data):  # replace a byte
            data[position] = rng.choice(alphabet) if alphabet else rng.randrange(256)
        elif kind == 2:  # insert a byte
            data.insert(position, rng.choice(alphabet) if alphabet else rng.randrange(256))
        elif kind == 3 and position < len(data):  # delete a byte
            del data[position]
        elif kind == 4:  # truncate
            del data[position:]
        elif kind == 5 and data:  # duplicate a slice
            end = rng.randint(position, len(data))
            data[position:position] = data[position:end]
        elif kind == 6 and position < len(data):  # set or clear bit 7 (the sync bit)
            data[position] ^= 0x80
    return bytes(data)


def _run(case: Case, inputs: Sequence[bytes]) -> int:
    decoded = 0
    for data in inputs:
        try:
            value = case.decode(data)
        except DecodeError:
            continue
        case.check(value)
        decoded += 1
    return decoded


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_random_bytes(case: Case) -> None:
    rng = random.Random(f"random-{case.name}")
    _run(case, [_random_input(rng, case) for _ in range(RANDOM_INPUTS)])


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_mutated_frames(case: Case) -> None:
    rng = random.Random(f"mutated-{case.name}")
    inputs = [_mutate(rng, rng.choice(case.valid), case.alphabet) for _ in range(MUTATED_INPUTS)]
    decoded = _run(case, inputs)
    assert decoded > 0  # the mutations do reach the decoding of fields


# ----------------------------------------------------------------------------- stream decoders


@dataclass(frozen=True)
class StreamCase:
    name: str
    make: Callable[[], Any]
    check: Callable[[object], None]
    alphabet: bytes = b""


STREAM_CASES = [
    StreamCase("cms50_legacy", cms50.LegacyStreamDecoder, _check_legacy),
    StreamCase("cms50_realtime", cms50.RealtimeStreamDecoder, _check_realtime),
    StreamCase("cms50_host_command", cms50.HostCommandDecoder, _check_host_command),
    StreamCase("nonin_ascii", nonin.AsciiStreamDecoder, _check_ascii, b"SPOHR=0123456789-: \r\n"),
    StreamCase(
        "nonin_df8_9560", lambda: nonin.Df8StreamDecoder(nonin.Df8Model.ONYX_II_9560), _check_df8
    ),
    StreamCase(
        "and_reading", and_bp.AndStreamDecoder, _check_and_message, b"0123456789ABC\r\n\x06"
    ),
    StreamCase("and_command", and_bp.CommandStreamDecoder, _check_and_command),
    StreamCase("ir_frame", ir_thermometer.IrStreamDecoder, _check_ir, b"\x66\x01\x02\x04"),
    StreamCase("ir_request", ir_thermometer.RequestStreamDecoder, _check_request_count),
]


STREAM_RUNS = [
    pytest.param(case, alphabet, id=f"{case.name}-{name}")
    for case in STREAM_CASES
    for name, alphabet in [("bytes", bytes(range(256))), ("alphabet", case.alphabet)]
    if alphabet
]


@pytest.mark.parametrize(("case", "alphabet"), STREAM_RUNS)
def test_stream_random_chunks(case: StreamCase, alphabet: bytes) -> None:
    rng = random.Random(f"stream-{case.name}-{alphabet!r}")
    stream = bytes(rng.choices(alphabet, k=STREAM_BYTES))
    decoder = case.make()
    fed = 0
    while fed < len(stream):
        size = rng.randint(0, 64)
        out = decoder.feed(stream[fed : fed + size])
        fed += size
        for value in out if isinstance(out, list) else [out]:
            case.check(value)
    assert 0 <= decoder.discarded_bytes <= len(stream)
