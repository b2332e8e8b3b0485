"""``python -m simulators`` as an operator runs it: a pty appears and speaks the protocol."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import termios
import time
import tty
from pathlib import Path

from devices.protocols import cms50

REPO = Path(__file__).resolve().parents[2]


def test_help_lists_the_commands() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "simulators", "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    for command in ("serial", "ble", "cabin"):
        assert command in result.stdout


def test_a_serial_simulator_streams_on_its_link(tmp_path: Path) -> None:
    link = tmp_path / "ttyUSB-oximeter"
    process = subprocess.Popen(
        [sys.executable, "-m", "simulators", "serial", "cms50d-plus", "--link", str(link)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert str(link) in line and "/dev/pts/" in line
        fd = os.open(link, os.O_RDONLY | os.O_NOCTTY)
        try:
            tty.setraw(fd)
            attributes = termios.tcgetattr(fd)
            attributes[4] = attributes[5] = termios.B19200  # the device's speed, as a driver sets
            termios.tcsetattr(fd, termios.TCSANOW, attributes)
            data = b""
            deadline = time.monotonic() + 30  # under a second idle: only a silent device waits
            while len(data) < 200 and (left := deadline - time.monotonic()) > 0:
                readable, _, _ = select.select([fd], [], [], left)  # never a read that hangs
                if readable:
                    data += os.read(fd, 200)
        finally:
            os.close(fd)
        frames = cms50.LegacyStreamDecoder().feed(data)
        assert len(frames) >= 30
        assert {f.spo2_percent for f in frames} <= {97, 98, 99}
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
    assert not link.exists()  # unplugged and cleaned up on exit
