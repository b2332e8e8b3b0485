"""From detections to alerts, on the real core (a real SQLCipher file, the real session and bus):
what each kind does in each state, "I am fine", the agent's and the doctor's answers through the
hub, the assistant's acknowledgement, dangerous vitals, and the media pipeline (frames scaled to
the analysis size at the analysis rate, sound resampled to mono blocks on a continuous clock)."""

from __future__ import annotations

import asyncio
import dataclasses
import fractions
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from pathlib import Path

import av
import msgspec
import numpy as np
import pytest
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

import wire
from demo.root import start_core
from devices.reading import Quantity, Reading, ReadingKind, Value
from kiosk.app import KioskCore
from kiosk.assistant import UnlockOutcome
from kiosk.config import load_config
from kiosk.distress.alerts import PATIENT
from kiosk.distress.detection import Detection, RgbFrame, Samples
from kiosk.distress.monitor import AnalysisSettings, DistressMonitor
from kiosk.distress.vitals import DangerousVitals
from kiosk.events import (
    AlertCleared,
    AlertRaised,
    HelpComing,
    RemeasureAsked,
    SessionStateChanged,
)
from kiosk.patient import PatientIdentity, Sex
from kiosk.session_states import EndReason, Overlay, SessionState
from kiosk.store import DatabaseKey, Store
from kiosk.visit_reasons import VisitReason
from simulators import scenes
from simulators.media import PersonPose, PoseScript
from tests.kiosk.test_session import FakeClock

KEY = DatabaseKey.generate()
PATIENT_ID = PatientIdentity("Le Gall", "Anne-Marie", date(1940, 7, 14), Sex.FEMALE)
AT = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
Kind = wire.AlertKind


def with_core(
    tmp_path: Path, body: Callable[[KioskCore, list[wire.Message]], Awaitable[None]]
) -> None:
    """The core without a hub link; what the alert desk would send to the hub is collected."""

    async def scenario() -> None:
        core = await start_core(
            load_config(None),
            tmp_path,
            env={"CABIN_DB_KEY": KEY.hex()},
            clock=FakeClock(),
            instruments={},
            connect_hub=False,
        )
        sent: list[wire.Message] = []

        async def send(message: wire.Message) -> None:
            sent.append(message)

        assert core.alerts is not None
        core.alerts.send = send
        try:
            await body(core, sent)
        finally:
            await core.aclose()

    asyncio.run(scenario())


def monitor_of(core: KioskCore) -> DistressMonitor:
    assert core.distress is not None
    return core.distress


async def in_session(core: KioskCore) -> str:
    c = core.consultation
    await c.start("fr")
    await c.choose_identify()
    await c.identify(PATIENT_ID)
    await c.consent(True)
    consultation_id = core.session.context.consultation_id
    assert consultation_id is not None
    return consultation_id


def detection(kind: wire.AlertKind, confidence: float = 0.9) -> Detection:
    return Detection(kind, confidence, at_s=10.0, event_at_s=9.0, detail="test")


PATIENCE_S = 30.0  # for what takes milliseconds: only a real failure (or a hang) waits this long


async def until(predicate: Callable[[], bool], what: str, timeout_s: float = PATIENCE_S) -> None:
    """Wait for what the monitor's own tasks do (store, overlay, hub), not for a fixed time;
    fail the test, saying what it waited for, after `timeout_s`."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        await asyncio.sleep(0.01)


def alerts_sent(sent: list[wire.Message]) -> list[wire.AlertKind]:
    return [m.kind for m in sent if isinstance(m, wire.AlertMessage)]


def test_a_fall_in_a_session_raises_a_stored_alert_with_the_overlay_and_tells_the_hub(
    tmp_path: Path,
) -> None:
    async def body(core: KioskCore, sent: list[wire.Message]) -> None:
        raised: list[AlertRaised] = []
        core.bus.subscribe(AlertRaised, raised.append)
        consultation_id = await in_session(core)
        monitor_of(core)._detected(detection(Kind.FALL, 0.93))
        await until(lambda: bool(sent), "the alert sent to the hub (stored and shown before)")
        assert core.session.overlay is Overlay.DISTRESS
        assert [r.kind for r in raised] == [Kind.FALL]
        stored = await core.store.run(Store.alerts, True)
        assert [(a.kind, a.severity, a.confidence) for a in stored] == [("fall", "critical", 0.93)]
        [message] = sent
        assert isinstance(message, wire.AlertMessage)
        assert message.kind is Kind.FALL and message.severity is wire.AlertSeverity.CRITICAL
        assert message.consultation_id == consultation_id
        assert message.detail == "test" and message.cabin_id == core.config.cabin.id
        # the same fall seen again while the alert is open adds nothing (decided at once)
        monitor_of(core)._detected(detection(Kind.FALL))
        assert not monitor_of(core).observed[-1].acted
        assert len(raised) == 1 and len(sent) == 1

    with_core(tmp_path, body)


def test_stillness_counts_only_during_a_session_and_nothing_counts_in_the_assistant_mode(
    tmp_path: Path,
) -> None:
    async def body(core: KioskCore, sent: list[wire.Message]) -> None:
        monitor = monitor_of(core)
        # Whether a detection acts is decided at once (`observed`): nothing was started.
        monitor._detected(detection(Kind.STILLNESS))  # idle: an empty or cleaning cabin
        monitor._detected(detection(Kind.ABSENCE))
        assert sent == [] and core.session.overlay is Overlay.NONE
        assert (await core.assistant.unlock("2468")).outcome is UnlockOutcome.OK
        monitor._detected(detection(Kind.FALL))  # an agent kneeling to clean the floor
        assert sent == [] and core.session.overlay is Overlay.ASSISTANT
        await core.assistant.leave()
        await in_session(core)
        monitor._detected(detection(Kind.STILLNESS))
        await until(lambda: bool(sent), "the stillness alert sent")
        assert alerts_sent(sent) == [Kind.STILLNESS]
        assert core.session.overlay is Overlay.DISTRESS
        assert [o.acted for o in monitor.observed] == [False, False, False, True]

    with_core(tmp_path, body)


def test_absence_ends_and_wipes_the_session_and_tells_the_agent_without_an_overlay(
    tmp_path: Path,
) -> None:
    async def body(core: KioskCore, sent: list[wire.Message]) -> None:
        ends: list[EndReason | None] = []
        core.bus.subscribe(SessionStateChanged, lambda e: ends.append(e.end_reason))
        consultation_id = await in_session(core)
        monitor_of(core)._detected(detection(Kind.ABSENCE, 0.8))
        await until(
            lambda: EndReason.ABSENCE in ends and bool(sent), "the session ended, the agent told"
        )
        assert core.session.context.is_empty
        assert core.session.overlay is Overlay.NONE
        [message] = sent
        assert isinstance(message, wire.AlertMessage)
        assert message.kind is Kind.ABSENCE and message.severity is wire.AlertSeverity.INFO
        assert message.consultation_id == consultation_id

    with_core(tmp_path, body)


def test_a_person_who_fell_out_of_view_has_not_left(tmp_path: Path) -> None:
    async def body(core: KioskCore, sent: list[wire.Message]) -> None:
        await in_session(core)
        monitor = monitor_of(core)
        monitor._detected(detection(Kind.FALL))
        await until(lambda: bool(sent), "the fall alert sent (open and shown before)")
        monitor._detected(detection(Kind.ABSENCE))
        assert not monitor.observed[-1].acted  # decided at once: someone fell, nobody left
        assert core.session.state is SessionState.VITALS
        assert not core.session.context.is_empty
        assert [m.kind for m in sent if isinstance(m, wire.AlertMessage)] == [Kind.FALL]

    with_core(tmp_path, body)


def test_the_panic_button_alerts_even_between_patients_and_twice_pressed_is_one_alert(
    tmp_path: Path,
) -> None:
    async def body(core: KioskCore, sent: list[wire.Message]) -> None:
        monitor = monitor_of(core)
        first = await monitor.panic("screen")
        again = await monitor.panic("button")
        assert first == again
        assert core.session.overlay is Overlay.DISTRESS
        [message] = sent
        assert isinstance(message, wire.AlertMessage)
        assert message.kind is Kind.PANIC_BUTTON and message.confidence == 1.0
        assert message.detail == "bouton screen"

    with_core(tmp_path, body)


def test_i_am_fine_closes_every_alert_on_screen_as_a_false_alarm_by_the_patient(
    tmp_path: Path,
) -> None:
    async def body(core: KioskCore, sent: list[wire.Message]) -> None:
        cleared: list[AlertCleared] = []
        core.bus.subscribe(AlertCleared, cleared.append)
        await in_session(core)
        alert_id = await monitor_of(core).panic("screen")
        assert core.alerts is not None
        assert await core.alerts.patient_is_fine() == [alert_id]
        assert core.session.overlay is Overlay.NONE
        [record] = await core.store.run(Store.alerts, False)
        assert (record.acknowledged_by, record.false_alarm) == (PATIENT, True)
        ack = sent[-1]
        assert isinstance(ack, wire.AlertAck)
        assert (ack.alert_id, ack.acknowledged_by, ack.false_alarm) == (alert_id, PATIENT, True)
        assert [c.alert_id for c in cleared] == [alert_id]
        assert await core.store.run(Store.alerts, True) == []

    with_core(tmp_path, body)


def test_an_agent_coming_keeps_the_overlay_and_says_so_a_false_alarm_clears_it(
    tmp_path: Path,
) -> None:
    async def body(core: KioskCore, sent: list[wire.Message]) -> None:
        coming: list[HelpComing] = []
        core.bus.subscribe(HelpComing, coming.append)
        await in_session(core)
        assert core.alerts is not None
        fall = await core.alerts.raise_alert(Kind.FALL, wire.AlertSeverity.CRITICAL)
        await core.alerts.hub_acknowledged(
            wire.AlertAck(
                msg_id="h1", alert_id=fall, acknowledged_by="agent.mairie", acknowledged_at=AT
            )
        )
        assert [c.by_whom for c in coming] == ["agent.mairie"]
        assert core.session.overlay is Overlay.DISTRESS  # until someone is there
        [record] = await core.store.run(Store.alerts, False)
        assert (record.acknowledged_by, record.false_alarm) == ("agent.mairie", False)
        cry = await core.alerts.raise_alert(Kind.CALL_FOR_HELP, wire.AlertSeverity.CRITICAL)
        await core.alerts.hub_acknowledged(
            wire.AlertAck(
                msg_id="h2",
                alert_id=cry,
                acknowledged_by="dr.martin",
                acknowledged_at=AT,
                false_alarm=True,
            )
        )
        assert core.session.active_alerts == {fall}
        # "I am fine" afterwards closes the overlay; the agent's answer stands in the store
        await core.alerts.patient_is_fine()
        assert core.session.overlay is Overlay.NONE
        records = {r.alert_id: r for r in await core.store.run(Store.alerts, False)}
        assert records[fall].acknowledged_by == "agent.mairie"
        assert not any(isinstance(m, wire.AlertAck) for m in sent)  # the hub had the answers

    with_core(tmp_path, body)


def test_the_assistant_acknowledging_an_alert_tells_the_hub_who_did(tmp_path: Path) -> None:
    async def body(core: KioskCore, sent: list[wire.Message]) -> None:
        alert_id = await monitor_of(core).panic("button")
        assert (await core.assistant.unlock("2468")).outcome is UnlockOutcome.OK
        await core.assistant.acknowledge(alert_id, "Élodie Martin", false_alarm=False)
        await until(lambda: isinstance(sent[-1], wire.AlertAck), "the acknowledgement sent")
        ack = sent[-1]
        assert isinstance(ack, wire.AlertAck)
        assert ack.alert_id == alert_id and ack.acknowledged_by == "Elodie-Martin"
        assert ack.false_alarm is False
        wire.decode(wire.encode(ack))  # a valid message (the name became an identifier)

    with_core(tmp_path, body)


def oximetry(spo2: float) -> Reading:
    return Reading(
        "oximeter-1",
        ReadingKind.PULSE_OXIMETRY,
        (Value(Quantity.SPO2_PERCENT, spo2), Value(Quantity.PULSE_BPM, 80.0)),
        AT,
    )


def test_a_red_value_asks_again_and_a_second_one_alerts_but_never_hides_the_call(
    tmp_path: Path,
) -> None:
    async def body(core: KioskCore, sent: list[wire.Message]) -> None:
        asked: list[RemeasureAsked] = []
        core.bus.subscribe(RemeasureAsked, asked.append)
        consultation_id = await in_session(core)
        await core.consultation.record_reading(oximetry(90.0))  # asked again at once
        assert [(a.kind, a.consultation_id) for a in asked] == [
            (ReadingKind.PULSE_OXIMETRY, consultation_id)
        ]
        assert sent == []
        core.session.set_reason(VisitReason.FEVER)
        core.session.advance(SessionState.WAITING_ROOM)
        core.session.advance(SessionState.CALL)
        await core.consultation.record_reading(oximetry(89.0))
        await until(lambda: bool(sent), "the dangerous vitals alert sent")
        [message] = sent
        assert isinstance(message, wire.AlertMessage)
        assert message.kind is Kind.DANGEROUS_VITALS
        assert message.detail == "spo2 confirmé"  # no value leaves the cabin in an alert
        assert core.session.overlay is Overlay.NONE  # the doctor is on screen, and sees it

    with_core(tmp_path, body)


def test_an_extreme_value_alerts_at_once_with_the_overlay(tmp_path: Path) -> None:
    async def body(core: KioskCore, sent: list[wire.Message]) -> None:
        await in_session(core)
        await core.consultation.record_reading(oximetry(80.0))
        await until(lambda: bool(sent), "the dangerous vitals alert sent")
        assert alerts_sent(sent) == [Kind.DANGEROUS_VITALS]
        assert core.session.overlay is Overlay.DISTRESS

    with_core(tmp_path, body)


# --- the media pipeline --------------------------------------------------------------------------


def test_frames_are_scaled_to_320_wide_keeping_the_cameras_aspect() -> None:
    settings = AnalysisSettings()
    assert settings.frame_size(1280, 720) == (320, 180)
    assert settings.frame_size(640, 480) == (320, 240)
    assert settings.frame_size(1366, 768) == (320, 180)  # 179.9: rounded, even
    assert settings.frame_size(720, 576) == (320, 256)
    assert settings.frame_size(2, 1000) == (320, 160_000)
    with pytest.raises(ValueError, match="no picture"):
        settings.frame_size(0, 480)


class FramesTrack(MediaStreamTrack):
    """`count` frames of 640x480 of a camera at `fps`, given as soon as asked for: `now` is the
    camera time of the last one (the monitor's clock in these tests, so that a busy machine
    changes nothing), `ended` says all were asked for."""

    kind = "video"

    def __init__(self, count: int, fps: float) -> None:
        super().__init__()
        self._left = count
        self._fps = fps
        self._index = 0
        self.now = 0.0
        self.ended = False

    async def recv(self) -> av.VideoFrame:
        if self._left <= 0 or self.readyState != "live":
            self.ended = True
            raise MediaStreamError
        self._left -= 1
        self.now = self._index / self._fps
        self._index += 1
        await asyncio.sleep(0)
        image = np.full((480, 640, 3), 90, dtype=np.uint8)
        image[100:300, 200:260] = 200
        return av.VideoFrame.from_ndarray(image, format="rgb24")


class ToneTrack(MediaStreamTrack):
    """`count` frames of 20 ms of a 440 Hz tone, s16 stereo 48 kHz, as the microphone gives."""

    kind = "audio"

    def __init__(self, count: int) -> None:
        super().__init__()
        self._left = count
        self._pts = 0
        self.ended = False

    async def recv(self) -> av.AudioFrame:
        if self._left <= 0 or self.readyState != "live":
            self.ended = True
            raise MediaStreamError
        self._left -= 1
        await asyncio.sleep(0)
        n = 960
        t = (self._pts + np.arange(n)) / 48_000
        tone = (0.3 * 32767 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(
            np.repeat(tone, 2).reshape(1, -1), format="s16", layout="stereo"
        )
        frame.sample_rate = 48_000
        frame.pts = self._pts
        frame.time_base = fractions.Fraction(1, 48_000)
        self._pts += n
        return frame


class RecordingVision:
    def __init__(self, fail_every: int = 0) -> None:
        self.frames: list[tuple[tuple[int, ...], float]] = []
        self.resets = 0
        self.empties = 0
        self._fail_every = fail_every

    def analyse(self, frame: RgbFrame, t_s: float) -> list[Detection]:
        self.frames.append((frame.shape, t_s))
        if self._fail_every and len(self.frames) % self._fail_every == 0:
            raise ValueError("a broken frame")
        return []

    def reset(self) -> None:
        self.resets += 1

    def empty_cabin(self) -> None:
        self.empties += 1


class RecordingSound:
    def __init__(self) -> None:
        self.blocks: list[tuple[int, float, float]] = []

    def analyse(self, samples: Samples, t_s: float) -> list[Detection]:
        assert samples.dtype == np.float32 and samples.ndim == 1
        self.blocks.append((samples.size, t_s, float(np.max(np.abs(samples)))))
        return (
            [Detection(Kind.CALL_FOR_HELP, 0.8, t_s, t_s, "cri")] if len(self.blocks) == 5 else []
        )

    def reset(self) -> None:
        pass


@pytest.mark.parametrize("camera_fps", [15.0, 30.0])
def test_frames_reach_the_analyser_scaled_down_at_about_the_analysis_rate(
    tmp_path: Path, camera_fps: float
) -> None:
    async def body(core: KioskCore, sent: list[wire.Message]) -> None:
        count = int(camera_fps * 1.5)
        camera = FramesTrack(count, camera_fps)
        monitor = DistressMonitor(
            core.session,
            core.bus,
            core.alerts,  # type: ignore[arg-type]
            vitals=DangerousVitals(),
            settings=AnalysisSettings(fps=10.0),
            clock=lambda: camera.now,
        )
        vision = RecordingVision(fail_every=7)
        monitor.watch_camera(camera, vision)
        # the watcher asks for the next frame only once the last one was analysed
        await until(lambda: camera.ended, "1.5 s of camera frames analysed")
        await monitor.aclose()
        shapes = {shape for shape, _ in vision.frames}
        assert shapes == {(240, 320, 3)}  # 320 wide, the camera's 4:3 kept
        # about 10 a second, never all the camera's frames at 30 frames/s
        assert 11 <= len(vision.frames) <= 17, len(vision.frames)
        gaps = np.diff([t for _, t in vision.frames])
        assert gaps.min() >= 0.06
        assert monitor.analysis_failures == len(vision.frames) // 7
        assert monitor.frames_analysed == len(vision.frames) - monitor.analysis_failures

    with_core(tmp_path, body)


def test_sound_reaches_the_analyser_as_mono_blocks_on_a_continuous_clock_and_can_alert(
    tmp_path: Path,
) -> None:
    async def body(core: KioskCore, sent: list[wire.Message]) -> None:
        await in_session(core)
        monitor = monitor_of(core)
        sound = RecordingSound()
        tone = ToneTrack(50)  # one second
        monitor.listen(tone, sound)
        # the listener asks for the next frame only once the last block was analysed
        await until(lambda: tone.ended, "a second of sound analysed")
        await until(lambda: bool(sent), "the call for help sent")
        sizes = [size for size, _, _ in sound.blocks]
        assert sum(sizes) >= 14_000  # 16 kHz, minus what waits in the resampler
        assert all(size >= 1600 for size in sizes)  # blocks of 0.1 s at least
        starts = [t for _, t, _ in sound.blocks]
        for (size, t0, _), t1 in zip(sound.blocks, starts[1:], strict=False):
            assert t1 == pytest.approx(t0 + size / 16_000, abs=1e-6)
        # FFmpeg's downmix keeps the power of two identical channels: 0.3 x sqrt(2)
        assert max(peak for _, _, peak in sound.blocks) == pytest.approx(0.424, abs=0.02)
        assert [m.kind for m in sent if isinstance(m, wire.AlertMessage)] == [Kind.CALL_FOR_HELP]

    with_core(tmp_path, body)


def test_a_new_patient_resets_the_analysers(tmp_path: Path) -> None:
    async def body(core: KioskCore, sent: list[wire.Message]) -> None:
        monitor = monitor_of(core)
        vision = RecordingVision()
        monitor.watch_camera(FramesTrack(0, 10.0), vision)
        await in_session(core)
        core.session.end(EndReason.ABANDONED)
        await until(lambda: vision.resets >= 2, "the analyser reset on its thread")
        assert vision.resets == 2  # the new patient, and the end of their session

    with_core(tmp_path, body)


class HeldScript:
    """A named scene's script held on the empty cabin until `go()`: the camera plays in real
    time, and the analyser learns the empty cabin from its first second of analysed frames,
    which a busy machine may analyse late (the scene's own empty second would be gone)."""

    def __init__(self, script: PoseScript) -> None:
        self.script = script
        self.seen_s = 0.0
        self.start_s: float | None = None

    def pose_at(self, t_s: float) -> PersonPose | None:
        self.seen_s = max(self.seen_s, t_s)
        if self.start_s is None or t_s < self.start_s:
            return None
        return self.script.pose_at(t_s - self.start_s)

    def go(self) -> None:
        self.start_s = self.seen_s


def test_the_cabin_plays_a_named_fall_scene_and_a_call_for_help_and_alerts_on_both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The demo can play the simulators' scenes: `scene:NAME` on the camera, `sound:NAME` on
    the microphone; the real analysers, on the real media path, raise both alerts."""
    named = scenes.scene_by_name
    held: list[HeldScript] = []

    def held_scene(name: str) -> scenes.Scene:
        scene = named(name)
        held.append(HeldScript(scene.script))
        return dataclasses.replace(scene, script=held[-1])  # type: ignore[arg-type]  # a PoseScript

    monkeypatch.setattr(scenes, "scene_by_name", held_scene)
    config = load_config(None)
    config = msgspec.structs.replace(
        config,
        call=msgspec.structs.replace(
            config.call,
            camera="scene:fall_chair_quick_right",
            microphone="sound:call_16_scream_quiet",
        ),
    )

    async def scenario() -> None:
        core = await start_core(
            config, tmp_path, env={"CABIN_DB_KEY": KEY.hex()}, instruments={}
        )  # no hub credential: the camera and the microphone are watched all the same
        try:
            assert core.hub is None and core.distress is not None
            raised: list[AlertRaised] = []
            core.bus.subscribe(AlertRaised, raised.append)
            monitor = core.distress
            await until(lambda: monitor.frames_analysed >= 20, "2 s of the empty cabin analysed")
            [script] = held
            script.go()  # the named scene from its start
            try:
                await until(
                    lambda: {r.kind for r in raised} >= {Kind.FALL, Kind.CALL_FOR_HELP},
                    "both alerts",
                    timeout_s=120,  # the scenes play in real time: about 10 s
                )
            except AssertionError as failed:
                seen = core.distress.observed
                raise AssertionError(
                    f"{failed}: raised {[r.kind.value for r in raised]},"
                    f" {core.distress.frames_analysed} frames and"
                    f" {core.distress.sound_seconds_analysed:.1f} s of sound analysed,"
                    f" observed {[(o.detection.kind.value, o.acted) for o in seen]}"
                ) from None
            assert core.session.overlay is Overlay.DISTRESS
            # the camera's path ran (how many frames a second: bench_distress_vision, _live)
            assert core.distress.frames_analysed > 0
        finally:
            await core.aclose()

    asyncio.run(scenario())


class PushedTrack(MediaStreamTrack):
    """A 16:9 camera whose frames the test pushes (`show`), at `fps` of camera time: `now` is
    the time of the last frame given (the monitor's clock in these tests)."""

    kind = "video"

    def __init__(self, fps: float = 10.0) -> None:
        super().__init__()
        self.queue: asyncio.Queue[np.ndarray] = asyncio.Queue()
        self.fps = fps
        self.given = 0
        self.now = 0.0

    async def recv(self) -> av.VideoFrame:
        image = await self.queue.get()
        self.now = self.given / self.fps
        self.given += 1
        return av.VideoFrame.from_ndarray(image, format="rgb24")

    async def show(self, monitor: DistressMonitor, pictures: list[np.ndarray]) -> None:
        """Give these frames and wait until the monitor has analysed them all."""
        expected = monitor.frames_analysed + len(pictures)
        for picture in pictures:
            self.queue.put_nowait(picture)
        await until(lambda: monitor.frames_analysed >= expected, f"{len(pictures)} frames")


ROOM = np.random.default_rng(3).integers(60, 200, (270, 480, 3), dtype=np.uint8)


def someone_walking(frames: int, start: int = 0) -> list[np.ndarray]:
    """A dark body (a tenth of the picture) crossing the room, 6 pixels a frame."""
    pictures = []
    for i in range(start, start + frames):
        picture = ROOM.copy()
        x = 30 + (6 * i) % 390
        picture[45:255, x : x + 60] = 30
        pictures.append(picture)
    return pictures


def the_room_still(frames: int, seed: int = 0) -> list[np.ndarray]:
    """The empty room as a webcam shows it: noise, flicker, the exposure still settling."""
    rng = np.random.default_rng(seed)
    pictures = []
    for i in range(frames):
        gain = 1.0 + 0.08 * np.exp(-i / 10) + 0.015 * rng.standard_normal()
        noisy = ROOM * gain + rng.normal(0.0, 3.0, ROOM.shape)
        pictures.append(np.clip(noisy, 0, 255).astype(np.uint8))
    return pictures


def test_the_empty_cabin_is_relearnt_after_each_cleaning_once_whoever_cleaned_has_gone(
    tmp_path: Path,
) -> None:
    async def body(core: KioskCore, sent: list[wire.Message]) -> None:
        camera = PushedTrack()
        settings = AnalysisSettings(relearn_still_s=3.0, relearn_within_s=8.0)
        monitor = DistressMonitor(
            core.session,
            core.bus,
            core.alerts,  # type: ignore[arg-type]
            vitals=DangerousVitals(),
            settings=settings,
            clock=lambda: camera.now,
        )
        vision = RecordingVision()
        monitor.watch_camera(camera, vision)
        try:
            await camera.show(monitor, the_room_still(40))  # still, but no cleaning: nothing
            await in_session(core)
            await camera.show(monitor, someone_walking(20))
            core.session.end(EndReason.COMPLETED)
            assert core.session.state is SessionState.CLEANING
            await camera.show(monitor, someone_walking(30, 20))  # cleaning
            await core.consultation.cleaning_done("agent")
            assert core.session.state is SessionState.IDLE
            await camera.show(monitor, someone_walking(20, 50))  # the agent leaves
            await camera.show(monitor, the_room_still(25))  # still 2.4 s: not yet
            assert vision.empties == 0
            await camera.show(monitor, the_room_still(10, seed=1))
            assert vision.empties == 1  # still 3 s: relearnt, once
            assert {shape for shape, _ in vision.frames} == {(180, 320, 3)}
            await camera.show(monitor, the_room_still(40, seed=2))
            assert vision.empties == 1 and monitor.empty_cabin_relearnt == 1
            # a new patient comes in before the room was still: nothing relearnt
            await in_session(core)
            core.session.end(EndReason.COMPLETED)
            await core.consultation.cleaning_done("agent")
            await camera.show(monitor, someone_walking(10))
            await in_session(core)
            await camera.show(monitor, the_room_still(40, seed=3))
            assert vision.empties == 1
            # never still within relearn_within_s (8 s) of the cleaning: given up
            core.session.end(EndReason.COMPLETED)
            await core.consultation.cleaning_done("agent")
            await camera.show(monitor, someone_walking(90))
            await camera.show(monitor, the_room_still(50, seed=4))
            assert vision.empties == 1
        finally:
            await monitor.aclose()

    with_core(tmp_path, body)
