"""The cabin's video call with the remote doctor (WebRTC through aiortc).

`CallClient` runs one call; `CabinMedia` owns the camera and the microphone, shared with distress
detection; `CallSettings` holds the protocol's numbers. See hub/PROTOCOL.md, "The call".
"""

from kiosk.call.bitrate import cap_vp8_bitrate, set_opus_bitrate
from kiosk.call.client import (
    CallClient,
    CallLinkState,
    CallStats,
    IncomingMessage,
    SignalingSender,
)
from kiosk.call.errors import CallError
from kiosk.call.ice import loopback_candidates, rtc_configuration
from kiosk.call.media import (
    AplayAudioOutput,
    AudioOutput,
    CabinMedia,
    NullAudioOutput,
    RemoteVideoSink,
    RgbImage,
    open_alsa_microphone,
    open_sound_file_microphone,
    open_v4l2_camera,
)
from kiosk.call.settings import CallSettings

__all__ = [
    "AplayAudioOutput",
    "AudioOutput",
    "CabinMedia",
    "CallClient",
    "CallError",
    "CallLinkState",
    "CallSettings",
    "CallStats",
    "IncomingMessage",
    "NullAudioOutput",
    "RemoteVideoSink",
    "RgbImage",
    "SignalingSender",
    "cap_vp8_bitrate",
    "loopback_candidates",
    "open_alsa_microphone",
    "open_sound_file_microphone",
    "open_v4l2_camera",
    "rtc_configuration",
    "set_opus_bitrate",
]
