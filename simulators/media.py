"""Synthetic camera and voice for the demo and the tests: a cabin scene drawn in real time, speech.

The scene is a room (wall, floor, door, chair, wall clock) with a person whose pose is a function
of time (`PoseScript`): a seated patient who breathes, sways a little and waves now and then.
`SyntheticCamera` renders it as a live `MediaStreamTrack` (640x480 at 15 frames/s by default, paced
on the event loop's clock, pts in 1/90000 s), with a frame counter and the elapsed time drawn in a
corner, so that every frame differs and motion is plain to see after a VP8 round trip.

Drawing is numpy slicing on small boxes over a background rendered once: about a millisecond a
frame. Distress scenarios (standing, falling, lying still, leaving) are further `PoseScript`s with
the same `PersonPose`; `pose_at` returning None leaves the room empty.

`write_speech_wav` records a sentence with espeak-ng (offline) for a looped microphone.
"""

from __future__ import annotations

import asyncio
import fractions
import math
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Protocol

import cv2
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import VideoFrame
from numpy.typing import NDArray

Image = NDArray[np.uint8]
Rgb = tuple[int, int, int]

VIDEO_CLOCK_RATE: Final = 90_000
VIDEO_TIME_BASE: Final = fractions.Fraction(1, VIDEO_CLOCK_RATE)

_WALL: Final[Rgb] = (222, 208, 180)
_FLOOR: Final[Rgb] = (150, 110, 72)
_DOOR: Final[Rgb] = (120, 78, 46)
_SKIN: Final[Rgb] = (226, 180, 150)
_HAIR: Final[Rgb] = (200, 200, 205)
_SHIRT: Final[Rgb] = (52, 104, 180)
_TROUSERS: Final[Rgb] = (60, 60, 72)
_SHOES: Final[Rgb] = (30, 26, 24)
_CHAIR: Final[Rgb] = (90, 140, 120)


@dataclass(frozen=True, slots=True)
class PersonPose:
    """Where the person is and how their body is bent, in pixels and degrees.

    Angles are in the body's own frame and turn clockwise on screen: `torso_deg` 0 is upright,
    90 lies toward the right. A limb's angle is measured from the body's "down", positive toward
    the image's right when upright (0: arm hanging, 90: arm held out to the right, 180: raised).
    """

    hip_x: float
    hip_y: float
    torso_deg: float = 0.0
    head_deg: float = 0.0
    left_shoulder_deg: float = -12.0
    left_elbow_deg: float = 0.0
    right_shoulder_deg: float = 12.0
    right_elbow_deg: float = 0.0
    left_hip_deg: float = -30.0
    left_knee_deg: float = 30.0
    right_hip_deg: float = 30.0
    right_knee_deg: float = -30.0
    breath: float = 0.0
    """Chest expansion, 0 (out) to 1 (in)."""
    scale: float = 1.0
    """Size of the whole body (1: beside the chair; smaller further back, larger nearer)."""
    depth_squash: float = 1.0
    """Vertical foreshortening of the limbs and torso (1: none; about 0.3 for a body lying
    along the camera's axis, as after a fall toward or away from the camera)."""


class PoseScript(Protocol):
    """The person's pose at each instant of the scene; None when nobody is in view."""

    def pose_at(self, t_s: float) -> PersonPose | None: ...


@dataclass(frozen=True, slots=True)
class SeatedPatient:
    """A person seated facing the camera: breathes, sways slightly, waves every `wave_every_s`."""

    hip_x: float = 360.0
    hip_y: float = 300.0
    breaths_per_min: float = 15.0
    wave_every_s: float = 8.0
    wave_for_s: float = 2.5

    def pose_at(self, t_s: float) -> PersonPose:
        breath = 0.5 - 0.5 * math.cos(2 * math.pi * t_s * self.breaths_per_min / 60)
        sway = 3.0 * math.sin(2 * math.pi * t_s / 6.5)
        waving = (t_s % self.wave_every_s) < self.wave_for_s
        # the right arm rises to the side and the forearm swings, two waves a second
        right_shoulder, right_elbow = 14.0, 0.0
        if waving:
            right_shoulder = 125.0
            right_elbow = 45.0 + 30.0 * math.sin(2 * math.pi * 2.0 * t_s)
        return PersonPose(
            hip_x=self.hip_x + 2.0 * math.sin(2 * math.pi * t_s / 9.0),
            hip_y=self.hip_y,
            torso_deg=sway,
            head_deg=4.0 * math.sin(2 * math.pi * t_s / 4.3),
            left_shoulder_deg=-14.0 - 3.0 * breath,
            left_elbow_deg=-8.0,
            right_shoulder_deg=right_shoulder,
            right_elbow_deg=right_elbow,
            breath=breath,
        )


class CabinScene:
    """The room and the person, rendered at `width` x `height` (RGB) for an instant.

    Optional conditions, each a function of the scene's time: `door_open_at(t_s)` is how far
    the door on the left is open (0 closed .. 1 wide open, swinging into the room), and
    `light_gain_at(t_s)` multiplies the whole picture (1: as drawn, 0.4: lights dimmed).
    `noise_level` adds camera noise of that amplitude (0..255 levels, a few precomputed
    patterns in turn); `overlay=False` leaves out the time stamp and the sweeping marker.
    """

    def __init__(
        self,
        script: PoseScript,
        *,
        width: int = 640,
        height: int = 480,
        door_open_at: Callable[[float], float] | None = None,
        light_gain_at: Callable[[float], float] | None = None,
        noise_level: int = 0,
        overlay: bool = True,
    ) -> None:
        self.script = script
        self.width = width
        self.height = height
        self.door_open_at = door_open_at
        self.light_gain_at = light_gain_at
        self.overlay = overlay
        self._clock_centre = (int(width * 0.85), int(height * 0.2))
        self._door = (int(width * 0.06), int(width * 0.25), int(height * 0.16), int(height * 0.66))
        self._background = self._draw_background()
        self._closed_door = self._background[
            self._door[2] : self._door[3], self._door[0] : self._door[1]
        ].copy()
        self._noise: list[tuple[Image, Image]] = []
        if noise_level > 0:
            rng = np.random.default_rng(12345)
            for _ in range(7):
                noise = rng.normal(0.0, noise_level / 2.0, (height, width, 3))
                noise = np.clip(noise, -noise_level, noise_level)
                self._noise.append(
                    (
                        np.clip(noise, 0, 255).astype(np.uint8),
                        np.clip(-noise, 0, 255).astype(np.uint8),
                    )
                )

    def render(self, t_s: float, frame_index: int) -> Image:
        """The frame at `t_s` seconds; `frame_index` is printed in the corner."""
        image = self._background.copy()
        if self.door_open_at is not None:
            self._draw_door(image, min(1.0, max(0.0, self.door_open_at(t_s))))
        self._draw_clock_hand(image, t_s)
        pose = self.script.pose_at(t_s)
        if pose is not None:
            self._draw_person(image, pose)
        if self.overlay:
            self._draw_overlay(image, t_s, frame_index)
        if self.light_gain_at is not None:
            gain = max(0.0, self.light_gain_at(t_s))
            if gain != 1.0:
                lut = np.clip(np.arange(256) * gain, 0, 255).astype(np.uint8)
                image = np.asarray(cv2.LUT(image, lut), dtype=np.uint8)
        if self._noise:
            plus, minus = self._noise[frame_index % len(self._noise)]
            image = np.asarray(cv2.subtract(cv2.add(image, plus), minus), dtype=np.uint8)
        return image

    def _draw_door(self, image: Image, opened: float) -> None:
        """The door swung open by `opened` x 90 degrees: its leaf narrows toward the hinge
        (left), uncovering the dim corridor behind."""
        if opened <= 0.0:
            return
        x0, x1, y0, y1 = self._door
        corridor = image[y0:y1, x0:x1]
        corridor[:] = (62, 60, 66)
        corridor[int((y1 - y0) * 0.8) :] = (92, 84, 76)  # the corridor's floor
        leaf_w = round((x1 - x0) * math.cos(opened * math.pi / 2))
        if leaf_w > 0:
            # the leaf's picture squeezed to its visible width (nearest columns)
            columns = np.linspace(0, x1 - x0 - 1, leaf_w).astype(np.intp)
            image[y0:y1, x0 : x0 + leaf_w] = self._closed_door[:, columns]

    # --- the background, drawn once -----------------------------------------------------------
    def _draw_background(self) -> Image:
        w, h = self.width, self.height
        image = np.empty((h, w, 3), dtype=np.uint8)
        horizon = int(h * 0.66)
        shade = np.linspace(1.0, 0.86, horizon)[:, None, None]
        image[:horizon] = (np.array(_WALL) * shade).astype(np.uint8)
        image[horizon:] = _FLOOR
        for y in range(horizon + 10, h, 22):  # floor boards
            image[y : y + 2] = (120, 86, 54)
        image[horizon - 6 : horizon] = (190, 176, 150)  # skirting board
        # door on the left, with its frame and handle
        dx0, dx1, dy0 = int(w * 0.06), int(w * 0.25), int(h * 0.16)
        image[dy0 - 8 : horizon, dx0 - 8 : dx1 + 8] = (240, 236, 226)
        image[dy0:horizon, dx0:dx1] = _DOOR
        image[dy0 + 20 : dy0 + 120, dx0 + 16 : dx1 - 16] = (104, 66, 38)
        hx, hy = dx1 - 18, (dy0 + horizon) // 2
        image[hy - 4 : hy + 4, hx - 10 : hx] = (230, 190, 60)
        # chair behind the person: back, seat, legs
        cx = 360
        image[150:300, cx - 70 : cx + 70] = _CHAIR
        image[290:312, cx - 80 : cx + 80] = (70, 116, 98)
        for leg_x in (cx - 74, cx + 66):
            image[312:400, leg_x : leg_x + 8] = (50, 60, 56)
        # wall clock's face on the right
        cx, cy = self._clock_centre
        _disc(image, (cx, cy), 40, (250, 250, 250))
        _disc(image, (cx, cy), 34, (255, 255, 255))
        for hour in range(12):
            a = math.radians(hour * 30)
            tick = (cx + 30 * math.sin(a), cy - 30 * math.cos(a))
            _disc(image, tick, 2.5, (40, 40, 40))
        return image

    def _draw_clock_hand(self, image: Image, t_s: float) -> None:
        a = math.radians((t_s % 60) * 6)
        cx, cy = self._clock_centre
        _capsule(image, (cx, cy), (cx + 28 * math.sin(a), cy - 28 * math.cos(a)), 2, (200, 30, 30))
        _disc(image, (cx, cy), 4, (40, 40, 40))

    # --- the person ---------------------------------------------------------------------------
    def _draw_person(self, image: Image, pose: PersonPose) -> None:
        hip = (pose.hip_x, pose.hip_y)
        k, squash = pose.scale, pose.depth_squash

        def along(origin: tuple[float, float], angle_deg: float, length: float) -> Point:
            # angle in the body's frame, from "down", turned by the torso's angle
            a = math.radians(angle_deg - pose.torso_deg)
            return (
                origin[0] + k * length * math.sin(a),
                origin[1] + k * length * math.cos(a) * squash,
            )

        def _capsule(image: Image, p0: Point, p1: Point, radius: float, color: Rgb) -> None:
            _draw_capsule(image, p0, p1, k * radius, color)

        def _disc(image: Image, centre: Point, radius: float, color: Rgb) -> None:
            _draw_capsule(image, centre, centre, k * radius, color)

        neck = along(hip, 180.0, 112.0)
        chest_r = 34.0 + 4.0 * pose.breath
        # legs first (behind), then torso, head, arms
        for hip_deg, knee_deg, side in (
            (pose.left_hip_deg, pose.left_knee_deg, -1),
            (pose.right_hip_deg, pose.right_knee_deg, 1),
        ):
            top = along(hip, 90.0 * side, 16.0)
            knee = along(top, hip_deg, 58.0)
            ankle = along(knee, hip_deg + knee_deg, 84.0)
            _capsule(image, top, knee, 15, _TROUSERS)
            _capsule(image, knee, ankle, 12, _TROUSERS)
            _capsule(image, ankle, along(ankle, 90.0 * side, 14.0), 8, _SHOES)
        _capsule(image, along(hip, 180.0, 14.0), along(neck, 0.0, 34.0), chest_r, _SHIRT)
        head = along(neck, 180.0 + pose.head_deg, 34.0)
        _capsule(image, neck, along(neck, 180.0, 12.0), 9, _SKIN)
        _disc(image, head, 27, _SKIN)
        _capsule(image, along(head, 180.0 + pose.head_deg, 14.0), head, 20, _HAIR)
        _disc(image, along(head, 0.0, 4.0), 21, _SKIN)  # face below the hair line
        for eye_side in (-1, 1):
            eye = along(along(head, 90.0 * eye_side, 9.0), 180.0, 2.0)
            _disc(image, eye, 3, (40, 40, 50))
        _capsule(image, along(head, 0.0, 11.0), along(along(head, 0.0, 11.0), 90.0, 1.0), 2,
                 (150, 70, 70))  # fmt: skip
        for shoulder_deg, elbow_deg, side in (
            (pose.left_shoulder_deg, pose.left_elbow_deg, -1),
            (pose.right_shoulder_deg, pose.right_elbow_deg, 1),
        ):
            shoulder = along(along(neck, 0.0, 14.0), 90.0 * side, chest_r + 4)
            elbow = along(shoulder, shoulder_deg, 52.0)
            wrist = along(elbow, shoulder_deg + elbow_deg, 48.0)
            _capsule(image, shoulder, elbow, 11, _SHIRT)
            _capsule(image, elbow, wrist, 9, _SKIN)
            _disc(image, wrist, 10, _SKIN)

    # --- the corner overlay -------------------------------------------------------------------
    def _draw_overlay(self, image: Image, t_s: float, frame_index: int) -> None:
        minutes, seconds = divmod(t_s, 60.0)
        text = f"{int(minutes):02d}:{seconds:04.1f} {frame_index:06d}"
        image[8:40, 8 : 16 + 16 * len(text)] = (20, 24, 30)
        _draw_text(image, text, 14, 13, (250, 250, 250))
        # a marker sweeping along the bottom edge, one pixel column per frame
        x = frame_index % self.width
        image[-6:, max(0, x - 12) : x + 12] = (250, 220, 40)


class SyntheticCamera(MediaStreamTrack):
    """A live video track of a `CabinScene`, paced in real time like a camera.

    Frames carry pts in 1/90000 s from the first `recv`. A consumer that falls behind by more than
    a frame loses the frames it missed (as with a real camera), it never gets a burst.
    """

    kind = "video"

    def __init__(self, scene: CabinScene | None = None, *, fps: int = 15) -> None:
        super().__init__()
        self.scene = scene if scene is not None else CabinScene(SeatedPatient())
        self.fps = fps
        self.frames_rendered = 0
        self._start: float | None = None
        self._index = 0

    async def recv(self) -> VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        loop = asyncio.get_running_loop()
        if self._start is None:
            self._start = loop.time()
        else:
            self._index += 1
            due = int((loop.time() - self._start) * self.fps)
            self._index = max(self._index, due)  # skip what a late consumer missed
            wait = self._start + self._index / self.fps - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if self.readyState != "live":
                raise MediaStreamError
        t_s = self._index / self.fps
        frame = VideoFrame.from_ndarray(self.scene.render(t_s, self._index), format="rgb24")
        frame.pts = self._index * VIDEO_CLOCK_RATE // self.fps
        frame.time_base = VIDEO_TIME_BASE
        self.frames_rendered += 1
        return frame


class SpeechSynthesisError(RuntimeError):
    """espeak-ng is missing or failed to write the sound file."""


def write_speech_wav(
    path: Path, text: str, language: str = "fr", *, timeout_s: float = 10.0
) -> Path:
    """Speak `text` in `language` ("fr", "en") into the WAV file `path` with espeak-ng."""
    command = ["espeak-ng", "-v", language, "-w", str(path), "--", text]
    try:
        result = subprocess.run(command, capture_output=True, timeout=timeout_s, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SpeechSynthesisError(f"espeak-ng could not run: {exc}") from exc
    if result.returncode != 0 or not path.exists():
        reason = result.stderr.decode(errors="replace").strip()[:200]
        raise SpeechSynthesisError(f"espeak-ng failed ({result.returncode}): {reason}")
    return path


# --- drawing primitives --------------------------------------------------------------------------

Point = tuple[float, float]


def _draw_capsule(image: Image, p0: Point, p1: Point, radius: float, color: Rgb) -> None:
    """Fill the points within `radius` of the segment p0-p1 (a thick line with round ends)."""
    h, w = image.shape[:2]
    x0 = max(0, int(min(p0[0], p1[0]) - radius))
    x1 = min(w, int(max(p0[0], p1[0]) + radius) + 1)
    y0 = max(0, int(min(p0[1], p1[1]) - radius))
    y1 = min(h, int(max(p0[1], p1[1]) + radius) + 1)
    if x0 >= x1 or y0 >= y1:
        return
    ys = np.arange(y0, y1, dtype=np.float32)[:, None] - p0[1]
    xs = np.arange(x0, x1, dtype=np.float32)[None, :] - p0[0]
    dx, dy = p1[0] - p0[0], p1[1] - p0[1]
    length2 = dx * dx + dy * dy
    if length2 > 0:
        t = np.clip((xs * dx + ys * dy) / length2, 0.0, 1.0)
        xs = xs - t * dx
        ys = ys - t * dy
    image[y0:y1, x0:x1][xs * xs + ys * ys <= radius * radius] = color


def _capsule(image: Image, p0: Point, p1: Point, radius: float, color: Rgb) -> None:
    _draw_capsule(image, p0, p1, radius, color)


def _disc(image: Image, centre: Point, radius: float, color: Rgb) -> None:
    _draw_capsule(image, centre, centre, radius, color)


# seven segments per digit: a (top), b, c (right), d (bottom), e, f (left), g (middle)
_SEGMENTS: Final[dict[str, str]] = {
    "0": "abcdef",
    "1": "bc",
    "2": "abdeg",
    "3": "abcdg",
    "4": "bcfg",
    "5": "acdfg",
    "6": "acdefg",
    "7": "abc",
    "8": "abcdefg",
    "9": "abcdfg",
}
_GLYPH_W: Final = 10
_GLYPH_H: Final = 20
_STROKE: Final = 2


def _draw_text(image: Image, text: str, x: int, y: int, color: Rgb) -> None:
    """Digits as seven segments, ':' and '.', 16 px apart; other characters leave a gap."""
    w, h, s = _GLYPH_W, _GLYPH_H, _STROKE
    half = h // 2
    boxes = {
        "a": (0, 0, w, s),
        "b": (w - s, 0, w, half),
        "c": (w - s, half, w, h),
        "d": (0, h - s, w, h),
        "e": (0, half, s, h),
        "f": (0, 0, s, half),
        "g": (0, half - 1, w, half + 1),
    }
    for char in text:
        if char == ":":
            image[y + 5 : y + 8, x + 4 : x + 7] = color
            image[y + 13 : y + 16, x + 4 : x + 7] = color
        elif char == ".":
            image[y + h - 3 : y + h, x + 4 : x + 7] = color
        for segment in _SEGMENTS.get(char, ""):
            bx0, by0, bx1, by1 = boxes[segment]
            image[y + by0 : y + by1, x + bx0 : x + bx1] = color
        x += 16
