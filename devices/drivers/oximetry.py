"""From a pulse oximeter's stream of samples to one reading, the same for every oximeter.

An oximeter reports many times a second. A reading is taken when a finger has been in the clip
with a usable signal for ``settle_s`` seconds: the median SpO2 and pulse of that span. Until
then the measurement reports live values, or the problem in the way (no finger, poor signal);
a problem that lasts ``give_up_s`` ends it. Samples whose pulse jumps around during the span
(movement) make the reading questionable rather than wrong.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from devices.instrument import Failure, Final, MeasurementUpdate, Problem, Progress
from devices.plausibility import PLAUSIBLE, implausible
from devices.reading import (
    QUESTIONABLE_FLAGS,
    Quality,
    Quantity,
    Reading,
    ReadingFlag,
    ReadingKind,
    Value,
)

PULSE_SPREAD_MOVING_BPM = 25.0  # pulse max-min within the span above this: the patient moved
SENSOR_PROBLEM_CONFIRM_S = 1.0  # the sensor said to be off or broken for this long, unbroken


@dataclass(frozen=True, slots=True)
class OximetrySample:
    spo2_percent: float | None
    pulse_bpm: float | None
    finger_present: bool = True
    signal_ok: bool = True
    sensor_problem: Problem | None = None  # e.g. PROBE_UNPLUGGED: nothing the patient can do
    perfusion_index_percent: float | None = None
    low_battery: bool = False


class OximetryWindow:
    def __init__(
        self,
        device_id: str,
        *,
        settle_s: float = 6.0,
        give_up_s: float = 30.0,
        progress_every_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._device_id = device_id
        self._settle_s = settle_s
        self._give_up_s = give_up_s
        self._progress_every_s = progress_every_s
        self._clock = clock
        self._started = clock()
        self._problem_since: float | None = None
        self._last_progress = -float("inf")
        self._span: list[tuple[float, OximetrySample]] = []
        self._weak = 0
        self._low_battery = False
        self._sensor_since: float | None = None

    def add(self, sample: OximetrySample) -> MeasurementUpdate | None:
        now = self._clock()
        self._low_battery |= sample.low_battery
        if sample.sensor_problem is not None:
            # One frame is not enough: a line error can look like "probe unplugged".
            if self._sensor_since is None:
                self._sensor_since = now
            if now - self._sensor_since >= SENSOR_PROBLEM_CONFIRM_S:
                return Failure(sample.sensor_problem, "the oximeter reports a sensor problem")
            return None
        self._sensor_since = None
        problem = self._problem_of(sample)
        if problem is not None:
            if problem is Problem.NO_FINGER:
                self._span.clear()
            else:
                self._weak += 1
            if self._problem_since is None:
                self._problem_since = now
            if now - self._problem_since >= self._give_up_s:
                return Failure(problem, f"{problem.value} for {self._give_up_s:.0f} s")
            return self._progress(now, Progress(problem=problem))
        self._problem_since = None
        self._span.append((now, sample))
        if now - self._span[0][0] >= self._settle_s:
            return self._final()
        live = (
            Value(Quantity.SPO2_PERCENT, float(sample.spo2_percent or 0)),
            Value(Quantity.PULSE_BPM, float(sample.pulse_bpm or 0)),
        )
        return self._progress(now, Progress(live=live))

    def _problem_of(self, sample: OximetrySample) -> Problem | None:
        if not sample.finger_present:
            return Problem.NO_FINGER
        if not sample.signal_ok or sample.spo2_percent is None or sample.pulse_bpm is None:
            return Problem.POOR_SIGNAL
        spo2_low, spo2_high = PLAUSIBLE[Quantity.SPO2_PERCENT]
        pulse_low, pulse_high = PLAUSIBLE[Quantity.PULSE_BPM]
        if not (
            spo2_low <= sample.spo2_percent <= spo2_high
            and pulse_low <= sample.pulse_bpm <= pulse_high
        ):
            return Problem.OUT_OF_RANGE  # never shown, never kept: noise or a sensor in trouble
        return None

    def _progress(self, now: float, progress: Progress) -> Progress | None:
        if now - self._last_progress < self._progress_every_s:
            return None
        self._last_progress = now
        return progress

    def _final(self) -> Failure | Final:
        samples = [s for _, s in self._span]
        spo2 = statistics.median(float(s.spo2_percent or 0) for s in samples)
        pulses = [float(s.pulse_bpm or 0) for s in samples]
        values = [
            Value(Quantity.SPO2_PERCENT, spo2),
            Value(Quantity.PULSE_BPM, statistics.median(pulses)),
        ]
        indices = [s.perfusion_index_percent for s in samples if s.perfusion_index_percent]
        if indices:
            values.append(Value(Quantity.PERFUSION_INDEX_PERCENT, statistics.median(indices)))
        flags: set[ReadingFlag] = set()
        if max(pulses) - min(pulses) > PULSE_SPREAD_MOVING_BPM:
            flags.add(ReadingFlag.BODY_MOVEMENT)
        if self._weak > len(samples) // 5:
            flags.add(ReadingFlag.WEAK_SIGNAL)
        if self._low_battery:
            flags.add(ReadingFlag.LOW_BATTERY)
        quality = Quality.QUESTIONABLE if flags & QUESTIONABLE_FLAGS else Quality.GOOD
        reading = Reading(
            self._device_id,
            ReadingKind.PULSE_OXIMETRY,
            tuple(values),
            datetime.now(UTC),
            quality,
            frozenset(flags),
        )
        if implausible(reading):
            return Failure(Problem.OUT_OF_RANGE, "the oximeter gave values that cannot be true")
        return Final(reading)


class OximetryMeasurement:
    """The window of the measurement under way, for any oximeter driver: opened when the
    measurement begins, fed every sample, closed when it ends."""

    def __init__(self, device_id: str, *, settle_s: float, give_up_s: float) -> None:
        self._device_id = device_id
        self._settle_s = settle_s
        self._give_up_s = give_up_s
        self._window: OximetryWindow | None = None

    def begin(self) -> None:
        self._window = OximetryWindow(
            self._device_id, settle_s=self._settle_s, give_up_s=self._give_up_s
        )

    def end(self) -> None:
        self._window = None

    def add(self, sample: OximetrySample) -> MeasurementUpdate | None:
        return self._window.add(sample) if self._window is not None else None
