"""The camera and the microphone closed between patients when distress detection does not watch,
opened for each session, and kept open when it watches.

The sources are real captures of files (`MediaCapture`, the reader a V4L2 camera and an ALSA
microphone go through) and the simulators' synthetic camera: released means the track ended,
the capture's thread ended and its container (the device) closed; reopened means new frames.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import av
import msgspec
import pytest
from aiortc.mediastreams import MediaStreamError

import wire
from demo.root import start_core
from devices.cancellation import within
from kiosk.bus import EventBus
from kiosk.call.capture import MediaCapture
from kiosk.call.media import CabinMedia, NullAudioOutput
from kiosk.call.media_power import MediaPower, watches_empty_cabin
from kiosk.config import DistressSection, load_config
from kiosk.events import CameraMicrophoneChanged
from kiosk.session import Session, SessionTimeouts
from kiosk.session_states import EndReason, SessionState
from kiosk.store import DatabaseKey
from simulators.media import SyntheticCamera, write_speech_wav
from tests.kiosk.call.test_capture import capture_threads, write_video
from tests.kiosk.test_session import FakeClock

KEY = DatabaseKey.generate()
TIMEOUT_S = 10.0


class Devices:
    """Opens the cabin's media from files, as `call_setup.open_media` opens devices, and keeps
    each capture to look at it."""

    def __init__(self, video: Path, wav: Path) -> None:
        self.video, self.wav = video, wav
        self.captures: list[tuple[MediaCapture, MediaCapture]] = []

    def open(self) -> CabinMedia:
        camera = MediaCapture(str(self.video), loop=True)
        microphone = MediaCapture(str(self.wav), loop=True)
        assert camera.video is not None and microphone.audio is not None
        self.captures.append((camera, microphone))
        return CabinMedia(
            camera=camera.video, microphone=microphone.audio, audio_output=NullAudioOutput()
        )


@pytest.fixture
def devices(tmp_path: Path) -> Devices:
    wav = write_speech_wav(tmp_path / "oui.wav", "Oui.", "fr")
    return Devices(write_video(tmp_path / "camera.mkv", 25), wav)


def released(capture: MediaCapture) -> bool:
    return capture._container is None and capture._thread is None


async def a_frame(media: CabinMedia) -> None:
    camera, microphone = media.subscribe_camera(), media.subscribe_microphone()
    assert isinstance(await within(camera.recv(), TIMEOUT_S), av.VideoFrame)
    assert isinstance(await within(microphone.recv(), TIMEOUT_S), av.AudioFrame)
    camera.stop()
    microphone.stop()


def cabin() -> tuple[Session, EventBus, list[bool]]:
    bus = EventBus()
    said: list[bool] = []
    bus.subscribe(CameraMicrophoneChanged, lambda e: said.append(e.on))
    return Session(bus, FakeClock(), SessionTimeouts()), bus, said


def test_without_distress_detection_they_are_open_only_during_a_session(devices: Devices) -> None:
    async def scenario() -> None:
        session, bus, said = cabin()
        media = devices.open()
        await a_frame(media)  # the warm-up's: running, its threads started
        assert len(capture_threads()) == 2
        waiting = media.subscribe_camera()
        power = MediaPower(media, devices.open, session, bus, always_on=False)
        await power.start()  # idle: released at once
        assert not power.on and media.suspended
        assert all(released(c) for c in devices.captures[0])
        assert capture_threads() == []
        with pytest.raises(MediaStreamError):
            await within(waiting.recv(), TIMEOUT_S)  # its subscribers ended too

        session.advance(SessionState.WELCOME)  # the patient pressed Start
        await power.settled()
        assert power.on and not media.suspended and len(devices.captures) == 2
        await a_frame(media)  # what the call subscribes to now gives frames

        session.end(EndReason.COMPLETED)  # wiped
        await power.settled()
        assert not power.on
        assert all(released(c) for c in devices.captures[1])
        assert capture_threads() == []

        assert session.state is SessionState.IDLE  # ended before any instrument: no cleaning
        session.advance(SessionState.WELCOME)  # the next patient
        await power.settled()
        await a_frame(media)
        assert said == [True, False, True, False, True]
        await power.aclose()
        await media.close()
        assert all(released(c) for pair in devices.captures for c in pair)

    asyncio.run(scenario())


def test_the_synthetic_camera_is_stopped_between_patients(devices: Devices) -> None:
    cameras: list[SyntheticCamera] = []

    def open_synthetic() -> CabinMedia:
        cameras.append(SyntheticCamera())
        microphone = MediaCapture(str(devices.wav), loop=True).audio
        assert microphone is not None
        return CabinMedia(camera=cameras[-1], microphone=microphone, audio_output=NullAudioOutput())

    async def scenario() -> None:
        session, bus, _ = cabin()
        media = open_synthetic()
        power = MediaPower(media, open_synthetic, session, bus, always_on=False)
        await power.start()
        assert cameras[0].readyState == "ended"
        session.advance(SessionState.WELCOME)
        await power.settled()
        assert cameras[1].readyState == "live"
        await a_frame(media)
        rendered = cameras[1].frames_rendered
        session.end(EndReason.ABANDONED)
        await power.settled()
        assert cameras[1].readyState == "ended"
        await asyncio.sleep(0.3)
        assert cameras[1].frames_rendered == rendered  # nothing filmed any more
        await power.aclose()
        await media.close()

    asyncio.run(scenario())


def test_with_distress_detection_they_stay_open(devices: Devices) -> None:
    async def scenario() -> None:
        session, bus, said = cabin()
        media = devices.open()
        power = MediaPower(media, devices.open, session, bus, always_on=True)
        await power.start()
        watching = media.subscribe_camera()  # distress detection watches the empty cabin
        assert isinstance(await within(watching.recv(), TIMEOUT_S), av.VideoFrame)
        session.advance(SessionState.WELCOME)
        session.end(EndReason.COMPLETED)
        await power.settled()
        assert power.on and len(devices.captures) == 1  # never closed, never reopened
        assert isinstance(await within(watching.recv(), TIMEOUT_S), av.VideoFrame)
        assert said == [True]
        await power.aclose()
        await media.close()

    asyncio.run(scenario())


def test_a_camera_that_cannot_be_reopened_is_said_and_the_session_goes_on(
    devices: Devices, caplog: pytest.LogCaptureFixture
) -> None:
    def unplugged() -> CabinMedia:
        raise OSError("/dev/video0: No such device")

    async def scenario() -> None:
        session, bus, said = cabin()
        media = devices.open()
        power = MediaPower(media, unplugged, session, bus, always_on=False)
        await power.start()
        session.advance(SessionState.WELCOME)
        await power.settled()
        assert not power.on and session.state is SessionState.WELCOME
        assert said == [True, False]
        await power.aclose()
        await media.close()

    with caplog.at_level(logging.ERROR):
        asyncio.run(scenario())
    assert "media.reopen_failed" in caplog.text


def test_what_watches_the_empty_cabin() -> None:
    assert watches_empty_cabin(DistressSection())
    assert not watches_empty_cabin(DistressSection(enabled=False))
    assert not watches_empty_cabin(DistressSection(camera=False, microphone=False))
    assert watches_empty_cabin(DistressSection(camera=False))


def test_the_core_without_distress_detection_releases_them_at_idle(tmp_path: Path) -> None:
    """The composition root's hook: the warm-up opens them, the idle cabin releases them, a
    session opens them again for the call."""

    async def scenario() -> None:
        config = load_config(None)
        config = msgspec.structs.replace(
            config, distress=msgspec.structs.replace(config.distress, enabled=False)
        )
        core = await start_core(config, tmp_path, env={"CABIN_DB_KEY": KEY.hex()}, instruments={})
        try:
            power = core.media_power
            assert power is not None and not power.always_on and not power.on
            await core.consultation.start("fr")
            await power.settled()
            assert power.on
            media = getattr(core.media, "media", None)
            assert isinstance(media, CabinMedia)
            await a_frame(media)
            core.session.end(EndReason.ABANDONED)
            await power.settled()
            assert not power.on and media.suspended
        finally:
            await core.aclose()

    asyncio.run(scenario())


def test_the_self_test_opens_them_for_its_checks_then_releases_them(
    devices: Devices, tmp_path: Path
) -> None:
    """Between patients, distress detection off: the nightly self-test still sees the camera
    (the devices held open for its checks: the indicator says so), then lets them go."""
    from kiosk.selftest.service import SelfTest  # noqa: PLC0415
    from kiosk.store import AsyncStore  # noqa: PLC0415
    from tests.kiosk.selftest.test_service import parts  # noqa: PLC0415

    async def scenario() -> None:
        session, bus, said = cabin()
        media = devices.open()
        power = MediaPower(media, devices.open, session, bus, always_on=False)
        await power.start()
        assert media.suspended
        store = await AsyncStore.open(tmp_path / "cabin.db", KEY)
        try:
            selftest = SelfTest(parts(store, session, tmp_path, media=media, media_held=power.held))
            report = await selftest.run(wire.SelfTestTrigger.NIGHTLY)
        finally:
            await store.close()
        outcomes = {r.check: r.outcome for r in report.results}
        assert outcomes[wire.SelfTestCheck.CAMERA] is wire.SelfTestOutcome.PASSED
        assert not power.on and media.suspended  # released after
        assert all(released(c) for pair in devices.captures for c in pair)
        assert said == [True, False, True, False]
        await power.aclose()
        await media.close()

    asyncio.run(scenario())
