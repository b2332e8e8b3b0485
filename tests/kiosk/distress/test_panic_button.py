"""The physical panic button over a real pseudo-terminal: a press calls once, a bouncing contact
or a double press is one call, noise is ignored, a silent board is reported out of order, an
unplugged one disconnected, and a board plugged back in works again."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from devices.instrument import Availability
from kiosk.bus import EventBus
from kiosk.distress.panic_button import DEVICE_ID, SerialPanicButton
from kiosk.events import DeviceStatusChanged
from simulators.serial.panic_button import PanicButtonSimulator

PATIENCE_S = 30.0  # for what takes milliseconds: only a real failure (or a hang) waits this long


async def until(condition: Callable[[], bool], what: str = "the button's state") -> None:
    """Poll: the button's state is read as a person would look at it. Fails the test, saying
    what it waited for, after `PATIENCE_S`."""
    try:
        async with asyncio.timeout(PATIENCE_S):
            while not condition():  # noqa: ASYNC110 - nothing to wait on but the state itself
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"timed out after {PATIENCE_S} s waiting for {what}") from None


class ManualClock:
    """The button's debounce clock, moved by the test: a busy machine cannot move it."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def with_button(
    tmp_path: Path,
    body: Callable[[PanicButtonSimulator, SerialPanicButton, list[str], list[Availability]],
                   Awaitable[None]],
    *,
    debounce_s: float = 2.0,
    silence_s: float = 10.0,
    clock: Callable[[], float] = time.monotonic,
) -> None:  # fmt: skip
    async def scenario() -> None:
        bus = EventBus()
        statuses: list[Availability] = []
        bus.subscribe(
            DeviceStatusChanged,
            lambda e: statuses.append(e.availability) if e.device_id == DEVICE_ID else None,
        )
        board = PanicButtonSimulator(tmp_path / "panic", heartbeat_s=0.2)
        await board.start()
        presses: list[str] = []

        async def pressed() -> None:
            presses.append("pressed")

        button = SerialPanicButton(
            str(board.link_path),
            pressed,
            bus,
            reopen_after_s=0.2,
            debounce_s=debounce_s,
            silence_s=silence_s,
            clock=clock,
        )
        button.start()
        try:
            await until(lambda: button.availability is Availability.CONNECTED)
            await body(board, button, presses, statuses)
        finally:
            await button.aclose()
            await board.stop()

    asyncio.run(scenario())


def test_a_press_calls_once_and_a_double_press_is_one_call(tmp_path: Path) -> None:
    clock = ManualClock()

    async def body(
        board: PanicButtonSimulator,
        button: SerialPanicButton,
        presses: list[str],
        _statuses: list[Availability],
    ) -> None:
        board.press()
        await until(lambda: len(presses) == 1, "the press")
        clock.now += 0.5  # a second press within the debounce: the same call for help
        board.press(hold_s=0.05)
        board.send_garbage(b"after the second press\n")  # lines are read in order:
        await until(lambda: button.garbage_lines == 1, "the second press read")
        assert presses == ["pressed"]
        clock.now += 0.2  # past the debounce
        board.press()
        await until(lambda: len(presses) == 2, "the press after the debounce")

    with_button(tmp_path, body, debounce_s=0.6, clock=clock)


def test_noise_on_the_line_is_ignored_and_counted(tmp_path: Path) -> None:
    async def body(
        board: PanicButtonSimulator,
        button: SerialPanicButton,
        presses: list[str],
        _statuses: list[Availability],
    ) -> None:
        board.send_garbage()
        board.send_garbage(b"x" * 200)  # a line that never ends
        board.send_garbage(b"\n")
        await until(lambda: button.garbage_lines >= 2)
        assert presses == []
        board.press()
        await until(lambda: presses == ["pressed"])

    with_button(tmp_path, body)


def test_a_silent_board_is_out_of_order_and_an_unplugged_one_comes_back(tmp_path: Path) -> None:
    async def body(
        board: PanicButtonSimulator,
        button: SerialPanicButton,
        presses: list[str],
        statuses: list[Availability],
    ) -> None:
        board.silence()
        await until(lambda: button.availability is Availability.FAULT)
        board.silence(False)
        await until(lambda: button.availability is Availability.CONNECTED)
        board.unplug()
        await until(lambda: button.availability is Availability.DISCONNECTED)
        board.plug()
        await until(lambda: button.availability is Availability.CONNECTED)
        board.press()
        await until(lambda: presses == ["pressed"])
        assert statuses[:2] == [Availability.CONNECTING, Availability.CONNECTED]
        assert Availability.FAULT in statuses and Availability.DISCONNECTED in statuses

    with_button(tmp_path, body, silence_s=1.0)
