"""A link that drops before the measurement made any progress: the measurement says it is
reconnecting, waits for the device (a bounded time) and starts again by itself, once. After
progress (the cuff inflating, values arriving) a drop fails it and nothing starts again.

Serial on real ptys (the simulator's cable pulled: ``Fault.DROP_ON_START``, ``unplug()``), BLE
on the virtual radio through the real ``bleak.BleakClient`` backend (``set_link_loss``)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from devices.cancellation import within
from devices.drivers.and_bp import AndBloodPressureMonitor
from devices.drivers.ir_thermometer import IrThermometer
from devices.instrument import (
    Availability,
    Failure,
    Final,
    Instrument,
    MeasurementUpdate,
    Problem,
    Progress,
)
from devices.protocols import gatt
from simulators.ble.instruments import BleBloodPressureSimulator
from simulators.faults import Fault
from simulators.serial.and_bp import AndBpSimulator
from simulators.serial.ir_thermometer import IrThermometerSimulator
from tests.devices.serial_rig import MEASURE_S, PATIENCE_S, rig, wait_for
from tests.devices.test_ble_instruments import ble_rig

REQUEST_DEVICES = [
    (AndBpSimulator, AndBloodPressureMonitor),
    (IrThermometerSimulator, IrThermometer),
]
REQUEST_IDS = ["and-bp", "ir-thermometer"]
RECONNECTING = Progress(problem=Problem.RECONNECTING)


def run(coroutine: Any) -> Any:
    """A test's scenario, bounded: a hang fails this test, it never blocks the run."""
    return asyncio.run(within(coroutine, 3 * MEASURE_S))


class Measuring:
    """A measurement running in a task of its own, its updates kept as they come."""

    def __init__(self, instrument: Instrument, timeout_s: float = MEASURE_S) -> None:
        self.updates: list[MeasurementUpdate] = []
        self.task = asyncio.get_running_loop().create_task(self._run(instrument, timeout_s))

    async def _run(self, instrument: Instrument, timeout_s: float) -> None:
        async for update in instrument.measure(timeout_s):
            self.updates.append(update)

    async def until(self, condition: Callable[[list[MeasurementUpdate]], bool], what: str) -> None:
        deadline = asyncio.get_running_loop().time() + PATIENCE_S
        while not condition(self.updates):
            assert not self.task.done(), f"the measurement ended before {what}: {self.updates}"
            assert asyncio.get_running_loop().time() < deadline, f"never {what}: {self.updates}"
            await asyncio.sleep(0.01)

    async def result(self) -> MeasurementUpdate:
        await within(self.task, PATIENCE_S)
        ends = [u for u in self.updates if isinstance(u, Final | Failure)]
        assert len(ends) == 1 and ends[0] is self.updates[-1], self.updates
        return ends[0]


def reconnecting(updates: list[MeasurementUpdate]) -> bool:
    return RECONNECTING in updates


def progressed(updates: list[MeasurementUpdate]) -> bool:
    return any(isinstance(u, Progress) and u.problem is None for u in updates)


# --- serial, on real ptys --------------------------------------------------------------------
@pytest.mark.parametrize(("sim", "drv"), REQUEST_DEVICES, ids=REQUEST_IDS)
def test_a_cable_pulled_before_any_progress_waits_then_measures_once(
    tmp_path: Path, sim: Any, drv: Any
) -> None:
    async def scenario() -> None:
        async with rig(sim, drv, tmp_path, simulator={"time_scale": 0.02}) as (
            simulator,
            instrument,
        ):
            simulator.faults.add(Fault.DROP_ON_START)  # the request pulls the cable out
            measuring = Measuring(instrument)
            await measuring.until(reconnecting, "said it was reconnecting")
            assert not progressed(measuring.updates)
            await wait_for(instrument, Availability.DISCONNECTED)
            simulator.plug()  # the agent, or the patient, pushes the plug back in
            result = await measuring.result()
            assert isinstance(result, Final), measuring.updates
            first = measuring.updates.index(RECONNECTING)
            assert Progress() in measuring.updates[first:]  # "measuring" again, by itself
            if isinstance(simulator, AndBpSimulator):
                assert simulator.measurements_started == 1  # the cuff inflated once

    run(scenario())


def test_a_cable_pulled_once_the_cuff_inflates_fails_and_never_inflates_again(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with rig(
            AndBpSimulator, AndBloodPressureMonitor, tmp_path, simulator={"time_scale": 0.2}
        ) as (simulator, instrument):
            assert isinstance(simulator, AndBpSimulator)
            measuring = Measuring(instrument)
            await measuring.until(progressed, "inflated")  # the monitor acknowledged
            simulator.unplug()
            result = await measuring.result()
            assert isinstance(result, Failure) and result.problem is Problem.DISCONNECTED
            assert RECONNECTING not in measuring.updates
            simulator.plug()
            await wait_for(instrument, Availability.CONNECTED)
            await asyncio.sleep(0.3)  # what a restart would have sent by now
            assert (simulator.open_commands, simulator.measurements_started) == (1, 1)

    run(scenario())


def test_a_cable_never_plugged_back_fails_at_the_bound_not_at_the_deadline(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with rig(
            IrThermometerSimulator, IrThermometer, tmp_path, simulator={"time_scale": 0.02}
        ) as (simulator, instrument):
            instrument.reconnect_wait_s = 0.5
            simulator.faults.add(Fault.DROP_ON_START)
            measuring = Measuring(instrument, timeout_s=MEASURE_S)
            result = await measuring.result()
            assert isinstance(result, Failure), measuring.updates
            assert result.problem is Problem.NOT_CONNECTED  # not NO_RESPONSE at 60 s
            assert "did not come back" in result.detail
            assert measuring.updates[0] == RECONNECTING
            # plugged back later: the measurement is over, nothing is asked of the device
            simulator.plug()
            await wait_for(instrument, Availability.CONNECTED)
            await asyncio.sleep(0.2)
            assert simulator.frames_sent == 0

    run(scenario())


def test_a_second_drop_before_progress_fails_it_starts_again_only_once(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with rig(
            AndBpSimulator, AndBloodPressureMonitor, tmp_path, simulator={"time_scale": 0.02}
        ) as (simulator, instrument):
            assert isinstance(simulator, AndBpSimulator)
            simulator.faults.add(Fault.DROP_ON_START)
            measuring = Measuring(instrument)
            await measuring.until(reconnecting, "said it was reconnecting")
            await wait_for(instrument, Availability.DISCONNECTED)
            simulator.faults.add(Fault.DROP_ON_START)  # and again at the restart
            simulator.plug()
            result = await measuring.result()
            assert isinstance(result, Failure) and result.problem is Problem.DISCONNECTED
            assert measuring.updates.count(RECONNECTING) == 1
            assert simulator.measurements_started == 0

    run(scenario())


# --- BLE, on the virtual radio through the real BleakClient --------------------------------------
def test_a_cuff_out_of_range_before_its_button_is_pressed_measures_once_back() -> None:
    async def scenario() -> None:
        async with ble_rig("bp", simulator={"auto_press_s": None}) as (radio, sim, cuff):
            assert isinstance(sim, BleBloodPressureSimulator)
            address = sim.peripheral.address
            measuring = Measuring(cuff)
            await measuring.until(
                lambda _: sim.peripheral.is_subscribed(gatt.BLOOD_PRESSURE_MEASUREMENT),
                "subscribed",
            )
            radio.set_link_loss(address)  # carried away before the patient pressed its button
            await measuring.until(reconnecting, "said it was reconnecting")
            radio.set_link_loss(address, lost=False)
            await measuring.until(
                lambda _: sim.peripheral.is_subscribed(gatt.BLOOD_PRESSURE_MEASUREMENT),
                "subscribed again",
            )
            sim.press_button()
            result = await measuring.result()
            assert isinstance(result, Final), measuring.updates
            assert sim.measurements == 1

    run(scenario())


def test_a_cuff_dropping_its_link_as_it_is_asked_comes_back_and_measures() -> None:
    async def scenario() -> None:
        faults = frozenset({Fault.DROP_ON_START})
        async with ble_rig("bp", simulator={"faults": faults}) as (_radio, sim, cuff):
            measuring = Measuring(cuff)
            result = await measuring.result()
            assert isinstance(result, Final), measuring.updates
            assert measuring.updates.count(RECONNECTING) == 1
            assert sim.measurements == 1

    run(scenario())


def test_a_cuff_out_of_range_while_inflating_fails_and_never_inflates_again() -> None:
    async def scenario() -> None:
        async with ble_rig("bp", simulator={"time_scale": 0.5}) as (radio, sim, cuff):
            address = sim.peripheral.address
            measuring = Measuring(cuff)
            await measuring.until(
                lambda updates: any(
                    isinstance(u, Progress) and u.cuff_pressure_mmhg for u in updates
                ),
                "inflated",
            )
            radio.set_link_loss(address)
            result = await measuring.result()
            assert isinstance(result, Failure) and result.problem is Problem.DISCONNECTED
            assert RECONNECTING not in measuring.updates
            radio.set_link_loss(address, lost=False)
            await wait_for(cuff, Availability.CONNECTED)
            await asyncio.sleep(0.5)  # a restart would have subscribed (and pressed) by now
            assert not sim.peripheral.is_subscribed(gatt.BLOOD_PRESSURE_MEASUREMENT)
            assert sim.measurements == 1

    run(scenario())


@pytest.mark.parametrize(("sim", "drv"), REQUEST_DEVICES, ids=REQUEST_IDS)
def test_start_pressed_as_the_cable_is_pulled_waits_then_measures_once(
    tmp_path: Path, sim: Any, drv: Any
) -> None:
    """The cable out at the very moment of Start: the request fails to be written (the driver
    may not have seen the drop yet) or the drop comes first; either way the measurement waits
    and starts again by itself."""

    async def scenario() -> None:
        async with rig(sim, drv, tmp_path, simulator={"time_scale": 0.02}) as (
            simulator,
            instrument,
        ):
            simulator.unplug()
            measuring = Measuring(instrument)  # no turn of the loop between the two
            await measuring.until(reconnecting, "said it was reconnecting")
            await wait_for(instrument, Availability.DISCONNECTED)
            simulator.plug()
            result = await measuring.result()
            assert isinstance(result, Final), measuring.updates
            assert measuring.updates.count(RECONNECTING) == 1
            if isinstance(simulator, AndBpSimulator):
                assert simulator.measurements_started == 1

    run(scenario())
