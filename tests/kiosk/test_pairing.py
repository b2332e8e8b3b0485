"""Pairing a Bluetooth instrument from the assistant mode, on the virtual radio: scan, choose a
device in place of the configured one (kept across a restart), forget it."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import cast

import pytest

from demo.root import simulated_cabin, start_core
from devices.cancellation import within
from devices.drivers.ble_instrument import BleInstrument, FoundDevice
from devices.instrument import Availability
from devices.reading import ReadingKind
from kiosk.app import KioskCore
from kiosk.assistant import AssistantModeClosed, UnlockOutcome
from kiosk.config import parse_config
from kiosk.store import DatabaseKey, Store
from simulators.ble.instruments import BleBloodPressureSimulator, BleInstrumentSimulator
from tests.kiosk.test_session import FakeClock

KEY = DatabaseKey.generate()
ONE_CUFF = """
[[instruments]]
id = "bp-1"
kind = "blood_pressure"
transport = "ble"
address = "simulated"
"""
SECOND = "02:CA:B1:00:09:01"


async def open_core(data: Path) -> KioskCore:
    return await start_core(
        parse_config(ONE_CUFF), data, env={"CABIN_DB_KEY": KEY.hex()}, clock=FakeClock()
    )


PATIENCE_S = 30.0  # for what takes well under a second: only a real failure waits this long


async def connected_to(core: KioskCore, cuff: BleInstrumentSimulator) -> None:
    instrument = core.measurements.instruments["bp-1"]
    deadline = asyncio.get_running_loop().time() + PATIENCE_S
    while not (
        instrument.availability is Availability.CONNECTED
        and cuff.peripheral.connected_centrals == 1
    ):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"the cuff did not connect in {PATIENCE_S} s")
        await asyncio.sleep(0.02)


async def scan_until_found(core: KioskCore, name: str) -> list[FoundDevice]:
    """Scan as the agent would, again until ``name`` is in the list: a short scan on a busy
    machine may hear no advertisement of it."""
    deadline = asyncio.get_running_loop().time() + PATIENCE_S
    while True:
        found = await core.assistant.scan_ble(0.5)
        if name in {d.name for d in found}:
            return found
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{name} not found by scans of 0.5 s in {PATIENCE_S} s")


def test_scan_pair_restart_forget(tmp_path: Path) -> None:
    async def scenario() -> None:
        core = await open_core(tmp_path)
        cabin = simulated_cabin(core)
        assert cabin.radio is not None
        first = cabin.ble["bp-1"]
        second = BleBloodPressureSimulator(SECOND, "SIM-NEW-CUFF", auto_press_s=None)
        cabin.radio.add(second.peripheral)
        try:
            with pytest.raises(AssistantModeClosed):
                await core.assistant.scan_ble(0.3)
            assert (await core.assistant.unlock("2468")).outcome is UnlockOutcome.OK
            found = await scan_until_found(core, "SIM-NEW-CUFF")
            assert all(d.kinds == {ReadingKind.BLOOD_PRESSURE} for d in found)
            await connected_to(core, first)
            await core.assistant.pair_device("bp-1", "SIM-NEW-CUFF")
            await connected_to(core, second)
            assert first.peripheral.connected_centrals == 0
            assert await core.store.run(Store.device_addresses) == {"bp-1": "SIM-NEW-CUFF"}
        finally:
            await second.close()
            await core.aclose()

        core = await open_core(tmp_path)  # a restart keeps the agent's choice
        cabin = simulated_cabin(core)
        assert cabin.radio is not None
        second = BleBloodPressureSimulator(SECOND, "SIM-NEW-CUFF", auto_press_s=None)
        cabin.radio.add(second.peripheral)
        try:
            instrument = cast(BleInstrument, core.measurements.instruments["bp-1"])
            assert instrument.address == "SIM-NEW-CUFF"
            await connected_to(core, second)
            assert (await core.assistant.unlock("2468")).outcome is UnlockOutcome.OK
            await core.assistant.forget_device("bp-1")
            await connected_to(core, cabin.ble["bp-1"])
            assert await core.store.run(Store.device_addresses) == {}
            audit = [e.action for e in await core.store.run(Store.audit_history)]
            assert "ble_forget" in audit
        finally:
            await second.close()
            await core.aclose()

    asyncio.run(within(scenario(), 5 * PATIENCE_S))
