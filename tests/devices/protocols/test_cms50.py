"""Contec CMS50: both generations, PROTOCOLS.md section 3 vectors, round trips and streams."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devices.errors import DecodeError, EncodeError
from devices.protocols.cms50 import (
    KEEP_ALIVE,
    LEGACY_BAUD,
    LEGACY_FRAME_SIZE,
    PACKET_SIZE,
    REALTIME_BAUD,
    START_REALTIME,
    STOP_REALTIME,
    HostCommand,
    HostCommandDecoder,
    LegacyFrame,
    LegacyStreamDecoder,
    RealtimeFrame,
    RealtimeStreamDecoder,
    decode_host_command,
    decode_legacy_frame,
    decode_realtime_packet,
    encode_host_command,
    encode_legacy_frame,
    encode_realtime_packet,
)

from .conftest import any_garbage, check_every_split, cuts_for, feed_cut

LEGACY_EXAMPLE = bytes.fromhex("C5 32 46 16 61")
LEGACY_EXAMPLE_FRAME = LegacyFrame(
    signal_strength=5,
    searching_too_long=False,
    spo2_dropping=False,
    pulse_beep=True,
    pleth=50,
    bar_graph=6,
    sensor_error=False,
    searching=False,
    pulse_rate_bpm=150,
    spo2_percent=97,
)
REALTIME_EXAMPLE = bytes.fromhex("01 E0 85 B3 96 C1 E1 FF FF")
REALTIME_EXAMPLE_FRAME = RealtimeFrame(
    signal_strength=5,
    pulse_beep=False,
    finger_out=False,
    pleth=0x33,
    searching=False,
    bar_graph=6,  # d2 = 0x16: bar graph 6, bit 4 "PI invalid" (Contec V7.0)
    pi_invalid=True,
    pulse_rate_bpm=65,
    spo2_percent=97,
    perfusion_index_percent=None,
)


def test_constants() -> None:
    assert (LEGACY_BAUD, REALTIME_BAUD) == (19200, 115200)
    assert bytes.fromhex("7D 81 A1 80 80 80 80 80 80") == START_REALTIME
    assert bytes.fromhex("7D 81 A2 80 80 80 80 80 80") == STOP_REALTIME
    assert bytes.fromhex("7D 81 AF 80 80 80 80 80 80") == KEEP_ALIVE


# ----------------------------------------------------------------------------- old generation


def test_legacy_example() -> None:
    assert decode_legacy_frame(LEGACY_EXAMPLE) == LEGACY_EXAMPLE_FRAME
    assert encode_legacy_frame(LEGACY_EXAMPLE_FRAME) == LEGACY_EXAMPLE


@pytest.mark.parametrize(
    ("hex_bytes", "searching_too_long", "spo2_dropping", "sensor_error", "searching"),
    [
        ("D5 32 46 16 61", True, False, False, False),  # byte 1 bit 4
        ("E5 32 46 16 61", False, True, False, False),  # byte 1 bit 5
        ("C5 32 56 16 61", False, False, True, False),  # byte 3 bit 4
        ("C5 32 66 16 61", False, False, False, True),  # byte 3 bit 5
    ],
)
def test_legacy_status_bits_as_contec_documents_them(
    hex_bytes: str,
    searching_too_long: bool,
    spo2_dropping: bool,
    sensor_error: bool,
    searching: bool,
) -> None:
    """Byte 1 bit 5 is "SpO2 dropping", bit 4 "searching too long" (Contec's protocol, and
    atbrask/CMS50Dplus for bit 5); byte 3 bit 4 is a sensor (probe) error."""
    frame = decode_legacy_frame(bytes.fromhex(hex_bytes))
    assert frame.searching_too_long is searching_too_long
    assert frame.spo2_dropping is spo2_dropping
    assert frame.sensor_error is sensor_error
    assert frame.searching is searching
    assert (frame.pulse_rate_bpm, frame.spo2_percent) == (150, 97)  # the values are still there


@pytest.mark.parametrize(
    ("pulse_byte_3", "pulse_byte_4", "spo2", "expected_pulse", "expected_spo2"),
    [
        (0x40, 0x7F, 0x7F, None, None),  # 0xFF and 0x7F: invalid
        (0x00, 0x00, 0x00, None, None),  # 0 bpm, 0 %: no reading
        (0x00, 0x01, 0x01, 1, 1),
        (0x40, 0x7E, 0x64, 254, 100),
    ],
)
def test_legacy_invalid_values(
    pulse_byte_3: int,
    pulse_byte_4: int,
    spo2: int,
    expected_pulse: int | None,
    expected_spo2: int | None,
) -> None:
    frame = decode_legacy_frame(bytes([0x80, 0x00, pulse_byte_3, pulse_byte_4, spo2]))
    assert (frame.pulse_rate_bpm, frame.spo2_percent) == (expected_pulse, expected_spo2)


@pytest.mark.parametrize(
    "hex_bytes",
    [
        "45 32 46 16 61",  # no sync bit on byte 1
        "C5 B2 46 16 61",  # sync bit on byte 2
        "C5 32 46 16 E1",  # sync bit on byte 5
        "C5 32 46 16 65",  # SpO2 101 %
        "C5 32 46 16",
        "C5 32 46 16 61 00",
    ],
)
def test_legacy_malformed(hex_bytes: str) -> None:
    with pytest.raises(DecodeError):
        decode_legacy_frame(bytes.fromhex(hex_bytes))


def test_legacy_unrepresentable() -> None:
    with pytest.raises(EncodeError):
        encode_legacy_frame(
            LegacyFrame(16, False, False, False, 0, 0, False, False, None, None)
        )  # signal strength has 4 bits
    for pulse in (0, 255, 300):
        with pytest.raises(EncodeError):
            encode_legacy_frame(
                LegacyFrame(0, False, False, False, 0, 0, False, False, pulse, None)
            )
    with pytest.raises(EncodeError):
        encode_legacy_frame(LegacyFrame(0, False, False, False, 0, 0, False, False, None, 127))


legacy_frames = st.builds(
    LegacyFrame,
    signal_strength=st.integers(0, 15),
    searching_too_long=st.booleans(),
    spo2_dropping=st.booleans(),
    pulse_beep=st.booleans(),
    pleth=st.integers(0, 127),
    bar_graph=st.integers(0, 15),
    sensor_error=st.booleans(),
    searching=st.booleans(),
    pulse_rate_bpm=st.none() | st.integers(1, 254),
    spo2_percent=st.none() | st.integers(1, 100),
)


@given(legacy_frames)
def test_legacy_round_trip(frame: LegacyFrame) -> None:
    data = encode_legacy_frame(frame)
    assert len(data) == LEGACY_FRAME_SIZE
    assert decode_legacy_frame(data) == frame


def test_legacy_stream_every_split() -> None:
    frames = [LEGACY_EXAMPLE_FRAME, LEGACY_EXAMPLE_FRAME]
    check_every_split(LegacyStreamDecoder, LEGACY_EXAMPLE * 2, frames)


@given(st.lists(legacy_frames, max_size=6), st.data())
def test_legacy_stream_random_cuts(frames: list[LegacyFrame], data: st.DataObject) -> None:
    stream = b"".join(map(encode_legacy_frame, frames))
    decoder = LegacyStreamDecoder()
    assert feed_cut(decoder, stream, data.draw(cuts_for(stream))) == frames
    assert (decoder.discarded_bytes, decoder.bad_frames) == (0, 0)


@given(st.lists(st.tuples(any_garbage, legacy_frames), max_size=5))
def test_legacy_stream_garbage_between_frames(pieces: list[tuple[bytes, LegacyFrame]]) -> None:
    """Garbage changes nothing of the frames after it; every byte is in a frame or counted."""
    decoder = LegacyStreamDecoder()
    expected: list[LegacyFrame] = []
    stream = b""
    for garbage, frame in pieces:
        expected += LegacyStreamDecoder().feed(garbage)  # what the garbage alone would give
        expected.append(frame)
        stream += garbage + encode_legacy_frame(frame)
    out = decoder.feed(stream)
    assert out == expected
    assert decoder.discarded_bytes + LEGACY_FRAME_SIZE * len(out) == len(stream)


def test_legacy_stream_truncated_frame_then_valid() -> None:
    decoder = LegacyStreamDecoder()
    assert decoder.feed(LEGACY_EXAMPLE[:3] + LEGACY_EXAMPLE) == [LEGACY_EXAMPLE_FRAME]
    assert (decoder.discarded_bytes, decoder.bad_frames) == (3, 1)


def test_legacy_stream_bad_frame_is_counted() -> None:
    decoder = LegacyStreamDecoder()
    bad = bytes.fromhex("C5 32 46 16 65")  # SpO2 101
    assert decoder.feed(bad + LEGACY_EXAMPLE + b"\x01\x02") == [LEGACY_EXAMPLE_FRAME]
    assert (decoder.discarded_bytes, decoder.bad_frames) == (7, 1)


# ----------------------------------------------------------------------------- new generation


def test_realtime_example() -> None:
    assert decode_realtime_packet(REALTIME_EXAMPLE) == REALTIME_EXAMPLE_FRAME
    assert encode_realtime_packet(REALTIME_EXAMPLE_FRAME) == REALTIME_EXAMPLE


def test_realtime_bar_graph_is_four_bits_and_bit_4_says_the_pi_is_invalid() -> None:
    # Contec "Communication protocol of pulse oximeter" V7.0: d2 bits 0-3 are the bar graph,
    # bit 4 "PI invalid". Real devices set bit 4 whenever they send no PI.
    assert decode_realtime_packet(REALTIME_EXAMPLE).bar_graph == 6
    # d2 = 0x16 (bar graph 6, PI invalid) while d5-d6 hold 0x0210: no PI all the same
    flagged = decode_realtime_packet(bytes.fromhex("01 80 85 B3 96 C1 E1 90 82"))
    assert (flagged.bar_graph, flagged.pi_invalid) == (6, True)
    assert flagged.perfusion_index_percent is None
    # d2 = 0x06: the same bytes with a valid PI of 5.28 %
    valid = decode_realtime_packet(bytes.fromhex("01 80 85 B3 86 C1 E1 90 82"))
    assert (valid.bar_graph, valid.pi_invalid) == (6, False)
    assert valid.perfusion_index_percent == 5.28
    # the simulator's encoder sends bit 4 with no PI
    encoded = encode_realtime_packet(replace(REALTIME_EXAMPLE_FRAME, bar_graph=15))
    assert decode_realtime_packet(encoded).bar_graph == 15
    assert encoded[4] & 0x7F == 0x1F


def test_realtime_an_invalid_pi_cannot_carry_a_value() -> None:
    with pytest.raises(EncodeError):
        encode_realtime_packet(replace(REALTIME_EXAMPLE_FRAME, perfusion_index_percent=2.5))
    with pytest.raises(EncodeError):
        encode_realtime_packet(replace(REALTIME_EXAMPLE_FRAME, bar_graph=16))


def test_realtime_flags_and_perfusion_index() -> None:
    frame = RealtimeFrame(15, True, True, 127, True, 15, False, 120, 100, 2.57)
    data = encode_realtime_packet(frame)
    assert data[1] == 0x80 | 0b0000011  # d0 (finger out) and d1 (searching) have bit 7
    assert decode_realtime_packet(data) == frame


@pytest.mark.parametrize(
    "hex_bytes",
    [
        "02 E0 85 B3 96 C1 E1 FF FF",  # not a real-time packet
        "01 60 85 B3 96 C1 E1 FF FF",  # high-bits byte lacks bit 7
        "01 E0 85 33 96 C1 E1 FF FF",  # payload byte lacks bit 7
        "01 F0 85 B3 96 C1 E1 FF FF",  # SpO2 0xE1 = 225 %
        "01 E0 85 B3 96 C1 E5 FF FF",  # SpO2 101 %
        "01 80 85 B3 86 C1 E1 90 CE",  # PI 0x4E10 = 199.84 %
        "01 E0 85 B3 96 C1 E1 FF",
        "01 E0 85 B3 96 C1 E1 FF FF FF",
    ],
)
def test_realtime_malformed(hex_bytes: str) -> None:
    with pytest.raises(DecodeError):
        decode_realtime_packet(bytes.fromhex(hex_bytes))


realtime_frames = st.builds(
    RealtimeFrame,
    signal_strength=st.integers(0, 15),
    pulse_beep=st.booleans(),
    finger_out=st.booleans(),
    pleth=st.integers(0, 127),
    searching=st.booleans(),
    bar_graph=st.integers(0, 15),
    pi_invalid=st.booleans(),
    pulse_rate_bpm=st.none() | st.integers(1, 254),
    spo2_percent=st.none() | st.integers(1, 100),
    perfusion_index_percent=st.none() | st.integers(0, 10000).map(lambda steps: steps / 100),
).map(lambda f: replace(f, perfusion_index_percent=None) if f.pi_invalid else f)


@given(realtime_frames)
def test_realtime_round_trip(frame: RealtimeFrame) -> None:
    data = encode_realtime_packet(frame)
    assert len(data) == PACKET_SIZE
    assert data[0] == 0x01
    assert all(byte & 0x80 for byte in data[1:])
    assert decode_realtime_packet(data) == frame


def test_realtime_stream_every_split() -> None:
    check_every_split(
        RealtimeStreamDecoder,
        REALTIME_EXAMPLE * 2,
        [REALTIME_EXAMPLE_FRAME, REALTIME_EXAMPLE_FRAME],
    )


@given(st.lists(realtime_frames, max_size=6), st.data())
def test_realtime_stream_random_cuts(frames: list[RealtimeFrame], data: st.DataObject) -> None:
    stream = b"".join(map(encode_realtime_packet, frames))
    decoder = RealtimeStreamDecoder()
    assert feed_cut(decoder, stream, data.draw(cuts_for(stream))) == frames
    assert (decoder.discarded_bytes, decoder.bad_frames) == (0, 0)


@given(st.lists(st.tuples(any_garbage, realtime_frames), max_size=5))
def test_realtime_stream_garbage_between_frames(
    pieces: list[tuple[bytes, RealtimeFrame]],
) -> None:
    decoder = RealtimeStreamDecoder()
    expected: list[RealtimeFrame] = []
    stream = b""
    for garbage, frame in pieces:
        expected += RealtimeStreamDecoder().feed(garbage)
        expected.append(frame)
        stream += garbage + encode_realtime_packet(frame)
    out = decoder.feed(stream)
    assert out == expected
    assert decoder.discarded_bytes + PACKET_SIZE * len(out) == len(stream)


def test_realtime_stream_skips_other_packet_types() -> None:
    other = bytes.fromhex("0C 80 81 82 83")  # a packet of another type, another length
    decoder = RealtimeStreamDecoder()
    out = decoder.feed(REALTIME_EXAMPLE + other + REALTIME_EXAMPLE + other)
    assert out == [REALTIME_EXAMPLE_FRAME, REALTIME_EXAMPLE_FRAME]
    assert (decoder.skipped_packets, decoder.bad_frames, decoder.discarded_bytes) == (2, 0, 10)


def test_realtime_stream_truncated_packet_then_valid() -> None:
    decoder = RealtimeStreamDecoder()
    assert decoder.feed(REALTIME_EXAMPLE[:5] + REALTIME_EXAMPLE) == [REALTIME_EXAMPLE_FRAME]
    assert (decoder.discarded_bytes, decoder.bad_frames) == (5, 1)


# ------------------------------------------------------------------------------ host commands


@pytest.mark.parametrize("command", list(HostCommand))
def test_host_command_round_trip(command: HostCommand) -> None:
    assert decode_host_command(encode_host_command(command)) is command


@pytest.mark.parametrize(
    "hex_bytes",
    [
        "7D 81 A3 80 80 80 80 80 80",  # unknown code
        "7D 81 A1 81 80 80 80 80 80",  # unknown parameter
        "01 81 A1 80 80 80 80 80 80",  # not a host command
        "7D 81 A1 80 80 80 80 80",
    ],
)
def test_host_command_malformed(hex_bytes: str) -> None:
    with pytest.raises(DecodeError):
        decode_host_command(bytes.fromhex(hex_bytes))


def test_host_command_decoder() -> None:
    unknown = bytes.fromhex("7D 81 A3 80 80 80 80 80 80")
    stream = START_REALTIME + b"\xff\x00" + unknown + KEEP_ALIVE[:4] + KEEP_ALIVE + STOP_REALTIME
    expected = [HostCommand.START_REALTIME, HostCommand.KEEP_ALIVE, HostCommand.STOP_REALTIME]
    decoder = HostCommandDecoder()
    assert decoder.feed(stream) == expected
    assert decoder.unknown_commands == 1
    assert decoder.bad_frames == 1  # the cut keep-alive
    check_every_split(HostCommandDecoder, stream, expected)


@given(st.lists(st.tuples(any_garbage, st.sampled_from(list(HostCommand))), max_size=5))
def test_host_command_decoder_garbage(pieces: list[tuple[bytes, HostCommand]]) -> None:
    decoder = HostCommandDecoder()
    expected: list[HostCommand] = []
    stream = b""
    for garbage, command in pieces:
        expected += HostCommandDecoder().feed(garbage)
        expected.append(command)
        stream += garbage + encode_host_command(command)
    assert decoder.feed(stream) == expected
