"""The encoders' bit rates: VP8 capped whatever the REMB says, Opus at the call's speech rate."""

from __future__ import annotations

from typing import Any

import pytest
from aiortc import rtcrtpsender
from aiortc.codecs import vpx
from aiortc.codecs.opus import OpusEncoder
from aiortc.rtcrtpparameters import RTCRtpCodecParameters

from kiosk.call.bitrate import cap_vp8_bitrate, encoder_bitrates, set_opus_bitrate
from kiosk.call.settings import CallSettings


@pytest.fixture
def restore_aiortc(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MIN_BITRATE", "DEFAULT_BITRATE", "MAX_BITRATE"):
        monkeypatch.setattr(vpx, name, getattr(vpx, name))
    monkeypatch.setattr(rtcrtpsender, "get_encoder", vars(rtcrtpsender)["get_encoder"])


def sender_encoder(codec: RTCRtpCodecParameters) -> Any:
    """The encoder an `RTCRtpSender` would build for `codec`."""
    return vars(rtcrtpsender)["get_encoder"](codec)


def test_vp8_starts_at_and_never_exceeds_the_cap(restore_aiortc: None) -> None:
    cap_vp8_bitrate(CallSettings().max_video_bitrate_bps)
    encoder = vpx.Vp8Encoder()
    assert encoder.target_bitrate == 350_000
    encoder.target_bitrate = 2_000_000  # the doctor's REMB says the link could take more
    assert encoder.target_bitrate == 350_000
    encoder.target_bitrate = 300_000  # less: followed
    assert encoder.target_bitrate == 300_000
    cap_vp8_bitrate(200_000)
    assert encoder_bitrates() == (200_000, 200_000, 200_000)
    with pytest.raises(ValueError):
        cap_vp8_bitrate(10_000)


def test_opus_encoders_made_by_senders_get_the_speech_rate(restore_aiortc: None) -> None:
    opus = RTCRtpCodecParameters(mimeType="audio/opus", clockRate=48000, channels=2)
    vp8 = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000)
    current = vars(rtcrtpsender)["get_encoder"]
    # aiortc's own (an earlier call of the suite may have wrapped it already: process-wide)
    original = getattr(current, "_cabin_original_get_encoder", current)
    assert original(opus).codec.bit_rate == 96_000
    set_opus_bitrate(48_000)
    set_opus_bitrate(32_000)  # wraps aiortc's function once, not twice
    encoder = sender_encoder(opus)
    assert isinstance(encoder, OpusEncoder) and encoder.codec.bit_rate == 32_000
    assert isinstance(sender_encoder(vp8), vpx.Vp8Encoder)
    with pytest.raises(ValueError):
        set_opus_bitrate(1_000)


def test_settings_refuse_inconsistent_numbers() -> None:
    with pytest.raises(ValueError):
        CallSettings(reconnecting_after_s=12.0)  # after the renegotiation
    with pytest.raises(ValueError):
        CallSettings(retry_interval_s=20.0)  # above its maximum
    with pytest.raises(ValueError):
        CallSettings(video_fps=0)
