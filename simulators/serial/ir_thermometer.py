"""UART infrared forehead thermometer module on a pty (PROTOCOLS.md §3, confidence L).

In on-request mode (the cabin's) it answers each request with one frame; in continuous mode it
sends a frame twice a second by itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from devices.protocols import ir_thermometer as ir
from simulators.faults import Fault
from simulators.serial.base import SerialSimulator

BAUD = 9600  # assumed: the source gives no rate
AMBIENT_C = 22.5
READING_DELAY_S = 0.3


class IrThermometerSimulator(SerialSimulator):
    baudrate = BAUD
    name = "ir-thermometer"

    def __init__(self, link_path: Path, *, mode: ir.IrMode = ir.IrMode.ON_REQUEST, **kwargs: Any):
        super().__init__(link_path, **kwargs)
        self.mode = mode
        self._requests = ir.RequestStreamDecoder()
        self._pending = 0

    def _on_host_bytes(self, data: bytes) -> None:
        self._pending += self._requests.feed(data)

    async def _run(self) -> None:
        while True:
            if self.mode is ir.IrMode.CONTINUOUS:
                self._send(ir.encode_frame(self._frame()))
                await self.sleep(0.5)
            elif self._pending:
                self._pending = 0
                await self.sleep(READING_DELAY_S)
                self._send(ir.encode_frame(self._frame()))
            else:
                await self.sleep(0.02)

    def _frame(self) -> ir.IrFrame:
        temperature = self.body.sample().temperature_c
        if Fault.OUT_OF_RANGE in self.faults:
            temperature = 52.0
        return ir.IrFrame(self.mode, temperature, AMBIENT_C)
