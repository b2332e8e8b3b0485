"""How the composition root builds the call: the cabin's media and a call client per call.

A real cabin's configuration names a V4L2 camera, an ALSA microphone and an ALSA speaker; the
demo's says "synthetic" (the simulators' drawn scene and a spoken sound file) and "null" (no
sound card), and ``loopback_only`` (no packet leaves the machine).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, cast

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
    open_sound_file_microphone,
    open_v4l2_camera,
)
from kiosk.call.settings import CallSettings
from kiosk.config import Config
from kiosk.events import CallLink
from kiosk.teleconsultation import CallFactory, CallRequest, CallSession, FrameSink

if TYPE_CHECKING:
    from simulators.media import CabinScene

log = logging.getLogger(__name__)

SYNTHETIC = "synthetic"
SCENE = "scene:"  # the camera plays one of the simulators' scenes (python -m simulators.scenes)
SOUND = "sound:"  # the microphone plays one of the sound scenes (python -m simulators.sounds)
DEMO_SPEECH = (
    "Bonjour docteur. Je tousse depuis trois jours, et j'ai un peu mal à la gorge."
    " Je n'ai pas de fièvre, je crois."
)
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


def open_media(config: Config, data_dir: Path) -> CabinMedia:
    """The cabin's camera, microphone and speaker, opened once for every call (blocking)."""
    settings = call_settings(config)
    call = config.call
    output: AudioOutput = (
        NullAudioOutput() if call.speaker == "null" else AplayAudioOutput(call.speaker)
    )
    if call.camera.startswith(SCENE):
        from simulators.media import SyntheticCamera  # noqa: PLC0415
        from simulators.scenes import scene_by_name  # noqa: PLC0415 - demo only

        scene = scene_by_name(call.camera.removeprefix(SCENE)).cabin_scene()
        camera: MediaStreamTrack = SyntheticCamera(scene, fps=settings.video_fps)
    elif call.camera == SYNTHETIC:
        from simulators.live_cabin import LiveCabin  # noqa: PLC0415 - demo only
        from simulators.media import CabinScene, SyntheticCamera  # noqa: PLC0415

        cabin = LiveCabin()  # empty until a patient comes in (``follow_sessions``)
        scene = CabinScene(cabin, door_open_at=cabin.door_open_at)
        camera = SyntheticCamera(scene, fps=settings.video_fps)
    else:
        camera = open_v4l2_camera(call.camera, settings)
    if call.microphone.startswith(SOUND):
        from simulators import sounds  # noqa: PLC0415 - demo only

        name = call.microphone.removeprefix(SOUND)
        found = [sc for sc in (*sounds.call_scenes(), *sounds.normal_scenes()) if sc.name == name]
        if not found:
            raise OSError(f"no sound scene named {name!r}")
        wav = sounds.write_scene(found[0], data_dir / "simulators")
        microphone = open_sound_file_microphone(wav)
    elif call.microphone == SYNTHETIC:
        from simulators.media import write_speech_wav  # noqa: PLC0415 - demo only

        folder = data_dir / "simulators"
        folder.mkdir(parents=True, exist_ok=True)
        speech = write_speech_wav(folder / "patient-speech.wav", DEMO_SPEECH, "fr")
        microphone = open_sound_file_microphone(speech)
    else:
        microphone = open_alsa_microphone(call.microphone)
    log.info("call.media_opened camera=%s microphone=%s", call.camera, call.microphone)
    return CabinMedia(camera=camera, microphone=microphone, audio_output=output)


def synthetic_scene(media: CabinMedia) -> CabinScene | None:
    """The drawn cabin the synthetic camera films (the demo plays its scenes there), if any."""
    from simulators.media import SyntheticCamera  # noqa: PLC0415 - demo only

    camera = media.camera_source
    return camera.scene if isinstance(camera, SyntheticCamera) else None


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
