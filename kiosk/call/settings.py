"""The call's settings: video format and bit rate, heartbeats, and when to reconnect."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CallSettings:
    """How the cabin's call behaves (hub/PROTOCOL.md, "The call").

    The defaults are the protocol's: 640x480 VP8 at 15 frames/s, at most 350 kbit/s of video, and
    Opus speech at 48 kbit/s (aiortc's own 96 kbit/s would not leave room), so that the call fits
    a 500 kbit/s uplink; a heartbeat every second, "reconnecting" after 3 s of silence, a new peer
    connection after 10 s of silence or a lost link (ICE failed, peer connection or data channel
    closed), then again after `retry_interval_s`, doubling up to `retry_max_interval_s`, until the
    call connects or ends.
    """

    video_width: int = 640
    video_height: int = 480
    video_fps: int = 15
    max_video_bitrate_bps: int = 350_000
    """Ceiling of the VP8 encoder's target, whatever the doctor's REMB allows (`bitrate.py`)."""
    audio_bitrate_bps: int = 48_000
    """Opus speech; aiortc's own 96 kbit/s with the video would not fit 500 kbit/s."""
    heartbeat_interval_s: float = 1.0
    reconnecting_after_s: float = 3.0
    """Silence on the data channel after which the link is shown as reconnecting."""
    renegotiate_after_s: float = 10.0
    """Silence after which the cabin starts over with a new peer connection and offer."""
    retry_interval_s: float = 5.0
    """Time given to a new peer connection to connect before the next one, doubled each time."""
    retry_max_interval_s: float = 15.0
    gathering_timeout_s: float = 10.0
    """Longest wait for ICE gathering (aiortc gathers everything before it offers)."""
    signaling_timeout_s: float = 5.0
    """Longest wait for the hub to take a signaling message, or to apply the doctor's answer."""
    close_timeout_s: float = 5.0
    """Longest wait for a peer connection to close."""
    loopback_only: bool = False
    """Gather host candidates on 127.0.0.1 only and ignore the peer's other candidates: for the
    demo and the tests, which never send a packet off the machine (`ice.py`, STACK.md)."""

    def __post_init__(self) -> None:
        if min(self.video_width, self.video_height, self.video_fps) <= 0:
            raise ValueError("video size and frame rate must be positive")
        if self.max_video_bitrate_bps <= 0 or self.audio_bitrate_bps <= 0:
            raise ValueError("bit rates must be positive")
        timeouts = (
            self.heartbeat_interval_s,
            self.retry_interval_s,
            self.gathering_timeout_s,
            self.signaling_timeout_s,
            self.close_timeout_s,
        )
        if min(timeouts) <= 0:
            raise ValueError("intervals and timeouts must be positive")
        if not self.heartbeat_interval_s < self.reconnecting_after_s < self.renegotiate_after_s:
            raise ValueError(
                "expected heartbeat_interval_s < reconnecting_after_s < renegotiate_after_s"
            )
        if self.retry_max_interval_s < self.retry_interval_s:
            raise ValueError("retry_max_interval_s is below retry_interval_s")
