"""Named, scripted cabin scenes with their ground truth, for the distress detectors and the demo.

Each `Scene` is a `PoseScript` (keyframes of `PersonPose`, interpolated, with breathing and the
small sway of a living person laid on top), the room's conditions over time (the door's opening,
the lights' gain, camera noise), its length, and what a detector should find in it: a tuple of
`Event`s, ``("fall", t_land_s)``, ``("stillness", t_still_from_s)``, ``("absence", t_left_s)``.
An event's instant is when the thing happened; a detector with a delay (stillness after
60 s, absence after 20 s) is expected at that instant plus its delay.

Every scene starts with about a second of empty cabin (the camera sees the empty room first,
as when the kiosk starts). The scenes are 2-D cartoons: a fall toward or away from the camera
is drawn as a body foreshortened along the camera's axis (`PersonPose.depth_squash`).

- `catalogue()`: every named scene (normal activity, falls, stillness, absence, lights, door).
- `normal_activity(duration_s, seed)`: an hour or more of ordinary cabin life, reproducible.
- `demo_fall(seated_for_s)`: for the demo, a seated patient who stands up, falls, lies still.
- `webcam_catalogue()`: the same scenes filmed by a real camera (`WEBCAM`: automatic exposure,
  sensor noise and flicker, a 16:9 frame, blur and JPEG compression), and the scenes a real
  camera makes hard (`camera_scenes`: someone close to the lens; someone in view from the first
  frame, as real clips begin).
- `scene_camera(name)`: a live `SyntheticCamera` playing a named scene.

**The camera** (`CameraProfile`, a scene's `camera`): `IDEAL` (the default) shows the drawing as
it is, 640x480, with the scene's own light noise. A real webcam does not (`FilmedCabin`):

- its frame is 16:9 (640x360): it sees the same height of the room and more of it sideways
  (the room is drawn wider, then scaled to the frame);
- its automatic exposure keeps the picture's mean brightness at a level: it meters the scene
  (centre-weighted), a little late (`exposure_delay_s`), and its gain follows as a second-order
  system (`exposure_response_s`, damped by `exposure_damping` < 1: it overshoots by about
  15 %). Someone close to the lens, or the lights going down, changes the whole picture's
  brightness for a second or two, background included;
- the gain is applied in linear light through a tone curve with a soft shoulder, so a change of
  exposure is not a plain multiplication of the pixels (the highlights move less);
- its noise depends on the signal (shot noise plus read noise, grown by the gain), comes in
  grain a pixel or two wide, and the whole picture flickers a little from frame to frame;
- lens blur and JPEG compression (an MJPEG webcam), in memory.
- ``python -m simulators.scenes --write DIR [--scene NAME]``: H.264 MP4 files and their ground
  truth as JSON, for the demo to play.
"""

from __future__ import annotations

import argparse
import bisect
import json
import math
import random
import sys
import zlib
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import astuple, dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Final, Literal

import av
import cv2
import numpy as np
from numpy.typing import NDArray

from simulators.media import CabinScene, Image, PersonPose, PoseScript, SyntheticCamera

EventKind = Literal["fall", "stillness", "absence"]

CHAIR_X: Final = 360.0
SEATED_HIP_Y: Final = 300.0
STAND_FOOT_Y: Final = 405.0
"""Where a standing person's feet are, in pixels of the 640x480 scene."""
DOOR_X: Final = 100.0
EMPTY_LEAD_S: Final = 1.0
"""Every scene begins with this much empty cabin."""


@dataclass(frozen=True, slots=True)
class Event:
    kind: EventKind
    at_s: float


@dataclass(frozen=True, slots=True)
class Piecewise:
    """A function of time, linear between `(t_s, value)` points, constant outside them."""

    points: tuple[tuple[float, float], ...]

    def __call__(self, t_s: float) -> float:
        times = [p[0] for p in self.points]
        i = bisect.bisect_right(times, t_s)
        if i == 0:
            return self.points[0][1]
        if i == len(self.points):
            return self.points[-1][1]
        (t0, v0), (t1, v1) = self.points[i - 1], self.points[i]
        return v0 + (v1 - v0) * (t_s - t0) / (t1 - t0) if t1 > t0 else v1


Ease = Literal["smooth", "in", "linear", "hold"]


@dataclass(frozen=True, slots=True)
class Key:
    """The pose at `t_s` (None: nobody in view from here to the next key); `ease` shapes the
    motion from the previous key to this one ("in": accelerating, as a body falling)."""

    t_s: float
    pose: PersonPose | None
    ease: Ease = "smooth"
    alive: float = 1.0
    """How much sway and fidgeting is laid on top from this key on (0: none, as fainted)."""
    breath: float = 1.0
    """Breathing depth from this key on (fainted: a little less)."""


@dataclass(frozen=True, slots=True)
class Keyframes:
    """A `PoseScript` interpolating `keys` (sorted by time), with breathing and sway on top."""

    keys: tuple[Key, ...]
    breaths_per_min: float = 15.0
    _times: tuple[float, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_times", tuple(k.t_s for k in self.keys))

    def pose_at(self, t_s: float) -> PersonPose | None:
        i = bisect.bisect_right(self._times, t_s)
        if i == 0:
            return None
        before = self.keys[i - 1]
        if before.pose is None:
            return None
        pose = before.pose
        alive, breath_depth = before.alive, before.breath
        if i < len(self.keys):
            after = self.keys[i]
            if after.pose is not None and after.ease != "hold":
                u = (t_s - before.t_s) / max(1e-6, after.t_s - before.t_s)
                u = _ease(u, after.ease)
                pose = _blend(before.pose, after.pose, u)
                alive += (after.alive - alive) * u
        breath = breath_depth * (
            0.5 - 0.5 * math.cos(2 * math.pi * t_s * self.breaths_per_min / 60)
        )
        if alive > 0.0:
            pose = replace(
                pose,
                torso_deg=pose.torso_deg + alive * 2.5 * math.sin(2 * math.pi * t_s / 6.5),
                head_deg=pose.head_deg + alive * 5.0 * math.sin(2 * math.pi * t_s / 4.3),
                hip_x=pose.hip_x + alive * 2.0 * math.sin(2 * math.pi * t_s / 9.0),
                breath=breath,
            )
        else:
            pose = replace(pose, breath=breath)
        return pose


def _ease(u: float, ease: Ease) -> float:
    u = min(1.0, max(0.0, u))
    if ease == "in":
        return u * u
    if ease == "smooth":
        return u * u * (3 - 2 * u)
    return u


def _blend(a: PersonPose, b: PersonPose, u: float) -> PersonPose:
    return PersonPose(*(x + (y - x) * u for x, y in zip(astuple(a), astuple(b), strict=True)))


# --- poses, in the 640x480 scene's pixels ---------------------------------------------------------


def standing(x: float, *, scale: float = 1.0, foot_y: float = STAND_FOOT_Y) -> PersonPose:
    return PersonPose(
        hip_x=x,
        hip_y=foot_y - 140.0 * scale,
        left_hip_deg=-6.0,
        left_knee_deg=4.0,
        right_hip_deg=6.0,
        right_knee_deg=-4.0,
        left_shoulder_deg=-10.0,
        right_shoulder_deg=10.0,
        scale=scale,
    )


def stepping(x: float, phase: int, *, scale: float = 1.0) -> PersonPose:
    """Mid-stride, the legs apart (phase 0 or 1 chooses which leg is forward)."""
    s = 1 if phase % 2 else -1
    return replace(
        standing(x, scale=scale),
        left_hip_deg=-6.0 + 16.0 * s,
        left_knee_deg=-12.0 * s,
        right_hip_deg=6.0 + 16.0 * s,
        right_knee_deg=-12.0 * s,
        left_shoulder_deg=-10.0 - 14.0 * s,
        right_shoulder_deg=10.0 - 14.0 * s,
    )


def seated(x: float = CHAIR_X) -> PersonPose:
    return PersonPose(
        hip_x=x,
        hip_y=SEATED_HIP_Y,
        left_shoulder_deg=-14.0,
        left_elbow_deg=-8.0,
        right_shoulder_deg=14.0,
    )


def slumped(x: float = CHAIR_X, side: int = 1) -> PersonPose:
    """Fainted on the chair: the torso leans, the head drops to the shoulder, arms hang."""
    return replace(
        seated(x),
        hip_y=SEATED_HIP_Y + 6.0,
        torso_deg=14.0 * side,
        head_deg=38.0 * side,
        left_shoulder_deg=14.0 * side - 4.0,
        right_shoulder_deg=14.0 * side + 4.0,
        left_elbow_deg=0.0,
        right_elbow_deg=0.0,
        left_hip_deg=-30.0 + 14.0 * side,
        right_hip_deg=30.0 + 14.0 * side,
    )


def bent(x: float, side: int = 1) -> PersonPose:
    """Bent over sideways to pick something up from the floor, knees a little bent."""
    return replace(
        standing(x),
        hip_y=STAND_FOOT_Y - 132.0,
        torso_deg=72.0 * side,
        head_deg=-10.0 * side,
        left_shoulder_deg=72.0 * side - 6.0,
        right_shoulder_deg=72.0 * side + 6.0,
        # the legs stay upright: their angles are in the body's frame, turned by the torso's
        left_hip_deg=72.0 * side - 10.0,
        left_knee_deg=10.0,
        right_hip_deg=72.0 * side + 10.0,
        right_knee_deg=-10.0,
    )


def squatting(x: float) -> PersonPose:
    """Crouched down, torso fairly upright, a hand toward the floor."""
    return replace(
        standing(x),
        hip_y=STAND_FOOT_Y - 100.0,
        torso_deg=18.0,
        left_hip_deg=-68.0,
        left_knee_deg=58.0,
        right_hip_deg=68.0,
        right_knee_deg=-58.0,
        right_shoulder_deg=30.0,
        right_elbow_deg=-20.0,
    )


def waving(pose: PersonPose, up: bool) -> PersonPose:
    return replace(pose, right_shoulder_deg=130.0, right_elbow_deg=70.0 if up else 20.0)


def gesturing(pose: PersonPose, k: int) -> PersonPose:
    """A hand moving while talking (k chooses the gesture)."""
    gestures = ((60.0, -60.0), (40.0, -90.0), (80.0, -40.0), (25.0, -100.0))
    shoulder, elbow = gestures[k % len(gestures)]
    return replace(
        pose, right_shoulder_deg=shoulder, right_elbow_deg=elbow, head_deg=8.0 * (k % 3 - 1)
    )


FallDirection = Literal["left", "right", "forward", "backward"]


def lying(x: float, y: float, direction: FallDirection, *, scale: float = 1.0) -> PersonPose:
    """On the floor after a fall: across the picture (left, right: the head toward that side),
    or along the camera's axis (forward: head toward the camera; backward: away from it)."""
    arms = {"left_shoulder_deg": 20.0, "right_shoulder_deg": -25.0, "left_elbow_deg": 20.0}
    legs = {
        "left_hip_deg": -4.0,
        "left_knee_deg": 2.0,
        "right_hip_deg": 8.0,
        "right_knee_deg": -3.0,
    }
    if direction in ("left", "right"):
        torso = 90.0 if direction == "right" else -90.0
        return PersonPose(
            hip_x=x, hip_y=y, torso_deg=torso, head_deg=-10.0, scale=scale, **arms, **legs
        )
    torso = 178.0 if direction == "forward" else 4.0
    return PersonPose(
        hip_x=x,
        hip_y=y,
        torso_deg=torso,
        scale=scale,
        depth_squash=0.28,
        left_shoulder_deg=-60.0,
        right_shoulder_deg=60.0,
        **legs,
    )


# --- the camera ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CameraProfile:
    """How a camera films the drawn cabin (see the module's doc). Levels are 0..255."""

    name: str
    width: int = 640
    height: int = 480
    """The camera's frame; the room is drawn 480 rows high and as wide as this aspect needs."""
    auto_exposure: bool = False
    exposure_target: float = 150.0
    """Mean brightness (centre-weighted) the exposure aims at: about the drawn empty cabin's,
    so that a steady scene is shown as drawn."""
    exposure_response_s: float = 0.3
    """1 / natural frequency of the exposure loop (seconds)."""
    exposure_damping: float = 0.55
    """Below 1 the gain overshoots its new value (0.55: by about 13 %) before settling."""
    exposure_delay_s: float = 0.15
    """The metering sees the scene this late."""
    gain_limits: tuple[float, float] = (0.1, 10.0)
    """The exposure's gain, in linear light (10: about 2.8 times brighter once gamma-encoded)."""
    read_noise: float = 0.0
    """Noise of a black pixel (standard deviation, levels)."""
    shot_noise: float = 0.0
    """Noise of a white pixel beyond the read noise: sigma = sqrt(read² + shot² · v / 255),
    both grown by the square root of the exposure's gain when it is above 1."""
    grain_px: float = 0.0
    """Noise blurred over this many pixels (demosaicing and denoising make grain, not dust)."""
    flicker: float = 0.0
    """The picture's brightness ripples by this fraction: a slow beat of the mains lighting
    and, from frame to frame, half of it at random."""
    blur_px: float = 0.0
    """Lens blur (Gaussian sigma, pixels of the camera's frame)."""
    jpeg_quality: int = 0
    """MJPEG compression of each frame (0: none)."""


IDEAL: Final = CameraProfile("ideal")
"""The drawing as it is, 640x480 (the scene's own light noise only)."""
WEBCAM: Final = CameraProfile(
    "webcam",
    640,
    360,
    auto_exposure=True,
    read_noise=2.0,
    shot_noise=6.0,
    grain_px=0.8,
    flicker=0.015,
    blur_px=0.7,
    jpeg_quality=75,
)
"""A plain USB webcam: 16:9, automatic exposure, noise, flicker, blur, MJPEG."""

ROOM_HEIGHT: Final = 480
_GAMMA: Final = 2.2
_METER_SIZE: Final = (32, 18)
_EXPOSURE_STEP_S: Final = 0.005


class AutoExposure:
    """A camera's automatic exposure: the gain it applies (in linear light) at `t_s`.

    Open loop on the scene's metered brightness (what the sensor would give at gain 1), late by
    `exposure_delay_s`; the log-gain follows the wanted one as a damped second-order system.
    Starts settled on the first frame (the camera was on before the scene). Instants must not go
    back; one that does starts it again."""

    def __init__(self, profile: CameraProfile) -> None:
        self.profile = profile
        self._metered: deque[tuple[float, float]] = deque()
        self._t_s: float | None = None
        self._log_gain = 0.0
        self._rate = 0.0

    def gain_at(self, scene: Image, t_s: float) -> float:
        p = self.profile
        level = _metered_level(scene)
        if self._t_s is not None and (t_s < self._t_s or t_s - self._t_s > 10.0):
            self._t_s = None
        if self._t_s is None:
            self._metered.clear()
            self._metered.append((t_s, level))
            self._t_s, self._log_gain, self._rate = t_s, self._wanted(level), 0.0
            return math.exp(self._log_gain)
        self._metered.append((t_s, level))
        omega, zeta = 1.0 / p.exposure_response_s, p.exposure_damping
        t = self._t_s
        while t < t_s - 1e-9:
            dt = min(_EXPOSURE_STEP_S, t_s - t)
            t += dt
            wanted = self._wanted(self._seen_at(t - p.exposure_delay_s))
            accel = omega * omega * (wanted - self._log_gain) - 2.0 * zeta * omega * self._rate
            self._rate += accel * dt
            self._log_gain += self._rate * dt
        self._t_s = t_s
        while len(self._metered) > 2 and self._metered[1][0] <= t_s - p.exposure_delay_s - 1.0:
            self._metered.popleft()
        low, high = p.gain_limits
        return min(high, max(low, math.exp(self._log_gain)))

    def _wanted(self, level: float) -> float:
        """The log of the gain (in linear light) that brings `level` (gamma-encoded) to the
        target."""
        low, high = self.profile.gain_limits
        wanted = (self.profile.exposure_target / max(level, 1.0)) ** _GAMMA
        return math.log(min(high, max(low, wanted)))

    def _seen_at(self, t_s: float) -> float:
        """The metered level of the newest frame at or before `t_s` (the oldest if none)."""
        seen = self._metered[0][1]
        for at_s, level in self._metered:
            if at_s > t_s:
                break
            seen = level
        return seen


def _metered_level(scene: Image) -> float:
    """Centre-weighted mean brightness (0..255), as a webcam's metering weighs the picture."""
    small = cv2.resize(scene[::4, ::4], _METER_SIZE, interpolation=cv2.INTER_AREA)
    grey = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY).astype(np.float64)
    return float((grey * _CENTRE_WEIGHTS).sum())


def _centre_weights() -> NDArray[np.float64]:
    w, h = _METER_SIZE
    ys = (np.arange(h) - (h - 1) / 2) / h
    xs = (np.arange(w) - (w - 1) / 2) / w
    weights = np.exp(-(ys[:, None] ** 2 + xs[None, :] ** 2) / (2 * 0.3**2))
    return np.asarray(weights / weights.sum(), np.float64)


_CENTRE_WEIGHTS: Final = _centre_weights()


def tone_curve(gain: float) -> NDArray[np.uint8]:
    """The camera's response (a lookup table, 256 levels) at this exposure gain: the drawn level
    to linear light (gamma 2.2), times the gain, through a soft shoulder above 80 % (never
    quite white until saturated), back to gamma 2.2. At gain 1 it is nearly the identity."""
    linear = (np.arange(256, dtype=np.float64) / 255.0) ** _GAMMA * gain
    knee = 0.8
    over = linear > knee
    linear[over] = knee + (1.0 - knee) * np.tanh((linear[over] - knee) / (1.0 - knee))
    return np.asarray(np.clip(np.round(255.0 * linear ** (1 / _GAMMA)), 0, 255), np.uint8)


class FilmedCabin(CabinScene):
    """A `CabinScene` as a real camera films it (`CameraProfile`): `render` gives the camera's
    frame (its size, its exposure, its noise), so `SyntheticCamera` can play it live. It keeps
    the exposure's state: frames must come in time order (going back starts the camera again).
    Everything happens in memory."""

    def __init__(
        self,
        script: PoseScript,
        profile: CameraProfile,
        *,
        door_open_at: Callable[[float], float] | None = None,
        light_gain_at: Callable[[float], float] | None = None,
        noise_scale: float = 1.0,
        overlay: bool = True,
        seed: int = 1,
    ) -> None:
        room_width = round(ROOM_HEIGHT * profile.width / profile.height)
        super().__init__(
            script,
            width=room_width,
            height=ROOM_HEIGHT,
            door_open_at=door_open_at,
            light_gain_at=light_gain_at,
            noise_level=0,
            overlay=overlay,
        )
        self.profile = profile
        self.exposure = AutoExposure(profile) if profile.auto_exposure else None
        self.last_gain = 1.0
        self._noise_scale = noise_scale
        self._rng = np.random.default_rng(seed)
        self._grain: list[NDArray[np.float32]] = []
        if profile.read_noise > 0 or profile.shot_noise > 0:
            pad = 16
            for _ in range(4):
                unit = self._rng.standard_normal(
                    (profile.height + pad, profile.width + pad, 3)
                ).astype(np.float32)
                if profile.grain_px > 0:
                    unit = np.asarray(cv2.GaussianBlur(unit, (0, 0), profile.grain_px), np.float32)
                    unit /= max(1e-6, float(unit.std()))  # unit variance again
                self._grain.append(unit)

    def render(self, t_s: float, frame_index: int) -> Image:
        p = self.profile
        scene = super().render(t_s, frame_index)
        if scene.shape[:2] != (p.height, p.width):
            scene = np.asarray(
                cv2.resize(scene, (p.width, p.height), interpolation=cv2.INTER_LINEAR), np.uint8
            )
        gain = 1.0 if self.exposure is None else self.exposure.gain_at(scene, t_s)
        self.last_gain = gain
        if p.flicker > 0:
            beat = math.sin(2 * math.pi * 0.7 * t_s)
            gain *= 1.0 + p.flicker * (beat + 0.5 * float(self._rng.standard_normal()))
        image = np.asarray(cv2.LUT(scene, tone_curve(gain)), np.uint8)
        if p.blur_px > 0:
            image = np.asarray(cv2.GaussianBlur(image, (0, 0), p.blur_px), np.uint8)
        if self._grain:
            image = self._add_noise(image, max(1.0, gain))
        if p.jpeg_quality > 0:
            ok, jpeg = cv2.imencode(
                ".jpg",
                cv2.cvtColor(image, cv2.COLOR_RGB2BGR),
                [cv2.IMWRITE_JPEG_QUALITY, p.jpeg_quality],
            )
            decoded = cv2.imdecode(jpeg, cv2.IMREAD_COLOR) if ok else None
            if decoded is not None:
                image = np.asarray(cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB), np.uint8)
        return np.asarray(image, np.uint8)

    def _add_noise(self, image: Image, gain: float) -> Image:
        p = self.profile
        levels = np.arange(256, dtype=np.float32) / 255.0
        sigma_of = np.sqrt(p.read_noise**2 + p.shot_noise**2 * levels) * (
            self._noise_scale * math.sqrt(gain)
        )
        sigma = cv2.LUT(image, sigma_of.astype(np.float32))
        grain = self._grain[int(self._rng.integers(len(self._grain)))]
        dy, dx = (int(v) for v in self._rng.integers(0, 16, 2))
        noise = cv2.multiply(sigma, grain[dy : dy + p.height, dx : dx + p.width])
        return np.asarray(cv2.add(image, noise, dtype=cv2.CV_8U), np.uint8)  # saturated


def filmed(scene: Scene, camera: CameraProfile = WEBCAM) -> Scene:
    """The same scene filmed by `camera` (named ``<name>@<camera>``)."""
    return replace(scene, name=f"{scene.name}@{camera.name}", camera=camera)


# --- scenes -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Scene:
    name: str
    description: str
    script: Keyframes
    duration_s: float
    events: tuple[Event, ...] = ()
    door_open_at: Piecewise | None = None
    light_gain_at: Piecewise | None = None
    noise_level: int = 3
    tags: frozenset[str] = frozenset()
    camera: CameraProfile = IDEAL
    """Who films it: `IDEAL` (the drawing as it is) or a real camera's profile (`WEBCAM`)."""

    def cabin_scene(
        self, *, width: int = 640, height: int = 480, overlay: bool = True
    ) -> CabinScene:
        """The scene as drawn (`IDEAL`), or as `camera` films it (a `FilmedCabin`, whose
        frames are the camera's size: `width` and `height` then do not apply)."""
        if self.camera != IDEAL:
            return FilmedCabin(
                self.script,
                self.camera,
                door_open_at=self.door_open_at,
                light_gain_at=self.light_gain_at,
                noise_scale=self.noise_level / 3.0,
                overlay=overlay,
                seed=zlib.crc32(self.name.encode()),
            )
        return CabinScene(
            self.script,
            width=width,
            height=height,
            door_open_at=self.door_open_at,
            light_gain_at=self.light_gain_at,
            noise_level=self.noise_level,
            overlay=overlay,
        )

    def frames(
        self,
        *,
        fps: float = 10.0,
        width: int = 160,
        height: int = 120,
        until_s: float | None = None,
        scaler: Literal["camera", "area"] = "camera",
    ) -> Iterator[tuple[float, Image]]:
        """`(t_s, RGB frame)` at `fps`, rendered at 640x480 (or filmed by the scene's camera)
        then scaled to `width` x `height` (a 16:9 camera's frame is squeezed if asked to).

        "camera" scales as the cabin's distress monitor does a decoded camera frame: the picture
        goes to YUV 4:2:0 (as a webcam's or a decoder's frames are), then PyAV's `reformat` to
        RGB at the analysis size. "area" averages with OpenCV's `INTER_AREA` instead."""
        cabin = self.cabin_scene()
        end = self.duration_s if until_s is None else until_s
        for index in range(int(end * fps) + 1):
            t_s = index / fps
            image = cabin.render(t_s, index)
            if image.shape[:2] != (height, width) or scaler == "camera":
                image = scale_frame(image, width, height, scaler)
            yield t_s, image

    def ground_truth(self) -> dict[str, object]:
        return {
            "scene": self.name,
            "description": self.description,
            "duration_s": self.duration_s,
            "events": [{"kind": e.kind, "at_s": round(e.at_s, 3)} for e in self.events],
            "tags": sorted(self.tags),
            "camera": self.camera.name,
        }


def scale_frame(
    image: Image, width: int, height: int, scaler: Literal["camera", "area"] = "camera"
) -> Image:
    """A camera's picture at the analysis size, as the monitor gets it (see `Scene.frames`)."""
    if scaler == "area":
        return np.asarray(
            cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA), np.uint8
        )
    camera = av.VideoFrame.from_ndarray(image, format="rgb24").reformat(format="yuv420p")
    return np.asarray(
        camera.reformat(width=width, height=height, format="rgb24").to_ndarray(), np.uint8
    )


def door_swing(*swings: tuple[float, float, float]) -> Piecewise:
    """The door opens at t0 (taking 1 s), stays open until t1, closes (1 s); `(t0, t1, how_far)`."""
    points: list[tuple[float, float]] = [(0.0, 0.0)]
    for t0, t1, how_far in swings:
        points += [(t0, 0.0), (t0 + 1.0, how_far), (t1, how_far), (t1 + 1.0, 0.0)]
    return Piecewise(tuple(points))


def _walk(
    keys: list[Key], t0: float, x0: float, x1: float, s0: float, s1: float, speed: float = 110.0
) -> float:
    """Steps from x0 to x1 (scale s0 to s1) starting at t0; returns the arrival time."""
    steps = max(2, int(abs(x1 - x0) / 45.0))
    step_s = abs(x1 - x0) / speed / steps
    for i in range(1, steps + 1):
        u = i / steps
        x, s = x0 + (x1 - x0) * u, s0 + (s1 - s0) * u
        keys.append(
            Key(
                t0 + i * step_s,
                stepping(x, i, scale=s) if i < steps else standing(x, scale=s),
                "linear",
            )
        )
    return t0 + steps * step_s


def _enter_to_chair(keys: list[Key], t0: float) -> float:
    """Through the door (which must be open), to the chair, seated; returns when seated."""
    keys.append(Key(t0, standing(DOOR_X, scale=0.75)))
    t = _walk(keys, t0 + 0.4, DOOR_X, CHAIR_X, 0.75, 1.0)
    return _sit(keys, t + 0.5)


def _sit(keys: list[Key], t0: float) -> float:
    keys.append(Key(t0, standing(CHAIR_X)))
    keys.append(Key(t0 + 1.2, seated()))
    return t0 + 1.2


def _stand_up(keys: list[Key], t0: float) -> float:
    keys.append(Key(t0, seated()))
    keys.append(Key(t0 + 1.2, standing(CHAIR_X)))
    return t0 + 1.2


def _fall_keys(
    start: PersonPose,
    t_fall: float,
    direction: FallDirection,
    speed: Literal["quick", "slump"],
    end: PersonPose,
) -> tuple[list[Key], float]:
    """From `start` at t_fall to `end` on the floor; returns the keys and the landing instant."""
    side = {"left": -1, "right": 1, "forward": 1, "backward": -1}[direction]
    keys = [Key(t_fall, start)]
    if speed == "quick":
        stumble = replace(
            start,
            torso_deg=start.torso_deg + 14 * side,
            left_shoulder_deg=50.0,
            right_shoulder_deg=-40.0,
        )
        keys.append(Key(t_fall + 0.25, stumble))
        t_land = t_fall + 0.25 + 0.65
        keys.append(Key(t_land, end, "in", alive=0.0, breath=0.8))
    else:
        knees = replace(
            start,
            hip_y=start.hip_y + 55.0 * start.scale,
            torso_deg=start.torso_deg + 22 * side,
            left_hip_deg=-45.0,
            left_knee_deg=50.0,
            right_hip_deg=45.0,
            right_knee_deg=-50.0,
            head_deg=25.0 * side,
        )
        keys.append(Key(t_fall + 1.6, knees, "smooth", alive=0.3))
        t_land = t_fall + 1.6 + 1.1
        keys.append(Key(t_land, end, "in", alive=0.0, breath=0.8))
    return keys, t_land


@dataclass(frozen=True, slots=True)
class FallVariant:
    name: str
    start: Literal["standing", "chair", "walk_in"]
    direction: FallDirection
    speed: Literal["quick", "slump"]
    x: float = 330.0
    floor_y: float = 400.0
    scale: float = 1.0
    light: float = 1.0
    door_open: bool = False
    noise_level: int = 3
    dim_at_landing: bool = False


FALL_VARIANTS: Final[tuple[FallVariant, ...]] = (
    FallVariant("fall_standing_quick_right", "standing", "right", "quick", x=280.0),
    FallVariant("fall_standing_quick_left", "standing", "left", "quick", x=430.0),
    FallVariant("fall_standing_quick_forward", "standing", "forward", "quick", x=320.0),
    FallVariant("fall_standing_quick_backward", "standing", "backward", "quick", x=330.0),
    FallVariant("fall_standing_slump_right", "standing", "right", "slump", x=250.0),
    FallVariant("fall_standing_slump_left", "standing", "left", "slump", x=460.0),
    FallVariant("fall_standing_slump_forward", "standing", "forward", "slump", x=380.0),
    FallVariant("fall_standing_slump_backward", "standing", "backward", "slump", x=300.0),
    FallVariant("fall_chair_quick_right", "chair", "right", "quick"),
    FallVariant("fall_chair_quick_left", "chair", "left", "quick"),
    FallVariant("fall_chair_slump_forward", "chair", "forward", "slump"),
    FallVariant("fall_chair_slump_right", "chair", "right", "slump"),
    FallVariant(
        "fall_standing_quick_right_far",
        "standing",
        "right",
        "quick",
        x=200.0,
        floor_y=360.0,
        scale=0.85,
    ),
    FallVariant("fall_standing_quick_left_right_wall", "standing", "left", "quick", x=540.0),
    FallVariant("fall_standing_quick_right_dim", "standing", "right", "quick", x=300.0, light=0.5),
    FallVariant(
        "fall_standing_slump_left_bright", "standing", "left", "slump", x=420.0, light=1.25
    ),
    FallVariant(
        "fall_standing_quick_forward_dim", "standing", "forward", "quick", x=350.0, light=0.6
    ),
    FallVariant(
        "fall_standing_quick_left_door_open", "standing", "left", "quick", x=400.0, door_open=True
    ),
    FallVariant("fall_chair_quick_right_door_open", "chair", "right", "quick", door_open=True),
    FallVariant(
        "fall_standing_quick_forward_near",
        "standing",
        "forward",
        "quick",
        x=300.0,
        floor_y=415.0,
        scale=1.12,
    ),
    FallVariant(
        "fall_standing_quick_right_lights_go_down",
        "standing",
        "right",
        "quick",
        x=260.0,
        dim_at_landing=True,
    ),
    FallVariant("fall_chair_slump_left_dim", "chair", "left", "slump", light=0.55),
    FallVariant(
        "fall_standing_quick_right_noisy", "standing", "right", "quick", x=300.0, noise_level=8
    ),
    FallVariant("fall_walk_in_quick_left", "walk_in", "left", "quick", x=CHAIR_X),
)


def fall_scene(v: FallVariant, *, lie_for_s: float = 8.0) -> Scene:
    keys: list[Key] = [Key(0.0, None)]
    door: Piecewise | None = None
    if v.start == "walk_in":
        door = door_swing((EMPTY_LEAD_S, 9.0, 0.9))
        t = _enter_to_chair(keys, EMPTY_LEAD_S + 1.0)
        t = _stand_up(keys, t + 1.5)
        start = standing(CHAIR_X)
        keys.append(Key(t + 1.5, start))
        t_fall = t + 1.5
        x = CHAIR_X
    elif v.start == "chair":
        start = seated()
        keys.append(Key(EMPTY_LEAD_S, start))
        t_fall = 5.0
        x = CHAIR_X
    else:
        start = standing(v.x, scale=v.scale, foot_y=STAND_FOOT_Y if v.scale == 1.0 else v.floor_y)
        keys.append(Key(EMPTY_LEAD_S, start))
        t_fall = 5.0
        x = v.x
    shift = {"left": -120.0, "right": 120.0, "forward": 0.0, "backward": 0.0}[v.direction]
    if v.direction in ("left", "right"):
        end_x = min(560.0, max(80.0, x + shift * v.scale))
        end = lying(
            end_x - 60.0 * (1 if v.direction == "right" else -1),
            v.floor_y + 10.0,
            v.direction,
            scale=v.scale,
        )
    elif v.direction == "forward":
        end = lying(x, v.floor_y + 12.0 * v.scale, "forward", scale=v.scale * 1.05)
    else:
        end = lying(x, v.floor_y - 10.0, "backward", scale=v.scale * 0.95)
    fall, t_land = _fall_keys(keys[-1].pose or start, t_fall, v.direction, v.speed, end)
    keys.extend(fall)
    duration = t_land + lie_for_s
    light: Piecewise | None = None
    if v.light != 1.0:
        light = Piecewise(((0.0, v.light),))
    if v.dim_at_landing:
        light = Piecewise(((t_land - 0.05, 1.0), (t_land + 0.05, 0.5)))
    if v.door_open:
        door = door_swing((3.0, duration + 5.0, 0.85))
    return Scene(
        v.name,
        f"fall: from {v.start}, {v.direction}, {v.speed}; then lies still",
        Keyframes(tuple(keys)),
        duration,
        (Event("fall", t_land), Event("stillness", t_land)),
        door_open_at=door,
        light_gain_at=light,
        noise_level=v.noise_level,
        tags=frozenset({"fall"}),
    )


def demo_fall(seated_for_s: float = 20.0, *, lie_for_s: float = 90.0) -> Scene:
    """For the demo: seated (breathing, waving now and then) for `seated_for_s`, stands up,
    takes two steps, falls to the right and lies still."""
    keys: list[Key] = [Key(0.0, None), Key(EMPTY_LEAD_S, seated())]
    t = EMPTY_LEAD_S
    while t + 6.0 < seated_for_s:
        keys += [
            Key(t + 3.0, seated()),
            Key(t + 3.4, waving(seated(), True)),
            Key(t + 3.9, waving(seated(), False)),
            Key(t + 4.4, waving(seated(), True)),
            Key(t + 4.9, seated()),
        ]
        t += 6.0
    t = _stand_up(keys, max(t + 1.0, seated_for_s))
    t = _walk(keys, t + 0.5, CHAIR_X, 280.0, 1.0, 1.0)
    fall, t_land = _fall_keys(
        standing(280.0), t + 1.0, "right", "quick", lying(340.0, 410.0, "right")
    )
    keys += fall
    return Scene(
        "demo_fall",
        f"demo: seated {seated_for_s:.0f} s, stands up, falls, lies still",
        Keyframes(tuple(keys)),
        t_land + lie_for_s,
        (Event("fall", t_land), Event("stillness", t_land)),
        tags=frozenset({"fall", "demo"}),
    )


def _seated_start() -> list[Key]:
    return [Key(0.0, None), Key(EMPTY_LEAD_S, seated())]


def _normal(
    name: str,
    description: str,
    keys: list[Key],
    duration_s: float,
    *,
    door_open_at: Piecewise | None = None,
    light_gain_at: Piecewise | None = None,
) -> Scene:
    return Scene(
        name,
        description,
        Keyframes(tuple(keys)),
        duration_s,
        door_open_at=door_open_at,
        light_gain_at=light_gain_at,
        tags=frozenset({"normal"}),
    )


def normal_scenes() -> list[Scene]:
    scenes: list[Scene] = []
    # enter through the door, walk to the chair, sit
    keys = [Key(0.0, None)]
    t = _enter_to_chair(keys, EMPTY_LEAD_S + 1.2)
    keys.append(Key(t + 6.0, gesturing(seated(), 1)))
    keys.append(Key(t + 7.0, seated()))
    scenes.append(
        _normal(
            "enter_and_sit",
            "enters through the door, walks to the chair, sits",
            keys,
            t + 10.0,
            door_open_at=door_swing((EMPTY_LEAD_S, 6.0, 0.9)),
        )
    )
    # stands up, stands, sits again
    keys = _seated_start()
    t = _stand_up(keys, 5.0)
    keys += [
        Key(t + 1.0, standing(CHAIR_X)),
        Key(t + 2.0, gesturing(standing(CHAIR_X), 2)),
        Key(t + 3.0, standing(CHAIR_X)),
    ]
    t = _sit(keys, t + 4.0)
    scenes.append(
        _normal("stand_up_and_sit", "seated, stands up, stands 4 s, sits again", keys, t + 4.0)
    )
    # sits down from standing
    keys = [Key(0.0, None), Key(EMPTY_LEAD_S, standing(CHAIR_X))]
    t = _sit(keys, 5.0)
    scenes.append(_normal("sit_down", "standing by the chair, sits down", keys, t + 5.0))
    # waves
    keys = _seated_start()
    for i in range(12):
        keys.append(Key(4.0 + 0.4 * i, waving(seated(), i % 2 == 0)))
    keys.append(Key(9.5, seated()))
    for i in range(8):
        keys.append(Key(12.0 + 0.3 * i, waving(seated(), i % 2 == 0)))
    keys.append(Key(15.0, seated()))
    scenes.append(_normal("wave", "seated, waves twice", keys, 17.0))
    # bends to pick something up, sideways then squatting
    for side, name in ((1, "bend_pick_up_right"), (-1, "bend_pick_up_left")):
        x = 300.0 if side > 0 else 420.0
        keys = [
            Key(0.0, None),
            Key(EMPTY_LEAD_S, standing(x)),
            Key(5.0, standing(x)),
            Key(6.0, bent(x, side)),
            Key(7.8, bent(x, side)),
            Key(9.0, standing(x)),
            Key(11.0, standing(x)),
            Key(12.0, squatting(x)),
            Key(14.0, squatting(x)),
            Key(15.2, standing(x)),
        ]
        scenes.append(
            _normal(name, "standing, bends to pick up, gets up; crouches, gets up", keys, 18.0)
        )
    # talks, seated, with head and hand movements
    keys = _seated_start()
    for i in range(14):
        keys.append(Key(3.0 + 1.0 * i, gesturing(seated(), i) if i % 3 else seated()))
    scenes.append(_normal("talk_seated", "seated, talks with the hands and the head", keys, 18.0))
    # lights
    keys = _seated_start()
    keys += [Key(6.0, seated()), Key(7.0, gesturing(seated(), 0)), Key(8.0, seated())]
    scenes.append(
        _normal(
            "lights_sudden_dim",
            "seated; the lights drop to 45 % at 6 s, back at 12 s",
            keys,
            16.0,
            light_gain_at=Piecewise(((6.0, 1.0), (6.05, 0.45), (12.0, 0.45), (12.05, 1.0))),
        )
    )
    scenes.append(
        _normal(
            "lights_sudden_bright",
            "seated; the lights go up 30 % at 6 s",
            keys,
            14.0,
            light_gain_at=Piecewise(((6.0, 1.0), (6.05, 1.3))),
        )
    )
    scenes.append(
        _normal(
            "lights_slow",
            "seated; lights dim slowly to 40 % over 15 s and back",
            keys,
            40.0,
            light_gain_at=Piecewise(((3.0, 1.0), (18.0, 0.4), (23.0, 0.4), (38.0, 1.0))),
        )
    )
    keys = [
        Key(0.0, None),
        Key(EMPTY_LEAD_S, standing(420.0)),
        Key(5.0, standing(420.0)),
        Key(6.0, gesturing(standing(420.0), 1)),
        Key(7.0, standing(420.0)),
    ]
    scenes.append(
        _normal(
            "lights_sudden_dim_standing",
            "standing; the lights drop to 40 % at 6 s",
            keys,
            12.0,
            light_gain_at=Piecewise(((6.0, 1.0), (6.05, 0.4))),
        )
    )
    scenes.append(
        _normal(
            "lights_empty_cabin",
            "nobody; the lights drop, come back, dim slowly",
            [Key(0.0, None)],
            20.0,
            light_gain_at=Piecewise(
                ((3.0, 1.0), (3.05, 0.4), (8.0, 0.4), (8.05, 1.0), (10.0, 1.0), (18.0, 0.5))
            ),
        )
    )
    # the door
    scenes.append(
        _normal(
            "door_empty_cabin",
            "nobody; the door opens, stays open, closes, opens wide",
            [Key(0.0, None)],
            20.0,
            door_open_at=door_swing((3.0, 8.0, 0.8), (12.0, 16.0, 1.0)),
        )
    )
    keys = _seated_start()
    keys += [Key(7.0, seated()), Key(8.0, gesturing(seated(), 2)), Key(9.0, seated())]
    scenes.append(
        _normal(
            "door_seated_patient",
            "seated; the door opens and closes twice",
            keys,
            18.0,
            door_open_at=door_swing((3.0, 6.0, 0.9), (10.0, 14.0, 0.6)),
        )
    )
    keys = [
        Key(0.0, None),
        Key(EMPTY_LEAD_S, standing(210.0)),
        Key(6.0, standing(210.0)),
        Key(7.0, gesturing(standing(210.0), 0)),
        Key(8.0, standing(210.0)),
    ]
    scenes.append(
        _normal(
            "door_person_beside",
            "standing beside the door as it opens and closes",
            keys,
            14.0,
            door_open_at=door_swing((3.0, 8.0, 1.0)),
        )
    )
    return scenes


def stillness_scenes(*, still_for_s: float = 75.0) -> list[Scene]:
    scenes: list[Scene] = []
    for side, name in ((1, "fainted_seated"), (-1, "fainted_seated_left")):
        keys = _seated_start()
        keys += [Key(5.0, seated()), Key(7.0, slumped(side=side), alive=0.0, breath=0.7)]
        scenes.append(
            Scene(
                name,
                "seated, slumps on the chair, only breathes",
                Keyframes(tuple(keys), 12.0),
                7.0 + still_for_s,
                (Event("stillness", 7.0),),
                tags=frozenset({"stillness"}),
            )
        )
    keys = [Key(0.0, None), Key(EMPTY_LEAD_S, lying(330.0, 410.0, "right"), alive=0.0, breath=0.8)]
    scenes.append(
        Scene(
            "lying_still",
            "lying on the floor from the start, only breathes",
            Keyframes(tuple(keys), 12.0),
            EMPTY_LEAD_S + still_for_s,
            (Event("stillness", EMPTY_LEAD_S),),
            tags=frozenset({"stillness"}),
        )
    )
    return scenes


def absence_scenes(*, gone_for_s: float = 30.0) -> list[Scene]:
    keys = _seated_start()
    t = _stand_up(keys, 5.0)
    t = _walk(keys, t + 0.3, CHAIR_X, DOOR_X, 1.0, 0.75)
    keys.append(Key(t + 0.8, standing(DOOR_X, scale=0.75)))
    keys.append(Key(t + 0.8 + 1e-3, None))
    t_left = t + 0.8
    leaves = Scene(
        "leaves",
        "seated, stands up, walks out through the door",
        Keyframes(tuple(keys)),
        t_left + gone_for_s,
        (Event("absence", t_left),),
        door_open_at=door_swing((t - 1.5, t_left + 1.0, 0.9)),
        tags=frozenset({"absence"}),
    )
    keys = _seated_start()
    t = _stand_up(keys, 5.0)
    t = _walk(keys, t + 0.3, CHAIR_X, 700.0, 1.0, 1.0)
    keys.append(Key(t + 1e-3, None))
    aside = Scene(
        "leaves_out_of_frame",
        "seated, stands up, walks out of the picture on the right",
        Keyframes(tuple(keys)),
        t + gone_for_s,
        (Event("absence", t - 1.2),),
        tags=frozenset({"absence"}),
    )
    return [leaves, aside]


def catalogue() -> dict[str, Scene]:
    """Every named scene (the falls, the normal ones, stillness, absence, the demo's)."""
    scenes = [fall_scene(v) for v in FALL_VARIANTS]
    scenes += normal_scenes() + stillness_scenes() + absence_scenes() + [demo_fall()]
    return {s.name: s for s in scenes}


def _close_to_lens(keys: list[Key], t0: float) -> float:
    """From seated, up, two steps toward the camera until the body fills the middle of the
    picture (the head and the feet out of it), a look at the screen, back; returns when back
    standing by the chair."""
    t = _stand_up(keys, t0)
    near = standing(330.0, scale=4.0, foot_y=1000.0)
    keys += [
        Key(
            t + 0.8, replace(standing(350.0, scale=1.6, foot_y=520.0), left_hip_deg=10.0), "linear"
        ),
        Key(t + 1.6, near, "linear"),
        Key(t + 4.0, replace(near, right_shoulder_deg=40.0, right_elbow_deg=-80.0)),
        Key(t + 5.0, near),
        Key(t + 5.8, standing(350.0, scale=1.6, foot_y=520.0), "linear"),
        Key(t + 6.6, standing(CHAIR_X), "linear"),
    ]
    return t + 6.6


def camera_scenes() -> list[Scene]:
    """Scenes a real camera makes hard (filmed by `WEBCAM`): the patient comes close to the lens
    (the exposure swings, background included), sits again or then falls; and a few scenes
    with the person in view from the first frame (`FROM_THE_START`), as real clips begin."""
    keys = _seated_start()
    t = _close_to_lens(keys, 5.0)
    t = _sit(keys, t + 0.5)
    close = Scene(
        "close_to_lens_and_sit",
        "seated, comes close to the camera (the exposure swings), goes back, sits",
        Keyframes(tuple(keys)),
        t + 12.0,
        tags=frozenset({"normal", "camera"}),
        camera=WEBCAM,
    )
    keys = _seated_start()
    t = _close_to_lens(keys, 5.0)
    start = standing(CHAIR_X)
    keys.append(Key(t + 2.0, start))
    fall, t_land = _fall_keys(start, t + 2.0, "left", "quick", lying(240.0, 410.0, "left"))
    keys += fall
    falls = Scene(
        "close_to_lens_then_fall",
        "comes close to the camera (the exposure swings), goes back, falls 2 s later",
        Keyframes(tuple(keys)),
        t_land + 8.0,
        (Event("fall", t_land), Event("stillness", t_land)),
        tags=frozenset({"fall", "camera"}),
        camera=WEBCAM,
    )
    drawn = catalogue()
    started = [filmed(from_the_start(drawn[name])) for name in FROM_THE_START]
    return [close, falls, *started]


def from_the_start(scene: Scene) -> Scene:
    """The scene without its empty first second: the person is in view from the first frame,
    as when a camera (or the kiosk) starts with someone in the cabin."""
    first, *rest = scene.script.keys[1:]
    script = Keyframes((replace(first, t_s=0.0), *rest), scene.script.breaths_per_min)
    return replace(
        scene,
        name=f"{scene.name}_from_start",
        description=f"{scene.description} (in view from the first frame)",
        script=script,
        tags=scene.tags | {"from_start"},
    )


FROM_THE_START: Final = (
    "fall_standing_quick_right",
    "fall_chair_quick_left",
    "fall_standing_slump_forward",
    "talk_seated",
    "stand_up_and_sit",
)
"""The scenes also played with the person in view from the first frame (`camera_scenes`)."""


def webcam_catalogue() -> dict[str, Scene]:
    """Every scene of `catalogue()` filmed by `WEBCAM` (``<name>@webcam``) and the
    `camera_scenes()`."""
    scenes = [filmed(s) for s in catalogue().values()] + camera_scenes()
    return {s.name: s for s in scenes}


# --- long normal activity -------------------------------------------------------------------------


def _act(keys: list[Key], rng: random.Random, t: float, action: str) -> float:
    """Append one ordinary action from `t` (seated before and after); returns its end."""
    if action == "talk":
        for i in range(rng.randint(4, 12)):
            t += rng.uniform(0.6, 1.6)
            keys.append(Key(t, gesturing(seated(), rng.randint(0, 7)) if i % 2 == 0 else seated()))
    elif action == "adjust":
        t += 1.0
        keys.append(
            Key(
                t,
                replace(
                    seated(), hip_x=CHAIR_X + rng.uniform(-15, 15), torso_deg=rng.uniform(-8, 8)
                ),
            )
        )
        t += 1.5
        keys.append(Key(t, seated()))
    elif action == "wave":
        for i in range(rng.randint(4, 9)):
            t += 0.4
            keys.append(Key(t, waving(seated(), i % 2 == 0)))
        t += 0.6
        keys.append(Key(t, seated()))
    elif action in ("stand", "bend", "crouch"):
        t = _stand_up(keys, t + 0.5)
        x = CHAIR_X + rng.uniform(-110, 110)
        if abs(x - CHAIR_X) > 30:
            t = _walk(keys, t + 0.3, CHAIR_X, x, 1.0, 1.0)
        t += rng.uniform(1.0, 4.0)
        keys.append(Key(t, standing(x)))
        if action != "stand":
            low = bent(x, rng.choice((-1, 1))) if action == "bend" else squatting(x)
            keys += [Key(t + 1.0, low), Key(t + 1.0 + rng.uniform(0.5, 2.5), low)]
            t = keys[-1].t_s + 1.2
            keys.append(Key(t, standing(x)))
        if abs(x - CHAIR_X) > 30:
            t = _walk(keys, t + 0.5, x, CHAIR_X, 1.0, 1.0)
        t = _sit(keys, t + 0.5)
    else:  # calm: seated, only the sway and breathing, then a small movement
        t += rng.uniform(5.0, 20.0)
        keys.append(Key(t, seated()))
        t += 1.0
        keys.append(Key(t, gesturing(seated(), rng.randint(0, 7))))
        t += 1.0
        keys.append(Key(t, seated()))
    return t


def normal_activity(duration_s: float = 3600.0, seed: int = 1) -> Scene:
    """Ordinary cabin life for `duration_s`, the same for the same seed: seated and talking
    (head and hands), adjusting on the chair, waving, standing up and sitting again, bending or
    crouching to pick something up, the door opening, the lights changing (sudden and slow).
    The person never stays motionless for more than about 25 s."""
    rng = random.Random(seed)  # noqa: S311 - a reproducible scene, not a secret
    keys: list[Key] = [Key(0.0, None), Key(EMPTY_LEAD_S, seated())]
    t = EMPTY_LEAD_S + 2.0
    door: list[tuple[float, float, float]] = []
    light: list[tuple[float, float]] = [(0.0, 1.0)]
    gain = 1.0
    while t < duration_s - 30.0:
        action = rng.choices(
            ("talk", "adjust", "wave", "stand", "bend", "crouch", "calm"), (5, 2, 2, 2, 1, 1, 3)
        )[0]
        t = _act(keys, rng, t, action)
        t += rng.uniform(0.5, 3.0)
        keys.append(Key(t, seated()))
        if rng.random() < 0.08:
            door.append((t, t + rng.uniform(2.0, 8.0), rng.uniform(0.5, 1.0)))
        if rng.random() < 0.06:
            new_gain = rng.choice((0.45, 0.6, 0.8, 1.0, 1.2))
            ramp = 0.05 if rng.random() < 0.5 else rng.uniform(5.0, 20.0)
            light += [(t, gain), (t + ramp, new_gain)]
            gain = new_gain
    keys.append(Key(duration_s, seated()))
    door_fn = door_swing(*door) if door else None
    return Scene(
        f"normal_activity_{int(duration_s)}s_seed{seed}",
        f"normal cabin activity for {duration_s:.0f} s (seed {seed})",
        Keyframes(tuple(keys)),
        duration_s,
        door_open_at=door_fn,
        light_gain_at=Piecewise(tuple(light)),
        tags=frozenset({"normal", "long"}),
    )


# --- playing and writing -------------------------------------------------------------------------


def scene_by_name(name: str) -> Scene:
    """A scene of `catalogue()` or `webcam_catalogue()` (``normal_activity``: 10 minutes of it,
    ``normal_activity@webcam`` filmed by the webcam)."""
    if name.startswith("normal_activity"):
        long = normal_activity(600.0)
        return filmed(long) if name.endswith("@" + WEBCAM.name) else long
    scenes = catalogue() | webcam_catalogue()
    if name not in scenes:
        raise KeyError(f"no scene named {name!r}; known: {', '.join(sorted(scenes))}")
    return scenes[name]


def scene_camera(name: str, *, fps: int = 15) -> SyntheticCamera:
    """A live camera track playing the named scene from its start (it holds its last pose)."""
    return SyntheticCamera(scene_by_name(name).cabin_scene(), fps=fps)


def write_scene(scene: Scene, directory: Path, *, fps: int = 15) -> tuple[Path, Path]:
    """Write `<name>.mp4` (H.264, the camera's size, `fps`) and `<name>.json` (the ground
    truth)."""
    directory.mkdir(parents=True, exist_ok=True)
    video_path, truth_path = directory / f"{scene.name}.mp4", directory / f"{scene.name}.json"
    cabin = scene.cabin_scene()
    with av.open(str(video_path), mode="w") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps))
        stream.width, stream.height = scene.camera.width, scene.camera.height
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "20", "preset": "veryfast"}
        for index in range(int(scene.duration_s * fps)):
            frame = av.VideoFrame.from_ndarray(cabin.render(index / fps, index), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    truth = scene.ground_truth() | {"fps": fps, "video": video_path.name}
    truth_path.write_text(json.dumps(truth, indent=2) + "\n", encoding="utf-8")
    return video_path, truth_path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m simulators.scenes", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--list", action="store_true", help="list the scenes and their events")
    parser.add_argument("--write", type=Path, metavar="DIR", help="write MP4 + JSON files into DIR")
    parser.add_argument("--scene", action="append", help="only this scene (repeatable)")
    parser.add_argument("--fps", type=int, default=15)
    args = parser.parse_args(argv)
    scenes = catalogue() | webcam_catalogue()
    chosen = [scene_by_name(n) for n in args.scene] if args.scene else list(scenes.values())
    if args.list or not args.write:
        for s in chosen:
            events = ", ".join(f"{e.kind}@{e.at_s:.1f}s" for e in s.events) or "-"
            print(f"{s.name:45s} {s.duration_s:6.1f} s  {events}")
        return 0
    for s in chosen:
        video, _ = write_scene(s, args.write, fps=args.fps)
        print(video)
    return 0


if __name__ == "__main__":
    sys.exit(main())
