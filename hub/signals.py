"""What one replica of the hub tells another, through the `Cluster`'s signals (opaque bytes
there, packed and unpacked here only).

A signal is a hint, never the truth: it may be lost (Redis restarted, the link dropped), so
whoever gets one re-reads the database, and does so anyway on every (re)connection and on a
timer. The one exception is `Deliver`, a message for a socket the receiver holds: lost, it is
like a message lost on a dropped socket (a reading, an ICE candidate); what must arrive (a
prescription, advice, an alert) is sent again until acknowledged.
"""

from __future__ import annotations

import enum

import msgspec


class Audience(enum.StrEnum):
    """Who a `Deliver` is for, on the replica that gets it."""

    CABIN = "cabin"
    """The cabin `who`."""
    DOCTOR = "doctor"
    """Every console of the doctor `who`."""
    AGENTS = "agents"
    """Every agent page whose agent looks after the cabin `who`."""
    CONSOLES = "consoles"
    """Every console (`who` is empty)."""


class Deliver(msgspec.Struct, frozen=True, tag="deliver"):
    """A wire message (encoded, as its sockets get it) for sockets the receiver holds."""

    audience: Audience
    who: str
    text: str
    pending_msg_id: str | None = None
    """A prescription's or advice's id: the cabin's replica counts it as sent (it goes again
    from there until acknowledged)."""


class RoomChanged(msgspec.Struct, frozen=True, tag="room_changed"):
    """The waiting room has changed in the database (a join, a leave): that consultation's,
    or (None) several."""

    consultation_id: str | None = None


class VitalsChanged(msgspec.Struct, frozen=True, tag="vitals_changed"):
    """A waiting patient's readings have grown in the database: re-read that one's."""

    consultation_id: str


class CallsChanged(msgspec.Struct, frozen=True, tag="calls_changed"):
    """A call has begun or ended in the database: that consultation's, or (None) several."""

    consultation_id: str | None = None


class AlertsChanged(msgspec.Struct, frozen=True, tag="alerts_changed"):
    """An alert has been raised, acknowledged or escalated in the database."""


class CloseSession(msgspec.Struct, frozen=True, tag="close_session"):
    """A session has ended (signed out): close its sockets."""

    session_sha256: str


class PeerReplaced(msgspec.Struct, frozen=True, tag="peer_replaced"):
    """A cabin has connected to `replica`: any other replica's socket of it is an older one."""

    cabin_id: str
    replica: str


class CabinAway(msgspec.Struct, frozen=True, tag="cabin_away"):
    """A cabin's socket on the sender has closed (it may be connected elsewhere: look)."""

    cabin_id: str


class ConsoleHere(msgspec.Struct, frozen=True, tag="console_here"):
    """A doctor's first console on `replica` has opened: messages for the doctor go there too
    (the other replicas' routing adds it to who they know holds the doctor's consoles)."""

    doctor: str
    replica: str


Signal = (
    Deliver
    | CabinAway
    | ConsoleHere
    | RoomChanged
    | VitalsChanged
    | CallsChanged
    | AlertsChanged
    | CloseSession
    | PeerReplaced
)

_encoder = msgspec.msgpack.Encoder()
_decoder: msgspec.msgpack.Decoder[Signal] = msgspec.msgpack.Decoder(Signal)


class BadSignal(ValueError):
    """Bytes from the cluster that are not a signal of this version."""


def encode_signal(signal: Signal) -> bytes:
    return _encoder.encode(signal)


def decode_signal(payload: bytes) -> Signal:
    try:
        return _decoder.decode(payload)
    except msgspec.DecodeError as exc:
        raise BadSignal(str(exc)) from exc
