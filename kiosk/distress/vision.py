"""Fall, stillness and absence from the cabin's camera, by classical image analysis (OpenCV).

Everything happens in memory, on small frames: nothing is written, sent or logged, and no image
leaves this object (`Detection`s carry no picture).

How it works, frame by frame (`VisionAnalyser.analyse`); VISION.md has the thresholds, the
numbers measured on synthetic scenes and on real recordings, and the limits:

1. **Lighting.** Each frame's gain against the background (median brightness ratio over the
   quiet background, outside the person) is divided out: lights and the camera's exposure
   change the gain, not the foreground. A frame whose foreground still covers more than half the
   picture is a global change: no person is judged on it, and what is stable outside the
   person's place is learned at once.
2. **Movement.** Smoothed brightness compared with the last frame; each pixel keeps when it last
   moved. The person has their own clock of movement (moving pixels in and near their box; it
   stops while they are still, and runs while nobody is in view).
3. **Background that never learns a person.** The first frame is only a guess (someone may be
   in view already). A pixel is learned once it has held its colour, with no movement on it, for
   `stable_s`, and only outside the person's (dilated) box; it is *known* once it has been quiet
   with nothing moving within the person's reach of it for `known_s`. With nobody in view for
   `absence_after_s` (or after `empty_cabin()`) the whole picture is the room again.
4. **The person** is the foreground near what moved during the last `person_hold_s` of their own
   movement, plus, over known background, the foreground touching it (a still trunk under a
   waving arm). Not the person: over a guessed background, what no longer moves (a place they
   left); a blob where nothing moved for `ghost_quiet_s` whose outline is an edge of the
   background but not of the frame (a ghost: a place left over the first frame's guess);
   within `fall_window_s` of a descent of their top, foreground that has not changed for
   `object_settled_s` and whose colours are much more the room's than the person's (a chair or
   a rug the fall pushed; over the first frame's guess, always: the room seen again). The
   person's colours are a slow memory of their moving parts (not learned during a fall), the
   room's a slow memory of the known background. Blobs inside the door's zone are the door.
5. **Fall.** The person's box (top, bottom, width) over the last `fall_window_s`. Down, either:
   height at most `fall_height_ratio` of the tallest and top lowered by `fall_top_drop_ratio`
   of it (upright to lying), or *fast*: top lowered by `fast_drop_ratio` of the body's size
   (the tallest height, or half the widest width for a body already lying) within
   `fast_fall_s`, to a wide shape (`lying_aspect`), at most `fast_height_ratio` of the tallest
   or with the bottom lowered as much (a fall from sitting, a roll from a bed). Held
   `fall_confirm_s` without getting up: FALL (once, dated at the first down frame); re-armed
   when up again.
6. **Stillness.** All the foreground in and around the person's box, and its colours (divided
   by the lighting change since the anchor, measured on the room around the box), compared
   with an anchor taken when the person last moved, each picture against the other's
   neighbourhood (breathing moves edges by a pixel). More than `still_change_fraction` changed:
   a movement. Nothing for `stillness_after_s`: STILLNESS, once, dated at the anchor.
7. **Absence.** Someone was seen since `reset()` and nobody has been for `absence_after_s`:
   ABSENCE, once, dated when last seen.

**Analysis resolution: 160x120**, chosen by measurement (`python -m bench.bench_distress_vision`,
numbers in VISION.md): on the synthetic set the candidates score alike, so CPU and margin
decide. 160x120 costs a few milliseconds of CPU a frame (a few % of one core at 10 frames/s),
320x240 about four times that for nothing more; 80x60 leaves a forearm or a head about two
pixels wide, the width of the one-pixel tolerance that keeps breathing from counting as
movement. 160x120 keeps a forearm four to five pixels wide.

Frames are RGB uint8 ``(rows, columns, 3)``. A frame of another size is scaled to the analysis
size (`cv2.INTER_AREA`); anything else (another dtype, a grey or RGBA image, an empty array)
raises `ValueError`. Frames whose `t_s` does not advance are ignored.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Final

import cv2
import numpy as np
from numpy.typing import NDArray

from kiosk.distress.detection import Detection, RgbFrame
from wire.messages import AlertKind

ANALYSIS_WIDTH: Final = 160
ANALYSIS_HEIGHT: Final = 120

_LUMA: Final = np.array([0.299, 0.587, 0.114], np.float32)


def _any_channel(per_channel: NDArray[np.bool_]) -> Mask:
    """True where any of the three channels is (an elementwise or: faster than `any(axis=2)`)."""
    return per_channel[:, :, 0] | per_channel[:, :, 1] | per_channel[:, :, 2]


def _edges(gray: Float32Image) -> Float32Image:
    """Gradient magnitude (|d/dx| + |d/dy|, Sobel)."""
    dx = cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3)
    dy = cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3)
    return np.asarray(np.abs(dx) + np.abs(dy), np.float32)


Box = tuple[int, int, int, int]
"""x0, y0, x1, y1 in pixels of the analysed frame, x1 and y1 excluded."""
Mask = NDArray[np.bool_]
Float32Image = NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class VisionThresholds:
    """Every threshold of `VisionAnalyser`, with its unit. Fractions of the picture make them
    independent of the analysis resolution."""

    stillness_after_s: float = 60.0
    """Seconds a present person must stay motionless (breathing allowed) before STILLNESS."""
    absence_after_s: float = 20.0
    """Seconds with nobody in view, after someone was seen, before ABSENCE (and before the
    empty cabin is relearned everywhere, the last person's place included)."""

    stable_s: float = 1.0
    """Seconds a pixel must keep its colour, with no movement on it, before it may be learned
    as background (and only outside the person's box)."""
    known_s: float = 0.5
    """Seconds a pixel must keep its colour, with nothing moving within the person's reach of
    it, before the background there is known (a person who appears on it is then seen whole,
    even the parts that do not move)."""
    stable_level: float = 12.0
    """Colour change (0..255, any channel, at reference lighting) that restarts a pixel's
    stable time."""
    background_fast_s: float = 0.3
    """Time constant (s) with which a stable pixel outside the person becomes background."""
    motion_level: float = 10.0
    """Brightness change between two frames (0..255, smoothed, at reference lighting) that is
    movement."""
    motion_min_fraction: float = 0.0005
    """Moving pixels (fraction of the picture) that count as the person moving."""
    person_hold_s: float = 1.5
    """The person is the foreground near what moved in the last this many seconds of their own
    movement (a clock that stops while they are still)."""
    person_reach_fraction: float = 0.07
    """...near: within this fraction of the picture's width of a moving pixel."""
    foreground_level: float = 18.0
    """Absolute margin (0..255 levels, any channel) for a pixel to differ from the background."""
    foreground_relative: float = 0.10
    """Relative margin (fraction of the background's level); the larger of the two applies."""
    dark_frame_level: float = 8.0
    """Mean brightness (0..255) under which a frame shows nothing and is skipped."""
    global_change_fraction: float = 0.5
    """Foreground over this fraction of the picture: a global change, not a person."""
    min_blob_fraction: float = 0.002
    """Blobs smaller than this fraction of the picture are noise (or a clock's hand)."""
    person_min_fraction: float = 0.015
    """The person's blobs together must cover this fraction of the picture."""
    merge_margin_fraction: float = 0.05
    """Blobs within this fraction of the picture's width of the person's box are the person's."""
    door_zone: tuple[float, float, float, float] = (0.03, 0.28, 0.12, 0.67)
    """The door's area, fractions of the picture (x0, x1, y0, y1): blobs inside it are the door."""
    protect_margin_fraction: float = 0.04
    """The person's box, dilated by this fraction of the width, never feeds the background."""

    fall_window_s: float = 4.0
    """The drop from upright to the floor must happen within this many seconds."""
    fall_height_ratio: float = 0.5
    """Down: the box's height at most this fraction of the tallest in the window..."""
    fall_top_drop_ratio: float = 0.4
    """...and its top lowered by at least this fraction of that tallest height."""
    fast_fall_s: float = 1.0
    """Down, fast: the top lowered by `fast_drop_ratio` of the tallest height within this
    many seconds (a fall; lying down on purpose is slower)..."""
    fast_drop_ratio: float = 0.4
    """...by this fraction of the tallest height in the window..."""
    fast_height_ratio: float = 0.65
    """...ending at most this fraction of that height, or with the bottom lowered as much
    (a roll from a bed: the whole body went down)..."""
    ghost_quiet_s: float = 1.0
    """A blob where nothing moved for this long may be a ghost (a place left)..."""
    ghost_edge_ratio: float = 0.6
    """...when its outline's edges in the frame are under this fraction of the background's."""
    descent_ratio: float = 0.25
    """Within `fall_window_s` of the top's going down by this fraction of the tallest height in
    `fast_fall_s` (something like a fall), an object pushed may lie beside the person:"""
    object_settled_s: float = 1.5
    """...a pixel that has not changed for this many seconds..."""
    room_colour_ratio: float = 3.0
    """...and a pixel whose colour is this many times more common in the room than on the
    person is the room's (a pushed chair, a rug), not theirs."""
    lying_aspect: float = 0.9
    """...and wide: the box's width at least this times its height (analysed pixels)."""
    fall_confirm_s: float = 0.8
    """Seconds the person must stay down before FALL."""
    rearm_height_ratio: float = 0.75
    """Up again (FALL re-armed): height back to this fraction of the upright height."""
    rearm_s: float = 1.0
    """...for this many seconds."""

    still_change_fraction: float = 0.04
    """Changed area, after the opening, over which the person moved (fraction of their area)."""
    still_level: float = 16.0
    """Colour change (0..255 in any channel, at reference lighting) that counts as a change."""
    still_settle_s: float = 1.5
    """After a movement, the reference picture follows the person for this long (seconds) while
    the movement dies down, so the end of a slump is not mistaken for breathing."""
    still_lost_grace_s: float = 2.0
    """A person lost from view for less than this keeps their stillness anchor."""


@dataclass(slots=True)
class _Anchor:
    t_s: float
    mask: Mask
    colour: Float32Image
    """RGB as the camera gave it (the lighting since is measured on the room around the box:
    the background's gain, relearned all the time, may wander a little over minutes)."""


@dataclass(frozen=True, slots=True)
class _Sample:
    t_s: float
    top: float
    bottom: float
    width: float

    @property
    def height(self) -> float:
        return self.bottom - self.top


class VisionAnalyser:
    """The camera's `FrameAnalyser`: FALL, STILLNESS and ABSENCE from frames at 160x120."""

    def __init__(
        self,
        thresholds: VisionThresholds | None = None,
        *,
        width: int = ANALYSIS_WIDTH,
        height: int = ANALYSIS_HEIGHT,
    ) -> None:
        self.thresholds = thresholds or VisionThresholds()
        self.width, self.height = width, height
        self._pixels = width * height
        k = max(1, round(width / 160))
        self._tolerance_kernel = np.ones((2 * k + 1, 2 * k + 1), np.uint8)
        self._clean_kernel = np.ones((2, 2), np.uint8)
        self._close_kernel = np.ones((4 * k + 1, 4 * k + 1), np.uint8)
        reach = max(1, round(self.thresholds.person_reach_fraction * width))
        self._reach_kernel = cv2.getStructuringElement(
            cv2.MORPH_ELLIPSE, (2 * reach + 1, 2 * reach + 1)
        )
        z = self.thresholds.door_zone
        self._door_box: Box = (
            round(z[0] * width),
            round(z[2] * height),
            round(z[1] * width),
            round(z[3] * height),
        )
        self._door_mask = np.zeros((height, width), np.bool_)
        self._door_mask[
            self._door_box[1] : self._door_box[3], self._door_box[0] : self._door_box[2]
        ] = True
        self._background: Float32Image | None = None
        self._known = np.zeros((height, width), np.bool_)
        self._colour_bins: NDArray[np.uint16] = np.zeros((height, width), np.uint16)
        self._room_colours = np.full(512, 1 / 512, np.float32)
        self._room_seen = np.full(512, 1 / 512, np.float32)
        self._known_empty = False
        self._settled = np.zeros((height, width, 3), np.float32)
        self._stable_since = np.zeros((height, width), np.float64)
        self._last_motion = np.full((height, width), -math.inf, np.float64)
        self._last_near_motion = np.full((height, width), -math.inf, np.float64)
        self._previous_gray: Float32Image | None = None
        self._activity_s = -math.inf
        self._last_t_s: float | None = None
        self._empty_since_s: float | None = None
        self._protected: Box | None = None
        self._present = False
        self._box: Box | None = None
        self.reset()

    # --- the FrameAnalyser interface -------------------------------------------------------------
    @property
    def person_present(self) -> bool:
        """Whether a person was in view in the last analysed frame."""
        return self._present

    @property
    def person_box(self) -> Box | None:
        """The person's box (x0, y0, x1, y1 in analysed pixels) in the last frame, or None."""
        return self._box

    def reset(self) -> None:
        """A new session: forget the patient (seen, anchors, alarms), keep the background."""
        self._seen_since_reset = False
        self._last_seen_s = -math.inf
        self._absence_armed = True
        self._history: deque[_Sample] = deque()
        self._fall_armed = True
        self._down_since: float | None = None
        self._down_reference = 0.0
        self._down_top = 0.0
        self._down_drop = 0.0
        self._upright_height = 0.0
        self._up_since: float | None = None
        self._anchor: _Anchor | None = None
        self._still_armed = True
        self._descent_s = -math.inf
        self._person_colours = np.full(512, 1 / 512, np.float32)  # a new patient's clothes
        self._person_counts = np.zeros(512, np.float32)

    def empty_cabin(self) -> None:
        """The cabin is known empty (cleaning done, or nobody seen for a while): what is in view
        from the next frame on is the background, wherever the last person was."""
        self._background = None
        self._known_empty = True
        self._protected = None
        self._present, self._box = False, None

    def analyse(self, frame: RgbFrame, t_s: float) -> list[Detection]:
        image = self._checked(frame)
        if self._last_t_s is not None and t_s <= self._last_t_s:
            return []
        dt = 0.1 if self._last_t_s is None else min(1.0, t_s - self._last_t_s)
        self._last_t_s = t_s
        rgb = image.astype(np.float32)
        gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
        if float(gray.mean()) < self.thresholds.dark_frame_level:
            return []
        if self._background is None:
            self._start_background(rgb, t_s)
            return []
        gain = self._gain(gray, t_s)
        normalised = rgb / gain
        moving = self._motion(gray / gain, t_s)
        self._settle(normalised, t_s)
        foreground = self._foreground(normalised)
        self._colours(normalised)
        if float(foreground.mean()) > self.thresholds.global_change_fraction:
            # a change of most of the picture (the camera's exposure, the lights): no person can
            # be told from it; what settles outside the person's place is learned at once
            self._learn(normalised, dt, t_s, protected=self._protected)
            return []
        box = self._person(foreground, t_s, moving)
        detections: list[Detection] = []
        if box is not None:
            self._present, self._box = True, box
            self._seen_since_reset = True
            self._last_seen_s = t_s
            self._absence_armed = True
            self._protected = box
            detections += self._fall(t_s, box)
            detections += self._stillness(t_s, self._in_box(foreground, box), box, rgb)
        else:
            self._present, self._box = False, None
            detections += self._when_nobody(t_s)
            if t_s - self._last_seen_s >= self.thresholds.absence_after_s:
                self._protected = None  # the cabin is seen empty: relearn it everywhere
        self._learn(normalised, dt, t_s, protected=self._protected)
        return detections

    # --- input ---------------------------------------------------------------------------------
    def _checked(self, frame: RgbFrame) -> NDArray[np.uint8]:
        if not isinstance(frame, np.ndarray):
            raise ValueError(f"a frame must be a numpy array, not {type(frame).__name__}")
        if frame.dtype != np.uint8:
            raise ValueError(f"a frame must be uint8 RGB, not {frame.dtype}")
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.shape[0] < 2 or frame.shape[1] < 2:
            raise ValueError(f"a frame must be rows x columns x 3 (RGB), not {frame.shape}")
        if frame.shape[:2] != (self.height, self.width):
            return np.asarray(
                cv2.resize(frame, (self.width, self.height), interpolation=cv2.INTER_AREA), np.uint8
            )
        return np.ascontiguousarray(frame)

    # --- background, movement and foreground -----------------------------------------------------
    def _start_background(self, rgb: Float32Image, t_s: float) -> None:
        """The first frame is the background's first guess: whatever in it moves later (a person
        already in view) is found by its movement, and what it uncovers is learned once stable."""
        self._background = rgb.copy()
        self._known.fill(self._known_empty)
        self._known_empty = False
        self._settled = rgb.copy()
        self._stable_since.fill(t_s)
        self._last_motion.fill(-math.inf)
        self._last_near_motion.fill(-math.inf)
        self._room_seen.fill(1 / 512)
        self._previous_gray = None
        self._activity_s = -math.inf

    def _gain(self, gray: Float32Image, t_s: float) -> float:
        """The frame's brightness against the background's, from the pixels that are settled
        background (stable, outside the person): the camera's exposure or the lights changed."""
        assert self._background is not None
        background_gray = self._background[::3, ::3] @ _LUMA
        ratio = gray[::3, ::3] / np.maximum(background_gray, 1.0)
        usable = background_gray > 24.0
        if self._protected is not None:
            x0, y0, x1, y1 = self._protected
            usable[(y0 + 2) // 3 : (y1 + 2) // 3, (x0 + 2) // 3 : (x1 + 2) // 3] = False
        quiet = usable & (self._last_motion[::3, ::3] < t_s - self.thresholds.stable_s)
        if quiet.mean() > 0.3:
            usable = quiet
        if usable.mean() > 0.3:
            ratio = ratio[usable]
        return max(0.05, float(np.median(ratio)))

    def _motion(self, gray: Float32Image, t_s: float) -> Mask:
        """Pixels whose brightness changed since the last frame (smoothed, so that noise is not
        movement); dates them, and the person's own clock of movement."""
        smooth = np.asarray(cv2.blur(gray, (3, 3)), np.float32)
        previous, self._previous_gray = self._previous_gray, smooth
        if previous is None:
            return np.zeros(gray.shape, np.bool_)
        changed = (cv2.absdiff(smooth, previous) > self.thresholds.motion_level).astype(np.uint8)
        moving = cv2.morphologyEx(changed, cv2.MORPH_OPEN, self._clean_kernel).astype(np.bool_)
        moving &= ~self._door_mask
        self._last_motion[moving] = t_s
        self._last_near_motion[cv2.dilate(moving.astype(np.uint8), self._reach_kernel) > 0] = t_s
        near = moving
        if self._box is None:
            self._activity_s = t_s  # nobody: the clock runs (no old movement makes a person)
        else:  # the person's own movement, not a clock's or a curtain's
            m = self._reach_kernel.shape[0] // 2
            x0, y0, x1, y1 = self._box
            near = moving[max(0, y0 - m) : y1 + m, max(0, x0 - m) : x1 + m]
        if np.count_nonzero(near) >= self.thresholds.motion_min_fraction * self._pixels:
            self._activity_s = t_s
        return moving

    def _settle(self, normalised: Float32Image, t_s: float) -> None:
        """Each pixel's settled colour and since when it holds it."""
        changed = _any_channel(np.abs(normalised - self._settled) > self.thresholds.stable_level)
        self._stable_since[changed] = t_s
        self._settled[changed] = normalised[changed]
        self._settled += 0.2 * (normalised - self._settled)

    def _foreground(self, normalised: Float32Image) -> NDArray[np.uint8]:
        assert self._background is not None
        margin = np.maximum(
            self.thresholds.foreground_level, self.thresholds.foreground_relative * self._background
        )
        differs = _any_channel(np.abs(normalised - self._background) > margin).astype(np.uint8)
        cleaned = cv2.morphologyEx(differs, cv2.MORPH_OPEN, self._clean_kernel)
        return np.asarray(cv2.morphologyEx(cleaned, cv2.MORPH_CLOSE, self._close_kernel), np.uint8)

    def _person(self, foreground: NDArray[np.uint8], t_s: float, moving: Mask) -> Box | None:
        """The person: the foreground near what moved in the last `person_hold_s` of their own
        movement. What differs from the background but has not moved for that long away from
        the person (a place they left, a rug they pushed, a patch the exposure changed) is not
        them, and is learned into the background once stable."""
        th = self.thresholds
        recent = self._last_motion >= self._activity_s - th.person_hold_s
        reach = cv2.dilate(recent.astype(np.uint8), self._reach_kernel).astype(np.bool_)
        # where the background is only a guess (the first frame), what no longer moves is a place
        # the person left; where it is known, what differs and touches the moving part is theirs
        # (a still trunk under a waving arm), unless it has held still for a while and has the
        # colours of the room more than the person's (a chair or a rug they pushed)
        theirs = foreground.astype(np.bool_) & (reach | self._known)
        settled = self._stable_since < t_s - th.object_settled_s
        bins = self._colour_bins
        room_like = self._room_colours[bins] > th.room_colour_ratio * self._person_colours[bins]
        if t_s - self._descent_s <= th.fall_window_s:  # what a fall pushes, a fall only
            theirs &= ~(settled & room_like)
        else:  # ...and the room seen again where the first frame had someone
            theirs &= ~(settled & room_like & ~self._known)
        count, labels, stats, _ = cv2.connectedComponentsWithStats(
            theirs.astype(np.uint8), connectivity=8
        )
        active = set(np.unique(labels[reach & (labels > 0)]).tolist())
        dx0, dy0, dx1, dy1 = self._door_box
        candidates: list[tuple[int, Box, int]] = []
        for label in range(1, count):
            x, y, w, h, area = (int(v) for v in stats[label])
            if area < th.min_blob_fraction * self._pixels or label not in active:
                continue
            if x >= dx0 and y >= dy0 and x + w <= dx1 and y + h <= dy1:
                continue  # the door swinging
            if self._is_ghost(np.asarray(labels, np.int32), label, (x, y, x + w, y + h), t_s):
                continue
            candidates.append((label, (x, y, x + w, y + h), area))
        if not candidates:
            return None
        candidates.sort(key=lambda c: c[2], reverse=True)
        chosen = [candidates[0]]
        box = candidates[0][1]
        margin = round(th.merge_margin_fraction * self.width)
        grew = True
        while grew:
            grew = False
            for candidate in candidates:
                if candidate in chosen:
                    continue
                cx0, cy0, cx1, cy1 = candidate[1]
                if (
                    cx0 <= box[2] + margin
                    and cx1 >= box[0] - margin
                    and cy0 <= box[3] + margin
                    and cy1 >= box[1] - margin
                ):
                    chosen.append(candidate)
                    box = (min(box[0], cx0), min(box[1], cy0), max(box[2], cx1), max(box[3], cy1))
                    grew = True
        if sum(c[2] for c in chosen) < th.person_min_fraction * self._pixels:
            return None
        mask = np.isin(labels, [c[0] for c in chosen])
        if t_s - self._descent_s > th.fall_window_s:  # not what a fall pushes along with them
            self._learn_colours(mask & (self._stable_since >= t_s - 0.5))
        return box

    def _is_ghost(self, labels: NDArray[np.int32], label: int, box: Box, t_s: float) -> bool:
        """A blob where nothing moved for `ghost_quiet_s` whose outline is an edge in the
        background but not in the frame: a place someone (or something) left, seen against a
        background that still shows them (the first frame's guess, a rug's old place). A person
        at rest has their outline in the frame, the room behind them has not."""
        th = self.thresholds
        x0, y0, x1, y1 = box
        inside = labels[y0:y1, x0:x1] == label
        if float(self._last_motion[y0:y1, x0:x1][inside].max()) >= t_s - th.ghost_quiet_s:
            return False
        assert self._background is not None and self._previous_gray is not None
        blob = inside.astype(np.uint8)
        outline = (blob > cv2.erode(blob, self._clean_kernel)) & inside
        if np.count_nonzero(outline) < 8:
            return False
        frame_edges = _edges(self._previous_gray[y0:y1, x0:x1])[outline]
        background_gray = self._background[y0:y1, x0:x1] @ _LUMA
        background_edges = _edges(np.asarray(cv2.blur(background_gray, (3, 3)), np.float32))
        return float(frame_edges.mean()) < th.ghost_edge_ratio * float(
            background_edges[outline].mean()
        )

    def _colours(self, normalised: Float32Image) -> None:
        """Each pixel's settled colour's bin (8 levels a channel: noise does not flip it), and
        how common each colour is in the known background."""
        assert self._background is not None
        q = np.clip(self._settled, 0, 255).astype(np.uint16) >> 5
        self._colour_bins = ((q[:, :, 0] << 6) | (q[:, :, 1] << 3) | q[:, :, 2]).astype(np.uint16)
        b = np.clip(self._background, 0, 255).astype(np.uint16) >> 5
        room = ((b[:, :, 0] << 6) | (b[:, :, 1] << 3) | b[:, :, 2])[self._known]
        counts = np.bincount(room.ravel(), minlength=512).astype(np.float32)
        now = (counts + 1.0) / (counts.sum() + 512.0)
        # the colours the room has shown lately: a rug pushed away from where it lay keeps its
        # colour the room's
        self._room_seen = np.maximum(now, self._room_seen + 0.01 * (now - self._room_seen))
        self._room_colours = self._room_seen

    def _learn_colours(self, moving: Mask) -> None:
        """The person's colours, from the parts of them that changed in the last half second
        (slowly: a person moves again and again, a pushed object only while pushed)."""
        if np.count_nonzero(moving) < 20:
            return  # still (or breathing): the colours learned while they moved hold
        counts = np.bincount(self._colour_bins[moving].ravel(), minlength=512).astype(np.float32)
        self._person_counts *= 0.999  # a slow memory: legs that moved minutes ago are theirs
        self._person_counts += counts
        total = float(self._person_counts.sum())
        self._person_colours = (self._person_counts + 1e-3 * total) / (1.512 * total)

    def _in_box(self, foreground: NDArray[np.uint8], box: Box) -> Mask:
        """All the foreground in and around the person's box: what the stillness detector
        compares (whether a settled part counts as theirs or as a pushed object does not matter
        to whether anything moved)."""
        m = round(self.thresholds.protect_margin_fraction * self.width)
        x0, y0, x1, y1 = box
        near = np.zeros(foreground.shape, np.bool_)
        near[max(0, y0 - m) : y1 + m, max(0, x0 - m) : x1 + m] = True
        return foreground.astype(np.bool_) & near

    def _learn(
        self, normalised: Float32Image, dt: float, t_s: float, protected: Box | None
    ) -> None:
        """Stable pixels, with no movement on them, outside the person's (dilated) box, become
        background within a fraction of a second."""
        assert self._background is not None
        th = self.thresholds
        settled_for = t_s - th.stable_s
        learnable = (self._stable_since <= settled_for) & (self._last_motion <= settled_for)
        quiet_for = t_s - th.known_s
        known = (self._stable_since <= quiet_for) & (self._last_near_motion <= quiet_for)
        if protected is not None:
            m = round(th.protect_margin_fraction * self.width)
            x0, y0, x1, y1 = protected
            learnable[max(0, y0 - m) : y1 + m, max(0, x0 - m) : x1 + m] = False
            known[max(0, y0 - m) : y1 + m, max(0, x0 - m) : x1 + m] = False
        # known: learned with nothing moving near it (not the still trunk of a person in view
        # from the first frame, whose arms or head move)
        self._known |= known
        # the cabin seen empty: what is stable is the room, at once
        rate = 1.0 if protected is None else 1.0 - math.exp(-dt / th.background_fast_s)
        before = self._background[::3, ::3] @ _LUMA
        self._background[learnable] += rate * (normalised[learnable] - self._background[learnable])
        if protected is None:
            return
        # The gain is estimated against this background, so a small bias in it makes the
        # learning part drift in level, slowly, away from the protected box (which does not
        # learn): carry the same drift into the box, so that all of the background keeps the
        # same units and no ghost grows around a person who stays in place for long.
        after = self._background[::3, ::3] @ _LUMA
        moved = learnable[::3, ::3] & (before > 24.0)
        if moved.any():
            drift = float(np.median(after[moved] / before[moved]))
            self._background[max(0, y0 - m) : y1 + m, max(0, x0 - m) : x1 + m] *= drift

    # --- the detectors ---------------------------------------------------------------------------
    def _fall(self, t_s: float, box: Box) -> list[Detection]:
        th = self.thresholds
        now = _Sample(t_s, float(box[1]), float(box[3]), float(box[2] - box[0]))
        while self._history and self._history[0].t_s < t_s - th.fall_window_s:
            self._history.popleft()
        earlier = list(self._history)
        self._history.append(now)
        recent = [s for s in earlier if s.t_s >= t_s - th.fast_fall_s]
        if recent and earlier:
            tallest = max(s.height for s in earlier)
            if now.top - min(s.top for s in recent) >= th.descent_ratio * tallest:
                self._descent_s = t_s
        if not self._fall_armed:
            if now.height >= th.rearm_height_ratio * self._upright_height:
                self._up_since = t_s if self._up_since is None else self._up_since
                if t_s - self._up_since >= th.rearm_s:
                    self._fall_armed, self._up_since = True, None
            else:
                self._up_since = None
            return []
        if self._down_since is None:
            if earlier:
                self._went_down(now, earlier)
            return []
        if self._got_up(now):
            self._down_since = None  # a bend, a crouch, sitting down on the floor and up
            return []
        if t_s - self._down_since < th.fall_confirm_s:
            return []
        ratio = now.height / self._down_reference
        drop = self._down_drop / self._down_reference
        confidence = min(0.99, 0.55 + 0.4 * max(0.0, drop - th.fast_drop_ratio) + 0.3 * (1 - ratio))
        detection = Detection(
            AlertKind.FALL,
            round(max(0.5, confidence), 2),
            t_s,
            self._down_since,
            f"au sol depuis {t_s - self._down_since:.1f} s (hauteur {ratio:.0%}, "
            f"chute de {drop:.0%})",
        )
        self._fall_armed, self._upright_height = False, self._down_reference
        self._down_since, self._up_since = None, None
        return [detection]

    def _went_down(self, now: _Sample, earlier: list[_Sample]) -> None:
        """Whether the person just reached the floor: from the tallest of the window, down to
        half of it (an upright person lying), or, fast (a fall, not lying down on purpose),
        down by `fast_drop_ratio` of it to a wide shape, lower or wholly lowered (a fall from
        sitting, a roll from a bed)."""
        th = self.thresholds
        tallest = max(s.height for s in earlier)
        highest = min(earlier, key=lambda s: s.top)
        if (
            now.height <= th.fall_height_ratio * tallest
            and now.top - highest.top >= th.fall_top_drop_ratio * tallest
        ):
            self._down(now, tallest, now.top - highest.top)
            return
        recent = [s for s in earlier if s.t_s >= now.t_s - th.fast_fall_s]
        if not recent or now.width < th.lying_aspect * now.height:
            return
        start = min(recent, key=lambda s: s.top)
        drop = now.top - start.top
        # a body lying (wide) drops by a fraction of its length, not of its small height
        size = max(tallest, 0.5 * max(s.width for s in earlier))
        if drop < th.fast_drop_ratio * size:
            return
        lowered = now.bottom - start.bottom >= th.fast_drop_ratio * size
        if now.height <= th.fast_height_ratio * tallest or lowered:
            self._down(now, tallest, drop)

    def _down(self, now: _Sample, reference: float, drop: float) -> None:
        self._down_since, self._down_reference = now.t_s, reference
        self._down_top, self._down_drop = now.top, drop

    def _got_up(self, now: _Sample) -> bool:
        """Up again before the fall was confirmed: the top back up by half the drop, or the
        shape tall again."""
        th = self.thresholds
        return now.top < self._down_top - 0.5 * self._down_drop or (
            now.height > (th.fast_height_ratio + 0.1) * self._down_reference
            and now.width < th.lying_aspect * now.height
        )

    def _stillness(self, t_s: float, mask: Mask, box: Box, colour: Float32Image) -> list[Detection]:
        th = self.thresholds
        anchor = self._anchor
        if anchor is None:
            self._anchor = _Anchor(t_s, mask, colour)
            return []
        colour = colour / self._lighting_since(anchor.colour, colour, box)
        changes = int(cv2.countNonZero(self._changes(mask, box, colour, anchor)))
        if changes > th.still_change_fraction * max(int(np.count_nonzero(mask)), 1):
            self._anchor = _Anchor(t_s, mask, colour)
            self._still_armed = True
            return []
        if t_s - anchor.t_s < th.still_settle_s:
            # a movement ending: the picture settles, the anchor follows it (not its time)
            self._anchor = _Anchor(anchor.t_s, mask, colour)
        if self._still_armed and t_s - anchor.t_s >= th.stillness_after_s:
            self._still_armed = False
            return [
                Detection(
                    AlertKind.STILLNESS,
                    0.8,
                    t_s,
                    anchor.t_s,
                    f"immobile depuis {t_s - anchor.t_s:.0f} s",
                )
            ]
        return []

    def _lighting_since(self, then: Float32Image, now: Float32Image, box: Box) -> float:
        """How much brighter the room around the person is than at the anchor (median ratio
        outside their dilated box): the lights or the exposure, not the person."""
        m = 2 * round(self.thresholds.protect_margin_fraction * self.width)
        x0, y0, x1, y1 = box
        room = np.ones((self.height, self.width), np.bool_)
        room[max(0, y0 - m) : y1 + m, max(0, x0 - m) : x1 + m] = False
        then_gray, now_gray = then[::3, ::3] @ _LUMA, now[::3, ::3] @ _LUMA
        usable = room[::3, ::3] & (then_gray > 24.0)
        if np.count_nonzero(usable) < 50:
            return 1.0
        return max(0.05, float(np.median(now_gray[usable] / then_gray[usable])))

    def _changes(
        self, mask: Mask, box: Box, colour: Float32Image, anchor: _Anchor
    ) -> NDArray[np.uint8]:
        """What changed since the anchor beyond a shift of a pixel or so: breathing moves the
        silhouette's edges by about a pixel, so each picture is compared with the other's
        neighbourhood (dilated and eroded) before the differences are counted. Colours count
        near the person's box too: a hand against a wall of the same brightness is seen moving
        even where it is not in the silhouette."""
        k = self._tolerance_kernel
        level = self.thresholds.still_level
        now_u8, then_u8 = mask.astype(np.uint8), anchor.mask.astype(np.uint8)
        appeared = now_u8 > cv2.dilate(then_u8, k)
        vanished = then_u8 > cv2.dilate(now_u8, k)
        brighter = _any_channel(colour > cv2.dilate(anchor.colour, k) + level)
        darker = _any_channel(colour < cv2.erode(anchor.colour, k) - level)
        x0, y0, x1, y1 = box
        near = np.zeros_like(mask)
        m = 2 * k.shape[0]
        near[max(0, y0 - m) : y1 + m, max(0, x0 - m) : x1 + m] = True
        changed = appeared | vanished | ((brighter | darker) & near)
        return np.asarray(
            cv2.morphologyEx(changed.astype(np.uint8), cv2.MORPH_OPEN, self._clean_kernel), np.uint8
        )

    def _when_nobody(self, t_s: float) -> list[Detection]:
        th = self.thresholds
        if self._down_since is not None and t_s - self._last_seen_s > 1.0:
            self._down_since = None
        if t_s - self._last_seen_s > th.still_lost_grace_s:
            self._anchor = None
            self._history.clear()
        if (
            self._seen_since_reset
            and self._absence_armed
            and t_s - self._last_seen_s >= th.absence_after_s
        ):
            self._absence_armed = False
            return [
                Detection(
                    AlertKind.ABSENCE,
                    0.9,
                    t_s,
                    self._last_seen_s,
                    f"personne en vue depuis {t_s - self._last_seen_s:.0f} s",
                )
            ]
        return []
