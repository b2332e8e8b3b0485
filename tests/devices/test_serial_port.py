"""The serial port's reads, on a real pseudo-terminal."""

from __future__ import annotations

import asyncio
import os
import tty
from collections.abc import Callable
from typing import Any

import pytest

from devices.cancellation import within
from devices.errors import TransportError
from devices.transports.serial_port import SerialPort


class NotifyingTwice(asyncio.SelectorEventLoop):
    """qasync's socket notifier can report a readable descriptor a second time before the
    reader has woken up and read it: this loop always does."""

    def add_reader(self, fd: Any, callback: Callable[..., Any], *args: Any) -> None:  # type: ignore[override]
        def twice() -> None:
            callback(*args)
            callback(*args)

        super().add_reader(fd, twice)


def test_a_read_told_twice_that_bytes_are_there_reads_them_once_without_error() -> None:
    errors: list[dict[str, Any]] = []

    async def scenario() -> bytes:
        asyncio.get_running_loop().set_exception_handler(
            lambda _loop, context: errors.append(context)
        )
        master, slave = os.openpty()
        tty.setraw(slave)
        port = SerialPort(os.ttyname(slave), 19200)
        await port.open()
        try:
            reading = asyncio.ensure_future(port.read())
            await asyncio.sleep(0)  # waiting for the descriptor
            os.write(master, b"\x86U\x0cGb")
            return await within(reading, 30)
        finally:
            await port.close()
            os.close(master)
            os.close(slave)

    loop = NotifyingTwice()
    try:
        assert loop.run_until_complete(scenario()) == b"\x86U\x0cGb"
    finally:
        loop.close()
    assert errors == []  # was: InvalidStateError from the second set_result


def test_a_write_under_way_when_the_link_is_closed_fails_as_a_lost_link() -> None:
    """The driver sees the link lost and closes the port while a request is being written in
    its thread: pyserial then meets a descriptor of None. That is a lost link (the measurement
    waits and restarts), not a ``TypeError`` that ends the measurement (CI, stop 23)."""

    async def scenario() -> None:
        master, slave = os.openpty()
        tty.setraw(slave)
        port = SerialPort(os.ttyname(slave), 19200)
        await port.open()
        try:
            # No one reads the master: the pty's buffer fills and the write blocks in its thread.
            writing = asyncio.ensure_future(port.write(b"\x00" * 1_000_000))
            await asyncio.sleep(0.2)
            assert not writing.done()
            await port.close()
            # Whichever way pyserial ends (a descriptor of None, a closed port, or the close
            # waking it with part of the bytes written), it is a lost link.
            with pytest.raises(TransportError, match=r"closed while writing|cannot write"):
                await within(writing, 30)
        finally:
            await port.close()
            os.close(master)
            os.close(slave)

    asyncio.run(scenario())
