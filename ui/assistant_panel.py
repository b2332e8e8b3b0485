"""The assistant mode on screen, for the nurse or the town-hall agent: the PIN, then the cabin's
state and the few things they can do (test a device, log paper and cleaning, handle alerts,
export the logs, restart safely).

Two widgets: ``PinPage`` (a keypad, the digits hidden as they are typed) and
``AssistantPanel`` (shown while the session's overlay is the assistant mode). Both only call the
core's ``Assistant``; nothing here touches a device, the network or the database itself.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import cast

from PySide6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from devices.instrument import Availability, Failure, Final, Progress
from kiosk.assistant import Assistant, UnlockOutcome
from kiosk.selftest import SelfTestRefused
from printing.printer import PrinterStatus
from ui.intents import IntentRunner
from ui.keyboards import DigitKeypad
from wire import PrinterProblem, SelfTestCheck, SelfTestOutcome, SelfTestResult, SelfTestTrigger

log = logging.getLogger(__name__)

AGENT = "agent"  # who the log says did it: the agents share one PIN
_OUTCOME_STYLE = {  # the outcome is said in words too: colour is never the only sign
    SelfTestOutcome.FAILED: "font-size: 30px; color: #a40e0e; font-weight: 600;",
    SelfTestOutcome.WARNING: "font-size: 30px; color: #8a4b00;",
    SelfTestOutcome.SKIPPED: "font-size: 30px; color: #555555;",
    SelfTestOutcome.PASSED: "font-size: 30px; color: #1d5e20;",
}
_SEVERITY = {
    SelfTestOutcome.FAILED: 0,
    SelfTestOutcome.WARNING: 1,
    SelfTestOutcome.SKIPPED: 2,
    SelfTestOutcome.PASSED: 3,
}


def _short(detail: str, limit: int = 90) -> str:
    return detail if len(detail) <= limit else detail[: limit - 1].rstrip() + "…"


def by_severity(results: list[SelfTestResult]) -> list[SelfTestResult]:
    """Failures first: what the agent must act on is read first."""
    return sorted(results, key=lambda r: _SEVERITY[r.outcome])


def _title(text: str) -> QLabel:
    label = QLabel(text)
    label.setObjectName("title")
    label.setWordWrap(True)
    return label


def _text(text: str = "", name: str = "") -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    if name:
        label.setObjectName(name)
    return label


def _button(text: str, name: str, handler: Callable[[], object]) -> QPushButton:
    button = QPushButton(text)
    button.setObjectName(name)
    button.clicked.connect(lambda _=False: handler())
    return button


def _row(*buttons: QPushButton) -> QWidget:
    """Buttons side by side, in the compact type so that their words fit."""
    row = QWidget()
    layout = QHBoxLayout(row)
    layout.setContentsMargins(0, 0, 0, 0)
    for button in buttons:
        button.setProperty("compact", "true")
        layout.addWidget(button)
    return row


class PinPage(QWidget):
    """The agent's PIN on a keypad; the digits show as dots."""

    def __init__(
        self, assistant: Assistant, intents: IntentRunner, cancel: Callable[[], None]
    ) -> None:
        super().__init__()
        self._assistant = assistant
        self._intents = intents
        layout = QVBoxLayout(self)
        layout.setSpacing(28)
        layout.addWidget(_title(self.tr("Assistant mode")))
        self._message = _text(self.tr("Type the agents' PIN."), "pin_message")
        layout.addWidget(self._message)
        self._field = QLineEdit()
        self._field.setObjectName("pin")
        self._field.setEchoMode(QLineEdit.EchoMode.Password)
        self._field.setMaxLength(8)
        layout.addWidget(self._field)
        keypad = DigitKeypad()
        keypad.set_target(self._field)
        layout.addWidget(keypad)
        layout.addStretch(1)
        layout.addWidget(_button(self.tr("Open"), "primary", self._submit))
        layout.addWidget(_button(self.tr("Cancel"), "cancel", cancel))

    def _submit(self) -> None:
        pin = self._field.text()
        self._field.clear()
        self._intents.run(self._unlock(pin))

    async def _unlock(self, pin: str) -> None:
        result = await self._assistant.unlock(pin)
        if result.outcome is UnlockOutcome.WRONG:
            self._message.setText(
                self.tr("Wrong PIN. %n tries left before the mode locks.", "", result.attempts_left)
            )
        elif result.outcome is UnlockOutcome.LOCKED:
            minutes = max(1, math.ceil(result.locked_for_s / 60))
            self._message.setText(
                self.tr("Too many wrong PINs: locked for %n minutes.", "", minutes)
            )
        elif result.outcome is UnlockOutcome.NOT_PROVISIONED:
            self._message.setText(self.tr("No PIN is set for this cabin: ask the operator."))
        # OK: the session's overlay changes and the window shows the panel


class AssistantPanel(QWidget):
    """What the agent sees once the PIN is right: one section at a time."""

    def __init__(self, assistant: Assistant, intents: IntentRunner, export_folder: Path) -> None:
        super().__init__()
        self._assistant = assistant
        self._intents = intents
        self._export_folder = export_folder
        layout = QVBoxLayout(self)
        layout.setSpacing(20)
        layout.addWidget(_title(self.tr("Assistant mode")))
        tabs = QGridLayout()  # two by two: every label stays whole in portrait
        sections = (
            ("tab_devices", self.tr("Devices"), self._devices),
            ("tab_alerts", self.tr("Alerts"), self._alerts),
            ("tab_paper", self.tr("Paper and cleaning"), self._paper),
            ("tab_logs", self.tr("Logs and restart"), self._logs),
            ("tab_selftest", self.tr("Self-test"), self._selftest),
        )
        for index, (name, label, builder) in enumerate(sections):
            tab = _button(label, name, partial(self._show, builder))
            tab.setProperty("compact", True)  # two long labels side by side in portrait
            tabs.addWidget(tab, index // 2, index % 2)
        layout.addLayout(tabs)
        self._section = QVBoxLayout()
        layout.addLayout(self._section, 1)
        self._status = _text("", "assistant_status")
        layout.addWidget(self._status)
        layout.addWidget(_button(self.tr("Leave the assistant mode"), "leave", self._leave))
        self._show(self._devices)

    # --- sections --------------------------------------------------------------------------
    def _show(self, builder: Callable[[QVBoxLayout], None]) -> None:
        while self._section.count():
            item = self._section.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.hide()
                widget.deleteLater()
        self._status.setText("")
        body = QWidget()
        body_layout = QVBoxLayout(body)
        body_layout.setContentsMargins(0, 0, 0, 0)
        builder(body_layout)
        body_layout.addStretch(1)
        self._section.addWidget(body)

    def _devices(self, layout: QVBoxLayout) -> None:
        names = {
            Availability.CONNECTED: self.tr("connected"),
            Availability.CONNECTING: self.tr("connecting"),
            Availability.DISCONNECTED: self.tr("not connected"),
            Availability.FAULT: self.tr("fault"),
        }
        hub = {
            "online": self.tr("Doctors' service: connected."),
            "connecting": self.tr("Doctors' service: connecting…"),
            "offline": self.tr("Doctors' service: not reachable; the cabin keeps trying."),
            "refused": self.tr(
                "Doctors' service: the cabin's credential is refused; call the operator."
            ),
            "closed": self.tr("Doctors' service: stopped."),
        }
        link = self._assistant.hub_link()
        layout.addWidget(
            _text(
                hub.get(link or "", self.tr("Doctors' service: this cabin has no credential.")),
                "hub_link",
            )
        )
        statuses = self._assistant.device_statuses()
        if not statuses:
            layout.addWidget(_text(self.tr("No instrument is configured.")))
        for status in statuses:
            battery = (
                self.tr("battery %1 %").replace("%1", str(status.battery_percent))
                if status.battery_percent is not None
                else self.tr("battery unknown")
            )
            last = (
                status.last_reading_at.astimezone().strftime("%d/%m %H:%M")
                if status.last_reading_at
                else self.tr("never")
            )
            line = f"{status.device_id}: {names[status.availability]}, {battery}. " + self.tr(
                "Last reading: %1"
            ).replace("%1", last)
            if status.last_error:
                line += "\n" + self.tr("Last error: %1").replace("%1", status.last_error)
            row = QHBoxLayout()
            row.addWidget(_text(line, f"device_{status.device_id}"), 1)
            row.addWidget(
                _button(
                    self.tr("Test"),
                    f"test_{status.device_id}",
                    partial(self._start_test, status.device_id),
                )
            )
            if status.device_id in self._assistant.bluetooth_devices():
                row.addWidget(
                    _button(
                        self.tr("Pair"),
                        f"pair_{status.device_id}",
                        partial(self._show, partial(self._pairing, status.device_id)),
                    )
                )
            holder = QWidget()
            holder.setLayout(row)
            layout.addWidget(holder)

    def _pairing(self, device_id: str, layout: QVBoxLayout) -> None:
        """Choose which advertising device is this instrument, or forget the chosen one."""
        layout.addWidget(
            _text(self.tr("Searching for Bluetooth devices nearby…"), "pairing_message")
        )
        self._intents.run(self._fill_pairing(device_id, layout))

    async def _fill_pairing(self, device_id: str, layout: QVBoxLayout) -> None:
        found = await self._assistant.scan_ble()
        heading = layout.itemAt(0)
        if heading is not None and isinstance(heading.widget(), QLabel):
            cast(QLabel, heading.widget()).setText(
                self.tr("Health devices switched on nearby, nearest first:")
            )
        for device in found:
            row = QHBoxLayout()
            row.addWidget(_text(f"{device.name or device.address}  ({device.rssi} dBm)"), 1)
            row.addWidget(
                _button(
                    self.tr("Choose"),
                    f"choose_{device.address}",
                    partial(self._start_pair, device_id, device.name or device.address),
                )
            )
            holder = QWidget()
            holder.setLayout(row)
            layout.insertWidget(layout.count() - 1, holder)
        layout.insertWidget(
            layout.count() - 1,
            _button(
                self.tr("Forget the paired device"),
                f"forget_{device_id}",
                partial(self._start_forget, device_id),
            ),
        )
        self._status.setText(
            self.tr("No device found: is it switched on?")
            if not found
            else self.tr("Choose the device.")
        )

    def _start_pair(self, device_id: str, address: str) -> None:
        async def pair() -> None:
            await self._assistant.pair_device(device_id, address)
            self._show(self._devices)
            self._status.setText(self.tr("%1 paired.").replace("%1", address))

        self._intents.run(pair())

    def _start_forget(self, device_id: str) -> None:
        async def forget() -> None:
            await self._assistant.forget_device(device_id)
            self._show(self._devices)
            self._status.setText(self.tr("Back to the configured device."))

        self._intents.run(forget())

    def _start_test(self, device_id: str) -> None:
        self._intents.run(self._test(device_id))

    def _start_acknowledge(self, alert_id: str, false_alarm: bool) -> None:
        self._intents.run(self._acknowledge(alert_id, false_alarm))

    async def _test(self, device_id: str) -> None:
        self._status.setText(self.tr("Testing %1…").replace("%1", device_id))
        async for update in self._assistant.test_measurement(device_id):
            if isinstance(update, Progress):
                self._status.setText(self.tr("Testing %1…").replace("%1", device_id))
            elif isinstance(update, Final):
                self._status.setText(self.tr("%1 works.").replace("%1", device_id))
            elif isinstance(update, Failure):
                self._status.setText(
                    self.tr("%1 failed: %2")
                    .replace("%1", device_id)
                    .replace("%2", update.problem.value)
                )

    def _alerts(self, layout: QVBoxLayout) -> None:
        placeholder = _text(self.tr("Loading…"))
        layout.addWidget(placeholder)
        self._intents.run(self._fill_alerts(layout, placeholder))

    async def _fill_alerts(self, layout: QVBoxLayout, placeholder: QLabel) -> None:
        alerts = await self._assistant.open_alerts()
        placeholder.setText(self.tr("No alert is open.") if not alerts else self.tr("Open alerts:"))
        for alert in alerts:
            row = QHBoxLayout()
            when = alert.raised_at.astimezone().strftime("%H:%M")
            row.addWidget(_text(f"{when} {alert.kind.value}", f"alert_{alert.alert_id}"), 1)
            row.addWidget(
                _button(
                    self.tr("Handled"),
                    f"ack_{alert.alert_id}",
                    partial(self._start_acknowledge, alert.alert_id, False),
                )
            )
            row.addWidget(
                _button(
                    self.tr("False alarm"),
                    f"false_{alert.alert_id}",
                    partial(self._start_acknowledge, alert.alert_id, True),
                )
            )
            holder = QWidget()
            holder.setLayout(row)
            layout.insertWidget(layout.count() - 1, holder)

    async def _acknowledge(self, alert_id: str, false_alarm: bool) -> None:
        await self._assistant.acknowledge(alert_id, AGENT, false_alarm)
        self._show(self._alerts)
        self._status.setText(self.tr("Alert recorded as handled."))

    def _paper(self, layout: QVBoxLayout) -> None:
        sheets = _text("", "sheets_left")
        layout.addWidget(sheets)
        count = QLineEdit()
        count.setObjectName("sheets")
        count.setPlaceholderText(self.tr("Sheets put in"))
        keypad = DigitKeypad()
        keypad.set_target(count)
        layout.addWidget(count)
        layout.addWidget(keypad)

        async def refill() -> None:
            if not count.text().isdigit():
                self._status.setText(self.tr("Type how many sheets you put in."))
                return
            await self._assistant.record_paper_refill(int(count.text()), AGENT)
            count.clear()
            await show_sheets()
            self._status.setText(self.tr("Paper refill recorded."))

        async def cleaned() -> None:
            await self._assistant.record_cleaning(AGENT)
            self._status.setText(self.tr("Cleaning recorded."))

        async def show_sheets() -> None:
            left = await self._assistant.sheets_left()
            sheets.setText(
                self.tr("Sheets left: unknown")
                if left is None
                else self.tr("Sheets left: %1").replace("%1", str(left))
            )

        layout.addWidget(
            _row(
                _button(self.tr("Paper refilled"), "refill", lambda: self._intents.run(refill())),
                _button(self.tr("Cabin cleaned"), "cleaned", lambda: self._intents.run(cleaned())),
            )
        )

        async def test_print() -> None:
            self._say_if_preparing_the_printer()
            name = await self._assistant.test_print()
            await show_sheets()
            self._status.setText(self.tr("Test page printed (%1).").replace("%1", name))

        printer = _text("", "printer_state")
        waiting = _text("", "waiting_documents")
        layout.addWidget(printer)
        layout.addWidget(waiting)

        async def show_waiting() -> None:
            status = await self._assistant.printer_status()
            printer.setText(self._printer_text(status))
            documents = await self._assistant.waiting_documents()
            if not documents:
                waiting.setText(self.tr("No patient document waits for the printer."))
                return
            names = [
                self.tr("prescription %1").replace("%1", d.ref)
                if d.document == "prescription"
                else self.tr("consultation summary")
                for d in documents
            ]
            waiting.setText(
                self.tr("Waiting for the printer (%1): %2")
                .replace("%1", str(len(documents)))
                .replace("%2", ", ".join(names))
            )

        async def reprint() -> None:
            self._say_if_preparing_the_printer()
            printed, left = await self._assistant.reprint_waiting()
            await show_waiting()
            await show_sheets()
            self._status.setText(
                self.tr("Printed again: %1. Still waiting: %2.")
                .replace("%1", str(printed))
                .replace("%2", str(left))
            )

        # Two to a row: the tab keeps to the height of a portrait screen.
        layout.addWidget(
            _row(
                _button(
                    self.tr("Print a test page"),
                    "test_print",
                    lambda: self._intents.run(test_print()),
                ),
                _button(
                    self.tr("Print them again"),
                    "reprint",
                    lambda: self._intents.run(reprint()),
                ),
            )
        )
        self._intents.run(show_sheets())
        self._intents.run(show_waiting())

    def _say_if_preparing_the_printer(self) -> None:
        """The cabin has just started: printing waits for its printer's warm-up."""
        if not self._assistant.printer_prepared:
            self._status.setText(self.tr("Getting the printer ready, one moment please."))

    def _printer_text(self, status: PrinterStatus | None) -> str:
        if status is None:
            return self.tr("Printer: none configured.")
        words = {
            None: self.tr("ready"),
            PrinterProblem.PAPER_LOW: self.tr("ready, but the paper runs low"),
            PrinterProblem.OUT_OF_PAPER: self.tr("out of paper"),
            PrinterProblem.PAPER_JAM: self.tr("paper jammed"),
            PrinterProblem.OFFLINE: self.tr("offline or stopped"),
            PrinterProblem.OTHER: self.tr("in error (see its panel)"),
        }
        return self.tr("Printer: %1.").replace("%1", words[status.problem])

    def _logs(self, layout: QVBoxLayout) -> None:
        layout.addWidget(
            _text(self.tr("The export holds the logs of devices, paper, cleaning, alerts, access."))
        )
        layout.addWidget(
            _button(self.tr("Export the logs"), "export", lambda: self._intents.run(self._export()))
        )
        layout.addWidget(
            _text(self.tr("A restart ends any consultation safely and starts the cabin again."))
        )
        layout.addWidget(
            _button(
                self.tr("Restart the cabin"),
                "restart",
                lambda: self._intents.run(self._assistant.request_restart()),
            )
        )

    # --- the self-test (kiosk.selftest) ---------------------------------------------------------
    def _check_name(self, check: SelfTestCheck) -> str:
        names = {
            SelfTestCheck.INSTRUMENT: self.tr("Instrument"),
            SelfTestCheck.CAMERA: self.tr("Camera"),
            SelfTestCheck.MICROPHONE: self.tr("Microphone"),
            SelfTestCheck.SPEAKER: self.tr("Speaker"),
            SelfTestCheck.PRINTER: self.tr("Printer"),
            SelfTestCheck.DISK: self.tr("Disk space"),
            SelfTestCheck.CLOCK: self.tr("Clock"),
            SelfTestCheck.HUB: self.tr("Doctors' service"),
            SelfTestCheck.TURN: self.tr("Video relay (TURN)"),
            SelfTestCheck.DATABASE: self.tr("Database"),
        }
        return names[check]

    def _outcome_word(self, outcome: SelfTestOutcome) -> str:
        words = {
            SelfTestOutcome.FAILED: self.tr("FAILED"),
            SelfTestOutcome.WARNING: self.tr("To check"),
            SelfTestOutcome.SKIPPED: self.tr("Not tested"),
            SelfTestOutcome.PASSED: self.tr("OK"),
        }
        return words[outcome]

    def _selftest(self, layout: QVBoxLayout) -> None:
        selftest = self._assistant.selftest
        if selftest is None:
            layout.addWidget(
                _text(self.tr("The self-test is getting ready (the cabin has just started)."))
            )
            return
        summary = _text(self.tr("Loading…"), "selftest_summary")
        layout.addWidget(summary)
        run = _button(
            self.tr("Run the self-test"), "run_selftest", lambda: self._intents.run(self._run())
        )
        run.setEnabled(not selftest.running)
        layout.addWidget(run)
        results = QVBoxLayout()
        results.setSpacing(10)
        layout.addLayout(results)
        self._intents.run(self._fill_selftest(summary, results))

    async def _fill_selftest(self, summary: QLabel, results: QVBoxLayout) -> None:
        selftest = self._assistant.selftest
        report = await selftest.last_report() if selftest is not None else None
        if report is None:
            summary.setText(self.tr("No self-test has run yet."))
            return
        triggers = {
            SelfTestTrigger.START: self.tr("at start"),
            SelfTestTrigger.NIGHTLY: self.tr("nightly"),
            SelfTestTrigger.AGENT: self.tr("asked by an agent"),
        }
        counts = {o: sum(1 for r in report.results if r.outcome is o) for o in SelfTestOutcome}
        when = report.finished_at.astimezone().strftime("%d/%m %H:%M")
        summary.setText(
            self.tr("Last self-test: %1 (%2). Failed: %3. To check: %4. Not tested: %5.")
            .replace("%1", when)
            .replace("%2", triggers[report.trigger])
            .replace("%3", str(counts[SelfTestOutcome.FAILED]))
            .replace("%4", str(counts[SelfTestOutcome.WARNING]))
            .replace("%5", str(counts[SelfTestOutcome.SKIPPED]))
        )
        passed: list[str] = []
        for result in by_severity(list(report.results)):
            name = self._check_name(result.check)
            if result.subject:
                name += f" {result.subject}"
            if result.outcome is SelfTestOutcome.PASSED:
                passed.append(name)
                continue
            # What needs a look, with what was found (the operator's words, from the check).
            line = _text(
                f"{self._outcome_word(result.outcome)} · {name}\n{_short(result.detail)}",
                f"selftest_{result.outcome.value}",
            )
            line.setStyleSheet(_OUTCOME_STYLE[result.outcome])
            results.addWidget(line)
        if passed:  # what works, in one paragraph: the screen keeps its size
            line = _text(
                f"{self._outcome_word(SelfTestOutcome.PASSED)} · {', '.join(passed)}",
                "selftest_passed",
            )
            line.setStyleSheet(_OUTCOME_STYLE[SelfTestOutcome.PASSED])
            results.addWidget(line)

    async def _run(self) -> None:
        selftest = self._assistant.selftest
        if selftest is None:
            return
        self._status.setText(self.tr("Self-test running: about ten seconds…"))
        try:
            await selftest.request()
        except SelfTestRefused:
            self._status.setText(
                self.tr(
                    "A patient is in a consultation: the self-test runs once the cabin is free."
                )
            )
            return
        self._show(self._selftest)
        self._status.setText(self.tr("Self-test done."))

    async def _export(self) -> None:
        path = await self._assistant.export_logs(self._export_folder)
        self._status.setText(self.tr("Logs written to %1").replace("%1", str(path)))

    def _leave(self) -> None:
        self._intents.run(self._assistant.leave())
