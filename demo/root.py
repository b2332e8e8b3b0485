"""The demo's composition root: the product's core with the simulators plugged into its wiring.

- Instruments whose address is "simulated" are served by the simulators (`SimulatedCabin`):
  serial ones on pseudo-terminals, BLE ones on a virtual radio that every BLE driver then
  reaches through bleak's virtual backend (`devices.transports.virtual_ble`).
- A panic button "simulated" is the simulators' board, on a pseudo-terminal.
- The camera and microphone "synthetic", "scene:..." and "sound:..." are drawn and spoken
  (`demo.media`); the live drawn cabin's patient follows the sessions.
- The hub, when given (`demo.hub.DemoHubOnDemand`), is the demo's own, started on demand.

`open_core` and `start_core` are ``kiosk.app``'s, wired so; the tests and benchmarks that run
the embedded defaults use them.
"""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict, Unpack

from demo.media import DemoMediaSource, patient_follows_sessions
from devices.drivers.ble_instrument import BleBackend
from devices.instrument import Instrument
from devices.registry import InstrumentSpec
from kiosk import app
from kiosk.app import KioskCore, PanicPort, SuppliedInstruments, Wiring
from kiosk.config import Config
from kiosk.demo_settings import SIMULATED
from kiosk.session import Clock

if TYPE_CHECKING:
    from demo.hub import DemoHubOnDemand
    from simulators.cabin import SimulatedCabin
    from simulators.serial.panic_button import PanicButtonSimulator

SIMULATORS_FOLDER = "simulators"
"""Inside the data folder: the simulators' ptys, radio socket, drawn sounds."""


async def simulated_instruments(
    specs: Sequence[InstrumentSpec], data_dir: Path
) -> SuppliedInstruments:
    """The wiring's instrument supplier: the "simulated" ones served by the simulators."""
    simulated = [s for s in specs if s.address == SIMULATED]
    if not simulated:
        return SuppliedInstruments(tuple(specs), BleBackend())
    from devices.transports.virtual_ble import (  # noqa: PLC0415 - the demo's radio only
        VirtualBleakClient,
        VirtualBleakScanner,
    )
    from simulators.cabin import SimulatedCabin, SimulatedEntry  # noqa: PLC0415 - when needed

    cabin = SimulatedCabin(
        data_dir / SIMULATORS_FOLDER,
        [SimulatedEntry(s.id, s.transport, s.resolved_model) for s in simulated],
    )
    await cabin.start()
    served = tuple(
        replace(s, address=cabin.address(s.id)) if s.address == SIMULATED else s for s in specs
    )
    backend = BleBackend(
        VirtualBleakClient, VirtualBleakScanner, {"radio_path": str(cabin.radio_path)}
    )
    return SuppliedInstruments(served, backend, cabin)


async def simulated_panic_port(configured: str, data_dir: Path) -> PanicPort:
    """The wiring's panic port supplier: "simulated" is the simulators' board on a pty."""
    if configured != SIMULATED:
        return PanicPort(configured)
    from simulators.serial.panic_button import PanicButtonSimulator  # noqa: PLC0415

    board = PanicButtonSimulator(data_dir / SIMULATORS_FOLDER / "panic-button")
    await board.start()
    return PanicPort(str(board.link_path), board)


def demo_wiring(hub: DemoHubOnDemand | None = None) -> Wiring:
    """The simulators in the product's injection points; the demo's hub when given (else the
    configured hub)."""
    return Wiring(
        instruments=simulated_instruments,
        media=DemoMediaSource(),
        panic_port=simulated_panic_port,
        hub_address=hub.url if hub is not None else None,
        on_media=patient_follows_sessions,
    )


class CoreOptions(TypedDict, total=False):
    """What ``kiosk.app.open_core`` and ``start_core`` take besides the configuration."""

    env: MutableMapping[str, str] | None
    clock: Clock | None
    create_key: bool
    instruments: Mapping[str, Instrument] | None
    connect_hub: bool


async def open_core(
    config: Config, data_dir: Path, *, wiring: Wiring | None = None, **options: Unpack[CoreOptions]
) -> KioskCore:
    """``kiosk.app.open_core`` with the demo's wiring (`demo_wiring` unless given)."""
    return await app.open_core(config, data_dir, wiring=wiring or demo_wiring(), **options)


async def start_core(
    config: Config, data_dir: Path, *, wiring: Wiring | None = None, **options: Unpack[CoreOptions]
) -> KioskCore:
    """``kiosk.app.start_core`` with the demo's wiring (`demo_wiring` unless given)."""
    return await app.start_core(config, data_dir, wiring=wiring or demo_wiring(), **options)


def simulated_cabin(core: KioskCore) -> SimulatedCabin:
    """The simulators serving the demo core's instruments."""
    from simulators.cabin import SimulatedCabin  # noqa: PLC0415 - loaded when it started

    service = core.instrument_service
    if not isinstance(service, SimulatedCabin):
        raise TypeError("this core's instruments are not the simulators'")
    return service


def panic_board(core: KioskCore) -> PanicButtonSimulator | None:
    """The simulated panic button's board, if the demo core has one."""
    from simulators.serial.panic_button import PanicButtonSimulator  # noqa: PLC0415

    board = core.panic_board
    return board if isinstance(board, PanicButtonSimulator) else None
