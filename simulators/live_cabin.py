"""The demo's cabin as the synthetic camera films it live: empty, then a patient who comes in,
sits, talks, and may fall, get up again, or leave, when the demo says so.

`LiveCabin` is a `PoseScript` (and gives the door's opening) whose future is written from the
camera's present: each action appends keyframes starting just after the last instant rendered.
Seated, the patient breathes, sways and waves now and then (`SeatedPatient`), like the patient
of the other scenes. The demo's composition root (``demo.media.follow_sessions``) makes the
patient come in when a session starts and go when it ends, so that the cabin's camera sees what
a real cabin would; the scripted demo and the end-to-end tests add the fall.

The cabin starts empty: distress detection learns the empty cabin from its first second.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from simulators.media import PersonPose, SeatedPatient
from simulators.scenes import (
    CHAIR_X,
    DOOR_X,
    Key,
    Keyframes,
    _fall_keys,
    _sit,
    _stand_up,
    _walk,
    lying,
    seated,
    standing,
)

log = logging.getLogger(__name__)

_LEAD_S = 0.2  # an action starts this long after the last frame rendered
_FALL_X = 280.0


class LiveCabin:
    def __init__(self) -> None:
        self._keys: list[Key] = [Key(0.0, None)]
        self._script = Keyframes(tuple(self._keys))
        self._seated = SeatedPatient()
        self._seated_from: float | None = None  # from then on, seated and lively
        self._door: list[tuple[float, float]] = []  # (opens at, closed again at)
        self.now_s = 0.0
        self.state = "empty"  # empty | seated | lying
        self.landed_at_s: float | None = None  # camera time of the last fall's landing

    # --- what the camera asks ------------------------------------------------------------------
    def pose_at(self, t_s: float) -> PersonPose | None:
        self.now_s = max(self.now_s, t_s)
        if self._seated_from is not None and t_s >= self._seated_from:
            return self._seated.pose_at(t_s)
        return self._script.pose_at(t_s)

    def seated_for(self, seconds: float) -> bool:
        """Seated (and lively) for at least this long, on the camera's clock."""
        return (
            self.state == "seated"
            and self._seated_from is not None
            and self.now_s >= self._seated_from + seconds
        )

    def door_open_at(self, t_s: float) -> float:
        """0 closed .. 0.9 open: one second to open, one to close."""
        opened = 0.0
        for start, end in self._door:
            if start <= t_s <= end:
                opened = max(opened, 0.9 * min(1.0, t_s - start, end - t_s))
        return opened

    # --- what the demo does -------------------------------------------------------------------
    def enter(self) -> None:
        """A patient comes in through the door and sits down."""
        if self.state != "empty":
            return
        t0 = self.now_s + _LEAD_S
        keys = [Key(t0, None), Key(t0 + 1.0, standing(DOOR_X, scale=0.75))]
        t = _walk(keys, t0 + 1.4, DOOR_X, CHAIR_X, 0.75, 1.0)
        t_seated = _sit(keys, t + 0.3)
        self._add(keys, seated_from=t_seated)
        self._door.append((t0, t0 + 3.0))
        self.state = "seated"
        log.info("live_cabin.enter at=%.1f seated_at=%.1f", t0, t_seated)

    def fall(self) -> float:
        """The seated patient stands up, takes two steps and falls; the landing's camera time."""
        if self.state == "empty":
            self.enter()
        t0 = max(self.now_s + _LEAD_S, self._seated_from or 0.0)
        keys = [Key(t0, seated())]
        t = _stand_up(keys, t0 + 0.3)
        t = _walk(keys, t + 0.5, CHAIR_X, _FALL_X, 1.0, 1.0)
        fall, t_land = _fall_keys(
            standing(_FALL_X), t + 0.8, "right", "quick", lying(340.0, 410.0, "right")
        )
        keys += fall
        self._add(keys, seated_from=None)
        self.state = "lying"
        self.landed_at_s = t_land
        log.info("live_cabin.fall at=%.1f lands_at=%.1f", t0, t_land)
        return t_land

    def get_up(self) -> None:
        """Helped up from the floor, back on the chair."""
        if self.state != "lying":
            return
        t0 = self.now_s + _LEAD_S
        floor = lying(340.0, 410.0, "right")
        keys = [Key(t0, replace(floor)), Key(t0 + 2.0, standing(_FALL_X))]
        t = _walk(keys, t0 + 2.3, _FALL_X, CHAIR_X, 1.0, 1.0)
        t_seated = _sit(keys, t + 0.3)
        self._add(keys, seated_from=t_seated)
        self.state = "seated"

    def leave(self) -> None:
        """The patient stands up and goes out through the door."""
        if self.state == "empty":
            return
        if self.state == "lying":
            self.get_up()
        t0 = max(self.now_s + _LEAD_S, self._seated_from or 0.0)
        keys = [Key(t0, seated())]
        t = _stand_up(keys, t0 + 0.2)
        t = _walk(keys, t + 0.3, CHAIR_X, DOOR_X, 1.0, 0.75)
        keys += [Key(t + 0.6, standing(DOOR_X, scale=0.75)), Key(t + 0.61, None)]
        self._add(keys, seated_from=None)
        self._door.append((t - 1.5, t + 1.6))
        self.state = "empty"
        log.info("live_cabin.leave at=%.1f gone_at=%.1f", t0, t + 0.6)

    def _add(self, keys: list[Key], *, seated_from: float | None) -> None:
        start = keys[0].t_s
        kept = [k for k in self._keys if k.t_s < start]
        if self._seated_from is not None and self._seated_from < start:
            kept.append(Key(self._seated_from, seated()))  # where the lively sitting began
        self._keys = sorted(kept, key=lambda k: k.t_s) + keys
        self._script = Keyframes(tuple(self._keys))
        self._seated_from = seated_from
