"""A&D UA-767PC style codec (confidence L): the source's vectors, our assumptions, streams."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devices.errors import DecodeError, EncodeError
from devices.protocols.and_bp import (
    ACK,
    OPEN_COMMAND,
    AndAck,
    AndReading,
    AndStatus,
    AndStreamDecoder,
    CommandStreamDecoder,
    command_checksum,
    decode_command,
    decode_open_command,
    decode_reading_line,
    encode_command,
    encode_reading_line,
    is_open_command,
)

from .conftest import any_garbage, check_every_split, cuts_for, feed_cut

EXAMPLE_LINE = b"804C4C4960"
EXAMPLE = AndReading(AndStatus.OK, 152, 76, 73, 0x60)


def test_open_command() -> None:
    assert bytes.fromhex("02 43 50 43 30 35 3B") == OPEN_COMMAND
    assert command_checksum(b"CPC05") == 0x3B
    assert is_open_command(OPEN_COMMAND)
    assert not is_open_command(OPEN_COMMAND[:-1])
    assert decode_command(OPEN_COMMAND) == "CPC05"
    decode_open_command(OPEN_COMMAND)
    with pytest.raises(DecodeError):
        decode_open_command(encode_command("CPC06"))
    assert ACK == b"\x06"


@pytest.mark.parametrize(
    "hex_bytes",
    [
        "02 43 50 43 30 35 3C",  # checksum
        "03 43 50 43 30 35 3B",  # no STX
        "02 43 50 43 30 35",
        "02 43 50 43 30 35 3B 00",
        "02 43 50 43 30 0A 28",  # a control character, right checksum
    ],
)
def test_command_malformed(hex_bytes: str) -> None:
    with pytest.raises(DecodeError):
        decode_command(bytes.fromhex(hex_bytes))


def test_command_unrepresentable() -> None:
    for body in ("CPC0", "CPC055", "CPCé5"):
        with pytest.raises(EncodeError):
            encode_command(body)


@given(
    st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=5, max_size=5)
)
def test_command_round_trip(body: str) -> None:
    assert decode_command(encode_command(body)) == body


def test_command_stream_decoder() -> None:
    stream = b"\xff\x02garbage" + OPEN_COMMAND[:4] + OPEN_COMMAND + b"\x00" + OPEN_COMMAND
    decoder = CommandStreamDecoder()
    assert decoder.feed(stream) == ["CPC05", "CPC05"]
    assert decoder.bad_frames >= 2
    check_every_split(CommandStreamDecoder, stream, ["CPC05", "CPC05"])


def test_reading_example() -> None:
    assert decode_reading_line(EXAMPLE_LINE) == EXAMPLE
    assert encode_reading_line(EXAMPLE) == EXAMPLE_LINE + b"\r\n"
    assert decode_reading_line(b"804c4c4960") == EXAMPLE


@pytest.mark.parametrize(
    ("line", "status"),
    [
        (b"8100000000", AndStatus.DEVICE_ERROR_1),
        (b"8200000000", AndStatus.DEVICE_ERROR_2),
        (b"8300000000", AndStatus.DEVICE_ERROR_3),
    ],
)
def test_error_statuses(line: bytes, status: AndStatus) -> None:
    assert decode_reading_line(line).status is status


@pytest.mark.parametrize(
    "line",
    [
        b"844C4C4960",  # unknown status
        b"804C4C496",  # a character lost
        b"804C4C49600",
        b"804C4C4960\r\n",  # line end not stripped
        b"80FFFF4960",  # systolic 510 mmHg
        b"804G4C4960",
        b"",
    ],
)
def test_reading_malformed(line: bytes) -> None:
    with pytest.raises(DecodeError):
        decode_reading_line(line)


def test_reading_unrepresentable() -> None:
    for reading in (
        AndReading(AndStatus.OK, 70, 80, 60, 0),  # systolic below diastolic
        AndReading(AndStatus.OK, 400, 80, 60, 0),  # pulse pressure 320
        AndReading(AndStatus.OK, 120, 80, 256, 0),
        AndReading(AndStatus.OK, 120, 80, 60, -1),
    ):
        with pytest.raises(EncodeError):
            encode_reading_line(reading)


readings = (
    st.integers(0, 255)
    .flatmap(
        lambda diastolic: st.builds(
            AndReading,
            status=st.sampled_from(list(AndStatus)),
            systolic_mmhg=st.integers(diastolic, min(300, diastolic + 255)),
            diastolic_mmhg=st.just(diastolic),
            pulse_rate_bpm=st.integers(0, 255),
            trailer=st.integers(0, 255),
        )
    )
    .filter(lambda reading: reading.systolic_mmhg <= 300)
)


@given(readings)
def test_reading_round_trip(reading: AndReading) -> None:
    line = encode_reading_line(reading)
    assert decode_reading_line(line[:-2]) == reading


def test_stream_ack_then_readings_every_split() -> None:
    stream = ACK + encode_reading_line(EXAMPLE) * 2
    check_every_split(AndStreamDecoder, stream, [AndAck(), EXAMPLE, EXAMPLE])


@given(st.lists(readings, max_size=6), st.data())
def test_stream_random_cuts(values: list[AndReading], data: st.DataObject) -> None:
    stream = b"".join(map(encode_reading_line, values))
    decoder = AndStreamDecoder()
    assert feed_cut(decoder, stream, data.draw(cuts_for(stream))) == values
    assert (decoder.discarded_bytes, decoder.bad_frames) == (0, 0)


@given(st.lists(st.tuples(any_garbage, readings), max_size=5))
def test_stream_garbage_before_readings(pieces: list[tuple[bytes, AndReading]]) -> None:
    """Noise, even hex digits or a truncated reading, does not hide or change the next line."""
    expected: list[AndReading | AndAck] = []
    stream = b""
    for garbage, reading in pieces:
        expected += AndStreamDecoder().feed(garbage)
        expected.append(reading)
        stream += garbage + encode_reading_line(reading)
    assert AndStreamDecoder().feed(stream) == expected


def test_stream_truncated_reading_then_valid() -> None:
    decoder = AndStreamDecoder()
    assert decoder.feed(b"804C4" + encode_reading_line(EXAMPLE)) == [EXAMPLE]
    assert decoder.discarded_bytes == 5
    decoder = AndStreamDecoder()
    assert decoder.feed(b"804C4\r\n" + encode_reading_line(EXAMPLE)) == [EXAMPLE]
    assert (decoder.discarded_bytes, decoder.bad_frames) == (5, 1)


def test_stream_noise_ends_a_line() -> None:
    decoder = AndStreamDecoder()
    assert decoder.feed(b"804C4\xff4C4960\r\n" + encode_reading_line(EXAMPLE)) == [EXAMPLE]
    assert decoder.bad_frames == 2


def test_an_acknowledgement_with_a_header_is_one_ack_and_never_a_reading() -> None:
    """``01 37 30 50 43 06`` (SOH "70PC" ACK) is said to be the UA-767's acknowledgement; no A&D
    document was found to confirm it. Whatever precedes the ACK, it is one acknowledgement and
    the header's hex-looking characters never become part of a reading."""
    stream = bytes.fromhex("01 37 30 50 43 06") + encode_reading_line(EXAMPLE)
    check_every_split(AndStreamDecoder, stream, [AndAck(), EXAMPLE])
