"""Benchmarks of the instrument path: device bytes to a typed value, and a driver's CPU.

Run ``python -m bench.bench_devices`` (``--quick`` for a smoke run). Prints medians and p95,
each beside a floor measured in the same run on the same machine, and the ratio; no pass/fail.

- pty: the simulator's end writes one Contec frame; the time until the cabin's driver (pyserial
  through add_reader, the stream decoder, the oximetry window) has the typed sample. Floor: a
  bare ``os.write`` on the pty's master and ``os.read`` of the slave in the same event loop.
- virtual BLE: the simulated oximeter notifies one PLX Continuous measurement; the time until
  the driver, behind the real ``bleak.BleakClient``, has decoded it. Same floor.
- CPU: a driver streaming the Contec's 60 frames/s from a simulator in another process, as a
  share of one core (the process's CPU time over wall time, the simulator's not counted).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import tty
from pathlib import Path
from typing import Any

from devices.drivers.ble_instrument import BleBackend
from devices.drivers.ble_pulse_oximeter import BlePulseOximeter
from devices.drivers.cms50 import Cms50LegacyOximeter
from devices.drivers.oximetry import OximetrySample
from devices.instrument import Backoff
from devices.protocols import cms50, gatt
from devices.transports.virtual_ble import VirtualBleakClient, VirtualBleakScanner
from simulators.ble.instruments import BlePulseOximeterSimulator
from simulators.ble.radio import VirtualRadio
from simulators.serial.pty_device import PtyDevice

PTY_P95_TARGET_S = 0.005
BLE_P95_TARGET_S = 0.010
CPU_TARGET = 0.05
GAP_S = 0.01  # between two frames: each is timed alone


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def line(label: str, values: list[float], floor: list[float] | None, target: str) -> str:
    median, high = statistics.median(values), p95(values)
    ratio = f"   x{high / p95(floor):.1f} floor p95" if floor else ""
    return (
        f"  {label:<38} median {median * 1e3:7.3f} ms   p95 {high * 1e3:7.3f} ms{ratio}   {target}"
    )


async def pty_floor(count: int, folder: Path) -> list[float]:
    """os.write on the master, os.read on the slave, woken by the same loop machinery."""
    loop = asyncio.get_running_loop()
    received: asyncio.Queue[float] = asyncio.Queue()
    device = PtyDevice(folder / "floor", cms50.LEGACY_BAUD, lambda _data: None)
    device.plug()
    fd = os.open(device.link_path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    tty.setraw(fd)

    def readable() -> None:
        os.read(fd, 64)
        received.put_nowait(time.perf_counter())

    loop.add_reader(fd, readable)
    latencies = []
    try:
        for _ in range(count):
            sent = time.perf_counter()
            device.write(b"\x80\x01\x02\x03\x04")
            latencies.append(await received.get() - sent)
            await asyncio.sleep(GAP_S)
    finally:
        loop.remove_reader(fd)
        os.close(fd)
        device.close()
    return latencies


class TimedOximeter(Cms50LegacyOximeter):
    """The real driver, noting when each typed sample comes out of its decoder."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.samples: asyncio.Queue[float] = asyncio.Queue()

    def _sample(self, sample: OximetrySample) -> None:
        self.samples.put_nowait(time.perf_counter())
        super()._sample(sample)


async def pty_latency(count: int, folder: Path) -> list[float]:
    device = PtyDevice(folder / "oximeter", cms50.LEGACY_BAUD, lambda _data: None)
    device.plug()
    driver = TimedOximeter("bench", str(device.link_path), backoff=Backoff(0.01, 0.05))
    await driver.start()
    await driver.wait_connected(5)
    frame = cms50.encode_legacy_frame(
        cms50.LegacyFrame(6, False, False, False, 50, 7, False, False, 72, 98)
    )
    latencies = []
    try:
        for _ in range(count):
            sent = time.perf_counter()
            device.write(frame)
            latencies.append(await driver.samples.get() - sent)
            await asyncio.sleep(GAP_S)
    finally:
        await driver.close()
        device.close()
    return latencies


class TimedBleOximeter(BlePulseOximeter):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.decoded: asyncio.Queue[float] = asyncio.Queue()

    def _on_value(self, uuid: str, data: bytes) -> None:
        super()._on_value(uuid, data)
        self.decoded.put_nowait(time.perf_counter())


async def ble_latency(count: int) -> list[float]:
    with tempfile.TemporaryDirectory(prefix="bench-radio-", dir="/tmp") as folder:
        return await _ble_latency(count, Path(folder))


async def _ble_latency(count: int, folder: Path) -> list[float]:
    async with VirtualRadio(folder / "r.sock") as radio:
        simulator = BlePulseOximeterSimulator("02:00:00:00:00:09", auto_press_s=None)
        radio.add(simulator.peripheral)
        backend = BleBackend(
            VirtualBleakClient, VirtualBleakScanner, {"radio_path": str(radio.socket_path)}
        )
        driver = TimedBleOximeter("bench", simulator.peripheral.name, backend=backend)
        await driver.start()
        await driver.wait_connected(5)
        await driver._begin_measurement()  # subscribe, as a measurement does
        value = gatt.encode_plx_continuous(gatt.PlxContinuous(98, 72))
        latencies = []
        try:
            for _ in range(count):
                sent = time.perf_counter()
                await simulator.peripheral.notify(gatt.PLX_CONTINUOUS_MEASUREMENT, value)
                latencies.append(await driver.decoded.get() - sent)
                await asyncio.sleep(GAP_S)
        finally:
            await driver.close()
            await simulator.close()
    return latencies


SIMULATOR = """\
import asyncio, sys
from pathlib import Path
from simulators.serial.cms50 import Cms50LegacySimulator
async def main():
    sim = Cms50LegacySimulator(Path(sys.argv[1]))
    await sim.start()
    print("ready", flush=True)
    await asyncio.sleep(3600)
asyncio.run(main())
"""


async def driver_cpu(seconds: float, folder: Path) -> tuple[float, int]:
    link = folder / "streaming"
    simulator = await asyncio.create_subprocess_exec(
        sys.executable, "-c", SIMULATOR, str(link), stdout=asyncio.subprocess.PIPE
    )
    try:
        assert simulator.stdout is not None
        await simulator.stdout.readline()
        driver = Cms50LegacyOximeter(
            "bench", str(link), settle_s=3600, give_up_s=3600, backoff=Backoff(0.01, 0.05)
        )
        await driver.start()
        await driver.wait_connected(5)
        frames = 0

        async def measuring() -> None:
            nonlocal frames
            async for _update in driver.measure(seconds + 5):
                frames += 1

        task = asyncio.create_task(measuring())
        await asyncio.sleep(0.5)
        cpu, wall = time.process_time(), time.perf_counter()
        await asyncio.sleep(seconds)
        share = (time.process_time() - cpu) / (time.perf_counter() - wall)
        task.cancel()
        await driver.close()
        return share, frames
    finally:
        simulator.terminate()
        await simulator.wait()


async def main_async(quick: bool) -> None:
    count = 100 if quick else 500
    with tempfile.TemporaryDirectory(prefix="bench-devices-") as work:
        folder = Path(work)
        floor = await pty_floor(count, folder)
        pty = await pty_latency(count, folder)
        ble = await ble_latency(count)
        share, _ = await driver_cpu(3.0 if quick else 10.0, folder)
    print(f"device bytes -> typed value: {count} frames each, one at a time")
    print(line("floor  os.write -> os.read, same pty", floor, None, ""))
    print(line("pty    Contec frame -> typed sample", pty, floor, "target p95 <= 5 ms"))
    print(line("BLE    PLX notify -> decoded (bleak)", ble, floor, "target p95 <= 10 ms"))
    print(
        f"driver CPU streaming the Contec at 60 frames/s: {share * 100:.2f} % of one core"
        f"   target <= {CPU_TARGET * 100:.0f} %"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_devices")
    parser.add_argument("--quick", action="store_true", help="fewer frames: a smoke run")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    asyncio.run(main_async(args.quick))
    print(f"(bench took {time.perf_counter() - started:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
