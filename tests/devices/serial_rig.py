"""A simulator on a real pty and the cabin's driver on the other end, for the tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from devices.drivers.serial_instrument import SerialInstrument
from devices.instrument import Availability, Backoff, Instrument, MeasurementUpdate
from simulators.serial.base import SerialSimulator

FAST_BACKOFF = Backoff(first_s=0.05, max_s=0.2)
PATIENCE_S = 30.0
"""How long a test waits for what takes well under a second on an idle machine (a driver opening
its pty, a state to change): only a real failure (or a hang) runs into it, never a loaded one.
Latencies are measured in ``bench/bench_devices.py``."""
MEASURE_S = 60.0  # a measurement's own timeout: seconds idle, and never the reason a test fails


@asynccontextmanager
async def rig(
    simulator_type: type[SerialSimulator],
    driver_type: type[SerialInstrument],
    folder: Path,
    *,
    simulator: dict[str, Any] | None = None,
    driver: dict[str, Any] | None = None,
) -> AsyncIterator[tuple[SerialSimulator, SerialInstrument]]:
    sim = simulator_type(folder / "ttyUSB-sim", seed=7, **(simulator or {}))
    await sim.start()
    drv = driver_type("dev-1", str(sim.link_path), backoff=FAST_BACKOFF, **(driver or {}))
    await drv.start()
    try:
        assert await drv.wait_connected(PATIENCE_S), "the driver did not open the pty"
        yield sim, drv
    finally:
        await drv.close()
        await sim.stop()


async def measure(instrument: Instrument, timeout_s: float = MEASURE_S) -> list[MeasurementUpdate]:
    return [update async for update in instrument.measure(timeout_s)]


async def wait_for(
    instrument: Instrument, availability: Availability, timeout_s: float = PATIENCE_S
) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while instrument.availability is not availability:
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{instrument.device_id} never became {availability.value}")
        await asyncio.sleep(0.02)
