"""The one place that sets the bit rates of the cabin's encoders, so the call fits its uplink.

The protocol's budget is a 500 kbit/s uplink: VP8 video at most 350 kbit/s, Opus speech beside it.
aiortc offers no per-sender setting (no `RTCRtpSender.setParameters`), so this module adjusts the
two encoders where aiortc defines them. Both adjustments are process-wide, which fits a cabin (one
call at a time); `CallClient.start` applies its settings, and applying them again is harmless.

- VP8 (`aiortc.codecs.vpx.Vp8Encoder`) starts at the module constant `DEFAULT_BITRATE`
  (500 kbit/s) and follows the receiver's REMB estimate, clamped between `MIN_BITRATE`
  (250 kbit/s) and `MAX_BITRATE` (1.5 Mbit/s), all read when it runs: the start and the ceiling
  become the cap, and the floor never exceeds it.
- Opus (`aiortc.codecs.opus.OpusEncoder`) is fixed at 96 kbit/s stereo, about 120 kbit/s with its
  RTP headers: with 350 kbit/s of video that is over 500. The sender builds its encoder through
  `aiortc.rtcrtpsender.get_encoder`; that function is wrapped once so that a new Opus encoder gets
  the call's speech rate before it opens (48 kbit/s by default: clear wideband speech).
"""

from __future__ import annotations

from typing import Final

from aiortc import rtcrtpsender
from aiortc.codecs import vpx
from aiortc.codecs.base import Encoder
from aiortc.codecs.opus import OpusEncoder
from aiortc.rtcrtpparameters import RTCRtpCodecParameters

MIN_VIDEO_BPS: Final = 100_000
"""Below this VP8 at 640x480 is a slideshow."""
MIN_AUDIO_BPS: Final = 6_000
MAX_AUDIO_BPS: Final = 510_000
"""Opus's own range."""

_ORIGINAL: Final = "_cabin_original_get_encoder"


def cap_vp8_bitrate(max_bps: int) -> None:
    """Make every VP8 encoder start at, and never exceed, `max_bps` bit/s."""
    if max_bps < MIN_VIDEO_BPS:
        raise ValueError(f"a VP8 cap below {MIN_VIDEO_BPS} bit/s is not usable")
    vpx.MAX_BITRATE = max_bps
    vpx.DEFAULT_BITRATE = max_bps
    vpx.MIN_BITRATE = min(vpx.MIN_BITRATE, max_bps)


def set_opus_bitrate(bps: int) -> None:
    """Make every new Opus encoder of a sender encode at `bps` bit/s."""
    if not MIN_AUDIO_BPS <= bps <= MAX_AUDIO_BPS:
        raise ValueError(f"Opus encodes between {MIN_AUDIO_BPS} and {MAX_AUDIO_BPS} bit/s")
    current = rtcrtpsender.get_encoder  # type: ignore[attr-defined]  # imported, not exported
    original = getattr(current, _ORIGINAL, current)

    def get_encoder(codec: RTCRtpCodecParameters) -> Encoder:
        encoder = original(codec)
        if isinstance(encoder, OpusEncoder):
            encoder.codec.bit_rate = bps
        return encoder

    setattr(get_encoder, _ORIGINAL, original)
    rtcrtpsender.get_encoder = get_encoder  # type: ignore[attr-defined]


def encoder_bitrates() -> tuple[int, int, int]:
    """The VP8 encoder's (floor, start, ceiling) in bit/s."""
    return vpx.MIN_BITRATE, vpx.DEFAULT_BITRATE, vpx.MAX_BITRATE
