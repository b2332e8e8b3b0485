"""The signals between replicas: each packs and unpacks as itself; anything else is refused."""

from __future__ import annotations

import msgspec
import pytest

from hub.signals import (
    AlertsChanged,
    Audience,
    BadSignal,
    CabinAway,
    CallsChanged,
    CloseSession,
    Deliver,
    PeerReplaced,
    RoomChanged,
    Signal,
    VitalsChanged,
    decode_signal,
    encode_signal,
)

SIGNALS: list[Signal] = [
    Deliver(Audience.CABIN, "cabin-1", '{"type":"ack"}', "msg-1"),
    Deliver(Audience.DOCTOR, "dr.a", "{}"),
    Deliver(Audience.AGENTS, "cabin-1", "{}"),
    Deliver(Audience.CONSOLES, "", "{}"),
    CabinAway(cabin_id="cabin-1"),
    RoomChanged(),
    RoomChanged(consultation_id="c-1"),
    CallsChanged(consultation_id="c-1"),
    VitalsChanged(consultation_id="c-1"),
    CallsChanged(),
    AlertsChanged(),
    CloseSession(session_sha256="ab" * 32),
    PeerReplaced(cabin_id="cabin-1", replica="0123456789ab"),
]


@pytest.mark.parametrize("signal", SIGNALS, ids=lambda s: type(s).__name__)
def test_a_signal_round_trips(signal: Signal) -> None:
    assert decode_signal(encode_signal(signal)) == signal


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"not msgpack at all \xff",
        msgspec.msgpack.encode({"type": "unknown"}),
        msgspec.msgpack.encode({"type": "deliver", "audience": "everyone", "who": "", "text": ""}),
        msgspec.msgpack.encode({"type": "cabin_away"}),
    ],
)
def test_bytes_that_are_no_signal_are_refused(payload: bytes) -> None:
    with pytest.raises(BadSignal):
        decode_signal(payload)
