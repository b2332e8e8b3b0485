"""A virtual X display for tests (Xvfb), and a photograph of it (xwd) as a QImage."""

from __future__ import annotations

import os
import struct
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

from PySide6.QtGui import QImage


@contextmanager
def virtual_display(width: int = 1080, height: int = 1920) -> Iterator[str]:
    """Start Xvfb on a free display number; yields ``":N"``."""
    read_end, write_end = os.pipe()
    server = subprocess.Popen(
        [
            "Xvfb",
            "-displayfd",
            str(write_end),
            "-screen",
            "0",
            f"{width}x{height}x24",
            "-nolisten",
            "tcp",
        ],
        pass_fds=(write_end,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write_end)
    try:
        with os.fdopen(read_end) as pipe:
            number = pipe.readline().strip()
        if not number:
            raise RuntimeError("Xvfb did not start")
        yield f":{number}"
    finally:
        server.terminate()
        server.wait(timeout=10)


def photograph(display: str) -> QImage:
    """The whole screen of ``display``, read from xwd's dump (32-bit TrueColor)."""
    dump = subprocess.run(
        ["xwd", "-root", "-silent", "-display", display], capture_output=True, check=True
    ).stdout
    fields = struct.unpack(">25I", dump[:100])
    header_size, width, height = fields[0], fields[4], fields[5]
    bytes_per_line, colour_count = fields[12], fields[19]
    start = header_size + colour_count * 12
    pixels = dump[start : start + bytes_per_line * height]
    return QImage(pixels, width, height, bytes_per_line, QImage.Format.Format_RGB32).copy()
