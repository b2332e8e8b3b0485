"""Nonin ASCII and Data Format 8: vectors, round trips and streams."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from devices.errors import DecodeError, EncodeError
from devices.protocols.nonin import (
    DF8_FRAME_SIZE,
    NONIN_BAUD,
    SET_DATA_FORMAT_8,
    AsciiSample,
    AsciiStreamDecoder,
    Df8Frame,
    Df8Model,
    Df8Status,
    Df8StreamDecoder,
    decode_ascii_line,
    decode_df8_frame,
    encode_ascii_line,
    encode_df8_frame,
)

from .conftest import any_garbage, check_every_split, cuts_for, feed_cut


def test_baud() -> None:
    assert NONIN_BAUD == 9600


# ---------------------------------------------------------------------------------------- ASCII


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b"SPO2=098 HR=072", AsciiSample(98, 72, None)),
        (b"SPO2=--- HR=---", AsciiSample(None, None, None)),
        (b"SPO2= 97 HR=  5", AsciiSample(97, 5, None)),
        (b"SPO2=100 HR=---", AsciiSample(100, None, None)),
        (b"13:05:59 SPO2=095 HR=101", AsciiSample(95, 101, "13:05:59")),
    ],
)
def test_ascii_lines(line: bytes, expected: AsciiSample) -> None:
    assert decode_ascii_line(line) == expected


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        # Avant 9600 / BT4000 manuals: DIP switch 8 up, the fast-responding values
        (b"SPO2=097 HR=072 F", AsciiSample(97, 72, None, fast_mode=True)),
        (b"SPO2=--- HR=--- F", AsciiSample(None, None, None, fast_mode=True)),
        # BT4000 manual: the event marker
        (b"SPO2=097 HR=072*", AsciiSample(97, 72, None, event_marked=True)),
        # 9847 manual: the clock prefix, a marked event, a breath detected
        (b"12:34:56 SPO2=097 HR=072*", AsciiSample(97, 72, "12:34:56", event_marked=True)),
        (b"12:34:56 SPO2=097 HR=072 B", AsciiSample(97, 72, "12:34:56", breath_detected=True)),
        (
            b"12:34:56 SPO2=097 HR=072* B",
            AsciiSample(97, 72, "12:34:56", event_marked=True, breath_detected=True),
        ),
        (b"SPO2=097 HR=072 F*", AsciiSample(97, 72, None, fast_mode=True, event_marked=True)),
    ],
)
def test_ascii_lines_with_the_documented_markers(line: bytes, expected: AsciiSample) -> None:
    assert decode_ascii_line(line) == expected
    decoder = AsciiStreamDecoder()
    assert decoder.feed(line + b"\r\n") == [expected]
    assert (decoder.bad_frames, decoder.discarded_bytes) == (0, 0)


def test_ascii_encode() -> None:
    assert encode_ascii_line(AsciiSample(98, 72, None)) == b"SPO2=098 HR=072\r\n"
    assert encode_ascii_line(AsciiSample(None, None, "00:00:01")) == b"00:00:01 SPO2=--- HR=---\r\n"


@pytest.mark.parametrize(
    "line",
    [
        b"SPO2=98 HR=72",  # a digit lost
        b"SPO2=0980 HR=072",
        b"SPO2=---  HR=---",  # two spaces
        b"SPO2=101 HR=072",  # above 100 %
        b"SPO2=098 HR=400",  # above the plausible pulse rate
        b"SPO2=098 HR=072\r\n",  # line end not stripped
        b"24:00:00 SPO2=098 HR=072",
        b"12:60:00 SPO2=098 HR=072",
        b"spo2=098 hr=072",
        b"SPO2=0x1 HR=072",
        b"",
        b"SPO2=097 HR=072 X",  # not a documented marker
        b"SPO2=097 HR=072F",  # the fast-mode marker comes after a space
        b"SPO2=097 HR=072 F F",  # a marker twice
        b"SPO2=097 HR=072**",
        b"SPO2=097 HR=072* x",
        b"SPO2=097 HR=072 ",
    ],
)
def test_ascii_malformed(line: bytes) -> None:
    with pytest.raises(DecodeError):
        decode_ascii_line(line)


def test_ascii_unrepresentable() -> None:
    with pytest.raises(EncodeError):
        encode_ascii_line(AsciiSample(1000, 72, None))
    with pytest.raises(EncodeError):
        encode_ascii_line(AsciiSample(98, 72, "1:2:3"))


clocks = st.none() | st.tuples(st.integers(0, 23), st.integers(0, 59), st.integers(0, 59)).map(
    lambda hms: "{:02d}:{:02d}:{:02d}".format(*hms)
)
ascii_samples = st.builds(
    AsciiSample,
    spo2_percent=st.none() | st.integers(0, 100),
    pulse_rate_bpm=st.none() | st.integers(0, 350),
    clock=clocks,
    fast_mode=st.booleans(),
    event_marked=st.booleans(),
    breath_detected=st.booleans(),
)


@given(ascii_samples)
def test_ascii_round_trip(sample: AsciiSample) -> None:
    line = encode_ascii_line(sample)
    assert line.endswith(b"\r\n")
    assert decode_ascii_line(line[:-2]) == sample


def test_ascii_stream_every_split() -> None:
    samples = [AsciiSample(98, 72, None), AsciiSample(None, None, "10:00:00")]
    stream = b"".join(map(encode_ascii_line, samples))
    check_every_split(AsciiStreamDecoder, stream, samples)


@given(st.lists(ascii_samples, max_size=6), st.data())
def test_ascii_stream_random_cuts(samples: list[AsciiSample], data: st.DataObject) -> None:
    stream = b"".join(map(encode_ascii_line, samples))
    decoder = AsciiStreamDecoder()
    assert feed_cut(decoder, stream, data.draw(cuts_for(stream))) == samples
    assert (decoder.discarded_bytes, decoder.bad_frames) == (0, 0)


@given(st.lists(st.tuples(any_garbage, ascii_samples), max_size=5))
def test_ascii_stream_garbage_before_lines(pieces: list[tuple[bytes, AsciiSample]]) -> None:
    """Noise before a line (even without a line end) does not hide or change the line.

    The noise avoids ':' so that it cannot end like a ``HH:MM:SS`` prefix of a line sent
    without one (such a prefix is indistinguishable from a real clock).
    """
    for garbage, _ in pieces:
        assume(b":" not in garbage)
    expected: list[AsciiSample] = []
    stream = b""
    for garbage, sample in pieces:
        complete_lines = garbage[: garbage.rfind(b"\n") + 1]
        expected += AsciiStreamDecoder().feed(complete_lines)
        expected.append(sample)
        stream += garbage + encode_ascii_line(sample)
    assert AsciiStreamDecoder().feed(stream) == expected


def test_ascii_stream_truncated_line_then_valid() -> None:
    decoder = AsciiStreamDecoder()
    stream = b"SPO2=098 H" + b"12:00:00 SPO2=097 HR=070\r\n" + b"SPO2=0" + b"SPO2=096 HR=071\r\n"
    assert decoder.feed(stream) == [AsciiSample(97, 70, "12:00:00"), AsciiSample(96, 71, None)]
    assert decoder.bad_frames == 0
    assert decoder.discarded_bytes == 10 + 6


def test_ascii_stream_bad_lines_counted_and_bounded() -> None:
    decoder = AsciiStreamDecoder()
    assert decoder.feed(b"SPO2=98 HR=72\r\n\r\n" + b"x" * 1000) == []
    assert decoder.bad_frames == 1
    assert decoder.discarded_bytes >= 13 + 1000 - 32
    assert decoder.feed(b"\nSPO2=098 HR=072\r\n") == [AsciiSample(98, 72, None)]


# -------------------------------------------------------------------------------- Data Format 8


ONYX = Df8Model.ONYX_II_9560
S = Df8Status


def df8(pulse: int | None, spo2: int | None, *status: Df8Status) -> Df8Frame:
    return Df8Frame(pulse, spo2, frozenset(status))


@pytest.mark.parametrize(
    ("hex_bytes", "expected"),
    [
        ("80 48 62 00", df8(72, 98)),
        ("83 7F 7F 00", df8(None, None)),
        ("81 2C 5F 00", df8(172, 95)),
        (
            "BC 00 00 29",
            df8(
                0,
                0,
                S.OUT_OF_TRACK,
                S.LOW_PERFUSION,
                S.MARGINAL_PERFUSION,
                S.ARTIFACT,
                S.SMARTPOINT,
                S.SENSOR_ALARM,
                S.LOW_BATTERY,
            ),
        ),
    ],
)
def test_df8_vectors(hex_bytes: str, expected: Df8Frame) -> None:
    assert decode_df8_frame(bytes.fromhex(hex_bytes), ONYX) == expected


def test_df8_9560_sensor_alarm_holds_the_last_values_which_are_no_reading() -> None:
    # 9560 specification: after the finger is removed the device sends the last SpO2 and pulse
    # for about 10 s with only STATUS2 bit 3 (sensor alarm) set
    frame = decode_df8_frame(bytes.fromhex("80 48 62 08"), ONYX)
    assert frame.status == {Df8Status.SENSOR_ALARM}
    assert (frame.sent_pulse_rate_bpm, frame.sent_spo2_percent) == (72, 98)
    assert (frame.pulse_rate_bpm, frame.spo2_percent) == (None, None)
    assert frame.sensor_alarm
    assert not decode_df8_frame(bytes.fromhex("80 48 62 00"), ONYX).sensor_alarm


@pytest.mark.parametrize("hex_bytes", ["C0 48 62 00", "80 48 62 02", "80 48 62 56", "C0 48 62 56"])
def test_df8_9560_reserved_bits_are_never_read(hex_bytes: str) -> None:
    """On the 9560, STATUS1 bit 6 and STATUS2 bits 1, 2, 4, 6 are reserved: not "sensor
    disconnected" nor "critical battery", nothing at all."""
    frame = decode_df8_frame(bytes.fromhex(hex_bytes), ONYX)  # 0x56: STATUS2 bits 1, 2, 4, 6
    assert frame.status == frozenset()
    assert (frame.pulse_rate_bpm, frame.spo2_percent) == (72, 98)


@pytest.mark.parametrize(
    "hex_bytes",
    [
        "00 48 62 00",  # no sync bit
        "80 C8 62 00",  # sync bit in byte 2
        "80 48 62 80",  # sync bit in byte 4
        "80 48 65 00",  # SpO2 101 %
        "83 00 62 00",  # pulse rate 384 bpm
        "80 48 62",
        "80 48 62 00 00",
    ],
)
def test_df8_malformed(hex_bytes: str) -> None:
    with pytest.raises(DecodeError):
        decode_df8_frame(bytes.fromhex(hex_bytes), ONYX)


def test_df8_unrepresentable() -> None:
    base = df8(None, None)
    for pulse in (511, 512, -1):
        with pytest.raises(EncodeError):
            encode_df8_frame(replace(base, sent_pulse_rate_bpm=pulse), ONYX)
    for spo2 in (127, 128, -1):
        with pytest.raises(EncodeError):
            encode_df8_frame(replace(base, sent_spo2_percent=spo2), ONYX)


def test_df8_set_data_format_command() -> None:
    # STX, op code 0x70, length 2, data type 2, format 8, ETX
    assert bytes.fromhex("02 70 02 02 08 03") == SET_DATA_FORMAT_8


df8_frames = st.builds(
    Df8Frame,
    sent_pulse_rate_bpm=st.none() | st.integers(0, 350),
    sent_spo2_percent=st.none() | st.integers(0, 100),
    status=st.frozensets(st.sampled_from(list(Df8Status))),
)


@given(df8_frames)
def test_df8_round_trip(frame: Df8Frame) -> None:
    data = encode_df8_frame(frame, ONYX)
    assert len(data) == DF8_FRAME_SIZE
    assert decode_df8_frame(data, ONYX) == frame


def test_df8_stream_every_split() -> None:
    frame = decode_df8_frame(bytes.fromhex("80 48 62 00"), ONYX)
    check_every_split(
        lambda: Df8StreamDecoder(ONYX), bytes.fromhex("80 48 62 00 80 48 62 00"), [frame, frame]
    )


@given(st.lists(df8_frames, max_size=6), st.data())
def test_df8_stream_random_cuts(frames: list[Df8Frame], data: st.DataObject) -> None:
    stream = b"".join(encode_df8_frame(frame, ONYX) for frame in frames)
    decoder = Df8StreamDecoder(ONYX)
    assert feed_cut(decoder, stream, data.draw(cuts_for(stream))) == frames
    assert (decoder.discarded_bytes, decoder.bad_frames) == (0, 0)


@given(st.lists(st.tuples(any_garbage, df8_frames), max_size=5))
def test_df8_stream_garbage_between_frames(pieces: list[tuple[bytes, Df8Frame]]) -> None:
    decoder = Df8StreamDecoder(ONYX)
    expected: list[Df8Frame] = []
    stream = b""
    for garbage, frame in pieces:
        expected += Df8StreamDecoder(ONYX).feed(garbage)
        expected.append(frame)
        stream += garbage + encode_df8_frame(frame, ONYX)
    out = decoder.feed(stream)
    assert out == expected
    assert decoder.discarded_bytes + DF8_FRAME_SIZE * len(out) == len(stream)


def test_df8_stream_truncated_frame_then_valid() -> None:
    decoder = Df8StreamDecoder(ONYX)
    valid = bytes.fromhex("80 48 62 00")
    assert decoder.feed(valid[:2] + valid) == [decode_df8_frame(valid, ONYX)]
    assert (decoder.discarded_bytes, decoder.bad_frames) == (2, 1)
