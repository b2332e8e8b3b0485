"""The guided measurements: one instrument at a time, what to do, live progress, the result.

Each step tells the patient how to put the instrument on, runs the measurement when they press
Start, shows the cuff's pressure or the live values as they come, then the result in plain words
with its units. A problem becomes an instruction ("the cuff is loose: tighten it and press
Retry"), never an error code. A device whose link drops before the measurement began is said
to be reconnecting, and the measurement starts again by itself when it is back: nobody presses
Start twice for it. Any measurement can be skipped. The page holds the results only as
long as it lives: the window destroys it when the session moves on.

A measurement started here is the core's, not the page's: when the window replaces the page ("are
you still there?", an alert, the language changed) the measurement goes on without it and its
reading is kept by the core (the closing page lists it); the page no longer touches its widgets,
which Qt deletes. It stops when the patient skips it, stops or moves on, when the session it was
started in ends (a late result never reaches the next patient), and when the window closes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from PySide6.QtCore import QCoreApplication, QTimer
from PySide6.QtGui import QHideEvent
from PySide6.QtWidgets import (
    QBoxLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from devices.instrument import Failure, Final, Instrument, MeasurementUpdate, Problem, Progress
from devices.reading import Quality, Quantity, Reading, ReadingKind
from kiosk.app import KioskCore
from kiosk.bus import Subscription
from kiosk.events import RemeasureAsked, SessionStateChanged
from ui.illustrations import InstrumentPicture
from ui.intents import IntentRunner
from ui.theme import CALM, Theme, gap

log = logging.getLogger(__name__)


def kind_name(kind: ReadingKind) -> str:
    return {
        ReadingKind.BLOOD_PRESSURE: QCoreApplication.translate("VitalsPage", "Blood pressure"),
        ReadingKind.TEMPERATURE: QCoreApplication.translate("VitalsPage", "Temperature"),
        ReadingKind.PULSE_OXIMETRY: QCoreApplication.translate("VitalsPage", "Oxygen and pulse"),
    }[kind]


def how_to(kind: ReadingKind) -> str:
    return {
        ReadingKind.BLOOD_PRESSURE: QCoreApplication.translate(
            "VitalsPage",
            "Put the cuff on your bare left arm, two fingers above the elbow, the tube on the"
            " inside. Rest your arm on the table, then press Start and keep still.",
        ),
        ReadingKind.TEMPERATURE: QCoreApplication.translate(
            "VitalsPage", "Take the thermometer and hold it as the picture shows, then press Start."
        ),
        ReadingKind.PULSE_OXIMETRY: QCoreApplication.translate(
            "VitalsPage",
            "Put your index finger all the way into the clip, nail up, and keep your hand"
            " still. Then press Start.",
        ),
    }[kind]


def instruction(problem: Problem) -> str:
    return {
        Problem.CUFF_LOOSE: QCoreApplication.translate(
            "VitalsPage", "The cuff is loose: tighten it around your arm and press Retry."
        ),
        Problem.BODY_MOVEMENT: QCoreApplication.translate(
            "VitalsPage",
            "You moved during the measurement: keep still, arm resting, and press Retry.",
        ),
        Problem.IMPROPER_POSITION: QCoreApplication.translate(
            "VitalsPage",
            "Rest your arm on the table, at the height of your heart, and press Retry.",
        ),
        Problem.NO_FINGER: QCoreApplication.translate(
            "VitalsPage", "Put your finger all the way into the clip."
        ),
        Problem.PROBE_UNPLUGGED: QCoreApplication.translate(
            "VitalsPage", "The sensor is unplugged. Press Skip: the agent will be told."
        ),
        Problem.POOR_SIGNAL: QCoreApplication.translate(
            "VitalsPage", "The signal is weak: keep your hand still and warm. It may take a moment."
        ),
        Problem.OUT_OF_RANGE: QCoreApplication.translate(
            "VitalsPage", "The measurement did not work. Press Retry."
        ),
        Problem.DEVICE_ERROR: QCoreApplication.translate(
            "VitalsPage", "The device reported an error. Press Retry, or Skip."
        ),
        Problem.NO_RESPONSE: QCoreApplication.translate(
            "VitalsPage", "The device does not answer. Press Retry, or Skip."
        ),
        Problem.DISCONNECTED: QCoreApplication.translate(
            "VitalsPage", "The device was disconnected. Press Retry, or Skip."
        ),
        Problem.NOT_CONNECTED: QCoreApplication.translate(
            "VitalsPage", "This device is not available now. Press Skip: the doctor will know."
        ),
        Problem.LOW_BATTERY: QCoreApplication.translate(
            "VitalsPage", "The device's battery is low. Press Skip: the agent will be told."
        ),
        Problem.ABORTED: QCoreApplication.translate(
            "VitalsPage", "The measurement was stopped. Press Retry, or Skip."
        ),
        Problem.RECONNECTING: QCoreApplication.translate(
            "VitalsPage",
            "The device is reconnecting… Please wait: the measurement will start again by itself.",
        ),
    }[problem]


def _number(value: float | None, decimals: int = 0) -> str:
    if value is None:
        return QCoreApplication.translate("VitalsPage", "unknown")
    separator = QCoreApplication.translate("VitalsPage", ".", "decimal separator")
    return f"{value:.{decimals}f}".replace(".", separator)


def describe(reading: Reading) -> str:
    """A reading in plain words with its units."""
    q = reading.get
    if reading.kind is ReadingKind.BLOOD_PRESSURE:
        text = QCoreApplication.translate(
            "VitalsPage", "Blood pressure: %1/%2 mmHg, pulse %3 per minute"
        )
        args = [
            _number(q(Quantity.SYSTOLIC_MMHG)),
            _number(q(Quantity.DIASTOLIC_MMHG)),
            _number(q(Quantity.PULSE_BPM)),
        ]
    elif reading.kind is ReadingKind.TEMPERATURE:
        text = QCoreApplication.translate("VitalsPage", "Temperature: %1 °C")
        args = [_number(q(Quantity.TEMPERATURE_C), 1)]
    else:
        text = QCoreApplication.translate(
            "VitalsPage", "Oxygen in the blood: %1 %, pulse %2 per minute"
        )
        args = [_number(q(Quantity.SPO2_PERCENT)), _number(q(Quantity.PULSE_BPM))]
    for index, arg in enumerate(args, start=1):
        text = text.replace(f"%{index}", arg)
    if reading.quality is Quality.QUESTIONABLE:
        text += " " + QCoreApplication.translate(
            "VitalsPage",
            "(the device noticed a disturbance: the doctor may ask you to measure again)",
        )
    return text


def describe_progress(progress: Progress) -> str:
    if progress.problem is not None:
        return instruction(progress.problem)
    if progress.cuff_pressure_mmhg is not None:
        return QCoreApplication.translate("VitalsPage", "Pressure in the cuff: %1 mmHg").replace(
            "%1", _number(progress.cuff_pressure_mmhg)
        )
    live = {v.quantity: v.value for v in progress.live}
    if Quantity.SPO2_PERCENT in live:
        return (
            QCoreApplication.translate("VitalsPage", "Measuring… oxygen %1 %, pulse %2")
            .replace("%1", _number(live[Quantity.SPO2_PERCENT]))
            .replace("%2", _number(live.get(Quantity.PULSE_BPM)))
        )
    return QCoreApplication.translate("VitalsPage", "Measuring…")


class VitalsPage(QWidget):
    """Built by the window for the vitals state; ``done`` moves on to the waiting room."""

    def __init__(
        self,
        core: KioskCore,
        intents: IntentRunner,
        done: Callable[[], None],
        stop: Callable[[], None],
        theme: Theme = CALM,
        kinds: frozenset[ReadingKind] | None = None,
        say: Callable[[str], None] | None = None,
        scale: float = 1.0,
        landscape: bool = False,
        in_call: bool = False,
    ) -> None:
        super().__init__()
        self._say = say or (lambda _text: None)
        self._requested = kinds is not None  # the doctor asked for it, during the call
        self._theme = theme
        self._picture: InstrumentPicture | None = None
        self._core = core
        self._intents = intents
        self._done = done
        self._steps: list[Instrument] = [
            instrument
            for instrument in core.measurements.instruments.values()
            if kinds is None or instrument.kind in kinds  # the doctor asked for these only
        ]
        self._index = 0
        self._task: asyncio.Task[None] | None = None  # the measurement shown, if under way
        self._on_screen = True  # False once hidden: Qt deletes the page's widgets then
        self._results: list[str] = []
        # A red value not yet confirmed: distress detection asks for the measurement again.
        self._remeasure: set[ReadingKind] = set()
        self._subscription: Subscription | None = core.bus.subscribe(
            RemeasureAsked, lambda event: self._remeasure.add(event.kind)
        )

        outer = QHBoxLayout(self)
        outer.setSpacing(gap(16, scale))
        layout = QVBoxLayout()
        layout.setSpacing(gap(16 if in_call else 32, scale))
        outer.addLayout(layout, 1)
        self._title = QLabel()
        self._title.setObjectName("title")
        self._title.setWordWrap(True)
        self._how = QLabel()
        self._how.setWordWrap(True)
        self._status = QLabel()
        self._status.setObjectName("status")
        self._status.setWordWrap(True)
        self._summary = QLabel()
        self._summary.setObjectName("summary")
        self._summary.setWordWrap(True)
        self._picture_slot = QVBoxLayout()
        layout.addWidget(self._title)
        layout.addLayout(self._picture_slot)
        for widget in (self._how, self._status, self._summary):
            layout.addWidget(widget)
        layout.addStretch(1)
        self._start, self._skip, self._finish, leave = self._buttons(
            outer, layout, scale, landscape=landscape, in_call=in_call
        )
        leave.setText(QCoreApplication.translate("VitalsPage", "Stop"))
        self._stop = stop
        leave.clicked.connect(self._on_stop)
        self._start.clicked.connect(self._on_start)
        self._skip.clicked.connect(self._on_skip)
        self._finish.clicked.connect(self._on_finish)
        self._show_step(QCoreApplication.translate("VitalsPage", "Press Start when you are ready."))

    def _buttons(
        self,
        outer: QHBoxLayout,
        column: QVBoxLayout,
        scale: float,
        *,
        landscape: bool,
        in_call: bool,
    ) -> list[QPushButton]:
        """Start, skip, finish and stop. In landscape they stand side by side: one above the
        other, four of them leave no height for the picture (and cut the last one off). During
        the call the videos take part of the room: in a column beside the instructions in
        landscape, two by two under them in portrait."""
        buttons = [QPushButton() for _ in range(4)]
        for button, name in zip(buttons, ("primary", "skip", "finish", "stop"), strict=True):
            button.setObjectName(name)
        if in_call and not landscape:
            grid = QGridLayout()
            grid.setSpacing(gap(16, scale))
            for index, button in enumerate(buttons):
                grid.addWidget(button, index // 2, index % 2)
            column.addLayout(grid)
            return buttons
        row: QBoxLayout = column
        if landscape:
            row = QVBoxLayout() if in_call else QHBoxLayout()
            row.setSpacing(gap(16, scale))
            if in_call:
                outer.addLayout(row)
            else:
                column.addLayout(row)
        for button in buttons:
            row.addWidget(button)
        if in_call:
            row.addStretch(1)
        return buttons

    # --- what is on screen ------------------------------------------------------------------
    def _show_step(self, status: str, *, retry: bool = False, remeasure: bool = False) -> None:
        self._summary.setText("\n".join(self._results))
        self._summary.setVisible(bool(self._results))  # no empty line's gap before any result
        self._finish.setText(
            QCoreApplication.translate("VitalsPage", "Back to the doctor")
            if self._requested
            else QCoreApplication.translate("VitalsPage", "Go to the doctor")
        )
        self._set_picture(self._steps[self._index].kind if self._index < len(self._steps) else None)
        if self._index >= len(self._steps):
            self._title.setText(
                QCoreApplication.translate("VitalsPage", "Your measurements are done")
            )
            self._how.setText(
                QCoreApplication.translate(
                    "VitalsPage", "The doctor will see them. Press the button to continue."
                )
            )
            self._status.setText("")
            self._start.hide()
            self._skip.hide()
            self._finish.setProperty("emphasis", True)  # now the one thing to do
            self._finish.style().unpolish(self._finish)
            self._finish.style().polish(self._finish)
            return
        instrument = self._steps[self._index]
        count = (
            QCoreApplication.translate("VitalsPage", "Measurement %1 of %2")
            .replace("%1", str(self._index + 1))
            .replace("%2", str(len(self._steps)))
        )
        self._title.setText(f"{kind_name(instrument.kind)}")
        self._how.setText(f"{count}. {how_to(instrument.kind)}")
        self._status.setText(status)
        # Each step is read aloud: the instrument, how to put it on, and what went wrong if so.
        self._say(" ".join((kind_name(instrument.kind), how_to(instrument.kind), status)))
        if remeasure:
            self._start.setText(QCoreApplication.translate("VitalsPage", "Measure again"))
        elif retry:
            self._start.setText(QCoreApplication.translate("VitalsPage", "Retry"))
        else:
            self._start.setText(QCoreApplication.translate("VitalsPage", "Start"))
        self._start.setEnabled(True)
        self._skip.setText(QCoreApplication.translate("VitalsPage", "Skip this measurement"))

    def _set_picture(self, kind: ReadingKind | None) -> None:
        """How to put this instrument on, drawn (and gently animated)."""
        if self._picture is not None and self._picture.kind is kind:
            return
        if self._picture is not None:
            self._picture_slot.removeWidget(self._picture)
            self._picture.hide()
            self._picture.deleteLater()
            self._picture = None
        if kind is not None:
            # Built one loop turn later: the page paints first, the picture after, so no single
            # turn of the event loop carries both (a stall of more than one frame otherwise).
            QTimer.singleShot(0, self, lambda: self._add_picture(kind))

    def _add_picture(self, kind: ReadingKind) -> None:
        still_wanted = self._index < len(self._steps) and self._steps[self._index].kind is kind
        if self._picture is None and still_wanted:
            self._picture = InstrumentPicture(kind, self._theme)
            self._picture_slot.addWidget(self._picture)

    def _on_start(self) -> None:
        if self._task is not None or self._index >= len(self._steps):
            return
        self._start.setEnabled(False)
        self._status.setText(QCoreApplication.translate("VitalsPage", "Measuring…"))
        self._task = self._intents.run(self._measure(self._steps[self._index].device_id))

    def _on_skip(self) -> None:
        self._cancel()
        log.info("vitals.skipped device=%s", self._steps[self._index].device_id)
        self._index += 1
        self._show_step(QCoreApplication.translate("VitalsPage", "Press Start when you are ready."))

    def _on_stop(self) -> None:
        self._cancel()
        self._stop()

    def _on_finish(self) -> None:
        self._cancel()
        self._done()

    async def _measure(self, device_id: str) -> None:
        """One measurement, shown while the page is; it ends with its session."""
        task = asyncio.current_task()
        consultation_id = self._core.session.context.consultation_id

        def on_state(event: SessionStateChanged) -> None:
            if event.end_reason is not None and event.ended_consultation_id == consultation_id:
                log.info("vitals.stopped_with_session device=%s", device_id)
                if task is not None:
                    task.cancel()

        ends = self._core.bus.subscribe(SessionStateChanged, on_state)
        try:
            async for update in self._core.measurements.measure(device_id):
                if not self._on_screen:
                    continue  # the core keeps the reading; the page's widgets are gone
                if self._task is task:
                    self._show_update(update)
        finally:
            ends.cancel()
            if self._task is task:
                self._task = None

    def _show_update(self, update: MeasurementUpdate) -> None:
        if isinstance(update, Progress):
            self._status.setText(describe_progress(update))
            if update.problem is Problem.RECONNECTING:
                self._say(describe_progress(update))  # nothing to press: said, not only shown
        elif isinstance(update, Final):
            self._task = None  # over: Retry or the next Start may begin at once
            self._results.append(describe(update.reading))
            if update.reading.kind in self._remeasure:
                self._remeasure.discard(update.reading.kind)
                log.info("vitals.remeasure_asked kind=%s", update.reading.kind.value)
                self._show_step(
                    QCoreApplication.translate(
                        "VitalsPage",
                        "This value must be checked. Please take this measurement again,"
                        " calmly, then press Measure again.",
                    ),
                    remeasure=True,
                )
                return
            self._index += 1
            self._show_step(
                QCoreApplication.translate(
                    "VitalsPage", "Done. Press Start for the next measurement."
                )
            )
        elif isinstance(update, Failure):
            self._task = None
            log.info("vitals.failed problem=%s", update.problem.value)
            self._show_step(instruction(update.problem), retry=True)

    def _cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    def hideEvent(self, event: QHideEvent) -> None:
        # The window took the page off the screen and deletes it: it shows nothing more, and a
        # measurement under way goes on without it (its reading is the core's) until its
        # session ends. The whole window closing is the cabin stopping: the measurement too.
        self._on_screen = False
        if not self.isHidden():
            self._cancel()
        if self._subscription is not None:
            self._subscription.cancel()
            self._subscription = None
        super().hideEvent(event)
