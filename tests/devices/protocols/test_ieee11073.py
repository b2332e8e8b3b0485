"""IEEE 11073 SFLOAT/FLOAT and Date Time: PROTOCOLS.md section 1 vectors and round trips."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devices.errors import DecodeError, EncodeError
from devices.protocols.ieee11073 import (
    FLOAT_NAN,
    FLOAT_NEGATIVE_INFINITY,
    FLOAT_NRES,
    FLOAT_POSITIVE_INFINITY,
    FLOAT_RESERVED,
    SFLOAT_NAN,
    SFLOAT_NEGATIVE_INFINITY,
    SFLOAT_NRES,
    SFLOAT_POSITIVE_INFINITY,
    SFLOAT_RESERVED,
    decode_date_time,
    decode_float,
    decode_sfloat,
    encode_date_time,
    encode_float,
    encode_sfloat,
    encode_unknown_date_time,
)

SFLOAT_VECTORS = [
    ("6E F1", 36.6, -1),
    ("78 00", 120.0, 0),
    ("A0 F0", 16.0, -1),
    ("2E 0B", -1234.0, 0),
]
FLOAT_VECTORS = [
    ("6E 01 00 FF", 36.6, -1),
    ("DA 03 00 FF", 98.6, -1),
]


@pytest.mark.parametrize(("hex_bytes", "value", "exponent"), SFLOAT_VECTORS)
def test_sfloat_vectors(hex_bytes: str, value: float, exponent: int) -> None:
    data = bytes.fromhex(hex_bytes)
    assert decode_sfloat(data) == value
    assert encode_sfloat(value, exponent) == data


@pytest.mark.parametrize(("hex_bytes", "value", "exponent"), FLOAT_VECTORS)
def test_float_vectors(hex_bytes: str, value: float, exponent: int) -> None:
    data = bytes.fromhex(hex_bytes)
    assert decode_float(data) == value
    assert encode_float(value, exponent) == data


@pytest.mark.parametrize("code", [SFLOAT_NAN, SFLOAT_NRES, SFLOAT_RESERVED])
def test_sfloat_no_value_codes_decode_to_nan(code: int) -> None:
    assert math.isnan(decode_sfloat(code.to_bytes(2, "little")))


@pytest.mark.parametrize("code", [FLOAT_NAN, FLOAT_NRES, FLOAT_RESERVED])
def test_float_no_value_codes_decode_to_nan(code: int) -> None:
    assert math.isnan(decode_float(code.to_bytes(4, "little")))


def test_infinities() -> None:
    assert decode_sfloat(SFLOAT_POSITIVE_INFINITY.to_bytes(2, "little")) == math.inf
    assert decode_sfloat(SFLOAT_NEGATIVE_INFINITY.to_bytes(2, "little")) == -math.inf
    assert decode_float(FLOAT_POSITIVE_INFINITY.to_bytes(4, "little")) == math.inf
    assert decode_float(FLOAT_NEGATIVE_INFINITY.to_bytes(4, "little")) == -math.inf


@pytest.mark.parametrize("exponent", [0, -1, 3])
def test_encode_specials(exponent: int) -> None:
    assert encode_sfloat(math.nan, exponent) == bytes.fromhex("FF 07")
    assert encode_sfloat(math.inf, exponent) == bytes.fromhex("FE 07")
    assert encode_sfloat(-math.inf, exponent) == bytes.fromhex("02 08")
    assert encode_float(math.nan, exponent) == bytes.fromhex("FF FF 7F 00")
    assert encode_float(math.inf, exponent) == bytes.fromhex("FE FF 7F 00")
    assert encode_float(-math.inf, exponent) == bytes.fromhex("02 00 80 00")


def test_special_mantissas_in_other_exponents_are_numbers() -> None:
    # PROTOCOLS.md: the special values are whole codes; 0xF7FF is 2047 e-1.
    assert decode_sfloat(bytes.fromhex("FF F7")) == 204.7


@pytest.mark.parametrize("size", [0, 1, 3])
def test_sfloat_wrong_length(size: int) -> None:
    with pytest.raises(DecodeError):
        decode_sfloat(bytes(size))


@pytest.mark.parametrize("size", [0, 2, 3, 5])
def test_float_wrong_length(size: int) -> None:
    with pytest.raises(DecodeError):
        decode_float(bytes(size))


@pytest.mark.parametrize(
    ("value", "exponent"),
    [(2046, 0), (-2046, 0), (3000, 0), (204.6, -1), (1e30, 0), (1.0, 8), (1.0, -9)],
)
def test_sfloat_unrepresentable(value: float, exponent: int) -> None:
    with pytest.raises(EncodeError):
        encode_sfloat(value, exponent)


@pytest.mark.parametrize(
    ("value", "exponent"),
    [(2**23 - 2, 0), (-(2**23), 0), (1e300, -128), (1.0, 128), (1.0, -129)],
)
def test_float_unrepresentable(value: float, exponent: int) -> None:
    with pytest.raises(EncodeError):
        encode_float(value, exponent)


def test_encode_rounds_to_the_resolution() -> None:
    assert decode_sfloat(encode_sfloat(36.64, -1)) == 36.6
    assert decode_sfloat(encode_sfloat(1234.0, 1)) == 1230.0


def _is_special_sfloat(raw: int) -> bool:
    return raw in {
        SFLOAT_NAN,
        SFLOAT_NRES,
        SFLOAT_RESERVED,
        SFLOAT_POSITIVE_INFINITY,
        SFLOAT_NEGATIVE_INFINITY,
    }


@given(st.integers(-2045, 2045), st.integers(-8, 7))
def test_sfloat_round_trip_exact_bytes(mantissa: int, exponent: int) -> None:
    raw = ((exponent & 0xF) << 12) | (mantissa & 0xFFF)
    data = raw.to_bytes(2, "little")
    value = decode_sfloat(data)
    assert math.isclose(value, mantissa * 10.0**exponent, rel_tol=1e-12)
    assert encode_sfloat(value, exponent) == data


@given(st.integers(0, 0xFFFF))
def test_sfloat_any_code_decodes(raw: int) -> None:
    value = decode_sfloat(raw.to_bytes(2, "little"))
    assert isinstance(value, float)
    if not _is_special_sfloat(raw):
        assert math.isfinite(value)


@given(st.integers(-(2**23) + 3, 2**23 - 3), st.integers(-128, 127))
def test_float_round_trip_exact_bytes(mantissa: int, exponent: int) -> None:
    raw = ((exponent & 0xFF) << 24) | (mantissa & 0xFFFFFF)
    data = raw.to_bytes(4, "little")
    value = decode_float(data)
    assert math.isfinite(value)
    assert encode_float(value, exponent) == data


@given(st.floats(-204.5, 204.5, allow_nan=False))
def test_sfloat_round_trip_within_resolution(value: float) -> None:
    assert abs(decode_sfloat(encode_sfloat(value, -1)) - value) <= 0.05 + 1e-9


@given(st.floats(-838860.5, 838860.5, allow_nan=False))
def test_float_round_trip_within_resolution(value: float) -> None:
    assert abs(decode_float(encode_float(value, -1)) - value) <= 0.05 + 1e-9


# ---------------------------------------------------------------------------------- Date Time

DATE_TIME_EXAMPLE = bytes.fromhex("E8 07 03 0F 0A 1E 00")


def test_date_time_vector() -> None:
    moment = datetime(2024, 3, 15, 10, 30, 0)
    assert decode_date_time(DATE_TIME_EXAMPLE) == moment
    assert encode_date_time(moment) == DATE_TIME_EXAMPLE


@pytest.mark.parametrize(
    "hex_bytes",
    ["00 00 03 0F 0A 1E 00", "E8 07 00 0F 0A 1E 00", "E8 07 03 00 0A 1E 00", "00" * 7],
)
def test_date_time_unknown(hex_bytes: str) -> None:
    assert decode_date_time(bytes.fromhex(hex_bytes)) is None
    assert decode_date_time(encode_unknown_date_time()) is None


@pytest.mark.parametrize(
    "hex_bytes",
    [
        "E8 07 0D 0F 0A 1E 00",  # month 13
        "E8 07 03 20 0A 1E 00",  # day 32
        "E8 07 02 1E 0A 1E 00",  # 30 February
        "E8 07 03 0F 19 1E 00",  # hour 25
        "E8 07 03 0F 0A 3C 00",  # minute 60
        "E8 07 03 0F 0A 1E 3C",  # second 60
        "01 00 03 0F 0A 1E 00",  # year 1, before 1582
        "10 27 03 0F 0A 1E 00",  # year 10000
    ],
)
def test_date_time_invalid(hex_bytes: str) -> None:
    with pytest.raises(DecodeError):
        decode_date_time(bytes.fromhex(hex_bytes))


@pytest.mark.parametrize("size", [0, 6, 8])
def test_date_time_wrong_length(size: int) -> None:
    with pytest.raises(DecodeError):
        decode_date_time(bytes(size))


def test_encode_date_time_refuses_aware_and_out_of_range() -> None:
    with pytest.raises(EncodeError):
        encode_date_time(datetime(2024, 3, 15, tzinfo=UTC))
    with pytest.raises(EncodeError):
        encode_date_time(datetime(1500, 1, 1))


@given(st.datetimes(min_value=datetime(1582, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59)))
def test_date_time_round_trip(moment: datetime) -> None:
    decoded = decode_date_time(encode_date_time(moment))
    assert decoded == moment.replace(microsecond=0)
