"""Every simulated instrument a cabin's configuration asks for, started together.

For each entry whose address is "simulated", the matching simulator: a serial one on a pty
behind a link path in ``folder``, a BLE one on a virtual radio (one radio for all). ``address``
then gives the address the cabin's driver must use, and ``radio_path`` the radio's socket.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from simulators.ble.instruments import (
    BleBloodPressureSimulator,
    BleInstrumentSimulator,
    BlePulseOximeterSimulator,
    BleThermometerSimulator,
)
from simulators.ble.radio import VirtualRadio
from simulators.faults import Fault
from simulators.scenarios import Scenario
from simulators.serial.and_bp import AndBpSimulator
from simulators.serial.base import SerialSimulator
from simulators.serial.cms50 import Cms50LegacySimulator, Cms50RealtimeSimulator
from simulators.serial.ir_thermometer import IrThermometerSimulator
from simulators.serial.nonin import NoninAsciiSimulator, NoninDf8Simulator

log = logging.getLogger(__name__)

SERIAL_SIMULATORS: dict[str, type[SerialSimulator]] = {
    "cms50d-plus": Cms50LegacySimulator,
    "cms50d-plus-new": Cms50RealtimeSimulator,
    "nonin-ascii": NoninAsciiSimulator,
    "nonin-9560": NoninDf8Simulator,
    "and-ua767": AndBpSimulator,
    "ir-uart": IrThermometerSimulator,
}
BLE_SIMULATORS: dict[str, type[BleInstrumentSimulator]] = {
    "bps": BleBloodPressureSimulator,
    "hts": BleThermometerSimulator,
    "plxs": BlePulseOximeterSimulator,
}


@dataclass(frozen=True, slots=True)
class SimulatedEntry:
    id: str
    transport: str  # serial | ble
    model: str  # a key of SERIAL_SIMULATORS or BLE_SIMULATORS


class SimulatedCabin:
    def __init__(
        self,
        folder: Path,
        entries: list[SimulatedEntry],
        *,
        scenario: Scenario = Scenario.NORMAL,
        faults: frozenset[Fault] = frozenset(),
        auto_press_s: float | None = 1.5,
        time_scale: float = 1.0,
    ) -> None:
        self.folder = folder
        self._entries = entries
        self._scenario = scenario
        self._faults = faults
        self._auto_press_s = auto_press_s
        self._time_scale = time_scale
        # A Unix socket path must stay under 108 bytes: the radio lives in a short /tmp folder.
        self._radio_dir = Path(tempfile.mkdtemp(prefix="cabin-radio-", dir="/tmp"))
        self.radio_path = self._radio_dir / "radio.sock"
        self.radio: VirtualRadio | None = None
        self.serial: dict[str, SerialSimulator] = {}
        self.ble: dict[str, BleInstrumentSimulator] = {}

    def address(self, entry_id: str) -> str:
        if entry_id in self.serial:
            return str(self.serial[entry_id].link_path)
        return self.ble[entry_id].peripheral.name

    async def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        for number, entry in enumerate(self._entries, start=1):
            if entry.transport == "serial":
                serial = SERIAL_SIMULATORS[entry.model](
                    self.folder / f"tty-{entry.id}",
                    scenario=self._scenario,
                    faults=self._faults,
                    time_scale=self._time_scale,
                )
                await serial.start()
                self.serial[entry.id] = serial
            else:
                if self.radio is None:
                    self.radio = VirtualRadio(self.radio_path)
                    await self.radio.start()
                ble = BLE_SIMULATORS[entry.model](
                    f"02:CA:B1:00:01:{number:02X}",
                    f"SIM-{entry.id}",
                    scenario=self._scenario,
                    faults=self._faults,
                    time_scale=self._time_scale,
                    auto_press_s=self._auto_press_s,
                )
                self.radio.add(ble.peripheral)
                self.ble[entry.id] = ble
        log.info("simulators.started serial=%d ble=%d", len(self.serial), len(self.ble))

    async def stop(self) -> None:
        for ble in self.ble.values():
            await ble.close()
        if self.radio is not None:
            await self.radio.stop()
        for serial in self.serial.values():
            await serial.stop()
        await asyncio.to_thread(shutil.rmtree, self._radio_dir, True)
