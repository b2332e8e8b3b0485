"""Each serial instrument over a real pseudo-terminal: the simulator speaks the device's bytes,
the cabin's driver opens the pty's path with pyserial exactly as it would /dev/ttyUSB0."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from devices.cancellation import within
from devices.drivers.and_bp import AndBloodPressureMonitor
from devices.drivers.cms50 import Cms50LegacyOximeter, Cms50RealtimeOximeter
from devices.drivers.ir_thermometer import IrThermometer
from devices.drivers.nonin import NoninAsciiOximeter, NoninDf8Oximeter
from devices.drivers.serial_instrument import SerialInstrument
from devices.instrument import Availability, Failure, Final, Problem, Progress
from devices.protocols import cms50
from devices.reading import Quality, Quantity, ReadingFlag
from devices.transports.serial_port import SerialPort
from simulators.faults import Fault
from simulators.scenarios import Scenario
from simulators.serial.and_bp import AndBpSimulator
from simulators.serial.base import SerialSimulator
from simulators.serial.cms50 import Cms50LegacySimulator, Cms50RealtimeSimulator
from simulators.serial.ir_thermometer import IrThermometerSimulator
from simulators.serial.nonin import NoninAsciiSimulator, NoninDf8Simulator
from tests.devices.serial_rig import MEASURE_S, PATIENCE_S, measure, rig, wait_for

FAST = {"time_scale": 0.02}
OXIMETER = {"settle_s": 1.0, "give_up_s": 1.5}
NONIN_FAST = {"time_scale": 0.1}
NO_FINGER = frozenset({Fault.NO_FINGER})

# (simulator, driver, simulator kwargs, driver kwargs)
OXIMETERS: list[
    tuple[type[SerialSimulator], type[SerialInstrument], dict[str, Any], dict[str, Any]]
] = [
    (Cms50LegacySimulator, Cms50LegacyOximeter, {}, OXIMETER),
    (Cms50RealtimeSimulator, Cms50RealtimeOximeter, {}, OXIMETER),
    (NoninAsciiSimulator, NoninAsciiOximeter, NONIN_FAST, OXIMETER),
    (NoninDf8Simulator, NoninDf8Oximeter, NONIN_FAST, OXIMETER),
]
OXIMETER_IDS = ["cms50-legacy", "cms50-realtime", "nonin-ascii", "nonin-9560"]
ALL = [
    *OXIMETERS,
    (AndBpSimulator, AndBloodPressureMonitor, FAST, {}),
    (IrThermometerSimulator, IrThermometer, FAST, {}),
]
IDS = [*OXIMETER_IDS, "and-bp", "ir-thermometer"]


def final(updates: list[Any]) -> Final:
    assert updates, "no update at all"
    assert isinstance(updates[-1], Final), updates[-1]
    assert sum(isinstance(u, Final | Failure) for u in updates) == 1
    return updates[-1]


def failure(updates: list[Any]) -> Failure:
    assert updates and isinstance(updates[-1], Failure), updates[-1:]
    assert sum(isinstance(u, Final | Failure) for u in updates) == 1
    return updates[-1]


def run(coroutine: Any) -> Any:
    """A test's scenario, bounded: a hang fails this test, it never blocks the run."""
    return asyncio.run(within(coroutine, 3 * MEASURE_S))


@pytest.mark.parametrize(("sim", "drv", "sim_kw", "drv_kw"), ALL, ids=IDS)
def test_a_normal_measurement(tmp_path: Path, sim: Any, drv: Any, sim_kw: Any, drv_kw: Any) -> None:
    async def scenario() -> None:
        async with rig(sim, drv, tmp_path, simulator=sim_kw, driver=drv_kw) as (_, instrument):
            reading = final(await measure(instrument)).reading
            assert reading.device_id == "dev-1"
            assert reading.measured_at.tzinfo is not None
            assert reading.quality is Quality.GOOD
            base = {
                Quantity.SPO2_PERCENT: (98, 2),
                Quantity.PULSE_BPM: (72, 5),
                Quantity.SYSTOLIC_MMHG: (122, 4),
                Quantity.DIASTOLIC_MMHG: (78, 3),
                Quantity.TEMPERATURE_C: (36.7, 0.2),
            }
            for value in reading.values:
                if value.quantity in base:
                    expected, tolerance = base[value.quantity]
                    assert abs(value.value - expected) <= tolerance, value
            # the same device measures again without anything reopened
            assert isinstance((await measure(instrument))[-1], Final)

    run(scenario())


@pytest.mark.parametrize(
    ("scenario_", "quantity", "expected", "tolerance"),
    [
        (Scenario.HYPOXIA, Quantity.SPO2_PERCENT, 86, 2),
        (Scenario.FEVER, Quantity.PULSE_BPM, 104, 5),
    ],
)
def test_scenarios_reach_the_reading(
    tmp_path: Path, scenario_: Scenario, quantity: Quantity, expected: float, tolerance: float
) -> None:
    async def scenario() -> None:
        async with rig(
            Cms50LegacySimulator,
            Cms50LegacyOximeter,
            tmp_path,
            simulator={"scenario": scenario_},
            driver=OXIMETER,
        ) as (_, instrument):
            value = final(await measure(instrument)).reading.get(quantity)
            assert value is not None and abs(value - expected) <= tolerance

    run(scenario())


def test_fever_and_hypertension(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with rig(
            IrThermometerSimulator,
            IrThermometer,
            tmp_path / "t",
            simulator={**FAST, "scenario": Scenario.FEVER},
        ) as (_, thermometer):
            assert final(await measure(thermometer)).reading.get(
                Quantity.TEMPERATURE_C
            ) == pytest.approx(39.2, abs=0.2)
        async with rig(
            AndBpSimulator,
            AndBloodPressureMonitor,
            tmp_path / "b",
            simulator={**FAST, "scenario": Scenario.HYPERTENSION},
        ) as (_, monitor):
            reading = final(await measure(monitor)).reading
            assert reading.get(Quantity.SYSTOLIC_MMHG) == pytest.approx(178, abs=4)

    run(scenario())


def test_motion_artefact_gives_a_questionable_reading(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with rig(
            Cms50LegacySimulator,
            Cms50LegacyOximeter,
            tmp_path,
            simulator={"scenario": Scenario.MOTION_ARTEFACT},
            driver={"settle_s": 2.0},
        ) as (_, instrument):
            reading = final(await measure(instrument)).reading
            assert reading.quality is Quality.QUESTIONABLE
            assert ReadingFlag.BODY_MOVEMENT in reading.flags

    run(scenario())


@pytest.mark.parametrize(("sim", "drv", "sim_kw", "drv_kw"), OXIMETERS, ids=OXIMETER_IDS)
@pytest.mark.parametrize("fault", [Fault.GARBAGE, Fault.TRUNCATED, Fault.BAD_CHECKSUM])
def test_a_dirty_line_still_gives_the_right_values(
    tmp_path: Path, sim: Any, drv: Any, sim_kw: Any, drv_kw: Any, fault: Fault
) -> None:
    async def scenario() -> None:
        kwargs = {**sim_kw, "faults": frozenset({fault}), "fault_rate": 0.3}
        async with rig(sim, drv, tmp_path, simulator=kwargs, driver=drv_kw) as (_, instrument):
            reading = final(await measure(instrument)).reading
            spo2 = reading.get(Quantity.SPO2_PERCENT)
            assert spo2 is not None and abs(spo2 - 98) <= 2
            assert instrument.discarded_bytes > 0  # the noise was seen and skipped

    run(scenario())


@pytest.mark.parametrize(
    ("sim", "drv"),
    [(AndBpSimulator, AndBloodPressureMonitor), (IrThermometerSimulator, IrThermometer)],
    ids=["and-bp", "ir-thermometer"],
)
@pytest.mark.parametrize("fault", [Fault.TRUNCATED, Fault.BAD_CHECKSUM])
def test_a_lost_answer_is_no_response_never_a_wrong_value(
    tmp_path: Path, sim: Any, drv: Any, fault: Fault
) -> None:
    async def scenario() -> None:
        kwargs = {**FAST, "faults": frozenset({fault}), "fault_rate": 1.0}
        async with rig(sim, drv, tmp_path, simulator=kwargs) as (simulator, instrument):
            assert failure(await measure(instrument, timeout_s=2.0)).problem is Problem.NO_RESPONSE
            simulator.faults.clear()  # the line is clean again: the same driver measures
            assert isinstance((await measure(instrument))[-1], Final)

    run(scenario())


def test_garbage_before_a_request_answer_is_skipped(tmp_path: Path) -> None:
    async def scenario() -> None:
        kwargs = {**FAST, "faults": frozenset({Fault.GARBAGE}), "fault_rate": 1.0}
        async with rig(IrThermometerSimulator, IrThermometer, tmp_path, simulator=kwargs) as (_, t):
            assert final(await measure(t)).reading.get(Quantity.TEMPERATURE_C) == pytest.approx(
                36.7, abs=0.2
            )

    run(scenario())


@pytest.mark.parametrize(("sim", "drv", "sim_kw", "drv_kw"), ALL, ids=IDS)
def test_out_of_range_values_are_refused(
    tmp_path: Path, sim: Any, drv: Any, sim_kw: Any, drv_kw: Any
) -> None:
    async def scenario() -> None:
        kwargs = {**sim_kw, "faults": frozenset({Fault.OUT_OF_RANGE})}
        async with rig(sim, drv, tmp_path, simulator=kwargs, driver=drv_kw) as (_, instrument):
            updates = await measure(instrument)
            assert failure(updates).problem in (Problem.OUT_OF_RANGE, Problem.POOR_SIGNAL)
            assert not any(isinstance(u, Final) for u in updates)

    run(scenario())


def test_a_cuff_error_is_an_instruction(tmp_path: Path) -> None:
    async def scenario() -> None:
        kwargs = {**FAST, "faults": frozenset({Fault.CUFF_ERROR})}
        async with rig(AndBpSimulator, AndBloodPressureMonitor, tmp_path, simulator=kwargs) as (
            _,
            m,
        ):
            updates = await measure(m)
            assert any(isinstance(u, Progress) for u in updates)  # it did inflate
            assert failure(updates).problem is Problem.CUFF_LOOSE

    run(scenario())


@pytest.mark.parametrize(("sim", "drv", "sim_kw", "drv_kw"), OXIMETERS, ids=OXIMETER_IDS)
def test_no_finger_is_said_then_given_up(
    tmp_path: Path, sim: Any, drv: Any, sim_kw: Any, drv_kw: Any
) -> None:
    async def scenario() -> None:
        kwargs = {**sim_kw, "faults": frozenset({Fault.NO_FINGER})}
        async with rig(sim, drv, tmp_path, simulator=kwargs, driver=drv_kw) as (_, instrument):
            updates = await measure(instrument)
            assert any(isinstance(u, Progress) and u.problem is Problem.NO_FINGER for u in updates)
            assert failure(updates).problem is Problem.NO_FINGER

    run(scenario())


@pytest.mark.parametrize(
    ("sim", "drv", "sim_kw", "drv_kw"),
    [OXIMETERS[0], OXIMETERS[2]],
    ids=["cms50-legacy", "nonin-ascii"],
)
def test_silence_is_no_response_and_the_driver_recovers(
    tmp_path: Path, sim: Any, drv: Any, sim_kw: Any, drv_kw: Any
) -> None:
    async def scenario() -> None:
        async with rig(sim, drv, tmp_path, simulator=sim_kw, driver=drv_kw) as (
            simulator,
            instrument,
        ):
            usual_s, instrument.silence_s = instrument.silence_s, 0.5
            simulator.faults.add(Fault.SILENCE)
            assert failure(await measure(instrument)).problem is Problem.NO_RESPONSE
            simulator.faults.discard(Fault.SILENCE)
            # back to its usual watchdog: a busy machine's pause must not pass for silence
            instrument.silence_s = usual_s
            await wait_for(instrument, Availability.CONNECTED)
            assert isinstance((await measure(instrument))[-1], Final)

    run(scenario())


@pytest.mark.parametrize(("sim", "drv", "sim_kw", "drv_kw"), ALL, ids=IDS)
def test_unplugged_during_a_measurement_then_plugged_back(
    tmp_path: Path, sim: Any, drv: Any, sim_kw: Any, drv_kw: Any
) -> None:
    async def scenario() -> None:
        slow = {**sim_kw, "time_scale": 0.2} if sim is AndBpSimulator else sim_kw
        async with rig(
            sim, drv, tmp_path, simulator=slow, driver={**drv_kw, "settle_s": 3.0} if drv_kw else {}
        ) as (
            simulator,
            instrument,
        ):
            updates: list[Any] = []

            async def measuring() -> None:
                async for update in instrument.measure(MEASURE_S):
                    updates.append(update)

            task = asyncio.create_task(measuring())
            # unplugged once the measurement is under way (or, a request device, answered)
            deadline = asyncio.get_running_loop().time() + PATIENCE_S
            while not (updates or task.done()):
                assert asyncio.get_running_loop().time() < deadline, "the measurement never began"
                await asyncio.sleep(0.01)
            simulator.unplug()
            await within(task, PATIENCE_S)
            if isinstance(updates[-1], Failure):  # a request device may have answered first
                assert updates[-1].problem in (Problem.DISCONNECTED, Problem.NO_RESPONSE)
            await wait_for(instrument, Availability.DISCONNECTED)
            simulator.plug()
            await wait_for(instrument, Availability.CONNECTED)
            assert isinstance((await measure(instrument))[-1], Final)

    run(scenario())


def test_a_line_at_the_wrong_speed_gives_no_value(tmp_path: Path) -> None:
    class WrongSpeed(Cms50LegacyOximeter):
        baudrate = 9600  # the device talks at 19200: the cabin hears noise

    async def scenario() -> None:
        async with rig(Cms50LegacySimulator, WrongSpeed, tmp_path, driver=OXIMETER) as (_, oxi):
            updates = await measure(oxi)
            assert not any(isinstance(u, Final) for u in updates)
            assert failure(updates).problem in (Problem.DEVICE_ERROR, Problem.POOR_SIGNAL)

    run(scenario())


async def _raw_packets(simulator: SerialSimulator, ask: bytes, count: int) -> list[bytes]:
    """The bytes a simulator sends, read from its pty as the cabin's port would, cut into the
    9-byte packets of the new CMS50 (each starts with the only byte whose bit 7 is clear)."""
    port = SerialPort(str(simulator.link_path), simulator.baudrate)
    await port.open()
    try:
        await port.write(ask)
        stream = b""
        while stream.count(b"\x01") <= count:
            stream += await within(port.read(), PATIENCE_S)
    finally:
        await port.close()
    packets = [b"\x01" + rest for rest in stream.split(b"\x01")[1:]]
    return [packet for packet in packets if len(packet) == cms50.PACKET_SIZE][:count]


@pytest.mark.parametrize(("faults", "pi_invalid"), [(frozenset(), False), (NO_FINGER, True)])
def test_the_realtime_simulator_sends_the_pi_invalid_bit_as_a_device_does(
    tmp_path: Path, faults: frozenset[Fault], pi_invalid: bool
) -> None:
    async def scenario() -> None:
        simulator = Cms50RealtimeSimulator(tmp_path / "tty", faults=faults, seed=3)
        await simulator.start()
        try:
            packets = await _raw_packets(simulator, cms50.START_REALTIME, 5)
        finally:
            await simulator.stop()
        assert len(packets) == 5
        for packet in packets:
            d2 = packet[4] & 0x7F  # payload byte 2, its bit 7 in the high-bits byte
            assert bool(d2 & 0x10) is pi_invalid
            assert d2 & 0xE0 == 0  # bits 5-7 are zero
            assert cms50.decode_realtime_packet(packet).bar_graph == d2 & 0x0F

    run(scenario())


def test_nonin_lines_with_a_clock_fast_mode_and_event_marks_give_the_reading(
    tmp_path: Path,
) -> None:
    """Lines such as ``12:34:56 SPO2=097 HR=072 F*`` (Nonin's manuals) are readings, not noise."""

    async def scenario() -> None:
        async with rig(
            NoninAsciiSimulator, NoninAsciiOximeter, tmp_path, simulator=NONIN_FAST, driver=OXIMETER
        ) as (simulator, instrument):
            assert isinstance(simulator, NoninAsciiSimulator)
            simulator.sends_clock = simulator.fast_mode = True
            simulator.mark_event()
            reading = final(await measure(instrument)).reading
            spo2 = reading.get(Quantity.SPO2_PERCENT)
            assert spo2 is not None and abs(spo2 - 98) <= 2
            assert instrument.discarded_bytes == 0

    run(scenario())


def test_the_9560s_held_values_after_the_finger_left_are_never_a_reading(tmp_path: Path) -> None:
    """The 9560 sends the last SpO2 and pulse for about 10 s after the finger is removed, with
    only its sensor alarm bit set (Data Format 8): no reading, no live value, "no finger"."""

    class FingerJustRemoved(NoninDf8Simulator):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.remove_finger()  # before its first frame: every frame holds old values

    async def scenario() -> None:
        async with rig(
            FingerJustRemoved,
            NoninDf8Oximeter,
            tmp_path,
            simulator=NONIN_FAST,
            driver={"settle_s": 0.5, "give_up_s": 1.5},
        ) as (simulator, instrument):
            assert isinstance(simulator, NoninDf8Simulator)
            updates = await measure(instrument)
            assert simulator.held_frames_sent > 0  # the stale values did come
            assert not any(isinstance(u, Progress) and u.live for u in updates)
            assert failure(updates).problem is Problem.NO_FINGER
            simulator.finger = True  # the finger is back: a reading again
            assert isinstance((await measure(instrument))[-1], Final)

    run(scenario())


def test_the_9560_driver_asks_for_data_format_8(tmp_path: Path) -> None:
    async def scenario() -> None:
        async with rig(
            NoninDf8Simulator, NoninDf8Oximeter, tmp_path, simulator=NONIN_FAST, driver=OXIMETER
        ) as (simulator, instrument):
            assert isinstance(simulator, NoninDf8Simulator)
            assert isinstance((await measure(instrument))[-1], Final)
            assert simulator.format_requests >= 1

    run(scenario())


def test_a_falling_spo2_is_measured_not_a_probe_fault(tmp_path: Path) -> None:
    """Byte 1 bit 5 of the old CMS50 says "SpO2 dropping" (it was read as "probe unplugged",
    which threw the reading of a desaturating patient away as a sensor fault)."""

    async def scenario() -> None:
        async with rig(
            Cms50LegacySimulator,
            Cms50LegacyOximeter,
            tmp_path,
            simulator={"scenario": Scenario.HYPOXIA},
            driver=OXIMETER,
        ) as (simulator, instrument):
            assert isinstance(simulator, Cms50LegacySimulator)
            simulator.spo2_falling = True
            statuses: list[Availability] = []
            instrument.on_status(lambda status: statuses.append(status.availability))
            reading = final(await measure(instrument)).reading
            spo2 = reading.get(Quantity.SPO2_PERCENT)
            assert spo2 is not None and abs(spo2 - 86) <= 2
            assert Availability.FAULT not in statuses

    run(scenario())


def test_searching_too_long_is_no_reading_yet(tmp_path: Path) -> None:
    """Byte 1 bit 4 says the device has searched too long: what it sends is not a reading."""

    class SearchingForTooLong(Cms50LegacySimulator):
        searching_for_too_long = True  # from its first frame

    async def scenario() -> None:
        async with rig(SearchingForTooLong, Cms50LegacyOximeter, tmp_path, driver=OXIMETER) as (
            simulator,
            instrument,
        ):
            assert isinstance(simulator, Cms50LegacySimulator)
            updates = await measure(instrument)
            assert not any(isinstance(u, Progress) and u.live for u in updates)
            assert failure(updates).problem is Problem.POOR_SIGNAL
            simulator.searching_for_too_long = False
            assert isinstance((await measure(instrument))[-1], Final)

    run(scenario())
