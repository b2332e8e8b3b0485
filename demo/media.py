"""The demo's camera and microphone: the simulators' drawn cabin and the patient's voice.

``call.camera = "synthetic"`` films a live drawn cabin (`simulators.live_cabin.LiveCabin`): empty
until a session starts, when a patient comes in (`follow_sessions`); ``"scene:NAME"`` plays a
named scene. ``call.microphone = "synthetic"`` plays the demo patient's spoken sentence, and
``"sound:NAME"`` a named sound scene. Any other name is the product's (a V4L2 camera, an ALSA
microphone).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from kiosk.bus import EventBus, Subscription
from kiosk.demo_settings import SCENE, SOUND, SYNTHETIC
from kiosk.events import SessionStateChanged
from kiosk.session_states import EndReason, SessionState

if TYPE_CHECKING:
    # Heavy (aiortc, PyAV, numpy, OpenCV): loaded by the warm-up, on its worker thread, when it
    # opens the camera and the microphone (`DemoMediaSource`), never with the first screen.
    from aiortc.mediastreams import MediaStreamTrack

    from kiosk.app import KioskCore
    from kiosk.call.media import CabinMedia
    from kiosk.call.settings import CallSettings
    from simulators.live_cabin import LiveCabin
    from simulators.media import CabinScene

log = logging.getLogger(__name__)

DEMO_SPEECH = (
    "Bonjour docteur. Je tousse depuis trois jours, et j'ai un peu mal à la gorge."
    " Je n'ai pas de fièvre, je crois."
)
"""What the demo patient says to the doctor (``call.microphone = "synthetic"``)."""


class DemoMediaSource:
    """The product's `kiosk.call_setup.MediaSource`: the demo's names, None for the others."""

    def camera(self, name: str, settings: CallSettings) -> MediaStreamTrack | None:
        from simulators.live_cabin import LiveCabin  # noqa: PLC0415 - see above
        from simulators.media import CabinScene, SyntheticCamera  # noqa: PLC0415
        from simulators.scenes import scene_by_name  # noqa: PLC0415

        if name.startswith(SCENE):
            scene = scene_by_name(name.removeprefix(SCENE)).cabin_scene()
            return SyntheticCamera(scene, fps=settings.video_fps)
        if name == SYNTHETIC:
            cabin = LiveCabin()  # empty until a patient comes in (`follow_sessions`)
            return SyntheticCamera(
                CabinScene(cabin, door_open_at=cabin.door_open_at), fps=settings.video_fps
            )
        return None

    def microphone(self, name: str, data_dir: Path) -> MediaStreamTrack | None:
        from kiosk.call.media import open_sound_file_microphone  # noqa: PLC0415 - see above
        from simulators import sounds  # noqa: PLC0415
        from simulators.media import write_speech_wav  # noqa: PLC0415

        folder = data_dir / "simulators"
        if name.startswith(SOUND):
            wanted = name.removeprefix(SOUND)
            found = [
                scene
                for scene in (*sounds.call_scenes(), *sounds.normal_scenes())
                if scene.name == wanted
            ]
            if not found:
                raise OSError(f"no sound scene named {wanted!r}")
            return open_sound_file_microphone(sounds.write_scene(found[0], folder))
        if name == SYNTHETIC:
            folder.mkdir(parents=True, exist_ok=True)
            speech = write_speech_wav(folder / "patient-speech.wav", DEMO_SPEECH, "fr")
            return open_sound_file_microphone(speech)
        return None


def scene_of(media: CabinMedia | None) -> CabinScene | None:
    """The drawn cabin the camera films, if the camera is the demo's."""
    if media is None:
        return None
    from simulators.media import SyntheticCamera  # noqa: PLC0415 - loaded with the camera

    camera = media.camera_source
    return camera.scene if isinstance(camera, SyntheticCamera) else None


def live_cabin(core: KioskCore) -> LiveCabin | None:
    """The live drawn cabin the demo core's camera films (``call.camera = "synthetic"``), once
    the warm-up has opened it."""
    from simulators.live_cabin import LiveCabin  # noqa: PLC0415 - loaded with the camera

    scene = scene_of(core.cabin_media)
    return scene.script if scene is not None and isinstance(scene.script, LiveCabin) else None


def follow_sessions(cabin: LiveCabin, bus: EventBus) -> Subscription:
    """A patient comes in when a session starts and leaves when it ends (not after a fall:
    they wait for help; not when distress detection saw them leave: they are gone)."""

    def on_state(event: SessionStateChanged) -> None:
        if event.previous is SessionState.IDLE and event.state is SessionState.WELCOME:
            cabin.enter()
        elif (
            event.end_reason is not None
            and event.end_reason is not EndReason.ABSENCE
            and cabin.state == "seated"
        ):
            cabin.leave()

    return bus.subscribe(SessionStateChanged, on_state)


def patient_follows_sessions(core: KioskCore, media: CabinMedia) -> None:
    """The wiring's media hook: the live drawn cabin's patient follows the core's sessions."""
    from simulators.live_cabin import LiveCabin  # noqa: PLC0415 - loaded with the camera

    scene = scene_of(media)
    if scene is not None and isinstance(scene.script, LiveCabin):
        follow_sessions(scene.script, core.bus)
        log.info("demo.camera_follows_sessions")
