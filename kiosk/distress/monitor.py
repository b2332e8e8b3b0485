"""Distress detection running in the cabin: the camera, the microphone, the readings, the panic
button, turned into alerts.

The camera and the microphone come from the call's `CabinMedia` (one capture each, relayed):
the monitor subscribes like the call does. Frames are taken at `analysis_fps` (the newest one
each time), scaled down to the analysis size by FFmpeg's scaler and analysed on a worker thread
of their own; sound is resampled to the analysis rate (mono, float) and analysed in blocks on a
second worker thread, so a slow frame never delays the sound. During a call the doctor's voice,
played by the cabin's speaker, is taken out of the microphone first (`kiosk.distress.echo`: the
monitor is given what the speaker played, `listen(..., far_end=)`). The Qt thread only receives the
detections. Nothing is written, nothing is sent but alerts (`AlertDesk`): no frame and no sound
leaves this package.

What each detection does depends on where the cabin is (`DistressMonitor._act`):
- fall, call for help, panic button: an alert with the calm overlay, at any time, except while
  the assistant mode is open (an agent is in the cabin and handles things);
- stillness: the same, during a patient's session only;
- absence during a session: the session ends (its data wiped) and the agent is told (no
  overlay: nobody is there to read it), unless a distress alert is open: a person who fell out
  of the camera's view has not left;
- dangerous vitals (`DangerousVitals`): a first red value asks for the measurement again
  (`RemeasureAsked`), a confirmed or extreme one alerts; during the call the doctor sees it, so
  the overlay does not hide the call.
One alert of a kind at a time: a second fall while the first is open adds nothing.

**The analysis size** (`AnalysisSettings.frame_size`): 320 pixels wide, the camera's aspect
kept (16:9 gives 320x180, 4:3 320x240), enough for a pose model; the classical analyser scales
down again for itself.

**The empty cabin is relearnt at each cleaning** (`CleaningWatch`): when the cleaning is done
(CLEANING -> IDLE), the vision analyser is told `empty_cabin()` once whoever cleaned has gone,
that is once the picture has stayed still for `relearn_still_s` (3 s). Stillness, not the
analyser's own "nobody in view", decides: an analyser whose background went wrong (an exposure
jump kept as a person-sized box) sees somebody for good, and would never be corrected. Still
means that no more than 1 % of a 64-pixel-wide grey copy of the frame changed by 20 levels
(the frame's mean brightness divided out first, so that the exposure settling and the lights'
flicker are not movement): a person walking, or standing and moving an arm, is several percent
of the picture; camera noise averaged over 5x5 pixels, a clock's hand, a time stamp's digits
stay under it. Not still within `relearn_within_s` (120 s), or a new patient first: nothing is
relearnt until the next cleaning (the analyser still adapts by itself).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import wire
from devices.cancellation import cancel_and_wait
from devices.reading import Quantity
from kiosk.bus import EventBus
from kiosk.distress.alerts import AlertDesk
from kiosk.distress.vitals import Assessment, DangerousVitals, Verdict
from kiosk.events import ReadingReceived, RemeasureAsked, SessionStateChanged
from kiosk.session import Session
from kiosk.session_states import PATIENT_STATES, EndReason, Overlay, SessionState

if TYPE_CHECKING:
    # PyAV, numpy and aiortc load with the cabin's media, in the core's warm-up, off the Qt
    # thread: the panic button and the readings' thresholds work before them.
    import av
    import numpy as np
    from aiortc.mediastreams import MediaStreamTrack
    from av.video.reformatter import VideoReformatter
    from numpy.typing import NDArray

    from kiosk.distress.detection import (
        Detection,
        FrameAnalyser,
        RgbFrame,
        Samples,
        SoundAnalyser,
    )
    from kiosk.distress.echo import EchoCanceller, FarEnd

log = logging.getLogger(__name__)

Kind = wire.AlertKind
Severity = wire.AlertSeverity

_QUANTITY_NAMES = {
    Quantity.SPO2_PERCENT: "spo2",
    Quantity.SYSTOLIC_MMHG: "systolique",
    Quantity.DIASTOLIC_MMHG: "diastolique",
    Quantity.PULSE_BPM: "pouls",
    Quantity.TEMPERATURE_C: "température",
}


@dataclass(frozen=True, slots=True)
class AnalysisSettings:
    """How much of the camera and the microphone is analysed (chosen by measurement: see
    `kiosk/distress/VISION.md` and `SOUND.md`)."""

    fps: float = 10.0
    width: int = 320
    """Frames are scaled to this width, keeping the camera's aspect (`frame_size`): enough
    pixels for a pose model; the classical analyser scales them down again for itself."""
    sound_rate_hz: int = 16_000
    sound_block_s: float = 0.1
    relearn_still_s: float = 3.0
    """After a cleaning, the picture still for this long: whoever cleaned has gone."""
    relearn_within_s: float = 120.0
    """...within this long after the cleaning, or no relearning until the next one."""

    def frame_size(self, camera_width: int, camera_height: int) -> tuple[int, int]:
        """The analysed frame's (width, height) for a camera frame of this size: `width`
        wide, the camera's aspect, the height rounded to an even number (4:3 gives 320x240,
        16:9 320x180)."""
        if camera_width <= 0 or camera_height <= 0:
            raise ValueError(f"no picture in a {camera_width}x{camera_height} frame")
        height = max(2, 2 * round(self.width * camera_height / camera_width / 2))
        return self.width, height


class CleaningWatch:
    """When to relearn the empty cabin after a cleaning (see the module's doc). Used on the
    vision thread only, in order with the frames: `cleaning_done`, then `relearn_now` with each
    analysed frame, which says True once."""

    CHANGE_LEVEL = 20.0
    """Levels (0..255) a pixel of the small grey copy must change by to count as changed."""
    CHANGE_FRACTION = 0.01
    """Changed over this fraction of the picture: something moved."""
    WIDTH = 64

    def __init__(self, still_s: float, within_s: float) -> None:
        self.still_s = still_s
        self.within_s = within_s
        self._since_s: float | None = None
        self._still_from_s = 0.0
        self._reference: NDArray[np.float32] | None = None  # the still picture, small, grey

    def cleaning_done(self, t_s: float) -> None:
        self._since_s, self._reference = t_s, None

    def cancel(self) -> None:
        self._since_s, self._reference = None, None

    def relearn_now(self, frame: RgbFrame, t_s: float) -> bool:
        if self._since_s is None:
            return False
        if t_s - self._since_s > self.within_s:
            log.warning("distress.relearn_skipped reason=never_still")
            self.cancel()
            return False
        import cv2  # noqa: PLC0415 - loaded with the media, as the analysers are
        import numpy as np  # noqa: PLC0415

        rows = max(2, round(self.WIDTH * frame.shape[0] / max(1, frame.shape[1])))
        small = cv2.resize(frame, (self.WIDTH, rows), interpolation=cv2.INTER_AREA)
        grey = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY).astype(np.float32)
        grey *= 128.0 / max(1.0, float(grey.mean()))
        reference = self._reference
        if (
            reference is None
            or reference.shape != grey.shape
            or float(np.mean(np.abs(grey - reference) > self.CHANGE_LEVEL)) > self.CHANGE_FRACTION
        ):
            self._reference, self._still_from_s = grey, t_s
            return False
        if t_s - self._still_from_s < self.still_s:
            return False
        self.cancel()
        return True


@dataclass(frozen=True, slots=True)
class Observed:
    """A detection as the monitor received it (kept for the tests and the demo's checks)."""

    detection: Detection
    received_at_s: float
    acted: bool


class DistressMonitor:
    def __init__(
        self,
        session: Session,
        bus: EventBus,
        desk: AlertDesk,
        *,
        vitals: DangerousVitals,
        settings: AnalysisSettings | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._session = session
        self._bus = bus
        self._desk = desk
        self._vision: FrameAnalyser | None = None
        self._sound: SoundAnalyser | None = None
        self._vitals = vitals
        self.settings = settings or AnalysisSettings()
        self._clock = clock
        self._tasks: set[asyncio.Task[None]] = set()
        self._watchers: list[asyncio.Task[None]] = []
        self._tracks: list[MediaStreamTrack] = []
        # One thread each: the sound never waits behind a frame.
        self._vision_thread = ThreadPoolExecutor(1, thread_name_prefix="distress-vision")
        self._sound_thread = ThreadPoolExecutor(1, thread_name_prefix="distress-sound")
        # A scaler of our own (made with the first camera watched): the relayed frame is the
        # call encoder's too, and a frame's own `reformat` shares one scaler between threads
        # (FFmpeg's is not thread-safe: it crashed).
        self._scaler: VideoReformatter | None = None
        self._cleaning = CleaningWatch(
            self.settings.relearn_still_s, self.settings.relearn_within_s
        )
        self.empty_cabin_relearnt = 0
        self.frames_analysed = 0
        self.sound_seconds_analysed = 0.0
        self.echo: EchoCanceller | None = None
        """The microphone's echo canceller (`listen` with a far end), for the tests and bench."""
        self.analysis_failures = 0
        self.observed: deque[Observed] = deque(maxlen=200)
        self._subscriptions = [
            bus.subscribe(ReadingReceived, self._on_reading),
            bus.subscribe(SessionStateChanged, self._on_session),
        ]

    # --- inputs -----------------------------------------------------------------------------
    def watch_camera(self, track: MediaStreamTrack, analyser: FrameAnalyser) -> None:
        """Analyse this camera track (a subscription of the cabin's media; stopped on close)."""
        if self._scaler is None:
            from av.video.reformatter import VideoReformatter  # noqa: PLC0415 - with the media

            self._scaler = VideoReformatter()
        self._vision = analyser
        self._tracks.append(track)
        self._watchers.append(
            asyncio.get_running_loop().create_task(self._watch_camera(track, analyser))
        )
        log.info(
            "distress.watching_camera fps=%.1f width=%d", self.settings.fps, self.settings.width
        )

    def listen(
        self, track: MediaStreamTrack, analyser: SoundAnalyser, *, far_end: FarEnd | None = None
    ) -> None:
        """Analyse this microphone track (a subscription of the cabin's media); with
        ``far_end`` (what the cabin's speaker played, on the monitor's clock), its echo is
        subtracted from the microphone before the analysis."""
        canceller: EchoCanceller | None = None
        if far_end is not None:
            from kiosk.distress.echo import RATE_HZ, EchoCanceller  # noqa: PLC0415 - numpy

            if self.settings.sound_rate_hz != RATE_HZ:
                raise ValueError(f"the echo canceller works at {RATE_HZ} Hz")
            canceller = EchoCanceller()
        self._sound = analyser
        self.echo = canceller
        self._tracks.append(track)
        self._watchers.append(
            asyncio.get_running_loop().create_task(
                self._listen(track, analyser, far_end, canceller)
            )
        )
        log.info(
            "distress.listening rate=%d echo_cancelled=%s",
            self.settings.sound_rate_hz,
            canceller is not None,
        )

    async def panic(self, source: str) -> str:
        """The panic button was pressed (``source``: "screen" or "button")."""
        log.warning("distress.panic source=%s", source)
        open_id = self._desk.open_kind(Kind.PANIC_BUTTON)
        if open_id is not None:
            self._session.raise_distress(open_id)  # pressed again: show it again
            return open_id
        return await self._desk.raise_alert(
            Kind.PANIC_BUTTON, Severity.CRITICAL, detail=f"bouton {source}", prefix="panic"
        )

    async def aclose(self) -> None:
        for subscription in self._subscriptions:
            subscription.cancel()
        for track in self._tracks:
            track.stop()
        for watcher in self._watchers:
            try:
                await cancel_and_wait(watcher)
            except RuntimeError as exc:  # it had failed: say so, and go on closing
                log.error("distress.watcher_failed error=%r", exc)
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        # Never block the event loop (the Qt thread) on a worker: an analysis under way ends
        # by itself, and nothing is queued after it.
        self._vision_thread.shutdown(wait=False, cancel_futures=True)
        self._sound_thread.shutdown(wait=False, cancel_futures=True)

    # --- the camera -------------------------------------------------------------------------
    async def _watch_camera(self, track: MediaStreamTrack, analyser: FrameAnalyser) -> None:
        import av  # noqa: PLC0415 - loaded with the media, before any track is watched
        from aiortc.mediastreams import MediaStreamError  # noqa: PLC0415

        loop = asyncio.get_running_loop()
        period = 1.0 / self.settings.fps
        next_due = 0.0
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                log.warning("distress.camera_ended")
                return
            now = self._clock()
            # A third of a period early is accepted: a 15 frames/s camera still gives 10.
            if now < next_due - period / 3 or not isinstance(frame, av.VideoFrame):
                continue
            next_due = max(next_due + period, now + period)
            detections = await loop.run_in_executor(
                self._vision_thread, self._analyse_frame, analyser, frame, now
            )
            for detection in detections:
                self._detected(detection)

    def _analyse_frame(
        self, analyser: FrameAnalyser, frame: av.VideoFrame, t_s: float
    ) -> list[Detection]:
        """On the vision thread: scale (keeping the camera's aspect), convert, analyse; after a
        cleaning, relearn the empty cabin once the picture is still."""
        import av  # noqa: PLC0415 - loaded with the media

        assert self._scaler is not None  # made by watch_camera
        try:
            width, height = self.settings.frame_size(frame.width, frame.height)
            small = self._scaler.reformat(frame, width=width, height=height, format="rgb24")
            image = cast("RgbFrame", small.to_ndarray())
            detections = analyser.analyse(image, t_s)
            relearn = self._cleaning.relearn_now(image, t_s)
        except (ValueError, av.FFmpegError, ArithmeticError) as exc:
            self.analysis_failures += 1
            if self.analysis_failures % 100 == 1:  # a broken camera must not flood the log
                log.error("distress.frame_failed count=%d error=%s", self.analysis_failures, exc)
            return []
        if relearn:
            analyser.empty_cabin()
            self.empty_cabin_relearnt += 1
            log.info("distress.empty_cabin_relearnt")
        self.frames_analysed += 1
        return detections

    # --- the microphone ---------------------------------------------------------------------
    async def _listen(
        self,
        track: MediaStreamTrack,
        analyser: SoundAnalyser,
        far_end: FarEnd | None,
        canceller: EchoCanceller | None,
    ) -> None:
        import av  # noqa: PLC0415 - loaded with the media, before any track is listened to
        import numpy as np  # noqa: PLC0415
        from aiortc.mediastreams import MediaStreamError  # noqa: PLC0415

        loop = asyncio.get_running_loop()
        rate = self.settings.sound_rate_hz
        block = max(1, int(rate * self.settings.sound_block_s))
        resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
        pending: list[Samples] = []
        pending_samples = 0
        started_at: float | None = None
        consumed = 0  # samples analysed since the start: the clock of the sound
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                log.warning("distress.microphone_ended")
                return
            if not isinstance(frame, av.AudioFrame):
                continue
            if started_at is None:
                started_at = self._clock()
            try:
                for out in resampler.resample(frame):
                    samples = out.to_ndarray().reshape(-1).astype(np.float32, copy=False)
                    pending.append(samples)
                    pending_samples += samples.size
            except (ValueError, av.FFmpegError) as exc:
                self.analysis_failures += 1
                log.error("distress.sound_failed error=%s", exc)
                continue
            if pending_samples < block:
                continue
            chunk = np.concatenate(pending)
            pending, pending_samples = [], 0
            t_s = started_at + consumed / rate
            consumed += chunk.size
            detections = await loop.run_in_executor(
                self._sound_thread, self._analyse_sound, analyser, chunk, t_s, far_end, canceller
            )
            for detection in detections:
                self._detected(detection)

    def _analyse_sound(
        self,
        analyser: SoundAnalyser,
        samples: Samples,
        t_s: float,
        far_end: FarEnd | None = None,
        canceller: EchoCanceller | None = None,
    ) -> list[Detection]:
        """On the sound thread: the far end's echo out (with a canceller), then the analysis."""
        try:
            if far_end is not None and canceller is not None:
                history = canceller.history_samples
                far = far_end.read(
                    t_s - history / self.settings.sound_rate_hz, samples.size + history
                )
                samples = canceller.process(samples, far)
                t_s -= canceller.latency_s
            detections = analyser.analyse(samples, t_s)
        except (ValueError, ArithmeticError) as exc:
            self.analysis_failures += 1
            if self.analysis_failures % 100 == 1:
                log.error("distress.sound_failed count=%d error=%s", self.analysis_failures, exc)
            return []
        self.sound_seconds_analysed += samples.size / self.settings.sound_rate_hz
        return detections

    # --- readings ---------------------------------------------------------------------------
    def _on_reading(self, event: ReadingReceived) -> None:
        assessment = self._vitals.assess(event.reading, self._clock())
        if assessment.verdict is Verdict.REMEASURE:
            log.info(
                "distress.remeasure kind=%s consultation=%s",
                event.reading.kind.value,
                event.consultation_id,
            )
            self._bus.publish(RemeasureAsked(event.reading.kind, event.consultation_id))
        elif assessment.verdict is Verdict.ALERT:
            self._spawn(self._vitals_alert(assessment))

    async def _vitals_alert(self, assessment: Assessment) -> None:
        if self._desk.open_kind(Kind.DANGEROUS_VITALS) is not None:
            return
        names = ",".join(_QUANTITY_NAMES.get(q, q.value) for q in assessment.quantities)
        detail = f"{names} {'extrême' if assessment.extreme else 'confirmé'}"
        await self._desk.raise_alert(
            Kind.DANGEROUS_VITALS,
            Severity.CRITICAL,
            confidence=assessment.confidence,
            detail=detail,
            overlay=self._session.state is not SessionState.CALL,
            prefix="vitals",
        )

    # --- the session ------------------------------------------------------------------------
    def _on_session(self, event: SessionStateChanged) -> None:
        new_patient = event.state is SessionState.WELCOME and event.previous is SessionState.IDLE
        if new_patient or event.end_reason is not None:
            self._vitals.reset()
            # On the analysis threads, in order with the frames and blocks already queued.
            for analyser, thread in (
                (self._vision, self._vision_thread),
                (self._sound, self._sound_thread),
            ):
                if analyser is not None:
                    thread.submit(analyser.reset)
        if self._vision is None:
            return
        if event.previous is SessionState.CLEANING and event.state is SessionState.IDLE:
            log.info("distress.relearn_after_cleaning")
            self._vision_thread.submit(self._cleaning.cleaning_done, self._clock())
        elif new_patient:
            self._vision_thread.submit(self._cleaning.cancel)

    # --- from detections to alerts ----------------------------------------------------------
    def _detected(self, detection: Detection) -> None:
        now = self._clock()
        acted = self._act(detection)
        self.observed.append(Observed(detection, now, acted))
        log.info(
            "distress.detected kind=%s confidence=%.2f latency_ms=%d state=%s acted=%s detail=%s",
            detection.kind.value,
            detection.confidence,
            round((now - detection.event_at_s) * 1000),
            self._session.state.value,
            acted,
            detection.detail or "-",
        )

    def _act(self, detection: Detection) -> bool:
        session = self._session
        if session.overlay is Overlay.ASSISTANT:
            return False  # an agent is in the cabin
        in_session = session.state in PATIENT_STATES
        kind = detection.kind
        if kind is Kind.ABSENCE:
            if not in_session or session.active_alerts:
                return False
            self._spawn(self._absence(detection))
            return True
        if kind is Kind.STILLNESS and not in_session:
            return False
        if kind not in (Kind.FALL, Kind.STILLNESS, Kind.CALL_FOR_HELP):
            return False
        if self._desk.open_kind(kind) is not None:
            return False
        self._spawn(
            self._desk.raise_alert(
                kind,
                Severity.CRITICAL,
                confidence=detection.confidence,
                detail=detection.detail,
                prefix=kind.value.replace("_", "-"),
            )
        )
        return True

    async def _absence(self, detection: Detection) -> None:
        """The patient left: end the session (wiped) and tell the agent, without an overlay."""
        consultation_id = self._session.context.consultation_id
        log.warning("distress.patient_left consultation=%s", consultation_id or "-")
        await self._desk.raise_alert(
            Kind.ABSENCE,
            Severity.INFO,
            confidence=detection.confidence,
            detail=detection.detail,
            overlay=False,
            prefix="absence",
        )
        if self._session.state in PATIENT_STATES:
            self._session.end(EndReason.ABSENCE)

    def _spawn(self, work: Coroutine[Any, Any, object]) -> None:
        task = asyncio.get_running_loop().create_task(_quietly(work))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


async def _quietly(work: Coroutine[Any, Any, object]) -> None:
    await work
