"""The cabin's heartbeat to the hub (``wire.CabinStatus``): the operator's fleet page reads it.

Sent every ``wire.STATUS_EVERY_S`` while the hub link is up, and at once at each change the
operator cares for: an instrument connects or drops, its battery changes, a printer problem
appears or clears, the paper level changes. It carries the software version, the instruments,
the printer's problem and paper, the data disk's free space and, on the first status after an
outage, since when the hub could not be reached. A heartbeat is not kept while the hub is away
(the next one says the truth); the hub knows a cabin is offline by its silence.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import wire
from devices.cancellation import cancel_and_wait, within
from devices.instrument import Availability, Instrument
from kiosk.bus import EventBus, Subscription
from kiosk.events import DeviceStatusChanged, PrintProgress
from kiosk.hub_link import HubLink, HubLinkState

log = logging.getLogger(__name__)

POLL_S: Final = 1.0
"""How often the link's state and the printer's last status are looked at."""
PAPER_LOW_SHEETS: Final = 20

KIND_NAMES: Final = {
    "blood_pressure": "blood_pressure",
    "temperature": "thermometer",
    "pulse_oximetry": "pulse_oximeter",
}


@dataclass(frozen=True, slots=True)
class PrinterView:
    problem: wire.PrinterProblem | None
    paper: wire.PaperLevel


def paper_level(problem: wire.PrinterProblem | None, sheets_left: int | None) -> wire.PaperLevel:
    """What the printer says wins; else the sheets the agents logged; else unknown."""
    if problem is wire.PrinterProblem.OUT_OF_PAPER:
        return wire.PaperLevel.OUT
    if problem is wire.PrinterProblem.PAPER_LOW:
        return wire.PaperLevel.LOW
    if sheets_left is None:
        return wire.PaperLevel.UNKNOWN
    if sheets_left <= 0:
        return wire.PaperLevel.OUT
    return wire.PaperLevel.LOW if sheets_left < PAPER_LOW_SHEETS else wire.PaperLevel.OK


def instrument_states(instruments: Mapping[str, Instrument]) -> list[wire.InstrumentState]:
    return [
        wire.InstrumentState(
            instrument_id=device_id,
            kind=KIND_NAMES.get(instrument.kind.value, instrument.kind.value)[:64],
            connected=instrument.availability is Availability.CONNECTED,
            battery_percent=instrument.battery_percent,
        )
        for device_id, instrument in sorted(instruments.items())
    ][:32]


def disk_free_mb(path: Path) -> int | None:
    try:
        return shutil.disk_usage(path).free // (1024 * 1024)
    except OSError:
        return None


class CabinStatusSender:
    def __init__(
        self,
        hub: HubLink,
        bus: EventBus,
        instruments: Mapping[str, Instrument],
        *,
        software_version: str,
        data_dir: Path,
        printer_problem: Callable[[], wire.PrinterProblem | None],
        sheets_left: Callable[[], Awaitable[int | None]],
        every_s: float = wire.STATUS_EVERY_S,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._hub = hub
        self._bus = bus
        self._instruments = instruments
        self._version = software_version
        self._data_dir = data_dir
        self._printer_problem = printer_problem
        self._sheets_left = sheets_left
        self._every_s = every_s
        self._now = now
        self._changed = asyncio.Event()
        self._subscriptions: list[Subscription] = []
        self._task: asyncio.Task[None] | None = None
        self.sent = 0
        self.unreachable_since: datetime | None = None

    def start(self) -> None:
        if self._task is None:
            self._subscriptions = [
                self._bus.subscribe(DeviceStatusChanged, lambda _e: self._changed.set()),
                self._bus.subscribe(PrintProgress, lambda _e: self._changed.set()),
            ]
            self._task = asyncio.get_running_loop().create_task(self._run(), name="cabin_status")

    async def stop(self) -> None:
        for subscription in self._subscriptions:
            subscription.cancel()
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None

    async def _run(self) -> None:
        last_key: tuple[object, ...] | None = None
        last_sent = -self._every_s
        was_online = False
        while True:
            with contextlib.suppress(TimeoutError):
                await within(self._changed.wait(), POLL_S)
            self._changed.clear()
            online = self._hub.state is HubLinkState.ONLINE
            if not online:
                if was_online and self.unreachable_since is None:
                    self.unreachable_since = self._now()
                    log.warning("cabin_status.hub_unreachable")
                was_online = False
                continue
            came_back, was_online = not was_online, True
            instruments = instrument_states(self._instruments)
            problem = self._printer_problem()
            paper = paper_level(problem, await self._sheets_left())
            key = (tuple(instruments), problem, paper)
            if came_back or key != last_key or time.monotonic() - last_sent >= self._every_s:
                await self._send(instruments, problem, paper)
                last_key, last_sent = key, time.monotonic()

    async def _send(
        self,
        instruments: list[wire.InstrumentState],
        problem: wire.PrinterProblem | None,
        paper: wire.PaperLevel,
    ) -> None:
        message = wire.CabinStatus(
            msg_id=self._hub.new_id("s"),
            sent_at=self._now(),
            software_version=self._version,
            instruments=instruments,
            printer_problem=problem,
            paper=paper,
            disk_free_mb=await asyncio.to_thread(disk_free_mb, self._data_dir),
            hub_unreachable_since=self.unreachable_since,
        )
        await self._hub.send(message)
        if self.unreachable_since is not None:
            log.info("cabin_status.hub_back since=%s", self.unreachable_since.isoformat())
        self.unreachable_since = None
        self.sent += 1
