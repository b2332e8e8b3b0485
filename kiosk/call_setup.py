"""How the composition root builds the call: the cabin's media and a call client per call.

A real cabin's configuration names a V4L2 camera, an ALSA microphone and an ALSA speaker. The
demo's says "synthetic", "scene:NAME" or "sound:NAME" (a drawn scene, a spoken sound file):
those come from a `MediaSource` that the demo's composition root supplies (``demo.media``);
without one they are refused, with the key named. "null" is a speaker that drops the sound (no
sound card), and ``loopback_only`` keeps every packet on the machine.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, cast

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av.video.reformatter import VideoReformatter
from numpy.typing import NDArray

from kiosk.call.client import CallClient, CallLinkState
from kiosk.call.media import (
    AplayAudioOutput,
    AudioOutput,
    CabinMedia,
    NullAudioOutput,
    open_alsa_microphone,
    open_v4l2_camera,
)
from kiosk.call.settings import CallSettings
from kiosk.config import Config
from kiosk.demo_settings import is_demo_camera, is_demo_microphone
from kiosk.events import CallLink
from kiosk.teleconsultation import CallFactory, CallRequest, CallSession, FrameSink

log = logging.getLogger(__name__)

_LINKS = {
    CallLinkState.CONNECTING: CallLink.CONNECTING,
    CallLinkState.CONNECTED: CallLink.CONNECTED,
    CallLinkState.RECONNECTING: CallLink.RECONNECTING,
    CallLinkState.ENDED: CallLink.ENDED,
}


def call_settings(config: Config) -> CallSettings:
    call = config.call
    return CallSettings(
        video_width=call.width,
        video_height=call.height,
        video_fps=call.fps,
        max_video_bitrate_bps=call.max_video_kbps * 1000,
        loopback_only=call.loopback_only,
    )


class MediaSource(Protocol):
    """Cameras and microphones that are no device of this machine (the demo's drawn cabin and
    spoken sound). Each method opens the named one (blocking: it runs on a worker thread), or
    returns None for a name it does not serve."""

    def camera(self, name: str, settings: CallSettings) -> MediaStreamTrack | None: ...

    def microphone(self, name: str, data_dir: Path) -> MediaStreamTrack | None: ...


def open_media(config: Config, data_dir: Path, source: MediaSource | None = None) -> CabinMedia:
    """The cabin's camera, microphone and speaker, opened once for every call (blocking): a
    V4L2 camera and an ALSA microphone, unless ``source`` serves the configured names. A demo
    name that no source served is refused before any device is opened."""
    settings = call_settings(config)
    call = config.call
    camera: MediaStreamTrack | None = None
    microphone: MediaStreamTrack | None = None
    try:
        if source is not None:
            camera = source.camera(call.camera, settings)
            microphone = source.microphone(call.microphone, data_dir)
        if camera is None and is_demo_camera(call.camera):
            raise OSError(
                f"call.camera = {call.camera!r} is the demo's drawn camera (python -m demo);"
                " a real cabin names its V4L2 device (/dev/video0)"
            )
        if microphone is None and is_demo_microphone(call.microphone):
            raise OSError(
                f"call.microphone = {call.microphone!r} is the demo's recorded voice"
                " (python -m demo); a real cabin names its ALSA capture device (default)"
            )
        if camera is None:
            camera = open_v4l2_camera(call.camera, settings)
        if microphone is None:
            microphone = open_alsa_microphone(call.microphone)
    except BaseException:
        for track in (camera, microphone):
            if track is not None:
                track.stop()
        raise
    output: AudioOutput = (
        NullAudioOutput() if call.speaker == "null" else AplayAudioOutput(call.speaker)
    )
    log.info("call.media_opened camera=%s microphone=%s", call.camera, call.microphone)
    return CabinMedia(camera=camera, microphone=microphone, audio_output=output)


def call_factory(media: CabinMedia, settings: CallSettings) -> CallFactory:
    """A call client per accepted call, on the cabin's shared media."""

    def make(request: CallRequest) -> CallSession:
        return CallClient(
            consultation_id=request.consultation_id,
            accepted=request.accepted,
            signaling=request.signaling,
            media=media,
            settings=settings,
            on_link_state=lambda state: request.on_link(_LINKS[state]),
            on_message=request.on_message,
            on_remote_frame=request.on_remote_frame,
        )

    return make


PREVIEW_EVERY = 3  # the patient's own image, small: 5 frames/s is plenty


def local_preview(media: CabinMedia) -> Callable[[FrameSink], Callable[[], None]]:
    """Start showing the cabin's own camera to ``sink``; returns what stops it."""

    def start(sink: FrameSink) -> Callable[[], None]:
        track = media.subscribe_camera()
        # Its own converter: the frame is shared with the call's encoder, and a frame's own
        # `to_ndarray(format=...)` uses one scaler per frame, unsafe from two threads at once.
        converter = VideoReformatter()

        def to_rgb(frame: av.VideoFrame) -> NDArray[np.uint8]:
            return cast("NDArray[np.uint8]", converter.reformat(frame, format="rgb24").to_ndarray())

        async def show() -> None:
            index = 0
            while True:
                try:
                    frame = await track.recv()
                except MediaStreamError:
                    return
                index += 1
                if index % PREVIEW_EVERY == 0 and isinstance(frame, av.VideoFrame):
                    sink(await asyncio.to_thread(to_rgb, frame))

        task = asyncio.get_running_loop().create_task(show())

        def stop() -> None:
            task.cancel()
            track.stop()

        return stop

    return start
