"""``python -m simulators``: run simulated instruments for a cabin to talk to.

    python -m simulators serial cms50d-plus --link /tmp/ttyUSB-oximeter
    python -m simulators ble bps --radio /tmp/radio.sock --scenario hypertension
    python -m simulators cabin --folder /tmp/sim      (every instrument of the demo cabin)

Serial simulators print the pty behind their link path; BLE ones serve a virtual radio whose
socket the cabin's bleak backend reaches (CABIN_VIRTUAL_RADIO, or radio_path). Faults can be
given at start (--fault garbage --fault silence ...). Runs until Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
from pathlib import Path

from simulators.ble.radio import VirtualRadio
from simulators.cabin import BLE_SIMULATORS, SERIAL_SIMULATORS, SimulatedCabin, SimulatedEntry
from simulators.faults import Fault
from simulators.scenarios import Scenario

DEMO_CABIN = [
    SimulatedEntry("bp-1", "ble", "bps"),
    SimulatedEntry("thermo-1", "ble", "hts"),
    SimulatedEntry("oximeter-1", "serial", "cms50d-plus"),
]


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m simulators",
        description="Simulated medical instruments speaking their real protocols.",
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--scenario",
        choices=[s.value for s in Scenario],
        default="normal",
        help="the simulated patient's condition",
    )
    common.add_argument(
        "--fault",
        action="append",
        default=[],
        choices=[f.value for f in Fault],
        help="a fault to commit (repeatable)",
    )
    common.add_argument("--time-scale", type=float, default=1.0, help="<1 runs faster")
    sub = parser.add_subparsers(dest="command", required=True)
    serial = sub.add_parser("serial", parents=[common], help="one serial instrument on a pty")
    serial.add_argument("model", choices=sorted(SERIAL_SIMULATORS))
    serial.add_argument("--link", type=Path, required=True, help="stable path to the pty")
    ble = sub.add_parser("ble", parents=[common], help="BLE instruments on a virtual radio")
    ble.add_argument("model", nargs="+", choices=sorted(BLE_SIMULATORS))
    ble.add_argument("--radio", type=Path, required=True, help="the radio's Unix socket")
    ble.add_argument("--auto-press", type=float, default=1.5, help="s before the button press")
    cabin = sub.add_parser("cabin", parents=[common], help="every instrument of the demo cabin")
    cabin.add_argument("--folder", type=Path, required=True)
    return parser.parse_args(argv)


async def _until_stopped() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(number, stop.set)
    await stop.wait()


async def _run(args: argparse.Namespace) -> None:
    scenario = Scenario(args.scenario)
    faults = frozenset(Fault(f) for f in args.fault)
    if args.command == "serial":
        serial = SERIAL_SIMULATORS[args.model](
            args.link, scenario=scenario, faults=faults, time_scale=args.time_scale
        )
        await serial.start()
        print(f"{args.model}: {args.link} -> {serial.pty.slave_path}", flush=True)
        try:
            await _until_stopped()
        finally:
            await serial.stop()
    elif args.command == "ble":
        async with VirtualRadio(args.radio) as radio:
            devices = []
            for number, model in enumerate(args.model, start=1):
                device = BLE_SIMULATORS[model](
                    f"02:CA:B1:00:02:{number:02X}",
                    scenario=scenario,
                    faults=faults,
                    time_scale=args.time_scale,
                    auto_press_s=args.auto_press,
                )
                radio.add(device.peripheral)
                devices.append(device)
                print(f"{model}: {device.peripheral.name} on {args.radio}", flush=True)
            try:
                await _until_stopped()
            finally:
                for device in devices:
                    await device.close()
    else:
        cabin = SimulatedCabin(
            args.folder, DEMO_CABIN, scenario=scenario, faults=faults, time_scale=args.time_scale
        )
        await cabin.start()
        for entry in DEMO_CABIN:
            print(f"{entry.id}: {cabin.address(entry.id)}", flush=True)
        print(f"radio: {cabin.radio_path}", flush=True)
        try:
            await _until_stopped()
        finally:
            await cabin.stop()


def main(argv: list[str] | None = None) -> None:
    args = _arguments(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_run(args))


if __name__ == "__main__":
    main()
