"""The consultation's measurement through the core, a serial cuff on a real pty and the real
SQLCipher file: a cable pulled as Start is pressed, plugged back: one reading kept, in the store
and the session; pulled once the cuff inflates: a failure, and nothing kept."""

from __future__ import annotations

import asyncio
from pathlib import Path

import msgspec

from devices.cancellation import within
from devices.drivers.and_bp import AndBloodPressureMonitor
from devices.instrument import Availability, Failure, Final, MeasurementUpdate, Problem, Progress
from kiosk.app import start_core
from kiosk.config import load_config
from kiosk.store import Store
from simulators.faults import Fault
from simulators.serial.and_bp import AndBpSimulator
from tests.devices.serial_rig import FAST_BACKOFF, MEASURE_S, PATIENCE_S, wait_for
from tests.kiosk.test_assistant import KEY
from tests.kiosk.test_consultation import to_vitals
from tests.kiosk.test_session import FakeClock

RECONNECTING = Progress(problem=Problem.RECONNECTING)


async def scenario(tmp_path: Path, *, after_progress: bool) -> None:
    cuff = AndBpSimulator(tmp_path / "ttyUSB-bp", time_scale=0.2 if after_progress else 0.02)
    await cuff.start()
    driver = AndBloodPressureMonitor("bp-1", str(cuff.link_path), backoff=FAST_BACKOFF)
    defaults = load_config(None)  # without the demo's panic board: none on this cabin
    config = msgspec.structs.replace(
        defaults, distress=msgspec.structs.replace(defaults.distress, panic_button="")
    )
    core = await start_core(
        config,
        tmp_path / "data",
        env={"CABIN_DB_KEY": KEY.hex()},
        clock=FakeClock(),
        instruments={"bp-1": driver},
        connect_hub=False,
    )
    try:
        assert await driver.wait_connected(PATIENCE_S)
        await to_vitals(core.consultation)
        consultation_id = core.session.context.consultation_id
        assert consultation_id is not None
        updates: list[MeasurementUpdate] = []
        if not after_progress:
            cuff.faults.add(Fault.DROP_ON_START)
        async for update in core.measurements.measure("bp-1", timeout_s=MEASURE_S):
            updates.append(update)
            if update == RECONNECTING:
                await wait_for(driver, Availability.DISCONNECTED)
                cuff.plug()
            elif after_progress and isinstance(update, Progress) and cuff.pty.plugged:
                cuff.unplug()  # the cuff acknowledged and inflates: now the cable goes
        stored = await core.store.run(Store.readings, consultation_id)
        if after_progress:
            assert isinstance(updates[-1], Failure), updates
            assert updates[-1].problem is Problem.DISCONNECTED
            assert stored == [] and core.session.context.readings == []
            cuff.plug()
            await wait_for(driver, Availability.CONNECTED)
            await asyncio.sleep(0.3)
            assert cuff.open_commands == 1  # never asked to inflate again
        else:
            assert isinstance(updates[-1], Final), updates
            assert updates.count(RECONNECTING) == 1
            assert len(stored) == 1 and len(core.session.context.readings) == 1
            assert cuff.measurements_started == 1
    finally:
        await core.aclose()
        await cuff.stop()


def test_a_cable_pulled_as_start_is_pressed_gives_one_reading_kept(tmp_path: Path) -> None:
    asyncio.run(within(scenario(tmp_path, after_progress=False), 3 * MEASURE_S))


def test_a_cable_pulled_once_the_cuff_inflates_keeps_nothing(tmp_path: Path) -> None:
    asyncio.run(within(scenario(tmp_path, after_progress=True), 3 * MEASURE_S))
